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
- ``ReflectPadDataPreProcessor``: Sec. 4, "We use reflection padding: the buffer zone is filled
  by reflecting the image about each edge". mmseg's data preprocessor (normalisation, batching,
  labels padded with 255 to the crop / a multiple of 8) whose image buffer is the image itself
  reflected about its four edges (BORDER_REFLECT_101, as fyu/dilation: caffe-dilation's
  ImageLabelData with ``padding: REFLECT`` in training, test.py's ``copyMakeBorder`` at test)
  by the 186-px margin of the unpadded front end and, to the right and bottom, by whatever the
  batch size adds: the same at train and test. The network input is therefore 2 x 186 px larger
  than the labels; the batch metadata (``img_shape``, ``pad_shape``) stays that of the labels.
- ``ContextModuleHead``: the front end's last layer plus, optionally, the context module and the
  x8 upsampling, as an mmseg decode head on the front end's fc7 (``VGG16`` variant 'dilation'
  of ``repro.models.vgg``: no pool4/pool5, conv5 dilation 2, fc6 7x7 dilation 4, unpadded
  convolutions, on the 186-px reflected buffer of ``ReflectPadDataPreProcessor``). ``conv_seg``
  is the front end's "final" 1x1 layer producing the C = 21 class scores (Sec. 4; Gaussian std
  0.001, bias 0, as fyu/dilation network.py); the context module refines those scores; a fixed
  bilinear deconvolution (kernel 16, stride 8, pad 4, network.py ``make_upsample``) brings them
  to the input resolution. ``context=None`` is the front end alone (Tables 2, 3 and 4).

Deviations
- The paper trains the front end first and then the context module on the front end's outputs
  (Sec. 5; fyu/dilation docs/training.md: front end, context, then optionally joint). The
  harness's context rows start from the trained front end row (``init_from``) and fine-tune the
  whole network (front end and identity-initialised module together), without a stage that
  trains the module alone on fixed front-end outputs.
- Padding of the context module: Table 1 gives none; the training code pads every
  convolution by its dilation (network.py ``build_context``) so the output keeps the input's
  size; so does this one by default (``pad_mode='same'``). The released VOC model
  (models/dilation8_pascal_voc_deploy.prototxt) instead zero-pads the module's input once, by
  33 (``ct_conv1_1`` pad 33, every later convolution unpadded): ``pad_mode='first'``.
