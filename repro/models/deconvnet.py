"""Learning Deconvolution Network for Semantic Segmentation (Noh, Hong & Han, ICCV 2015), as
mmseg plugins.

Implements
- ``DeconvNetHead``: the deconvolution network of Sec. 3 / Table 2 on the ``VGG16`` variant
  'deconvnet' of ``repro.models.vgg`` (13 convolutions and fc6 7x7 / fc7 1x1 with 4096 maps,
  BatchNorm after each, 2x2 max pools returning their switches): deconv-fc6 (7x7, 4096 -> 512,
  1x1 -> 7x7), then per stage an unpooling with the switches of the mirrored pool
  (``F.max_unpool2d``, Sec. 3.2.1) and 3x3 deconvolutions (pad 1) with the widths of Table 2
  (512 512 512 | 512 512 256 | 256 256 128 | 128 64 | 64 64), each followed by BatchNorm and
  ReLU (Sec. 4.1), and the final 1x1 convolution to the 21 classes (``conv_seg``). Deconvolution
  weights start from N(0, 0.01^2), biases 0, BatchNorm shift 0.001 (the released prototxt,
  HyeonwooNoh/DeconvNet stage_1_train.prototxt; the paper: "zero-mean Gaussians"). About 252M
  parameters with the encoder (Sec. 6.1), tested.
- ``table2_output_sizes``: every layer's output size on a 224x224 input, read from the built
  network on PyTorch's meta device (no memory, no compute) for Table 2.
- ``ProposalSegmentor``: an mmseg ``EncoderDecoder`` whose test mode ``'proposals'`` segments an
  image through object proposals (Sec. 5 and 6.1 "Inference"): the proposals of the configured
  source (``repro.models.proposals``), each enlarged 1.2x (the released inference uses the
  enlarged "boxes_padded"), boxes with a side below ``min_size`` skipped (released code: 112 px),
  the first ``max_proposals`` (50) of the rest cropped (black outside the image), resized to
  224x224, segmented, their score maps resized back and put on the image with zeros outside
  (G_i), aggregated by the pixel-wise maximum (eq. 1) or sum (eq. 2), then the softmax. The
  returned ``seg_logits`` are log-probabilities, so the harness's dense CRF (Sec. 5.1, its unary
  is -log p), its ensembles (``repro.models.inference.EnsembleSegmentor``: EDeconvNet, Sec. 5.2,
  the mean of the DeconvNet and FCN-8s probability maps) and the arg-max see exactly these
  probabilities. Training is the ordinary EncoderDecoder loss on the 224x224 crops of
  ``repro.models.proposals.DeconvNetObjectCrop``.

Deviations
- Table 2 prints pad 1 for the final 1x1 "output" layer; its output size (224x224x21) needs
  pad 0, used here.
- The released ensemble (generate_EDeconvNet_CRF_results.m) multiplies the DeconvNet scores by
  the ReLU of the FCN-8s scores; the paper's Sec. 5.2 takes the mean of the two probability
  maps, which is what the harness's ensemble does.
- Proposals: EdgeBoxes in the paper (from a boxes file here), or a built-in selective-search-like
  generator (``repro.models.proposals``); which one is recorded in each prediction's metainfo.
- Smoke profile only (``repro.smoke``, defaults off): fc6 / deconv-fc6 padded (``fc6_padding``)
  for an input whose pool5 is smaller than their 7x7 kernel, and a decoder wider than its
  encoder whose unpooling shares each switch map among a group of maps (:class:`MaxUnpool`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from torch import nn

from repro.models.proposals import build_proposal_source, enlarge
from repro.models.vgg import scaled

#: Table 2, deconvolution network: after unpool<stage>, the widths of its 3x3 deconvolutions.
DECONV_STAGES = (
    (5, (512, 512, 512)),
    (4, (512, 512, 256)),
    (3, (256, 256, 128)),
    (2, (128, 64)),
    (1, (64, 64)),
)
FC6_DECONV = 512  # deconv-fc6 output maps


def deconv_bn_relu(cin: int, cout: int, kernel: int, pad: int) -> nn.Sequential:
    deconv = nn.ConvTranspose2d(cin, cout, kernel, stride=1, padding=pad)
    bn = nn.BatchNorm2d(cout)
    nn.init.normal_(deconv.weight, 0.0, 0.01)
    nn.init.zeros_(deconv.bias)
    nn.init.ones_(bn.weight)
    nn.init.constant_(bn.bias, 0.001)
    return nn.Sequential(deconv, bn, nn.ReLU(inplace=True))


class MaxUnpool(nn.Module):
    """2x2 stride-2 unpooling with the switches of the mirrored pool (a module, so that hooks
    see its output for Table 2). A decoder ``r`` times wider than the pool (smoke profile)
    unpools each group of ``r`` consecutive maps with the same switch map."""

    def forward(self, x: torch.Tensor, indices: torch.Tensor, size) -> torch.Tensor:
        ratio, rest = divmod(x.shape[1], indices.shape[1])
        if rest or not ratio:
            raise ValueError(f"Unpooling {x.shape[1]} maps with {indices.shape[1]} switch maps: "
                             "the decoder's width must be a multiple of the encoder's.")
        if ratio > 1:
            indices = indices.repeat_interleave(ratio, 1)
        return F.max_unpool2d(x, indices, 2, 2, output_size=size)


@MODELS.register_module()
class DeconvNetHead(BaseDecodeHead):
    """The mirrored deconvolution network of Table 2 (module docstring).

    Input: the backbone's ``(fc7, switches)`` where ``switches`` lists ``(indices, pre-pool
    size)`` of pool1..pool5 (``VGG16(variant='deconvnet', out_indices=('fc7',))``).

    Args:
        width_mult: scales every width like the backbone's (smoke profile); a multiple of the
            backbone's, each switch map then serving ``width_mult / backbone width_mult``
            decoder maps (:class:`MaxUnpool`).
        fc6_kernel: kernel of deconv-fc6, the size of pool5's output (7 for 224 inputs).
        fc6_padding: deconv-fc6's padding, fc6's (0; the smoke profile pads both by 3, so
            that deconv-fc6 gives back pool5's size from fc7's).
        **kwargs: ``BaseDecodeHead`` arguments: ``in_channels`` = fc7 width, ``num_classes``;
            ``channels`` (deconv1-2's width) is set from the table; dropout defaults to 0 (the
            paper removes dropout, Sec. 6.1).
    """

    def __init__(self, width_mult: float = 1.0, fc6_kernel: int = 7, fc6_padding: int = 0,
                 **kwargs):
        kwargs.setdefault("dropout_ratio", 0.0)
        kwargs["channels"] = scaled(DECONV_STAGES[-1][1][-1], width_mult)
        super().__init__(**kwargs)
        cin = scaled(FC6_DECONV, width_mult)
        self.deconv_fc6 = deconv_bn_relu(self.in_channels, cin, fc6_kernel, fc6_padding)
        self.layer_names: list[str] = []
        for stage, widths in DECONV_STAGES:
            self.add_module(f"unpool{stage}", MaxUnpool())
            self.layer_names.append(f"unpool{stage}")
            for i, width in enumerate(widths, start=1):
                cout = scaled(width, width_mult)
                self.add_module(f"deconv{stage}_{i}", deconv_bn_relu(cin, cout, 3, 1))
                self.layer_names.append(f"deconv{stage}_{i}")
                cin = cout

    def forward(self, inputs):
        *feats, switches = inputs
        x = self.deconv_fc6(self._transform_inputs(feats))
        for name in self.layer_names:
            layer = getattr(self, name)
            if isinstance(layer, MaxUnpool):
                indices, size = switches[int(name[-1]) - 1]
                x = layer(x, indices, size)
            else:
                x = layer(x)
        return self.cls_seg(x)


#: Table 2's layer names, in its order, with the module whose output each row gives.
TABLE2_LAYERS = (
    ["input"]
    + [n for s, k in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
       for n in [f"conv{s}-{i}" for i in range(1, k + 1)] + [f"pool{s}"]]
    + ["fc6", "fc7", "deconv-fc6"]
    + [n for s, widths in DECONV_STAGES
       for n in [f"unpool{s}"] + [f"deconv{s}-{i}" for i in range(1, len(widths) + 1)]]
    + ["output"]
)


def table2_module(layer: str) -> str | None:
    """The submodule of the segmentor whose output is Table 2's ``layer`` (None: the input)."""
    if layer == "input":
        return None
    if layer == "output":
        return "decode_head.conv_seg"
    if layer == "deconv-fc6":
        return "decode_head.deconv_fc6"
    if layer.startswith(("conv", "pool", "fc")):
        return "backbone." + layer.replace("-", "_")
    return "decode_head." + layer.replace("-", "_")


