"""The Caffe models the seed papers' authors released, and their import into the harness's models.

Most published rows of GDN Table 1, DeconvNet Table 1 and Dilation Tables 2-4 come from models
the authors released as ``.caffemodel`` files. This module is their registry
(:data:`RELEASED`: file, where it was published, the config it converts into, the numbers it
should give under which protocol, the table rows that use it) and their import: a *mapping* per
model, from the layer names of the authors' prototxts to the state dict of the config's model.
Nothing is downloaded; the user supplies the files (``repro weights`` lists them).

A mapping is a tuple of :class:`Layer` rules, one per Caffe layer with weights, in the file's
order. Kinds (Caffe blob layouts from BVLC/caffe; the BN layer from HyeonwooNoh/caffe):

- ``conv``: Convolution, blobs ``(out, in, kh, kw)`` and the bias ``(out)`` (legacy files:
  ``1 x 1 x 1 x out``), copied as they are.
- ``deconv``: Deconvolution, ``(in, out, kh, kw)``: PyTorch's ``ConvTranspose2d`` layout, copied
  as it is. FCN's upsampling layers are buffers of the head (fixed in the heavy models, learnt
  in the CVPR ones): their blobs are loaded whatever they hold.
- ``fc``: InnerProduct on a 4-D input, ``(out, in * kh * kw)``, reshaped to the model's conv
  (VGG16's fc6 4096 x 25088 -> 4096 x 512 x 7 x 7); a file holding the conv form is accepted.
- ``bn``: DeconvNet's BN layer in its inference form (the released file was written by
  training/003_make_bn_layer_testable, which folds the population mean and variance into the
  layer's two blobs): ``y = scale * x + shift``, blobs ``1 x C x 1 x 1``. Loaded into a
  BatchNorm as ``weight = scale``, ``bias = shift``, ``running_mean = 0``, ``running_var = 1 -
  eps`` (so that ``(x - 0) / sqrt(var + eps) = x``).
- ``scale``: a Caffe Scale layer whose value the model hard-codes (FCN-8s at-once's 0.01 /
  0.0001 on pool4 / pool3): every value must equal it, nothing is loaded.
- ``ignore``: a layer the config's model does not have (VGG16's ImageNet classifier fc8; the
  context module when only the front end is evaluated).

``fold_bias_into``: the CVPR FCN-8s ``score2`` deconvolution has a bias, the harness's fixed
upsampling has none; both it and ``score-pool4`` add one constant per class to every pixel of
the fused map, so ``score2``'s bias is added to ``score-pool4``'s (exact).

:func:`import_caffe` refuses (:class:`CaffeMappingError`, one line) a file with a layer missing,
an unexpected layer with weights, or a blob of the wrong shape, naming the first; the state dict
it writes loads into the config's model with ``strict=True``.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from repro.caffe import CaffeFormatError, read_caffemodel, write_caffemodel
from repro.weights import WeightsError

__all__ = [
    "RELEASED",
    "CaffeMappingError",
    "ImportResult",
    "Layer",
    "Published",
    "ReleasedModel",
    "convert",
    "find_released",
    "import_caffe",
    "load_released",
    "random_blobs",
    "random_caffemodel",
    "random_caffemodel_cached",
    "released_for_row",
    "require_released",
]

Kind = Literal["conv", "deconv", "fc", "bn", "scale", "ignore"]
_CAFFE_TYPES = {"conv": "Convolution", "deconv": "Deconvolution", "fc": "InnerProduct",
                "bn": "BN", "scale": "Scale", "ignore": "Convolution"}


class CaffeMappingError(WeightsError):
    """A Caffe model whose layers or shapes do not fit the config, or not a Caffe model at all
    (one line, naming the file and the layer); the CLI prints it and exits 2."""


@dataclass(frozen=True)
class Layer:
    """One Caffe layer with weights and where its blobs go (module docstring: kinds)."""

    caffe: str  # the layer name in the authors' prototxt
    target: str | None  # state-dict prefix in the config's model ("backbone.conv1_1.conv")
    kind: Kind = "conv"
    value: float | None = None  # kind "scale": the constant the model hard-codes
    channels_of: str | None = None  # kind "scale": a key whose dim 1 is the channel count
    fold_bias_into: str | None = None  # add this layer's bias to that parameter (exact)
    optional: bool = False  # may be absent from the file
    shapes: tuple[tuple[int, ...], ...] = ()  # kind "ignore": blob shapes (random files)
    caffe_type: str | None = None  # kind "ignore": the layer's Caffe type (random files)


@dataclass(frozen=True)
class Published:
    """A number printed for the released model (or the model it stands for)."""

    value: float
    split: str  # "seg11valid", "VOC12 val", "VOC12 test"
    protocol: str  # what the number includes (CRF, ensemble, ...)
    source: str  # where it is printed


@dataclass(frozen=True)
class ReleasedModel:
    """One released ``.caffemodel`` and everything needed to reproduce its numbers."""

    name: str  # registry key; the converted file is <weights dir>/released/<name>.pth
    title: str
    files: tuple[str, ...]  # file names as published (first) or later renamed
    url: str  # where the authors published it (text only: nothing is downloaded)
    config: str  # config under mmseg_configs/ it converts into
    layers: tuple[Layer, ...]  # the mapping
    names_from: str  # where the layer names were checked
    published: tuple[Published, ...] = ()
    rows: tuple[str, ...] = ()  # table rows whose published number this file reproduces
    notes: str = ""
    legacy: bool = True  # the published file's format: V1 `layers` (True) or `layer`
    output: Literal["model", "vgg16"] = "model"  # "vgg16": the ImageNet file for `repro weights`
    same_file_as: str | None = None  # another entry's file, read with a different mapping

    @property
    def target(self) -> str:
        """Where the converted state dict goes in the weights folder."""
        if self.output == "vgg16":
            return "VGG_ILSVRC_16_layers.pth"  # an accepted name of the `vgg16` weights entry
        return f"released/{self.name}.pth"


# ---------------------------------------------------------------------------------------------
# Mappings


def _vgg(prefix: str = "backbone.", bn=None, fc: Kind = "conv") -> tuple[Layer, ...]:
    from repro.models.vgg import CONV_NAMES

    out = []
    for name in (*CONV_NAMES, "fc6", "fc7"):
        out.append(Layer(name, f"{prefix}{name}.conv", fc if name.startswith("fc") else "conv"))
        if bn:
            out.append(Layer(bn(name), f"{prefix}{name}.bn", "bn"))
    return tuple(out)


def _fcn(score: str, ups: tuple[str, ...], skips: tuple[str, ...] = (), *,
         scales: tuple[tuple[str, float, str], ...] = (), fold: str | None = None):
    """FCN head rules. ``skips``: the Caffe names of score_pool4 / score_pool3 (in that order);
    ``ups``: the deconvolutions in network order."""
    rules = [Layer(score, "decode_head.conv_seg")]
    targets = ("decode_head.score_skips.score_pool4", "decode_head.score_skips.score_pool3")
    for i, up in enumerate(ups):
        rules.append(Layer(up, f"decode_head.upsamples.{i}", "deconv",
                           fold_bias_into=f"{targets[0]}.bias" if (fold and up == fold) else None))
        if i < len(skips):
            for caffe, value, target in scales:
                if target == targets[i]:
                    rules.append(Layer(caffe, None, "scale", value=value,
                                       channels_of=f"{target}.weight"))
            rules.append(Layer(skips[i], targets[i]))
    return tuple(rules)


def _deconvnet_head() -> tuple[Layer, ...]:
    from repro.models.deconvnet import DECONV_STAGES

    rules = [Layer("fc6-deconv", "decode_head.deconv_fc6.0", "deconv"),
             Layer("fc6-deconv-bn", "decode_head.deconv_fc6.1", "bn")]
    for stage, widths in DECONV_STAGES:
        for i in range(1, len(widths) + 1):
            rules += [Layer(f"deconv{stage}_{i}", f"decode_head.deconv{stage}_{i}.0", "deconv"),
                      Layer(f"debn{stage}_{i}", f"decode_head.deconv{stage}_{i}.1", "bn")]
    rules.append(Layer("seg-score-voc", "decode_head.conv_seg"))
    return tuple(rules)


def _deconvnet_bn_name(name: str) -> str:
    return f"bn{name}" if name.startswith("fc") else name.replace("conv", "bn")


#: The released dilation8 context module (models/dilation8_pascal_voc_deploy.prototxt).
DILATION8_CONTEXT = ("ct_conv1_1", "ct_conv1_2", "ct_conv2_1", "ct_conv3_1", "ct_conv4_1",
                     "ct_conv5_1", "ct_fc1", "ct_final")
#: Their blob shapes (C = 21; Table 1's large plan), for the front end's "ignore" rules.
_DILATION8_WIDTHS = (42, 42, 84, 168, 336, 672, 672, 21)


def _dilation8(context: bool) -> tuple[Layer, ...]:
    rules = [*_vgg(), Layer("fc-final", "decode_head.conv_seg")]
    cin = 21
    for i, (name, cout) in enumerate(zip(DILATION8_CONTEXT, _DILATION8_WIDTHS)):
        if context:
            rules.append(Layer(name, f"decode_head.context.layers.{i}"))
        else:
            k = 1 if name == "ct_final" else 3
            rules.append(Layer(name, None, "ignore", shapes=((cout, cin, k, k), (cout,)),
                               caffe_type="Convolution"))
        cin = cout
    return tuple(rules)


FCN = "fcn/fcn-{}_vgg16_1xb1-100k_voc12sbd-500x500.py"
FCN_CVPR_NAMES = ("score layers from HyeonwooNoh/DeconvNet model/FCN/fcn-8s-pascal-deploy.prototxt "
                  "(the Model Zoo deploy of fcn-8s-pascal.caffemodel): score-fr, score2 "
                  "(deconvolution with a bias, learnt), score-pool4, score4, score-pool3, "
                  "upsample")
FCN_HEAVY_NAMES = "shelhamer/fcn.berkeleyvision.org voc-fcn*/net.py (and voc-fcn8s/deploy.prototxt)"
FCN_PROTOCOL = "whole image, no CRF"

RELEASED: dict[str, ReleasedModel] = {m.name: m for m in (
    ReleasedModel(
        name="fcn32s-cvpr2015",
        title="FCN-32s PASCAL, the CVPR 2015 model (Caffe Model Zoo)",
        files=("fcn-32s-pascal.caffemodel",),
        url="http://dl.caffe.berkeleyvision.org/fcn-32s-pascal.caffemodel (Model Zoo gist "
            "longjon/ac410cad48a088710872, sha1 9ef2dbc22768bd562ba5eec2ad6cae3f499141d0)",
        config=FCN.format("32s"),
        layers=(*_vgg(), *_fcn("score-fr", ("upsample",))),
        names_from="conv1_1..fc7 and the score/upsampling names of the same release's FCN-8s "
                   "deploy (HyeonwooNoh/DeconvNet model/FCN/fcn-8s-pascal-deploy.prototxt); the "
                   "FCN-32s gist's own deploy prototxt was not readable here: if the file names "
                   "them differently the import refuses it, naming the layer",
        published=(
            Published(59.4, "seg11valid", FCN_PROTOCOL, "FCN CVPR 2015 Table 2; GDN Table 1 "
                      "'FCN-32s [31]'"),
            Published(64.0, "VOC2011 seg val", FCN_PROTOCOL,
                      "the Model Zoo card (gist README): 'PASCAL seg val 2011'"),
        ),
        rows=("gdn/table1/fcn32s",),
        notes="GDN's baseline is this model (59.4), not the later heavy FCN-32s (63.6). Its "
              "upsampling was learnt (FCN README, FAQ): the file's kernels are loaded as they "
              "are.",
    ),
    ReleasedModel(
        name="fcn8s-cvpr2015",
        title="FCN-8s PASCAL, the CVPR 2015 model (Caffe Model Zoo)",
        files=("fcn-8s-pascal.caffemodel",),
        url="http://dl.caffe.berkeleyvision.org/fcn-8s-pascal.caffemodel (Model Zoo gist "
            "longjon/1bf3aa1e0b8e788d7e1d; HyeonwooNoh/DeconvNet model/get_model.sh fetches it)",
        config=FCN.format("8s"),
        layers=(*_vgg(), *_fcn("score-fr", ("score2", "score4", "upsample"),
                               ("score-pool4", "score-pool3"), fold="score2")),
        names_from=FCN_CVPR_NAMES,
        published=(
            Published(62.7, "seg11valid", FCN_PROTOCOL, "FCN CVPR 2015 Table 2"),
            Published(62.2, "VOC12 test", FCN_PROTOCOL, "FCN CVPR 2015 Table 3; DeconvNet Table "
                      "1 'FCN8s'; Dilation Table 2 'FCN-8s'; GDN Table 2 'FCN-8S' (62.20)"),
        ),
        rows=("deconvnet/table1/fcn8s", "dilation/table2/fcn8s", "gdn/table2/fcn8s",
              "deconvnet/table1/edeconvnet", "deconvnet/table1/edeconvnet-crf",
              "gdn/table2/edeconvnet-crf"),
        notes="The 62.2 of DeconvNet Table 1 and Dilation Table 2 is this staged CVPR model, not "
              "the at-once FCN-8s (65.4 seg11valid) that those rows train. Member of "
              "EDeconvNet (released ensemble: DeconvNet scores x ReLU(FCN-8s scores); the "
              "harness averages probabilities, DeconvNet Sec. 5.2). score2's bias is folded "
              "into score-pool4's.",
    ),
    ReleasedModel(
        name="fcn32s-heavy",
        title="FCN-32s PASCAL, the later 'heavy' model (fcn.berkeleyvision.org)",
        files=("fcn32s-heavy-pascal.caffemodel",),
        url="http://dl.caffe.berkeleyvision.org/fcn32s-heavy-pascal.caffemodel "
            "(shelhamer/fcn.berkeleyvision.org voc-fcn32s/caffemodel-url)",
        config=FCN.format("32s"),
        layers=(*_vgg(), *_fcn("score_fr", ("upscore",))),
        names_from=FCN_HEAVY_NAMES,
        published=(Published(63.6, "seg11valid", FCN_PROTOCOL,
                             "fcn.berkeleyvision.org README"),),
        notes="No seed-paper row prints this model's number (GDN's 59.4 is the CVPR model).",
        legacy=False,
    ),
    ReleasedModel(
        name="fcn16s-heavy",
        title="FCN-16s PASCAL, the later 'heavy' model (fcn.berkeleyvision.org)",
        files=("fcn16s-heavy-pascal.caffemodel",),
        url="http://dl.caffe.berkeleyvision.org/fcn16s-heavy-pascal.caffemodel "
            "(shelhamer/fcn.berkeleyvision.org voc-fcn16s/caffemodel-url)",
        config=FCN.format("16s"),
        layers=(*_vgg(), *_fcn("score_fr", ("upscore2", "upscore16"), ("score_pool4",))),
        names_from=FCN_HEAVY_NAMES,
        published=(Published(65.0, "seg11valid", FCN_PROTOCOL,
                             "fcn.berkeleyvision.org README"),),
        legacy=False,
    ),
    ReleasedModel(
        name="fcn8s-heavy",
        title="FCN-8s PASCAL, the later 'heavy' staged model (fcn.berkeleyvision.org)",
        files=("fcn8s-heavy-pascal.caffemodel",),
        url="http://dl.caffe.berkeleyvision.org/fcn8s-heavy-pascal.caffemodel "
            "(shelhamer/fcn.berkeleyvision.org voc-fcn8s/caffemodel-url)",
        config=FCN.format("8s"),
        layers=(*_vgg(), *_fcn("score_fr", ("upscore2", "upscore_pool4", "upscore8"),
                               ("score_pool4", "score_pool3"))),
        names_from=FCN_HEAVY_NAMES,
        published=(Published(65.5, "seg11valid", FCN_PROTOCOL, "fcn.berkeleyvision.org README"),
                   Published(67.2, "VOC12 test", FCN_PROTOCOL, "fcn.berkeleyvision.org README")),
        legacy=False,
    ),
    ReleasedModel(
        name="fcn8s-atonce",
        title="FCN-8s PASCAL 'at-once' (fcn.berkeleyvision.org)",
        files=("fcn8s-atonce-pascal.caffemodel",),
        url="http://dl.caffe.berkeleyvision.org/fcn8s-atonce-pascal.caffemodel "
            "(shelhamer/fcn.berkeleyvision.org voc-fcn8s-atonce/caffemodel-url)",
        config=FCN.format("8s-atonce"),
        layers=(*_vgg(), *_fcn(
            "score_fr", ("upscore2", "upscore_pool4", "upscore8"), ("score_pool4", "score_pool3"),
            scales=(("scale_pool4", 0.01, "decode_head.score_skips.score_pool4"),
                    ("scale_pool3", 0.0001, "decode_head.score_skips.score_pool3")))),
        names_from=FCN_HEAVY_NAMES + "; scale_pool4 / scale_pool3: Scale layers, constant "
                   "0.01 / 0.0001 with lr_mult 0",
        published=(Published(65.4, "seg11valid", FCN_PROTOCOL,
                             "fcn.berkeleyvision.org README"),),
        notes="The model the harness's FCN-8s rows train; the seed papers print the CVPR "
              "FCN-8s (fcn8s-cvpr2015) instead.",
        legacy=False,
    ),
    ReleasedModel(
        name="deeplab-largefov",
        title="DeepLab-LargeFOV (ICLR 2015, deeplab-public)",
        files=("train2_iter_8000.caffemodel",),
        url="http://www.cs.jhu.edu/~alanlab/ccvl/DeepLab-LargeFOV/train2_iter_8000.caffemodel "
            "(deeplab-public's model page, with train.prototxt; formerly "
            "ccvl.stat.ucla.edu/deeplab-models/deeplab-largefov/)",
        config="deeplab/deeplab-largefov_vgg16_1xb20-6k_voc12aug-321x321.py",
        layers=(*_vgg(), Layer("fc8_voc12", "decode_head.conv_seg")),
        names_from="DrSleep/tensorflow-deeplab-lfov util/deploy.prototxt and DrSleep/GDN "
                   "src/orig.prototxt: conv1_1..conv5_3, fc6 (1024, 3x3 dilation 12), fc7 "
                   "(1024), fc8_voc12; pool5a (3x3/1 average) after pool5",
        published=(
            Published(62.25, "VOC12 val", "no CRF", "DeepLab ICLR 2015, DeepLab-LargeFOV"),
            Published(67.64, "VOC12 val", "dense CRF", "DeepLab ICLR 2015, DeepLab-CRF-LargeFOV"),
            Published(70.3, "VOC12 test", "dense CRF", "DeepLab ICLR 2015; GDN Table 2 "
                      "'DL-LARGEFOV-CRF' (70.34)"),
            Published(73.3, "VOC12 val", "no CRF (GDN's baseline)", "GDN Table 1 "
                      "'DL-LargeFOV [4]'"),
        ),
        rows=("gdn/table1/dl-largefov", "gdn/table2/dl-largefov-crf"),
        notes="GDN Table 1 prints 73.3 on VOC12 val for this baseline, DeepLab's paper 62.25 "
              "(67.64 with CRF) for DeepLab-LargeFOV trained on train_aug. GDN does not say "
              "which file it used; deeplab-public's 'train2' stage fine-tunes on trainval_aug "
              "(val included), which would explain a val score far above DeepLab's own. "
              "Unverified here: expect 73.3 only if that is GDN's file, and do not read a val "
              "score of a trainval model as a validation result. DrSleep/tensorflow-deeplab-lfov "
              "(GDN's first author) reports 67% val for its conversion (no CRF, no 513 padding).",
    ),
    ReleasedModel(
        name="deconvnet",
        title="DeconvNet, BN layers in inference form (Noh et al., ICCV 2015)",
        files=("DeconvNet_trainval_inference.caffemodel",),
        url="http://cvlab.postech.ac.kr/research/deconvnet/model/DeconvNet/"
            "DeconvNet_trainval_inference.caffemodel (HyeonwooNoh/DeconvNet README, "
            "model/get_model.sh)",
        config="deconvnet/deconvnet-released_vgg16-bn_1xb64-60k_voc12augval-224x224.py",
        layers=(*_vgg(bn=_deconvnet_bn_name), *_deconvnet_head()),
        names_from="HyeonwooNoh/DeconvNet model/DeconvNet/DeconvNet_inference_deploy.prototxt and "
                   "training/003_make_bn_layer_testable/BN_make_INFERENCE_script.py; BN blobs: "
                   "HyeonwooNoh/caffe src/caffe/layers/bn_layer.cpp (scale, shift)",
        published=(
            Published(69.6, "VOC12 test", "EdgeBox proposals, max aggregation",
                      "DeconvNet Table 1 'DeconvNet'"),
            Published(70.5, "VOC12 test", "+ dense CRF", "DeconvNet Table 1 'DeconvNet+CRF'; "
                      "GDN Table 2 (70.50)"),
            Published(71.7, "VOC12 test", "ensemble with fcn8s-cvpr2015",
                      "DeconvNet Table 1 'EDeconvNet'"),
            Published(72.5, "VOC12 test", "ensemble with fcn8s-cvpr2015 + dense CRF",
                      "DeconvNet Table 1 'EDeconvNet+CRF'; GDN Table 2 (72.50)"),
        ),
        rows=("deconvnet/table1/deconvnet", "deconvnet/table1/deconvnet-crf",
              "deconvnet/table1/edeconvnet", "deconvnet/table1/edeconvnet-crf",
              "gdn/table2/deconvnet-crf", "gdn/table2/edeconvnet-crf"),
        notes="Trained on VOC12 train + val ('trainval'): a test-set model, not one to score on "
              "val. The released inference uses EdgeBox proposals (cached boxes_padded) and "
              "Caffe's input convention (BGR minus the mean), which the config sets.",
    ),
    ReleasedModel(
        name="dilation8-voc",
        title="Dilation front end + large context module, VOC ('dilation8', Yu & Koltun)",
        files=("dilation8_pascal_voc.caffemodel", "dilated_convolution_context_coco.caffemodel"),
        url="http://dl.yf.io/dilation/models/dilation8_pascal_voc.caffemodel (fyu/dilation "
            "pretrained/download_pascal_voc.sh; first released 2016-01 as "
            "vobj.cs.princeton.edu/models/dilated_convolution_context_coco.caffemodel)",
        config="dilation/dilation-large-released_vgg16_1xb14-60k_voc12aug-504x504.py",
        layers=_dilation8(context=True),
        names_from="fyu/dilation models/dilation8_pascal_voc_deploy.prototxt: conv1_1..fc7, "
                   "fc-final, ct_conv1_1 (pad 33) .. ct_fc1, ct_final",
        published=(
            Published(72.1, "VOC12 val", "no CRF", "Dilation Table 3 'Front + Large'"),
            Published(73.3, "VOC12 val", "dense CRF", "Dilation Table 3 'Front + Large + CRF'"),
            Published(73.5, "VOC12 test", "no CRF", "Dilation Table 4 'Context'"),
            Published(74.7, "VOC12 test", "dense CRF", "Dilation Table 4 'Context + CRF'"),
        ),
        rows=("dilation/table3/large", "dilation/table3/large-crf", "dilation/table4/context",
              "dilation/table4/context-crf"),
        notes="Trained on VOC12 + COCO (Sec. 5). The released inference (predict.py): BGR minus "
              "the mean (102.93, 111.36, 116.52), 186-px reflection padding, softmax at stride "
              "8 then bilinear interpolation of the probabilities (util.interp_map): the config "
              "sets all three. Whether the file is the Table 3 model (val unused) or a "
              "test-submission one is not stated.",
        legacy=False,
    ),
    ReleasedModel(
        name="dilation8-voc-frontend",
        title="Dilation front end alone, from the dilation8 VOC file",
        files=("dilation8_pascal_voc.caffemodel", "dilated_convolution_context_coco.caffemodel"),
        url="the dilation8-voc file (the authors' first release ran the front end alone from it "
            "with models/dilated_convolution_front.prototxt, fyu/dilation 6f6a17a)",
        config="dilation/dilation-frontend-released_vgg16_1xb14-60k_voc12aug-504x504.py",
        layers=_dilation8(context=False),
        names_from="fyu/dilation models/dilated_convolution_front.prototxt (6f6a17a): "
                   "conv1_1..fc7, fc-final; the ct_* layers of the file are not used",
        published=(
            Published(69.8, "VOC12 val", "no CRF", "Dilation Table 3 'Front end'"),
            Published(71.6, "VOC12 val", "dense CRF", "Dilation Table 3 'Front end + CRF'"),
            Published(71.3, "VOC12 test", "no CRF", "Dilation Table 4 'Front end'"),
        ),
        rows=("dilation/table3/frontend", "dilation/table3/frontend-crf",
              "dilation/table4/frontend"),
        notes="Valid for the front-end rows only if the context module was trained on a fixed "
              "front end (Table 3's controlled setting); the text available here does not say "
              "whether the released file was fine-tuned jointly: compare with Table 3 first. "
              "Dilation Table 2's 'Our front end' (67.6, VOC only, Sec. 4) was not released.",
        legacy=False,
        same_file_as="dilation8-voc",
    ),
    ReleasedModel(
        name="vgg16",
        title="VGG16 ImageNet (VGG_ILSVRC_16_layers, Simonyan & Zisserman), the training init",
        files=("VGG_ILSVRC_16_layers.caffemodel", "vgg_conv.caffemodel",
               "VGG_ILSVRC_16_layers_conv.caffemodel"),
        url="http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/"
            "VGG_ILSVRC_16_layers.caffemodel (Caffe Model Zoo gist "
            "ksimonyan/211839e770f7b538e2d8); fyu/dilation's vgg_conv.caffemodel and "
            "DeconvNet's VGG_ILSVRC_16_layers_conv.caffemodel hold the same weights with fc6/fc7 "
            "as convolutions",
        config=FCN.format("32s"),
        layers=(*_vgg(prefix="", fc="fc"),
                Layer("fc8", None, "ignore", optional=True, shapes=((1000, 4096), (1000,)),
                      caffe_type="InnerProduct")),
        names_from="the Model Zoo deploy prototxt (VGG_ILSVRC_16_layers_deploy.prototxt): "
                   "conv1_1..conv5_3, fc6, fc7, fc8",
        notes="Not an evaluation: the ImageNet init of every VGG16 row (FCN, DeepLab, GDN, "
              "Dilation, DeconvNet). Converted to the Caffe-named state dict that the `vgg16` "
              "weights entry reads (conv1_1.weight .. fc7.bias); fc8 is dropped.",
        output="vgg16",
    ),
)}


def released_for_row(row: str) -> list[ReleasedModel]:
    """The registry entries whose file reproduces ``paper/tableN/row``."""
    return [m for m in RELEASED.values() if row in m.rows]


# ---------------------------------------------------------------------------------------------
# Conversion


def _load_cfg(config):
    from mmengine.config import Config

    from repro import paths

    if isinstance(config, Config):
        return config
    path = Path(config)
    return Config.fromfile(str(path if path.is_file() else paths.config_path(str(config))))


def _meta_model(spec: ReleasedModel, config=None):
    """The model a mapping fills, on the meta device (shapes only)."""
    import torch

    from repro.models.build import build_model

    cfg = _load_cfg(config or spec.config)
    with torch.device("meta"):
        if spec.output == "vgg16":
            from repro.models.vgg import VGG16

            # ImageNet layout (fc6 7x7); the config's own backbone is checked on the result.
            width = (cfg.model.get("backbone") or {}).get("width_mult", 1.0)
            return VGG16(variant="fcn", width_mult=width)
        return build_model(cfg)


def _vector(blob: np.ndarray) -> bool:
    return sum(d > 1 for d in blob.shape) <= 1


def _fits(kind: Kind, blob: np.ndarray, shape: tuple[int, ...], bias: bool) -> bool:
    if bias:
        return _vector(blob) and blob.size == int(np.prod(shape))
    if kind == "fc":
        rows = blob.shape[-2] if blob.ndim == 4 and blob.shape[:2] == (1, 1) else blob.shape[0]
        return rows == shape[0] and blob.size == int(np.prod(shape))
    return tuple(blob.shape) == tuple(shape)


def convert(layers: OrderedDict, spec: ReleasedModel, model, *, source: str = "the file",
            config: str | None = None) -> OrderedDict:
    """Caffe blobs (:func:`repro.caffe.read_caffemodel`) -> the state dict of ``model`` (usually
    built on the meta device), by ``spec``'s mapping. Raises :class:`CaffeMappingError` naming
    the first layer that is missing, unexpected or mis-shaped."""
    import torch

    own = model.state_dict()
    where = config or spec.config
    known = {rule.caffe for rule in spec.layers}
    # Names first (a missing layer, then an unexpected one), shapes after: the first problem
    # reported is the most telling one.
    problems = [f"layer {rule.caffe!r} is missing from {source}" for rule in spec.layers
                if rule.caffe not in layers and not rule.optional]
    problems += [f"{source} has a layer {extra!r} with weights that the {spec.name} mapping "
                 "does not know" for extra in layers if extra not in known]
    out: OrderedDict = OrderedDict()
    folds: list[tuple[str, str, np.ndarray]] = []
    for rule in spec.layers:
        if rule.caffe not in layers:
            continue
        if rule.target is not None and f"{rule.target}.weight" not in own:
            problems.append(f"layer {rule.caffe!r} goes to {rule.target}, which {where}'s model "
                            "does not have: the config is not this model's")
            continue
        blobs = layers[rule.caffe]
        name = f"layer {rule.caffe!r} of {source}"
        if rule.kind == "ignore":
            continue
        if rule.kind == "scale":
            if len(blobs) != 1 or blobs[0].size != own[rule.channels_of].shape[1]:
                problems.append(f"{name} should be a Scale of {own[rule.channels_of].shape[1]} "
                                f"channels, has blobs {[b.shape for b in blobs]}")
            elif not np.allclose(blobs[0], rule.value, rtol=1e-5, atol=0):
                problems.append(f"{name} scales by {float(blobs[0].ravel()[0]):g}.., the model "
                                f"hard-codes {rule.value:g}")
            continue
        if rule.kind == "bn":
            keys = [f"{rule.target}.{k}" for k in ("weight", "bias")]
            if len(blobs) != 2:
                problems.append(f"{name} has {len(blobs)} blobs; DeconvNet's BN in inference form "
                                "has 2 (scale, shift)")
                continue
            bad = [f"{k}: {b.shape} vs {tuple(own[k].shape)}" for k, b in zip(keys, blobs)
                   if not _fits("bn", b, tuple(own[k].shape), bias=True)]
            if bad:
                problems.append(f"{name} is mis-shaped for {where}: {bad[0]}")
                continue
            bn = model.get_submodule(rule.target)
            for k, b in zip(keys, blobs):
                out[k] = torch.from_numpy(b.reshape(own[k].shape).copy())
            out[f"{rule.target}.running_mean"] = torch.zeros(own[keys[0]].shape)
            out[f"{rule.target}.running_var"] = torch.full(own[keys[0]].shape, 1.0 - bn.eps)
            if f"{rule.target}.num_batches_tracked" in own:
                out[f"{rule.target}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
            continue
        wkey, bkey = f"{rule.target}.weight", f"{rule.target}.bias"
        has_bias = bkey in own
        expected = 2 if (has_bias or rule.fold_bias_into) else 1
        if len(blobs) != expected:
            what = ("weights and a bias" if expected == 2 else
                    "weights only (the model has no bias there)")
            problems.append(f"{name} has {len(blobs)} blobs, {where} needs {what}")
            continue
        if not _fits(rule.kind, blobs[0], tuple(own[wkey].shape), bias=False):
            problems.append(f"{name} has weights {blobs[0].shape}, {where} needs "
                            f"{tuple(own[wkey].shape)} ({wkey})")
            continue
        out[wkey] = torch.from_numpy(blobs[0].reshape(own[wkey].shape).copy())
        if expected == 2:
            target = bkey if has_bias else rule.fold_bias_into
            if not _fits(rule.kind, blobs[1], tuple(own[target].shape), bias=True):
                problems.append(f"{name} has a bias {blobs[1].shape}, {where} needs "
                                f"{tuple(own[target].shape)} ({target})")
                continue
            if has_bias:
                out[bkey] = torch.from_numpy(blobs[1].reshape(own[bkey].shape).copy())
            else:
                folds.append((rule.caffe, target, blobs[1]))
    for caffe, target, bias in folds:
        if target in out:
            out[target] = out[target] + torch.from_numpy(bias.reshape(out[target].shape))
        elif not problems:
            problems.append(f"layer {caffe!r}: its bias folds into {target}, which no layer "
                            "filled")
    if not problems:
        missing = [k for k in own if k not in out]
        if missing:
            problems.append(f"{where}'s model has {missing[0]}, which no layer of the "
                            f"{spec.name} mapping fills ({len(missing)} such keys): the config "
                            "is not this model's")
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise CaffeMappingError(f"{problems[0]}{more}. Fix: give the {spec.title} file "
                                f"({spec.files[0]}) with --model {spec.name}; "
                                "`repro weights` lists the released files.")
    return out


# ---------------------------------------------------------------------------------------------
# Import (the command), loading, the weights folder


@dataclass
class ImportResult:
    """What :func:`import_caffe` wrote."""

    model: str  # registry name
    source: Path
    out: Path
    config: str
    tensors: int
    sha256: str  # of the source file


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _pick(layers: OrderedDict, candidates: list[ReleasedModel]) -> ReleasedModel:
    """The candidate whose mapping's layer names fit the file best (fewest missing + extra)."""
    def score(spec):
        names = {r.caffe for r in spec.layers}
        needed = {r.caffe for r in spec.layers if not r.optional}
        return len(needed - set(layers)) + len(set(layers) - names)
    return min(candidates, key=score)


