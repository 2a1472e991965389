"""Multi-Scale Context Aggregation by Dilated Convolutions (Yu & Koltun, ICLR 2016), as mmseg
plugins: the context module (Sec. 3, Table 1) and the head that puts it on the front end (Sec. 4).

Implements
- ``ContextModule``: Sec. 3 / Table 1. Seven 3x3 convolutions with dilations 1, 1, 2, 4, 8, 16,
  1, each followed by the truncation max(., 0), then a 1x1 convolution without truncation.
  ``plan='basic'``: C channels in every layer (~64 C^2 parameters); ``plan='large'``: output
  channels 2C, 2C, 4C, 8C, 16C, 32C, 32C, C. Identity initialisation: eq. (4) for the basic
  module (the centre tap of filter b is 1 for input a = b, every other weight 0), eq. (5) for the
  large one (centre tap C / c_{i+1} where floor(aC / c_i) = floor(bC / c_{i+1}), Gaussian noise
  eps ~ N(0, sigma^2) everywhere else, sigma = ``noise_ratio`` * C / c_{i+1} << C / c_{i+1}).
  Biases start at 0. A fresh module therefore maps x to max(x, 0): it passes any non-negative
  input through unchanged (exactly for basic, up to the noise for large), and the first
  truncation clips negative inputs, as Table 1's "Truncation: Yes" prescribes.
  ``layer_table()`` reads Table 1's rows (kernel, dilation, truncation, receptive field, output
  channels) back from the built convolutions.
- ``ContextModuleHead``: the front end's last layer plus, optionally, the context module and the
  x8 upsampling, as an mmseg decode head on the front end's fc7 (``VGG16`` variant 'dilation'
  of ``repro.models.vgg``: no pool4/pool5, conv5 dilation 2, fc6 7x7 dilation 4, unpadded
  convolutions, input reflection-padded by 186 px, ``pad_input=186``). ``conv_seg`` is the
  front end's "final" 1x1 layer producing the C = 21 class scores (Sec. 4; Gaussian std 0.001,
  bias 0, as fyu/dilation network.py); the context module refines those scores; a fixed
  bilinear deconvolution (kernel 16, stride 8, pad 4, network.py ``make_upsample``) brings them
  to the input resolution. ``context=None`` is the front end alone (Tables 2, 3 and 4).

Deviations
- The paper trains the front end first and then the context module on the front end's outputs
  (Sec. 5; fyu/dilation docs/training.md: front end, context, then optionally joint). The
  harness's context rows start from the trained front end row (``init_from``) and fine-tune the
  whole network (front end and identity-initialised module together), without a stage that
  trains the module alone on fixed front-end outputs.
- Padding of the context module: Table 1 gives none; the released module pads every
  convolution by its dilation (network.py ``build_context``) so the output keeps the input's
  size; so does this one.
- The front end's output is exactly 1/8 of its input when the input is a multiple of 8; configs
  pad test images to a multiple of 8 (``size_divisor=8``, zeros at the bottom/right, then the
  186-px reflection) and train on crops that are multiples of 8, so no output is resampled.
"""

from __future__ import annotations

from typing import Literal

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import nn

from repro.models.common import bilinear_deconv

#: Table 1: dilation of the seven 3x3 layers (layer 8 is the 1x1 output layer).
DILATIONS = (1, 1, 2, 4, 8, 16, 1)
#: Table 1, "Output channels": multiples of C per layer (layers 1..8).
PLANS = {"basic": (1, 1, 1, 1, 1, 1, 1, 1), "large": (2, 2, 4, 8, 16, 32, 32, 1)}

Plan = Literal["basic", "large"]


