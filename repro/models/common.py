"""Small pieces shared by several paper families (kept here so each is written once)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights of a per-channel bilinear upsampling deconvolution, as FCN's surgery.py builds
    them: ``(channels, channels, k, k)`` with the bilinear filter on the diagonal, 0 elsewhere.
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = np.ogrid[:kernel_size, :kernel_size]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    weight = np.zeros((channels, channels, kernel_size, kernel_size), dtype=np.float32)
    weight[range(channels), range(channels)] = filt
    return torch.from_numpy(weight)


def bilinear_deconv(channels: int, factor: int, learnable: bool = True) -> nn.ConvTranspose2d:
    """A ``factor``x upsampling deconvolution initialised to bilinear interpolation.

    Kernel ``2*factor``, stride ``factor``, padding ``factor//2``: the output is exactly
    ``factor`` times the input size (FCN uses padding 0 plus a Caffe crop, see repro.models.fcn).
    """
    deconv = nn.ConvTranspose2d(
        channels, channels, 2 * factor, stride=factor, padding=factor // 2, bias=False
    )
    with torch.no_grad():
        deconv.weight.copy_(bilinear_kernel(channels, 2 * factor))
    deconv.weight.requires_grad_(learnable)
    return deconv


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