def _save_atomic(obj, out: Path) -> None:
    import torch

    from repro.files import atomic_write

    atomic_write(out, lambda f: torch.save(obj, f))


def import_caffe(source: str | os.PathLike, out: str | os.PathLike, *, config: str | None = None,
                 model: str | None = None) -> ImportResult:
    """Convert a released ``.caffemodel`` into a checkpoint for ``config``'s model.

    ``model``: the registry name of the mapping; default: the entry (among those converting into
    ``config``, or all) whose layer names fit the file. ``config``: default the entry's own.
    Writes ``{'state_dict': ..., 'meta': {...}}`` atomically (mmengine's checkpoint layout:
    ``load_checkpoint(model, out, strict=True)`` loads it); for the ``vgg16`` entry, the plain
    Caffe-named state dict that the ``vgg16`` weights entry reads. Raises
    :class:`CaffeMappingError` / :class:`repro.caffe.CaffeFormatError` (one line) when the file
    does not fit."""
    source = Path(source).expanduser()
    out = Path(out).expanduser()
    try:
        layers = read_caffemodel(source)
    except CaffeFormatError as e:
        raise CaffeMappingError(str(e)) from None
    if model is not None:
        if model not in RELEASED:
            raise CaffeMappingError(f"Unknown released model {model!r}; known: "
                                    f"{', '.join(RELEASED)}.")
        spec = RELEASED[model]
    else:
        wanted = Path(config if isinstance(config, str) else (config.filename or "")).name \
            if config is not None else None
        candidates = [m for m in RELEASED.values() if wanted in (None, Path(m.config).name)]
        spec = _pick(layers, candidates or list(RELEASED.values()))
    cfg_name = config or spec.config
    label = cfg_name if isinstance(cfg_name, str) else (cfg_name.filename or spec.config)
    meta_model = _meta_model(spec, cfg_name)
    state = convert(layers, spec, meta_model, source=source.name, config=label)
    digest = _sha256(source)
    result = ImportResult(spec.name, source, out, label, len(state), digest)
    if spec.output == "vgg16":
        from repro.weights import check_weights

        flat = OrderedDict((k.replace(".conv.", "."), v) for k, v in state.items())
        _save_atomic(flat, out)
        if meta_model.width_mult == 1:  # the weights registry reads ImageNet widths only
            check = check_weights(out, cfg_name)
            if not check.ok:
                out.unlink(missing_ok=True)
                raise CaffeMappingError(check.format().splitlines()[0])
        return result
    meta = dict(released=spec.name, source=source.name, source_sha256=digest, config=label)
    _save_atomic({"state_dict": state, "meta": meta}, out)
    return result