def table2_output_sizes(model: nn.Module, size: int = 224) -> dict[str, str]:
    """``{'conv1-1': '224x224x64', ...}`` for every row of Table 2, from a forward pass of the
    built segmentor on a ``size`` x ``size`` input on the meta device (build the model under
    ``torch.device('meta')`` to skip memory and initialisation)."""
    shapes: dict[str, torch.Size] = {}
    handles = []
    for layer in TABLE2_LAYERS[1:]:
        module = model.get_submodule(table2_module(layer))

        def hook(_m, _inp, out, layer=layer):
            shapes[layer] = (out[0] if isinstance(out, tuple) else out).shape

        handles.append(module.register_forward_hook(hook))
    x = torch.empty(1, 3, size, size, device=next(model.parameters()).device)
    shapes["input"] = x.shape
    training = model.training
    try:
        with torch.no_grad():
            model.eval()  # BatchNorm on fc6/fc7's single 1x1 value needs running statistics
            model.decode_head(model.backbone(x))
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    return {layer: f"{s[2]}x{s[3]}x{s[1]}" for layer, s in
            ((n, shapes[n]) for n in TABLE2_LAYERS)}


def paste(canvas: torch.Tensor, scores: torch.Tensor, box, mode: str) -> None:
    """Put one proposal's score map ``scores`` (C, h, w) at ``box`` = (x1, y1, x2, y2) (x2 - x1
    = w, y2 - y1 = h, possibly partly outside) into ``canvas`` (C, H, W) in place: the maximum
    (eq. 1) or the sum (eq. 2) with what is there. With a zero canvas this is G_i of Sec. 5.1:
    the proposal's scores, zero outside."""
    x1, y1, x2, y2 = (int(v) for v in box)
    _, height, width = canvas.shape
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if cx2 <= cx1 or cy2 <= cy1:
        return
    part = scores[:, cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
    region = canvas[:, cy1:cy2, cx1:cx2]
    if mode == "max":
        torch.maximum(region, part, out=region)
    elif mode == "sum":
        region += part
    else:
        raise ValueError(f"Aggregation must be 'max' (eq. 1) or 'sum' (eq. 2), got {mode!r}.")


@MODELS.register_module()
class ProposalSegmentor(EncoderDecoder):
    """EncoderDecoder with the proposal-wise inference of Sec. 5 (module docstring).

    ``test_cfg`` for ``mode='proposals'``::

        test_cfg=dict(
            mode='proposals',
            proposals=dict(type='edgeboxes', model=FILE),  # or 'file', 'selective_search'
            max_proposals=50, min_size=112, context=1.2, input_size=224,
            aggregate='max',  # or 'sum'
            batch_size=16,    # proposals per forward pass
        )
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._proposal_source = None  # built at the first prediction: training needs none

    @property
    def _source(self):
        """The proposal source of ``test_cfg`` (EdgeBoxes needs OpenCV contrib and its model
        file: repro checks both when it plans a row, ``check_edgeboxes`` says what is
        missing)."""
        if self._proposal_source is None:
            self._proposal_source = build_proposal_source(self.test_cfg.get("proposals"))
            print_log(f"DeconvNet proposals: {self._proposal_source.describe()}",
                      logger="current")
        return self._proposal_source

    # -- inference ------------------------------------------------------------------------------
    def inference(self, inputs: torch.Tensor, batch_img_metas: list[dict]) -> torch.Tensor:
        if self.test_cfg.get("mode") != "proposals":
            return super().inference(inputs, batch_img_metas)
        probs = torch.stack([
            self.proposal_probs(img, meta) for img, meta in zip(inputs, batch_img_metas)
        ])
        return probs.clamp_min(1e-12).log()

    def predict(self, inputs: torch.Tensor, data_samples=None):
        samples = super().predict(inputs, data_samples)
        if self.test_cfg.get("mode") == "proposals":
            for sample in samples:
                sample.set_metainfo(dict(proposal_source=self._source.describe()))
        return samples

    def proposal_probs(self, img: torch.Tensor, meta: dict) -> torch.Tensor:
        """Class probabilities (C, H, W) of one normalised, possibly padded image (3, H, W)."""
        cfg = self.test_cfg
        size = cfg.get("input_size", 224)
        h, w = meta["img_shape"][:2]
        boxes = self.select_boxes(self._image_boxes(img[:, :h, :w], meta))
        canvas = img.new_zeros(self.num_classes, *img.shape[1:])
        if boxes:
            black = self._black(img)
            pad = max(0, *(-min(b[0], b[1]) for b in boxes),
                      *(max(b[2] - w, b[3] - h) for b in boxes))
            padded = black.expand(3, h + 2 * pad, w + 2 * pad).clone()
            padded[:, pad : pad + h, pad : pad + w] = img[:, :h, :w]
            crops = torch.stack([
                F.interpolate(padded[None, :, y1 + pad : y2 + pad, x1 + pad : x2 + pad],
                              size=(size, size), mode="bilinear", align_corners=False)[0]
                for x1, y1, x2, y2 in boxes
            ])
            n = cfg.get("batch_size", 16)
            scores = torch.cat([
                self.decode_head.forward(self.extract_feat(crops[i : i + n]))
                for i in range(0, len(crops), n)
            ])
            for box, score in zip(boxes, scores):
                x1, y1, x2, y2 = box
                score = F.interpolate(score[None], size=(y2 - y1, x2 - x1), mode="bilinear",
                                      align_corners=False)[0]
                paste(canvas, score, box, cfg.get("aggregate", "max"))
        return canvas.softmax(0)

    def select_boxes(self, boxes) -> list[tuple[int, int, int, int]]:
        """Enlarge, drop small boxes, keep the first ``max_proposals`` (released inference)."""
        cfg = self.test_cfg
        out = []
        for box in boxes:
            x1, y1, x2, y2 = enlarge(box, cfg.get("context", 1.2))
            if min(x2 - x1, y2 - y1) < cfg.get("min_size", 112):
                continue
            out.append((x1, y1, x2, y2))
            if len(out) == cfg.get("max_proposals", 50):
                break
        return out

    def _image_boxes(self, img: torch.Tensor, meta: dict):
        rgb = self._rgb(img).permute(1, 2, 0).round().byte().cpu().numpy()
        return self._source(rgb, meta)

    def _rgb(self, img: torch.Tensor) -> torch.Tensor:
        """The 0..255 RGB image behind a normalised (3, H, W) input."""
        dp = self.data_preprocessor
        x = img * dp.std.view(3, 1, 1) + dp.mean.view(3, 1, 1)
        return (x if dp._channel_conversion else x.flip(0)).clamp(0, 255)

    def _black(self, img: torch.Tensor) -> torch.Tensor:
        """Zero pixels after normalisation: the released inference pads images with zeros."""
        dp = self.data_preprocessor
        return (-dp.mean / dp.std).view(3, 1, 1).to(img)