def block_identity_(conv: nn.Conv2d, c: int, noise_std: float = 0.0) -> None:
    """Eq. (5) (eq. (4) when both widths are C and ``noise_std`` is 0) on a k x k convolution
    with ``c_i`` inputs and ``c_{i+1}`` outputs, both multiples of ``c``."""
    c_in, c_out = conv.in_channels, conv.out_channels
    if c_in % c or c_out % c:
        raise ValueError(
            f"Eq. (5) needs C={c} to divide both widths, got {c_in} -> {c_out}: use channel "
            "plans that are multiples of C (Table 1)."
        )
    w = torch.zeros_like(conv.weight)
    if noise_std > 0:
        w.normal_(0.0, noise_std)
    a = torch.arange(c_in)
    b = torch.arange(c_out)
    match = (a[None, :] * c // c_in) == (b[:, None] * c // c_out)  # (out, in)
    cy, cx = (s // 2 for s in conv.kernel_size)
    centre = w[:, :, cy, cx]
    centre[match] = c / c_out
    with torch.no_grad():
        conv.weight.copy_(w)
        if conv.bias is not None:
            conv.bias.zero_()


@MODELS.register_module()
class ContextModule(nn.Module):
    """Table 1 context network on C input maps (see the module docstring).

    Args:
        channels: C, the number of input (and output) maps: the class scores (21 for VOC).
        plan: "basic" (C channels throughout) or "large" (2C .. 32C, Table 1).
        noise_ratio: sigma / (C / c_{i+1}) of eq. (5)'s noise for the large module; the basic
            module uses eq. (4) (no noise).
    """

    def __init__(self, channels: int, plan: Plan = "basic", noise_ratio: float = 1e-3):
        super().__init__()
        if plan not in PLANS:
            raise ValueError(f"Unknown context plan {plan!r}; choose 'basic' or 'large'.")
        self.channels, self.plan = channels, plan
        widths = [channels * m for m in PLANS[plan]]
        layers, cin = [], channels
        for d, cout in zip(DILATIONS, widths):
            layers.append(nn.Conv2d(cin, cout, 3, padding=d, dilation=d))
            cin = cout
        layers.append(nn.Conv2d(cin, widths[-1], 1))
        self.layers = nn.ModuleList(layers)
        self.truncate = (True,) * len(DILATIONS) + (False,)
        for conv in self.layers:
            std = 0.0 if plan == "basic" else noise_ratio * channels / conv.out_channels
            block_identity_(conv, channels, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, truncate in zip(self.layers, self.truncate):
            x = conv(x)
            if truncate:
                x = torch.relu(x)
        return x

    def layer_table(self) -> list[dict[str, str]]:
        """Table 1's rows per layer, read from the convolutions: "Convolution" ("3x3"),
        "Dilation", "Truncation" ("Yes"/"No"), "Receptive field" (of one output element on the
        module's input, "67x67") and "Output channels" ("C", "2C", ...)."""
        rows, rf, jump = [], 1, 1
        for conv, truncate in zip(self.layers, self.truncate):
            (kh, kw), (dh, dw), (sh, _) = conv.kernel_size, conv.dilation, conv.stride
            if (kh, dh) != (kw, dw):
                raise ValueError("Table 1 describes square kernels with equal dilations.")
            rf += (kh - 1) * dh * jump
            jump *= sh
            mult = conv.out_channels // self.channels
            rows.append({
                "Convolution": f"{kh}x{kw}",
                "Dilation": str(dh),
                "Truncation": "Yes" if truncate else "No",
                "Receptive field": f"{rf}x{rf}",
                "Output channels": "C" if mult == 1 else f"{mult}C",
            })
        return rows


@MODELS.register_module()
class ContextModuleHead(BaseDecodeHead):
    """Front-end classifier (+ context module) + fixed bilinear x8 upsampling, on fc7.

    Args:
        context: None (front end alone), "basic" or "large".
        noise_ratio: eq. (5) noise of the large module (see ``ContextModule``).
        upsample: output stride of the front end (8).
        **kwargs: ``BaseDecodeHead`` arguments: ``in_channels`` = ``channels`` = fc7 width,
            ``num_classes`` = C. Dropout defaults to 0: the backbone already drops fc6/fc7.
    """

    def __init__(
        self,
        context: Plan | None = None,
        noise_ratio: float = 1e-3,
        upsample: int = 8,
        **kwargs,
    ):
        kwargs.setdefault("dropout_ratio", 0.0)
        kwargs.setdefault("channels", kwargs["in_channels"])
        kwargs.setdefault(
            "init_cfg", dict(type="Normal", std=0.001, bias=0, override=dict(name="conv_seg"))
        )
        super().__init__(**kwargs)
        if self.channels != self.in_channels:
            raise ValueError(
                "The front end's final layer is a 1x1 convolution on fc7: set channels = "
                f"in_channels (got {self.channels} vs {self.in_channels})."
            )
        self.context = (
            ContextModule(self.out_channels, context, noise_ratio) if context else None
        )
        self.upsample = bilinear_deconv(self.out_channels, upsample, learnable=False)

    def forward(self, inputs):
        scores = self.cls_seg(self._transform_inputs(inputs))
        if self.context is not None:
            scores = self.context(scores)
        return self.upsample(scores)