def load_released(model, path: str | os.PathLike) -> dict:
    """Load a converted checkpoint into ``model`` with ``strict=True``; returns its ``meta``."""
    import torch

    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return ckpt.get("meta", {})


def find_released(spec: ReleasedModel, folder: Path | None = None) -> Path | None:
    """The entry's ``.caffemodel`` in the weights folder (first accepted name found)."""
    from repro.weights import weights_dir

    folder = Path(folder or weights_dir()).expanduser()
    for name in spec.files:
        for candidate in (folder / name, folder / "released" / name):
            if candidate.is_file():
                return candidate
    return None


def require_released(name: str, folder: Path | None = None) -> Path:
    """The converted checkpoint of a released model, converting the ``.caffemodel`` found in the
    weights folder on first use (``<weights>/released/<name>.pth``, rebuilt when the source is
    newer). Raises :class:`repro.weights.WeightsNotFoundError` naming the file to put where."""
    from repro.weights import WeightsNotFoundError, weights_dir

    if name not in RELEASED:
        raise CaffeMappingError(f"Unknown released model {name!r}; known: {', '.join(RELEASED)}.")
    spec = RELEASED[name]
    folder = Path(folder or weights_dir()).expanduser()
    out = folder / spec.target
    source = find_released(spec, folder)
    if out.is_file() and (source is None or source.stat().st_mtime <= out.stat().st_mtime):
        return out
    if source is None:
        raise WeightsNotFoundError(
            f"{spec.title}: {spec.files[0]} is not in {folder} (nor {folder / 'released'}). "
            f"Get it from {spec.url}, put it there (or set $REPRO_WEIGHTS), or convert it "
            f"yourself: repro weights import-caffe FILE --model {name} --out {out}.")
    import_caffe(source, out, model=name)
    return out


