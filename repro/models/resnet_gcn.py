"""ResNet-GCN (Large Kernel Matters, Sec. 4.1.2, Figure 5, Table 6) as an mmseg backbone.

Figure 5: the bottleneck of ResNet (A: 1x1 -> 3x3 -> 1x1, + shortcut) becomes B: "We remove the
first two layers in the original bottleneck structure used by ResNet, and replace them with a
GCN module. In order to keep consistent with the original, we also apply Batch Normalization
and ReLU after each of the convolution layers." ``GCNBottleneck`` is therefore

    x -> [conv(k x 1) -> BN -> ReLU -> conv(1 x k) -> BN -> ReLU]
       + [conv(1 x k) -> BN -> ReLU -> conv(k x 1) -> BN -> ReLU]   (the GCN module, width m)
      -> conv 1x1 (m -> 4 * planes) -> BN  (+ shortcut) -> ReLU

``ResNetGCN`` is mmseg's ``ResNet`` with this block (same stem, stages, shortcuts, strides,
``out_indices``, ``norm_eval``, ``frozen_stages`` and ``init_cfg``, so ImageNet weights of a
ResNet-GCN load with ``init_cfg=dict(type='Pretrained', checkpoint=FILE)``).

Choices the text leaves open (the paper defers "sizes ... carefully selected so that both network
have similar computation cost and number of parameters" to an appendix that is not in
shared/papers/gcn-peng-cvpr2017.txt), documented here:

- Kernel size k = 7 in every stage: the res-5 map of a 224x224 ImageNet crop is 7x7, so the GCN
  of the last stage is a global convolution during pretraining (the paper's Sec. 4.1.1 rule
  "k roughly equals the feature map size"), and the same k is kept in the earlier stages.
- GCN width m per stage (planes 64, 128, 256, 512): m = 20, 37, 72, 153, the integers that make
  the parameters of each stage closest to ResNet-50's. ResNet50-GCN has 23.55M backbone
  parameters vs 23.51M for ResNet-50 (+0.2 %) and about 2 % more multiply-adds at 224x224
  (tests/test_resnet_gcn.py checks both).
- Stride (first block of res-3 .. res-5): every convolution of the module strides along its
  own k-long axis only (k x 1 by (2, 1), 1 x k by (1, 2)), so each branch still sees a dense
  k x k window of the input, as the 3x3 of mmseg's pytorch-style ``Bottleneck`` does, at a
  fraction of the cost of striding the second convolution alone. Only ``style='pytorch'``.
- Dilation (dilated backbones) dilates the k-long axis of every convolution of the module.

ImageNet weights: the authors released none; ``repro pretrain resnet50-gcn`` (``repro.pretrain``,
on mmpretrain) trains this backbone on ImageNet and writes the file and Table 6's "ImageNet cls
err". Deviations: DCN and block plugins of mmseg's ResNet are not supported by this block.
"""

from __future__ import annotations

import math

from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmseg.models.backbones.resnet import ResNet
from mmseg.models.utils import ResLayer
from mmseg.registry import MODELS
from torch import nn
from torch.utils import checkpoint as cp

#: Figure 5 sizes for ResNet50-GCN (see the module docstring): k and m of res-2 .. res-5.
GCN_KERNELS = (7, 7, 7, 7)
GCN_CHANNELS = (20, 37, 72, 153)


