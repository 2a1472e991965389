"""Large Kernel Matters (Peng et al., CVPR 2017): Global Convolutional Network and Boundary
Refinement, as mmseg plugins.

Implements
- ``GlobalConvBlock``: Section 3.1 / Figure 2B, a k x k effective kernel made of two separable
  branches, (k x 1 then 1 x k) + (1 x k then k x 1), with *no* nonlinearity between them.
- The kernels the ablations compare it with (Figure 4): the 1 x 1 "base" (Table 1), a plain
  k x k convolution (Table 2) and a stack of (k-1)/2 3 x 3 convolutions without nonlinearity,
  with m intermediate channels (Tables 3, 4).
- ``BoundaryRefinement``: Figure 2C, S~ = S + R(S), R = conv3x3(ReLU(conv3x3(S))).
- ``GCNHead``: the framework of Figure 2A on res-2..res-5 of a ResNet: every stage is mapped to
  class scores by the kernel above (+ BR), the scores are fused top-down (FCN-4 like) with x2
  deconvolutions, each sum followed by BR, and two last deconvolutions + BR bring the score map
  to the input resolution. ``boundary_refine=False`` removes every BR block, as in Table 1
  ("the overall network architecture is shown as in Figure 2A except that Boundary Refinement
  block is not applied").

Parameter counts (Table 2, "# of Params ... after res-5") are those of the res-5 kernel module
with 2048 input channels and 21 classes, convolutions without bias: GCN 2k*21*(2048+21)
(260K at k=3), k x k conv 21*2048*k^2 (387K at k=3); tests assert all of them.

Deviations: the paper gives no channel width for the score maps other than the class count, no
initialisation and no deconvolution kernel size; we use 21 channels, the default (Kaiming)
initialisation for convolutions and bilinear-initialised learnable 4x4 stride-2 deconvolutions.
The paper's backbone is ResNet-152 (Caffe); configs use mmseg's ``ResNet`` (pytorch style) with
weights from a file the user gives.
"""

from __future__ import annotations

from typing import Literal

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import nn

from repro.models.common import bilinear_deconv

KernelType = Literal["gcn", "conv", "base", "stack"]


@MODELS.register_module()
class GlobalConvBlock(nn.Module):
    """GCN block (Figure 2B): conv(k x 1) -> conv(1 x k)  +  conv(1 x k) -> conv(k x 1)."""

    def __init__(self, in_channels: int, out_channels: int, k: int, bias: bool = False):
        super().__init__()
        if k % 2 != 1:
            raise ValueError(f"GCN kernel size k must be odd (paper Sec. 4.1.1), got k={k}.")
        p = k // 2
        self.left = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, (k, 1), padding=(p, 0), bias=bias),
            nn.Conv2d(out_channels, out_channels, (1, k), padding=(0, p), bias=bias),
        )
        self.right = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, (1, k), padding=(0, p), bias=bias),
            nn.Conv2d(out_channels, out_channels, (k, 1), padding=(p, 0), bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.left(x) + self.right(x)


@MODELS.register_module()
class BoundaryRefinement(nn.Module):
    """BR block (Figure 2C): x + conv3x3(ReLU(conv3x3(x)))."""

    def __init__(self, channels: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x)


def conv_stack(in_channels: int, out_channels: int, k: int, mid_channels: int) -> nn.Sequential:
    """(k-1)/2 linear 3x3 convolutions: the "stack of small kernels" of Figure 4D (Tables 3-4)."""
    if k < 3 or k % 2 != 1:
        raise ValueError(f"A 3x3 stack needs an odd equivalent kernel k >= 3, got k={k}.")
    n = (k - 1) // 2
    chans = [in_channels] + [mid_channels] * (n - 1) + [out_channels]
    return nn.Sequential(
        *[nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False) for i in range(n)]
    )


def build_kernel(
    kind: KernelType, in_channels: int, out_channels: int, k: int, mid_channels: int | None = None
) -> nn.Module:
    """The module that maps a backbone stage to class scores, per ablation (Figure 4)."""
    if kind == "gcn":
        return GlobalConvBlock(in_channels, out_channels, k)
    if kind == "conv":
        return nn.Conv2d(in_channels, out_channels, k, padding=k // 2, bias=False)
    if kind == "base":
        return nn.Conv2d(in_channels, out_channels, 1, bias=False)
    if kind == "stack":
        return conv_stack(in_channels, out_channels, k, mid_channels or in_channels)
    raise ValueError(f"Unknown kernel type {kind!r}; expected one of gcn, conv, base, stack.")


@MODELS.register_module()
class GCNHead(BaseDecodeHead):
    """Figure 2A on four backbone stages (strides 4, 8, 16, 32), output at stride 1.

    Args:
        in_channels: channels of res-2..res-5 (e.g. [256, 512, 1024, 2048]).
        kernel_type: "gcn" (paper), "base" (1x1), "conv" (k x k) or "stack" (3x3 stack).
        k: kernel size (odd). Ignored by "base".
        stack_channels: m, the intermediate width of the 3x3 stack (Table 4), one for all stages
            or one per stage; default: each stage's input width.
        boundary_refine: use the BR blocks of Figure 2A (Table 5 "GCN + BR").
    """

    def __init__(
        self,
        in_channels: list[int],
        kernel_type: KernelType = "gcn",
        k: int = 15,
        stack_channels: int | list[int] | None = None,
        boundary_refine: bool = True,
        **kwargs,
    ):
        num_classes = kwargs["num_classes"]
        kwargs.setdefault("channels", num_classes)
        kwargs.setdefault("input_transform", "multiple_select")
        kwargs.setdefault("in_index", list(range(len(in_channels))))
        # conv_seg of BaseDecodeHead is unused: the kernels already produce class scores.
        kwargs.setdefault("init_cfg", None)
        super().__init__(in_channels=in_channels, **kwargs)
        del self.conv_seg
        c = num_classes
        self.kernel_type, self.k = kernel_type, k
        if not isinstance(stack_channels, (list, tuple)):
            stack_channels = [stack_channels] * len(in_channels)
        self.kernels = nn.ModuleList(
            build_kernel(kernel_type, ch, c, k, m) for ch, m in zip(in_channels, stack_channels)
        )
        br = BoundaryRefinement if boundary_refine else (lambda _c: nn.Identity())
        n = len(in_channels)
        self.stage_br = nn.ModuleList(br(c) for _ in range(n))  # after each kernel
        self.fuse_br = nn.ModuleList(br(c) for _ in range(n - 1))  # after each sum
        self.fuse_up = nn.ModuleList(bilinear_deconv(c, 2) for _ in range(n - 1))
        # res-2 is at stride 4: two more x2 deconvolutions, each followed by BR (Figure 2A).
        self.final_up = nn.ModuleList([bilinear_deconv(c, 2), bilinear_deconv(c, 2)])
        self.final_br = nn.ModuleList([br(c), br(c)])

    def forward(self, inputs):
        feats = self._transform_inputs(inputs)
        scores = [br(kernel(f)) for kernel, br, f in zip(self.kernels, self.stage_br, feats)]
        x = scores[-1]
        for i in range(len(scores) - 2, -1, -1):
            x = self.fuse_up[i](x)
            x = self.fuse_br[i](x[..., : scores[i].shape[2], : scores[i].shape[3]] + scores[i])
        for up, br in zip(self.final_up, self.final_br):
            x = br(up(x))
        return x
