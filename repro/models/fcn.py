"""Fully Convolutional Networks (Long, Shelhamer & Darrell, CVPR 2015), VGG16 FCN-32s / 16s / 8s
as in the released Caffe nets (shelhamer/fcn.berkeleyvision.org, voc-fcn{32s,16s,8s}/net.py),
as an mmseg decode head on ``VGG16(variant='fcn')`` (repro.models.vgg).

Implements
- score layers: ``score_fr`` (1x1 on fc7, BaseDecodeHead's ``conv_seg``), ``score_pool4`` and
  ``score_pool3`` for the skips; all zero-initialised (paper Sec. 4.3 / 4.2: the scoring layer
  and the new skip layers start at zero so that a stage starts from the previous one's output).
- bilinear-initialised deconvolutions: 32s kernel 64 stride 32; 16s 4/2 then 32/16; 8s 4/2,
  4/2, 16/8. Fixed as in the released nets (lr_mult 0: the weights are a buffer, not a
  parameter, so they are not trained and not counted) unless ``learnable_upsample=True``.
- Caffe's crop offsets (from the top-left, they undo conv1_1's padding of 100): 32s final 19;
  16s score_pool4 5, final 27; 8s score_pool4 5, score_pool3 9, final 31. The head is told the
  input size (``out_size``) and returns scores of exactly that size, aligned with the input.
- "at-once" FCN-8s (``at_once=True``): pool4 is scaled by 0.01 and pool3 by 0.0001 before
  scoring, as voc-fcn8s-atonce.
- Loss: the released nets use Caffe's unnormalised SoftmaxWithLoss (summed over pixels, lr 1e-10
  at batch 1); configs choose it with ``loss_decode=dict(type='CrossEntropyLoss',
  reduction='sum')`` (fcn configs) or the per-pixel mean (mmseg's default, ``avg_non_ignore``).

Staged training (FCN-16s initialised from a trained FCN-32s, FCN-8s from FCN-16s; paper Sec.
4.2): a table row of a staged config names the previous stage's row in ``init_from``; the
runner loads that checkpoint non-strictly (backbone and score_fr carry over, the new skip
scores keep their zero init, the differently-shaped upsampling kernels are skipped and stay
bilinear). A staged config run without ``init_from`` trains at once from the VGG16 weights,
like the at-once variant without the pool scaling.

Parameters (VGG16 fc6/fc7 4096, 21 classes, fixed upsampling): FCN-32s 134.35M, FCN-8s 134.37M
(FCN Table 1 prints 134M).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import nn

from repro.models.common import bilinear_kernel

#: mode -> (skips used, upsampling (kernel, stride) per step, crop offsets of the skips, final)
FCN_MODES = {
    "32s": dict(skips=(), ups=((64, 32),), skip_crops=(), final_crop=19),
    "16s": dict(skips=("pool4",), ups=((4, 2), (32, 16)), skip_crops=(5,), final_crop=27),
    "8s": dict(skips=("pool4", "pool3"), ups=((4, 2), (4, 2), (16, 8)), skip_crops=(5, 9),
               final_crop=31),
}
AT_ONCE_SCALE = {"pool4": 0.01, "pool3": 0.0001}
BACKBONE_OUTS = ("pool3", "pool4", "fc7")  # VGG16(variant='fcn') default out_indices


def input_size(meta: dict) -> tuple[int, int]:
    """The size of the network input of an image, as mmseg's ``predict_by_feat`` reads it."""
    if isinstance(meta["img_shape"], torch.Size):  # slide inference
        return tuple(meta["img_shape"])
    if "pad_shape" in meta:
        return tuple(meta["pad_shape"][:2])
    return tuple(meta["img_shape"][:2])


def caffe_crop(x: torch.Tensor, offset: int, size) -> torch.Tensor:
    """Caffe's Crop layer: ``size`` pixels from ``offset`` in both spatial dimensions."""
    h, w = size
    if x.shape[-2] < offset + h or x.shape[-1] < offset + w:
        raise ValueError(f"Cannot crop {h}x{w} at offset {offset} from a map of "
                         f"{tuple(x.shape[-2:])}: the network geometry does not match FCN's.")
    return x[..., offset:offset + h, offset:offset + w]