# ---------------------------------------------------------------------------------------------
# Random files in the real schema (tests, the smoke profile's released mode)


def _blob_shapes(rule: Layer, own: dict, legacy: bool) -> list[tuple[int, ...]]:
    def vec(n):
        return (1, 1, 1, n) if legacy else (n,)

    if rule.kind == "ignore":
        return [tuple(s) if not legacy or len(s) == 4 else (1,) * (4 - len(s)) + tuple(s)
                for s in rule.shapes]
    if rule.kind == "scale":
        return [vec(own[rule.channels_of].shape[1])]
    if rule.kind == "bn":
        c = own[f"{rule.target}.weight"].shape[0]
        return [(1, c, 1, 1)] * 2
    w = tuple(own[f"{rule.target}.weight"].shape)
    if rule.kind == "fc":
        w = (w[0], int(np.prod(w[1:])))
        w = (1, 1, *w) if legacy else w
    shapes = [w]
    if f"{rule.target}.bias" in own:
        shapes.append(vec(own[f"{rule.target}.bias"].shape[0]))
    elif rule.fold_bias_into:
        shapes.append(vec(own[rule.fold_bias_into].shape[0]))
    return shapes


def random_blobs(spec: ReleasedModel, model=None, seed: int = 0, *,
                 drop: tuple[str, ...] = ()) -> tuple[OrderedDict, dict]:
    """Random blobs in the entry's Caffe layouts for ``model`` (default: the config's, full
    width, built on the meta device): ``({layer: [blobs]}, {layer: Caffe type})``. Weights are
    He-scaled so that activations stay finite through the 16+ layers; Scale layers hold the
    constant the model hard-codes; BN scales are positive."""
    rng = np.random.default_rng(seed)
    own = (model if model is not None else _meta_model(spec)).state_dict()
    layers, types = OrderedDict(), {}
    for rule in spec.layers:
        if rule.caffe in drop:
            continue
        blobs = []
        for i, shape in enumerate(_blob_shapes(rule, own, spec.legacy)):
            if rule.kind == "scale":
                blob = np.full(shape, rule.value, dtype=np.float32)
            elif rule.kind == "bn":
                blob = (rng.uniform(0.5, 1.5, shape) if i == 0 else
                        rng.normal(0.0, 0.1, shape)).astype(np.float32)
            elif i == 0:
                fan_in = int(np.prod(shape[1:])) if rule.kind != "deconv" else \
                    int(shape[0] * np.prod(shape[2:])) // 4
                blob = rng.standard_normal(shape, dtype=np.float32) * np.float32(
                    np.sqrt(2.0 / max(fan_in, 1)))
            else:
                blob = rng.normal(0.0, 0.01, shape).astype(np.float32)
            blobs.append(blob)
        layers[rule.caffe] = blobs
        types[rule.caffe] = rule.caffe_type or _CAFFE_TYPES[rule.kind]
    return layers, types


