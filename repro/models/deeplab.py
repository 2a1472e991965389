"""DeepLab-LargeFOV (Chen et al., "Semantic Image Segmentation with Deep Convolutional Nets and
Fully Connected CRFs", ICLR 2015, Sec. 3.1 / 4.1, Table 2 "DeepLab-LargeFOV") as an mmseg
decode head on ``VGG16(variant='deeplab_largefov')`` (repro.models.vgg).

fc8 is a 1x1 convolution from the 1024-channel fc7 to the classes (BaseDecodeHead's
``conv_seg``, Gaussian std 0.01 init as DeepLab's prototxt). Scores are at output stride 8 and
upsampled as DeepLab's Caffe ``Interp`` layer with ``zoom_factor: 8`` does: bilinear with
aligned corners to (h - 1) * 8 + 1, then cropped to the input from the top-left (the input
being covered since DeepLab's pools are ceil-mode).

Deviation: at training DeepLab compares the stride-8 scores with labels subsampled by 8
(``label_shrink``); this head upsamples the scores to the label size instead and computes the
loss at full resolution, the same path as at test (and as the GDN variants, whose global
interpolation produces full-resolution scores), so that the baseline and the GDN rows of GDN
Table 1 differ only in the upsampling.

Parameters with 21 classes: 20.51M (VGG16 LargeFOV 20.48M + fc8 21.5K), DeepLab's "20.5M".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from repro.models.fcn import FullSizeDecodeHead, caffe_crop


def caffe_interp(x: torch.Tensor, zoom: int, out_size) -> torch.Tensor:
    """DeepLab's Interp layer (zoom_factor ``zoom``) followed by a top-left crop to ``out_size``.
    Pads by edge replication in the rare case that the zoomed map is smaller than ``out_size``
    (inputs whose size is not what the ceil-mode pools assume)."""
    h, w = x.shape[-2:]
    y = F.interpolate(x, size=((h - 1) * zoom + 1, (w - 1) * zoom + 1), mode="bilinear",
                      align_corners=True)
    short = (max(out_size[0] - y.shape[-2], 0), max(out_size[1] - y.shape[-1], 0))
    if any(short):
        y = F.pad(y, (0, short[1], 0, short[0]), mode="replicate")
    return caffe_crop(y, 0, out_size)


@MODELS.register_module()
class DeepLabLargeFOVHead(FullSizeDecodeHead):
    """fc8 on fc7 and x8 bilinear (Caffe Interp) upsampling (module docstring).

    Args:
        in_channels: fc7 width (1024).
        zoom: the upsampling factor of the Interp layer (the output stride, 8).
        kwargs: BaseDecodeHead's; ``channels`` defaults to ``in_channels``, no extra dropout
            (the backbone's drop7 precedes fc8).
    """

    def __init__(self, in_channels: int = 1024, zoom: int = 8, **kwargs):
        kwargs.setdefault("channels", in_channels)
        kwargs.setdefault("dropout_ratio", 0)
        kwargs.setdefault("init_cfg", dict(type="Normal", std=0.01, override=dict(name="conv_seg")))
        super().__init__(in_channels=in_channels, **kwargs)
        self.zoom = zoom

    def forward(self, inputs, out_size):
        return caffe_interp(self.cls_seg(self._transform_inputs(inputs)), self.zoom, out_size)