class CaffeDeconv(nn.Module):
    """Per-class bilinear-initialised deconvolution without padding or bias (FCN's upscore).
    Fixed (a buffer) unless ``learnable``. A fixed kernel with nothing off the class diagonal
    (FCN's surgery.py, the released nets) runs as a grouped deconvolution, one class per group:
    the same numbers at 1/C of the multiply-adds of Caffe's dense C x C kernel."""

    def __init__(self, channels: int, kernel_size: int, stride: int, learnable: bool = False):
        super().__init__()
        self.stride = stride
        weight = bilinear_kernel(channels, kernel_size)
        if learnable:
            self.weight = nn.Parameter(weight)
        else:
            self.register_buffer("weight", weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        if not isinstance(w, nn.Parameter) and self._diagonal():
            c = w.shape[0]
            diag = w[torch.arange(c), torch.arange(c)].unsqueeze(1)
            return F.conv_transpose2d(x, diag, stride=self.stride, groups=c)
        return F.conv_transpose2d(x, w, stride=self.stride)

    def _diagonal(self) -> bool:
        """Nothing off the class diagonal (checked once per version of the buffer)."""
        w = self.weight
        if w.is_meta:
            return False
        key = (w.data_ptr(), w._version)
        if getattr(self, "_diag_key", None) != key:
            c = w.shape[0]
            off = w.detach().clone()
            off[torch.arange(c), torch.arange(c)] = 0
            self._diag_key, self._diag = key, not off.any()
        return self._diag


class FullSizeDecodeHead(BaseDecodeHead):
    """A decode head that returns scores at the network input size itself (Caffe crops, global
    interpolation): ``forward(inputs, out_size)`` is told the size, in training from the
    (padded) label map, at test from the image meta, so mmseg's final resize is the identity.
    """

    def forward(self, inputs, out_size: tuple[int, int]):
        raise NotImplementedError

    def loss(self, inputs, batch_data_samples, train_cfg) -> dict:
        size = tuple(batch_data_samples[0].gt_sem_seg.shape[-2:])
        return self.loss_by_feat(self.forward(inputs, size), batch_data_samples)

    def predict(self, inputs, batch_img_metas, test_cfg) -> torch.Tensor:
        seg_logits = self.forward(inputs, input_size(batch_img_metas[0]))
        return self.predict_by_feat(seg_logits, batch_img_metas)


@MODELS.register_module()
class FCNVGGHead(FullSizeDecodeHead):
    """FCN-32s / 16s / 8s on VGG16 (module docstring).

    Args:
        in_channels: channels of the inputs the mode uses, in backbone order: 32s [fc7],
            16s [pool4, fc7], 8s [pool3, pool4, fc7].
        mode: "32s", "16s" or "8s".
        at_once: FCN-8s "at-once": scale pool4 by 0.01 and pool3 by 1e-4 before scoring.
        learnable_upsample: train the bilinear deconvolutions (the released nets fix them).
        kwargs: BaseDecodeHead's (num_classes, loss_decode, ...); ``in_index`` defaults to the
            last len(in_channels) backbone outputs, ``channels`` to fc7's width.
    """

    def __init__(self, in_channels, mode: str = "32s", at_once: bool = False,
                 learnable_upsample: bool = False, **kwargs):
        if mode not in FCN_MODES:
            raise ValueError(f"Unknown FCN mode {mode!r}; choose one of {list(FCN_MODES)}.")
        spec = FCN_MODES[mode]
        in_channels = [in_channels] if isinstance(in_channels, int) else list(in_channels)
        if len(in_channels) != len(spec["skips"]) + 1:
            raise ValueError(
                f"FCN-{mode} scores {['fc7', *spec['skips']]}: give in_channels for "
                f"{len(spec['skips']) + 1} backbone outputs (pool3, pool4, fc7 order), got "
                f"{in_channels}."
            )
        kwargs.setdefault("channels", in_channels[-1])
        kwargs.setdefault("dropout_ratio", 0)  # the backbone's drop7 precedes score_fr
        kwargs.setdefault("in_index", list(range(-len(in_channels), 0)))
        kwargs.setdefault("init_cfg", None)
        super().__init__(in_channels=in_channels, input_transform="multiple_select", **kwargs)
        self.mode, self.spec, self.at_once = mode, spec, at_once
        c = self.out_channels
        self.input_names = BACKBONE_OUTS[-len(in_channels):]
        widths = dict(zip(self.input_names, in_channels))
        self.score_skips = nn.ModuleDict(
            {f"score_{s}": nn.Conv2d(widths[s], c, 1) for s in spec["skips"]})
        self.upsamples = nn.ModuleList(
            CaffeDeconv(c, k, s, learnable_upsample) for k, s in spec["ups"])

    def init_weights(self):
        # FCN zero-initialises the class scoring layer and the skip scores (Sec. 4.2, 4.3).
        for conv in [self.conv_seg, *self.score_skips.values()]:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self._is_init = True

    def forward(self, inputs, out_size):
        feats = dict(zip(self.input_names, self._transform_inputs(inputs)))
        x = self.cls_seg(feats["fc7"])  # score_fr
        for i, skip in enumerate(self.spec["skips"]):  # pool4, then pool3
            x = self.upsamples[i](x)
            feat = feats[skip] * AT_ONCE_SCALE[skip] if self.at_once else feats[skip]
            score = self.score_skips[f"score_{skip}"](feat)
            x = x + caffe_crop(score, self.spec["skip_crops"][i], x.shape[-2:])
        x = self.upsamples[-1](x)
        return caffe_crop(x, self.spec["final_crop"], out_size)