def random_caffemodel(name: str, path: str | os.PathLike, seed: int = 0, *, model=None,
                      drop: tuple[str, ...] = ()) -> Path:
    """Write a ``.caffemodel`` with random blobs for the registry entry ``name``, through the
    same protobuf schema and in the published file's format (legacy ``layers`` or ``layer``),
    at the config's full widths unless ``model`` (e.g. a smoke-width build) is given. An entry
    that reads another entry's file (``same_file_as``) gets that file. ``drop``: layers to
    leave out (tests of refusals)."""
    spec = RELEASED[name]
    if spec.same_file_as and model is None:
        spec = RELEASED[spec.same_file_as]
    layers, types = random_blobs(spec, model, seed, drop=drop)
    return write_caffemodel(path, layers, types=types, legacy=spec.legacy, name=spec.name)


def random_caffemodel_cached(name: str, seed: int = 0) -> Path:
    """:func:`random_caffemodel` at full width, written once into the regenerable cache
    (``$REPRO_CACHE/released/<seed>/<published file name>``): the smoke profile's released mode
    evaluates full-width models, and writing 134M random floats through protobuf takes a minute.
    Copy or link the file into a weights folder to use it as the released file."""
    from repro import paths

    spec = RELEASED[name]
    path = paths.cache_dir() / "released" / str(seed) / spec.files[0]
    if not path.is_file():
        random_caffemodel(name, path, seed)
    return path