class GCNBottleneck(BaseModule):
    """Figure 5B: a GCN module (BN + ReLU after every convolution) followed by ResNet's last
    1x1 convolution, with the shortcut of the original bottleneck.

    Takes the arguments mmseg's ``ResLayer`` gives a ``Bottleneck`` plus ``gcn_k`` (k) and
    ``gcn_channels`` (m, the width of the GCN module's outputs).
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: str = "pytorch",
        with_cp: bool = False,
        conv_cfg: dict | None = None,
        norm_cfg: dict | None = None,
        dcn: dict | None = None,
        plugins: list | None = None,
        init_cfg: dict | list | None = None,
        gcn_k: int = 7,
        gcn_channels: int | None = None,
    ):
        super().__init__(init_cfg)
        if style != "pytorch":
            raise ValueError(f"ResNet-GCN strides its convolutions along their kernel axes and has "
                             f"no caffe variant: use style='pytorch', got {style!r}.")
        if dcn is not None or plugins is not None:
            raise ValueError("GCNBottleneck (ResNet-GCN) supports neither dcn nor plugins: remove "
                             "them from the backbone config.")
        if gcn_k < 1 or gcn_k % 2 != 1:
            raise ValueError(f"The GCN kernel size must be odd (paper Sec. 4.1.1), got {gcn_k}.")
        norm_cfg = norm_cfg or dict(type="BN")
        m = gcn_channels or planes
        p = dilation * (gcn_k // 2)

        def conv(cin: int, vertical: bool) -> ConvModule:
            # k x 1 (vertical) or 1 x k; stride and dilation along the kernel's long axis only.
            def axis(v, other):
                return (v, other) if vertical else (other, v)

            return ConvModule(
                cin, m, kernel_size=axis(gcn_k, 1), stride=axis(stride, 1),
                padding=axis(p, 0), dilation=axis(dilation, 1),
                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=dict(type="ReLU"),
            )

        self.branch_a = nn.Sequential(conv(inplanes, True), conv(m, False))  # k x 1 -> 1 x k
        self.branch_b = nn.Sequential(conv(inplanes, False), conv(m, True))  # 1 x k -> k x 1
        self.conv3 = build_conv_layer(conv_cfg, m, planes * self.expansion, 1, bias=False)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, planes * self.expansion, postfix=3)
        self.add_module(self.norm3_name, norm3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.with_cp = with_cp

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)

    def forward(self, x):
        def inner(x):
            out = self.branch_a(x) + self.branch_b(x)
            out = self.norm3(self.conv3(out))
            return out + (x if self.downsample is None else self.downsample(x))

        out = cp.checkpoint(inner, x, use_reentrant=False) if (
            self.with_cp and x.requires_grad) else inner(x)
        return self.relu(out)


@MODELS.register_module()
class ResNetGCN(ResNet):
    """ResNet whose bottlenecks are ``GCNBottleneck`` (Figure 5B); ResNet50-GCN is ``depth=50``.

    Args:
        gcn_kernels: k of the GCN module in each stage (res-2 .. res-5).
        gcn_channels: m, the GCN module's width in each stage; with ``base_channels`` other than
            64 (tiny smoke variants) give widths scaled alike.
        **kwargs: as mmseg's ``ResNet`` (depth 50, 101 or 152; ``init_cfg`` for weights).
    """

    arch_settings = {
        50: (GCNBottleneck, (3, 4, 6, 3)),
        101: (GCNBottleneck, (3, 4, 23, 3)),
        152: (GCNBottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int,
        gcn_kernels: tuple[int, ...] = GCN_KERNELS,
        gcn_channels: tuple[int, ...] = GCN_CHANNELS,
        **kwargs,
    ):
        stages = kwargs.get("num_stages", 4)
        if len(gcn_kernels) < stages or len(gcn_channels) < stages:
            raise ValueError(f"ResNetGCN needs one GCN kernel size and one width per stage "
                             f"({stages}); got gcn_kernels={gcn_kernels}, "
                             f"gcn_channels={gcn_channels}.")
        # Read by make_res_layer, which ResNet.__init__ calls once per stage.
        self.gcn_kernels, self.gcn_channels = tuple(gcn_kernels), tuple(gcn_channels)
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs):
        stage = int(math.log2(kwargs["planes"] // self.base_channels))
        kwargs.update(gcn_k=self.gcn_kernels[stage], gcn_channels=self.gcn_channels[stage])
        # ResNet zero-initialises the last BN of each residual branch when training from
        # scratch, but only for its own Bottleneck class; do the same for GCNBottleneck.
        pretrained = any(
            c.get("type") == "Pretrained"
            for c in (self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg or {}])
        )
        if self.zero_init_residual and not pretrained:
            kwargs["init_cfg"] = dict(type="Constant", val=0, override=dict(name="norm3"))
        return ResLayer(**kwargs)