- Upsampling: the training code's fixed bilinear deconvolution (default, ``upsample='deconv'``),
  or, as the released inference does (predict.py / test.py: softmax at stride 8, then
  ``util.interp_map``), ``upsample='interp'``: the class probabilities are interpolated to the
  input size with output pixel y taken at y / 8 (Caffe's Interp, ``repro.models.deeplab``) and
  returned as log-probabilities; at training the stride-8 scores go to mmseg's usual loss
  (resized to the labels).
- The front end's output is exactly 1/8 of its input when the input is a multiple of 8; configs
  pad test images to a multiple of 8 (``size_divisor=8``, by reflection like the margin) and
  train on crops that are multiples of 8, so no output is resampled.
- Training windows: fyu/dilation crops 500x500 network inputs (margin included) from the
  reflected image and computes the loss on labels subsampled by 8 in the central 128x128; the
  configs crop 504x504 image windows (at most the whole VOC image), add the margin and compute
  the loss on the x8-upsampled scores against every label pixel.
- Only whole-image inference: mmseg's slide inference cuts windows from the network input,
  which here includes the margin.
"""

from __future__ import annotations

from typing import Literal

import torch
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import nn

from repro.models.common import bilinear_deconv
from repro.models.deeplab import caffe_interp
from repro.models.fcn import input_size
from repro.models.vgg import reflect_pad

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
        pad_mode: "same" (every 3x3 convolution padded by its dilation) or "first" (the first
            padded by the whole margin, 33, the others unpadded: the released VOC model).
    """

    def __init__(self, channels: int, plan: Plan = "basic", noise_ratio: float = 1e-3,
                 pad_mode: Literal["same", "first"] = "same"):
        super().__init__()
        if plan not in PLANS:
            raise ValueError(f"Unknown context plan {plan!r}; choose 'basic' or 'large'.")
        if pad_mode not in ("same", "first"):
            raise ValueError(f"Unknown context pad_mode {pad_mode!r}; choose 'same' or 'first'.")
        self.channels, self.plan, self.pad_mode = channels, plan, pad_mode
        widths = [channels * m for m in PLANS[plan]]
        layers, cin = [], channels
        margin = sum(DILATIONS)  # 3x3 kernels: each layer needs its dilation on every side
        for i, (d, cout) in enumerate(zip(DILATIONS, widths)):
            pad = d if pad_mode == "same" else (margin if i == 0 else 0)
            layers.append(nn.Conv2d(cin, cout, 3, padding=pad, dilation=d))
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
        zoom: output stride of the front end (8).
        upsample: "deconv" (fixed bilinear deconvolution of the scores, the training code) or
            "interp" (Caffe Interp of the probabilities at test, the released inference).
        pad_mode: the context module's padding (see ``ContextModule``).
        **kwargs: ``BaseDecodeHead`` arguments: ``in_channels`` = ``channels`` = fc7 width,
            ``num_classes`` = C. Dropout defaults to 0: the backbone already drops fc6/fc7.
    """

    def __init__(
        self,
        context: Plan | None = None,
        noise_ratio: float = 1e-3,
        zoom: int = 8,
        upsample: Literal["deconv", "interp"] = "deconv",
        pad_mode: Literal["same", "first"] = "same",
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
            ContextModule(self.out_channels, context, noise_ratio, pad_mode) if context else None
        )
        if upsample not in ("deconv", "interp"):
            raise ValueError(f"Unknown upsample {upsample!r}; choose 'deconv' or 'interp'.")
        self.zoom, self.upsample_mode = zoom, upsample
        self.upsample = (bilinear_deconv(self.out_channels, zoom, learnable=False)
                         if upsample == "deconv" else None)

    def forward(self, inputs):
        scores = self.cls_seg(self._transform_inputs(inputs))
        if self.context is not None:
            scores = self.context(scores)
        return self.upsample(scores) if self.upsample is not None else scores

    def predict(self, inputs, batch_img_metas, test_cfg):
        if self.upsample is not None:
            return super().predict(inputs, batch_img_metas, test_cfg)
        probs = caffe_interp(self.forward(inputs).softmax(1), self.zoom,
                             input_size(batch_img_metas[0]))
        return self.predict_by_feat(probs.clamp_min(1e-12).log(), batch_img_metas)


@MODELS.register_module()
class ReflectPadDataPreProcessor(SegDataPreProcessor):
    """mmseg's ``SegDataPreProcessor`` whose image buffer is the image reflected about its edges
    (module docstring): ``margin`` px on every side plus the padding to ``size`` (training) or
    to a multiple of ``test_cfg['size_divisor']`` (test) on the right and bottom. Labels are
    padded with ``seg_pad_val`` to the size without margin, as by the parent class.

    Args:
        margin: reflection added on every side (186 for the Dilation front end, whose unpadded
            convolutions shrink the input by 2 x 186 px).
        **kwargs: ``SegDataPreProcessor`` arguments (``pad_val`` is not used: nothing is filled
            with a constant).
    """

    def __init__(self, margin: int = 186, **kwargs):
        super().__init__(**kwargs)
        self.margin = margin

    def forward(self, data: dict, training: bool = False) -> dict:
        sizes = [tuple(img.shape[-2:]) for img in data["inputs"]]  # before any padding
        out = super().forward(data, training)
        batch = out["inputs"]
        height, width = batch.shape[-2:]
        m = self.margin
        out["inputs"] = torch.stack([
            reflect_pad(img[:, :h, :w], (m, m + width - w, m, m + height - h))
            for img, (h, w) in zip(batch, sizes)
        ])
        return out
