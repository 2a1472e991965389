"""``CRFRNNEncoderDecoder``: an mmseg EncoderDecoder with a CRF-RNN layer (Zheng et al. 2015).

CRF-RNN (Zheng et al., "Conditional Random Fields as Recurrent Neural Networks", ICCV 2015)
appends the dense CRF's mean-field inference (Kraehenbuehl & Koltun 2011) to the network as a
trainable recurrent layer; the Dilation paper (Yu & Koltun, ICLR 2016, Table 3) reports its
front end and context module "+ RNN" this way. Config::

    model = dict(
        type='CRFRNNEncoderDecoder',
        ...,  # every EncoderDecoder argument
        crf_rnn=dict(iterations=5, test_iterations=10, w1=5, sigma_alpha=80, sigma_beta=13,
                     w2=3, sigma_gamma=3))

The decode head's logits are upsampled (bilinear, the head's ``align_corners``) to the network
input size and refined by ``repro.crf.meanfield.CRFRNN`` before the decode-head loss (training)
and before mmseg's post-processing (``predict``, ``_forward``, each crop of slide inference).
The CRF needs the RGB image: the input (without the reflected margin of a preprocessor with a
``margin``, as Dilation's) is de-normalised with the data preprocessor's mean/std;
its channel order is RGB when the preprocessor converts channels (``bgr_to_rgb=True``, the usual
VOC config) and BGR (mmcv's loading order) otherwise, or as set by ``channel_order``. The
auxiliary heads, if any, are trained on the backbone features as in EncoderDecoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import add_prefix

from repro.crf.meanfield import CRFRNN

__all__ = ["CRFRNNEncoderDecoder"]

_CRF_KEYS = {"iterations", "test_iterations", "w1", "sigma_alpha", "sigma_beta", "w2",
             "sigma_gamma", "backend", "channel_order"}


@MODELS.register_module()
class CRFRNNEncoderDecoder(EncoderDecoder):
    """EncoderDecoder + CRF-RNN on the full-resolution logits (see the module docstring)."""

    def __init__(self, *args, crf_rnn: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = dict(crf_rnn or {})
        unknown = sorted(set(cfg) - _CRF_KEYS)
        if unknown:
            raise ValueError(
                f"Unknown crf_rnn option(s) {unknown}; the options are {sorted(_CRF_KEYS)}."
            )
        order = cfg.pop("channel_order", "auto")
        if order not in ("auto", "rgb", "bgr"):
            raise ValueError(
                f"crf_rnn channel_order must be 'auto', 'rgb' or 'bgr', got {order!r}."
            )
        self.crf_channel_order = order
        self.crf_rnn = CRFRNN(self.num_classes, **cfg)

    # -- helpers ------------------------------------------------------------------------------
    def _rgb(self, inputs: torch.Tensor) -> torch.Tensor:
        """The RGB image (0..255) behind the normalised network input."""
        dp = self.data_preprocessor
        img = inputs.detach().float()
        if getattr(dp, "_enable_normalize", False):
            img = img * dp.std.view(1, -1, 1, 1) + dp.mean.view(1, -1, 1, 1)
        order = self.crf_channel_order
        if order == "auto":
            order = "rgb" if getattr(dp, "_channel_conversion", False) else "bgr"
        if order == "bgr":
            img = img.flip(1)
        return img.clamp(0, 255)

    def _refine(self, inputs: torch.Tensor, seg_logits: torch.Tensor) -> torch.Tensor:
        # A preprocessor that adds a reflected margin around the image (Dilation's
        # ReflectPadDataPreProcessor): the CRF sees the image without it.
        m = getattr(self.data_preprocessor, "margin", 0)
        if m:
            inputs = inputs[..., m:-m, m:-m]
        if seg_logits.shape[2:] != inputs.shape[2:]:
            seg_logits = F.interpolate(
                seg_logits, size=inputs.shape[2:], mode="bilinear",
                align_corners=self.align_corners,
            )
        return self.crf_rnn(seg_logits, self._rgb(inputs))

    # -- EncoderDecoder overrides ---------------------------------------------------------------
    def loss(self, inputs: torch.Tensor, data_samples) -> dict:
        x = self.extract_feat(inputs)
        seg_logits = self._refine(inputs, self.decode_head.forward(x))
        losses = dict()
        losses.update(add_prefix(self.decode_head.loss_by_feat(seg_logits, data_samples), "decode"))
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        x = self.extract_feat(inputs)
        return self._refine(inputs, self.decode_head.forward(x))

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        x = self.extract_feat(inputs)
        return self._refine(inputs, self.decode_head.forward(x))
