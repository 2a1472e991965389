"""The smoke profile, all of it in one place: synthetic data, schedules, the tiny variant of
every model family and its pretrained smoke backbone.

Smoke runs every table row on a CPU in seconds: synthetic data in the real layouts
(``repro.data.synth``), 128x128 crops, batches of 8, a few dozen AdamW iterations, tiny variants
of the papers' models started from pretrained tiny backbones. Its numbers test the pipeline (a
broken model must score visibly worse than a working one), never the papers' claims.

Families are recognised from the config's *model* (backbone type and layout or depth, head
type, segmentor type; :func:`family_of`), never from the config's file name, so that any config
of a family, including a user's, gets the same variant. Configs carry no smoke settings.

=================== ===================================================================
backbone            smoke variant
=================== ===================================================================
VGG16 (any layout)  ``width_mult`` :data:`VGG_WIDTH` (conv1_1 4 maps, fc6/fc7 256, DeepLab's
                    decimated 64), BatchNorm after every convolution (the smoke weights carry
                    it), no dropout, stages frozen per layout (:data:`VGG_FROZEN`: conv1-conv4
                    for FCN, Dilation and DeconvNet, conv1-conv2 for DeepLab). Frozen stages
                    keep the pretrained features (measured, FCN-32s after 80 iterations: 24.8,
                    31.2, 21.1 mIoU frozen vs 13-24 trained) and skip their backward at FCN's
                    326x326 (pad 100) and Dilation's 500x500 (186-px margin) maps
ResNet-152          ResNet-18 at base width 16 (stages 16, 32, 64, 128), trainable BatchNorm
ResNet-50           ResNet-50 at base width 8 (Table 6 compares depths: the depth stays)
ResNetGCN-50        ResNetGCN-50 at base width 8, GCN widths scaled alike
=================== ===================================================================

Heads follow their backbone: input widths are read from the tiny backbone; GCN's stack widths
keep their fraction of the input width (Table 4); GDN's global interpolation matrices, label
branch and SPP-FC are sized from the tiny backbone's coarse maps at the smoke crop and the
synthetic image size; CRF-RNN runs 2 mean-field iterations. DeconvNet is scaled to the
160-px synthetic images as a whole: 72-px inputs cut from 80-px resized boxes (the paper's 224
from 250), fc6 / deconv-fc6 padded for the 3x3 pool5, a deconvolution network 4x the encoder's
width (each switch map serving 4 decoder maps), and a proposal inference with 8
selective-search proposals from one grouping scale (the paper's EdgeBoxes need a downloaded
structured-edge model) and the released 112-px rule scaled alike (:data:`DECONVNET_INPUT` and
below). Optimizer and schedule per family: :data:`FAMILIES`.

Pretrained smoke backbones (:func:`ensure_smoke_weights`): the papers fine-tune ImageNet
backbones, so the smoke variants start from tiny backbones pretrained once on a separate
synthetic dataset (``repro.smoke_pretrain``), cached under ``$REPRO_CACHE/smoke_weights`` and keyed
by every parameter that shapes them (:func:`smoke_weights_key`); :func:`apply_smoke_weights`
loads them through the paper profile's loader (``repro.weights.require_weights``), which thereby
runs on every smoke run.

For the planner: :func:`smoke_variant` (config changes, pure), :func:`apply_smoke_variant` (the
same, merged in place), :func:`smoke_schedule` (a family's ``iters`` / ``batch_size`` where they
differ from the profile's), :func:`smoke_weights_entry`, :func:`ensure_smoke_weights` and
:func:`apply_smoke_weights` (pretrained backbones).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from pathlib import Path

from repro.dicts import deep_merge

log = logging.getLogger("repro")

# ---------------------------------------------------------------------------------------------
# Profile-wide settings

#: Training crop (H, W): images are padded to it (the synthetic VOC is 160x120).
CROP = (128, 128)
BATCH_SIZE = 8
#: Iterations of a row whose family sets none (see :data:`FAMILIES`).
ITERS = 40
CHECKPOINT_INTERVAL = 100
#: AdamW: SGD with the papers' momentum 0.99 and batch 1 does not move in a few dozen steps.
#: Each family sets its learning rate and multipliers (:data:`FAMILIES`).
OPTIMIZER = dict(type="AdamW", lr=1e-3, weight_decay=1e-4)
#: Polynomial decay to 0 over the row's iterations (the runner sets ``end``).
PARAM_SCHEDULER = [dict(type="PolyLR", eta_min=0.0, power=0.9, begin=0, end=ITERS,
                        by_epoch=False)]
#: Tiny models gain nothing from threads, and OpenMP threads spin-waiting on busy cores cost
#: 10x (measured: 281 s vs 26 s for a GCN smoke row on 2 loaded cores).
THREADS = 1
NUM_WORKERS = 0
#: Parameters of ``repro.data.synth`` per dataset.
SYNTHETIC = {
    # 40 test images, as val: with 10 (10 of the 20 object classes present), one false
    # positive of an absent class cost a whole class's IoU, and the test rows' seed-to-seed
    # spread was larger than val's (Dilation Table 4: std 3.3-7.3 mIoU).
    "voc": dict(seed=0, size=(160, 120), num_train=120, num_val=40, num_test=40, num_coco=40),
    "cityscapes": dict(seed=0, size=(256, 128), num_train=60, num_val=20, num_test=6,
                       num_coarse=20),
}
#: 12 points of DeepLab's v2 grid on 8 images: seconds, not the paper's 100 x 128.
CRF_CV = dict(grid="w1=3:3:6,sigma_alpha=30:30:90,sigma_beta=3:2:5", strategy="fast",
              num_images=8)

# ---------------------------------------------------------------------------------------------
# Model families

VGG_WIDTH = 1 / 16
#: VGG16 stages frozen per layout (``frozen_stages``), see the module docstring.
VGG_FROZEN = {"fcn": 4, "deeplab_largefov": 2, "dilation": 4, "deconvnet": 4}
#: ResNet depth -> tiny variant (depth, base width).
RESNETS = {152: (18, 16), 101: (18, 16), 50: (50, 8)}
#: DeconvNet's input and crops scaled like its proposal rule (below) by the synthetic images'
#: size over VOC's (160 / 500): 224 -> 72 px crops from boxes resized to 250 -> 80 px. At 224
#: px the synthetic objects (about 40 px) were magnified about 5x (VOC's about 1x), and an
#: iteration cost about 10x more.
DECONVNET_INPUT, DECONVNET_RESIZE = 72, 80
#: fc6 (7x7) and deconv-fc6 padded by 3: the 72-px input's pool5 is 3x3, smaller than the
#: kernel; padded, both keep the pretrained and the paper's shapes, each fc6 output still sees
#: all of pool5, and deconv-fc6 gives pool5's size back.
DECONVNET_FC6_PADDING = 3
#: The deconvolution network at 4x the encoder's width (each switch map of the 1/16-wide encoder
#: serves 4 decoder maps, ``repro.models.deconvnet.MaxUnpool``): at 1/16, deconv1_2 has 4 maps
#: for 21 classes (the paper: 64), and the smoke rows predicted background only.
DECONVNET_DECODER_WIDTH = 4 * VGG_WIDTH
#: DeconvNet's proposal inference at the synthetic image size (112 px * 160 / 500 = 36).
#: Selective search, not the paper's EdgeBoxes: that needs the structured-edge model file (a
#: download), and the smoke profile needs nothing but the repository.
DECONVNET_TEST = dict(max_proposals=8, min_size=36, input_size=DECONVNET_INPUT,
                      proposals=dict(type="selective_search", scales=(100,), _delete_=True))
#: DeconvNet's training crops at the scaled size; stage 2's cut from selective-search proposals
#: too (the paper's EdgeBoxes need the structured-edge model), at the scales the configs used
#: before they followed the paper.
DECONVNET_TRAIN_CROP = dict(resize=DECONVNET_RESIZE, crop=DECONVNET_INPUT,
                            proposals=dict(type="selective_search", scales=(100, 300)))
#: Per family (:func:`family_of`): the schedule where it differs from the profile's
#: (``iters``, ``batch_size``, ``crop``) and the optimizer (``lr``, ``lr_mult``: parameter-name
#: part -> learning-rate multiplier, mmengine's ``paramwise_cfg.custom_keys``). A family's
#: keys are its backbone type (``vgg16``), its path prefixes (``vgg16-fcn``,
#: ``vgg16-fcn/GDNHead``, ...) and its segmentor type; later (more specific) keys win,
#: ``lr_mult`` entries merge.
FAMILIES: dict[str, dict] = {
    # Pretrained backbone, new head: the papers' lr_mult 10 on new layers, the other way round.
    "vgg16": dict(lr=1e-2, lr_mult={"backbone": 0.1}),
    "vgg16-fcn": dict(iters=80),
    # GDN's rows train in two phases (added layers, then all): 80 + 80 iterations. Global
    # interpolation's K matrices start random (Sec. 3.2) and train at 10x the head's learning
    # rate, as the released layer does (the configs' paramwise_cfg, which the smoke optimizer
    # replaces). Measured, seed 0, gdn/table1: FCN-32s + global interp. / + GDN 11.4 / 11.9
    # mIoU at 1x, 14.0 / 14.9 at 10x, 14.0 / 14.9 at 30x; DeepLab's 14.5 / 13.9 -> 15.6 / 14.5.
    "vgg16-fcn/GDNHead": dict(iters=160, lr_mult={"decode_head.upsample": 10}),
    "vgg16-deeplab_largefov/GDNHead": dict(lr_mult={"decode_head.upsample": 10}),
    "vgg16-deeplab_largefov": dict(iters=200),
    # The 186-px margin makes a 128x128 crop a 500x500 input; the large context module costs
    # ~7M multiply-adds per output position. Adam moves every weight by about lr per step: the
    # identity-initialised context module (centre taps C / c_i, 0.03 in the large one's widest
    # layers) needs a far smaller step than the new classifier. 120 iterations: at 60 the
    # front end had not left the class-frequency plateau in every seed (measured, seeds 0 / 1,
    # Table 3 val, trivial 3.0: frontend-coarse 11.2 / 11.7 -> 17.1 / 20.0, basic 8.8 (3-seed
    # mean) -> 23.2 / 26.5, large 8.2 -> 18.5 / 16.5, large-voc 12.1 -> 15.4 / 15.3).
    "vgg16-dilation": dict(iters=120, batch_size=4,
                           lr_mult={"backbone": 0.1, "decode_head.context": 0.01}),
    # The large context module's rows start from the trained front end (init_from) and
    # fine-tune all of it at 1/100 of the front end's head rate, as Sec. 5's fine tuning lowers
    # alpha 100x (1e-3 -> 1e-5). At the front end's rates the identity-initialised large
    # module's truncations undid the front end. Measured, seed 0: Table 3 large-coarse / large
    # 13.2 / 18.5 -> 17.5 / 21.8 mIoU (trivial 3.0); Table 4 context / + CRF / + CRF-RNN
    # 8.5 / 9.0 / 9.8 -> 19.6 / 21.5 / 17.5 (40-image test split, trivial 2.5). Training the
    # module alone on a frozen front end (module at 1e-3) collapsed to background (3.0 / 2.5);
    # the basic module keeps the front end's rates (basic-coarse 15.4 -> 14.0 at 1/100).
    "vgg16-dilation/ContextModuleHead+large": dict(
        lr_mult={"backbone": 0.01, "decode_head.conv_seg": 0.01, "decode_head.context": 0.01}),
    # DeconvNet: 14 new layers behind fc7 learn slowly; the scaled input (DECONVNET_INPUT) makes
    # an iteration ~10x cheaper than at 224 px. Measured, seeds 0 / 1 / 2, Table 1 DeconvNet
    # (test, trivial 2.5): 2.5 / 2.5 / 2.5 mIoU at 224 px and 40 iterations; at 72 px with
    # the 4x decoder 16.1 / 10.5 / 8.9 after 600, 20.7 / 17.7 / 13.7 after 1000 (142 s);
    # an 8x decoder (600: 9.3 / 13.0 / 15.9, 2.5x the time), Kaiming initialisation or the
    # backbone at the head's rate did no better.
    "vgg16-deconvnet": dict(iters=1000, crop=(DECONVNET_INPUT, DECONVNET_INPUT)),
    # CRF-RNN rows fine-tune a trained row (init_from); the permutohedral filtering of every
    # mean-field iteration dominates their cost.
    "CRFRNNEncoderDecoder": dict(iters=4),
    "resnet152": dict(iters=50, lr=3e-3, lr_mult={"backbone": 0.3}),
    "resnet50": dict(iters=50, lr=3e-3, lr_mult={"backbone": 0.3}),
    "resnetgcn50": dict(iters=50, lr=3e-3, lr_mult={"backbone": 0.3}),
}
CRF_RNN = dict(iterations=2, test_iterations=2)
#: Multi-scale testing (a config's ``tta_pipeline``): the synthetic classes differ in texture
#: period, so the papers' 0.5x-1.75x scales show a tiny model textures it never saw (measured,
#: GCN Table 7 Stage-3 GCN + BR: 15.8 mIoU single-scale, 4.9 over 0.5-1.75).
TTA_RATIOS = (0.75, 1.0, 1.25)


def _scaled(channels: int, width_mult: float) -> int:
    from repro.models.vgg import scaled

    return scaled(channels, width_mult)


def _plain(node):
    """A deep copy of a config node as plain dicts and lists (None stays None)."""
    if node is None:
        return None
    return node.to_dict() if hasattr(node, "to_dict") else copy.deepcopy(node)


def _model(cfg) -> dict:
    return _plain(cfg["model"])


def family_of(cfg) -> str:
    """The config's model family read from its (paper) model, never from its file name:
    ``<backbone>/<head>[/<segmentor>]``, e.g. ``vgg16-fcn/FCNVGGHead``,
    ``vgg16-deeplab_largefov/GDNHead``, ``resnet152/GCNHead``,
    ``vgg16-dilation/ContextModuleHead+large/CRFRNNEncoderDecoder`` (the segmentor only when
    it is not mmseg's plain ``EncoderDecoder``; ``+<plan>`` when Dilation's head has a context
    module)."""
    model = _model(cfg)
    backbone = model.get("backbone") or {}
    kind = backbone.get("type")
    if kind == "VGG16":
        kind = f"vgg16-{backbone.get('variant', 'fcn')}"
    elif kind in ("ResNet", "ResNetGCN"):
        kind = f"{kind.lower()}{backbone.get('depth')}"
    head = model.get("decode_head") or {}
    # Dilation's head with a context module is its own family ("+basic" / "+large"): those
    # rows fine-tune a trained front end.
    parts = [str(kind), str(head.get("type")) + (f"+{head['context']}" if head.get("context")
                                                 else "")]
    if model.get("type") not in (None, "EncoderDecoder"):
        parts.append(model["type"])
    return "/".join(parts)


def family_settings(cfg) -> dict:
    """The merged :data:`FAMILIES` entries of ``cfg``'s family (see there)."""
    parts = family_of(cfg).split("/")
    keys = [parts[0].split("-")[0]]  # the backbone type alone ("vgg16" for every layout)
    keys += ["/".join(parts[:i + 1]) for i in range(len(parts))]
    if len(parts) > 2:
        keys.append(parts[2])  # the segmentor alone
    out: dict = {}
    for key in keys:
        for k, v in FAMILIES.get(key, {}).items():
            out[k] = {**out.get(k, {}), **v} if k == "lr_mult" else v
    return out


def smoke_schedule(cfg) -> dict:
    """The family's schedule where it differs from the profile's (:data:`ITERS`,
    :data:`BATCH_SIZE`, :data:`CROP`): a dict with some of ``iters``, ``batch_size``,
    ``crop``."""
    return {k: v for k, v in family_settings(cfg).items()
            if k in ("iters", "batch_size", "crop")}


def _backbone_changes(backbone: dict) -> dict:
    kind = backbone.get("type")
    if kind == "VGG16":
        variant = backbone.get("variant", "fcn")
        changes = dict(width_mult=VGG_WIDTH,
                       with_bn=VGG_FORMAT == "repro" or variant == "deconvnet",
                       frozen_stages=VGG_FROZEN[variant], dropout=0)
        if variant == "deconvnet":
            changes["fc6_padding"] = DECONVNET_FC6_PADDING
        return changes
    if kind in ("ResNet", "ResNetGCN"):
        depth = backbone.get("depth", 50)
        if depth not in RESNETS:
            raise ValueError(f"No smoke variant of a ResNet of depth {depth}: add it to "
                             "repro.smoke.RESNETS.")
        tiny, base = RESNETS[depth]
        changes = dict(depth=tiny, base_channels=base, stem_channels=base,
                       norm_cfg=dict(type="BN", requires_grad=True), norm_eval=False)
        if kind == "ResNetGCN":
            from repro.models.resnet_gcn import GCN_CHANNELS

            m = backbone.get("gcn_channels", GCN_CHANNELS)
            changes["gcn_channels"] = tuple(max(1, int(c * base / 64 + 0.5)) for c in m)
        return changes
    raise ValueError(f"No smoke variant of backbone {kind!r}: add one to repro.smoke.")


def _tiny_backbone(model: dict):
    import torch
    from mmengine.config import Config

    from repro.models.build import build_model

    backbone = copy.deepcopy(model["backbone"])
    backbone.pop("init_cfg", None)
    with torch.device("meta"):
        return build_model(Config(dict(model=backbone)))


def _backbone_widths(backbone: dict) -> dict:
    """Output widths of the tiny backbone: VGG16 layer name -> width; ResNet stage -> width."""
    if backbone.get("type") == "VGG16":
        from repro.models.vgg import VARIANTS

        w = backbone["width_mult"]
        spec = VARIANTS[backbone.get("variant", "fcn")]
        return dict(pool3=_scaled(256, w), pool4=_scaled(512, w), fc7=_scaled(spec["fc7"], w))
    depth, base = backbone["depth"], backbone["base_channels"]
    expansion = 1 if depth in (18, 34) else 4
    return {i: base * 2 ** i * expansion for i in range(4)}


def _coarse_size(model: dict, size: int) -> int:
    """Side of the tiny backbone's last feature map for a size x size input (meta device)."""
    import torch

    net = _tiny_backbone(model)
    with torch.no_grad():
        out = net(torch.empty(1, 3, size, size, device="meta"))
    feats = [o for o in out if isinstance(o, torch.Tensor)]
    return int(feats[-1].shape[-1])


def smoke_variant(cfg) -> dict:
    """The config changes that make ``cfg``'s model its tiny smoke variant (a nested dict to
    merge into the config, mmengine-style; lists replace), plus the smoke optimizer and
    schedule. Pure: reads ``cfg`` (an mmengine ``Config`` or dict), changes nothing."""
    model = _model(cfg)
    changes: dict = dict(model=dict())
    backbone = model.get("backbone")
    if backbone:
        b = _backbone_changes(backbone)
        changes["model"]["backbone"] = b
        backbone = {**backbone, **b}
        model["backbone"] = backbone
        widths = _backbone_widths(backbone)
    head = model.get("decode_head") or {}
    kind = head.get("type")
    h: dict = {}
    if kind == "FCNVGGHead":
        n = len(head["in_channels"]) if isinstance(head["in_channels"], (list, tuple)) else 1
        h["in_channels"] = [widths[k] for k in ("pool3", "pool4", "fc7")][-n:]
    elif kind in ("DeepLabLargeFOVHead", "GDNHead"):
        h["in_channels"] = widths["fc7"]
    elif kind == "ContextModuleHead":
        h["in_channels"] = h["channels"] = widths["fc7"]
    elif kind == "DeconvNetHead":
        h.update(width_mult=DECONVNET_DECODER_WIDTH, in_channels=widths["fc7"],
                 fc6_padding=DECONVNET_FC6_PADDING)
    elif kind == "GCNHead":
        paper = list(head["in_channels"])
        h["in_channels"] = [widths[i] for i in range(len(paper))]
        stack = head.get("stack_channels")
        if isinstance(stack, (list, tuple)):
            h["stack_channels"] = [max(1, int(m * c / p + 0.5))
                                   for m, c, p in zip(stack, h["in_channels"], paper)]
        elif isinstance(stack, int):
            h["stack_channels"] = max(1, int(stack * h["in_channels"][-1] / paper[-1] + 0.5))
    elif kind is not None:
        raise ValueError(f"No smoke variant of decode head {kind!r}: add one to repro.smoke.")
    if kind == "GDNHead":
        dataset = "cityscapes" if "Cityscapes" in str(
            cfg["train_dataloader"]["dataset"].get("type")) else "voc"
        big = max(SYNTHETIC[dataset]["size"])  # the largest test image side
        coarse_crop, coarse_big = _coarse_size(model, CROP[0]), _coarse_size(model, big)
        if head.get("global_interp"):
            h["global_interp"] = dict(out_size=(big, big), in_size=(coarse_big, coarse_big))
        if head.get("label_loss"):
            h["label_loss"] = dict(in_size=(coarse_crop, coarse_crop), hidden=(64, 64))
        if head.get("spp_fc"):
            h["spp_fc"] = dict(out_size=(coarse_big, coarse_big))
    if h:
        changes["model"]["decode_head"] = h
    if model.get("type") == "CRFRNNEncoderDecoder":
        changes["model"]["crf_rnn"] = dict(CRF_RNN)
    if (model.get("test_cfg") or {}).get("mode") == "proposals":
        changes["model"]["test_cfg"] = copy.deepcopy(DECONVNET_TEST)
    from repro.models.proposals import object_crop_transforms

    # DeconvNet's stage-2 crops, wherever the config holds a pipeline (only those keys copied)
    for key in [k for k in cfg if k != "model" and object_crop_transforms(cfg[k])]:
        node = _plain(cfg[key])
        for crop in object_crop_transforms(node):
            crop.update(copy.deepcopy(DECONVNET_TRAIN_CROP))
        changes[key] = node
    settings = family_settings(cfg)
    optimizer = dict(OPTIMIZER, lr=settings.get("lr", OPTIMIZER["lr"]))
    changes["optim_wrapper"] = dict(type="OptimWrapper", optimizer=optimizer, _delete_=True)
    if settings.get("lr_mult"):
        changes["optim_wrapper"]["paramwise_cfg"] = dict(custom_keys={
            k: dict(lr_mult=v) for k, v in settings["lr_mult"].items()})
    changes["param_scheduler"] = copy.deepcopy(PARAM_SCHEDULER)
    tta = cfg.get("tta_pipeline")
    if tta:
        changes["tta_pipeline"] = _smoke_tta(tta)
    return changes


def _smoke_tta(pipeline) -> list:
    """``pipeline`` with the scales of its TestTimeAug's Resize group set to TTA_RATIOS."""
    out = copy.deepcopy([dict(t) for t in pipeline])
    for t in out:
        if t.get("type") != "TestTimeAug":
            continue
        groups = [list(g) for g in t["transforms"]]
        for i, group in enumerate(groups):
            if group and all(dict(x).get("type") == "Resize" for x in group):
                keep = {k: v for k, v in dict(group[0]).items() if k != "scale_factor"}
                groups[i] = [dict(keep, scale_factor=r) for r in TTA_RATIOS]
        t["transforms"] = groups
    return out


def apply_smoke_variant(cfg) -> None:
    """Merge :func:`smoke_variant` into the mmengine ``Config`` ``cfg`` in place (nested dicts
    merge, ``_delete_=True`` replaces, anything else replaces)."""
    for key, value in smoke_variant(cfg).items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict) and \
                not value.get("_delete_"):
            cfg[key] = deep_merge(cfg[key], value)
        else:
            cfg[key] = {k: v for k, v in value.items() if k != "_delete_"} \
                if isinstance(value, dict) else value


# ---------------------------------------------------------------------------------------------
# Pretrained smoke backbones

#: Bump when the pretraining code changes what a given set of parameters produces.
PRETRAIN_VERSION = 2  # 2: VGG16's initialisation seeded (1 depended on the process)
#: The pretraining data: the synthetic VOC with another seed (none of the rows' images).
PRETRAIN_DATA = dict(seed=1, size=(160, 120), num_train=200, num_val=0, num_test=0,
                     num_sbd_extra=0)
PRETRAIN = dict(iters=600, batch=8, crop=128, lr=3e-3, seed=0, loss="deep")
#: ResNets (BatchNorm, shortcuts) learn all stages from the fused scores.
PRETRAIN_RESNET = dict(iters=400, batch=8, crop=128, lr=3e-3, seed=0, loss="both")
#: Convolutions from conv3_1 on start as the identity (``repro.smoke_pretrain.identity_init_``).
VGG_IDENTITY_FROM = 4
#: "repro": VGG16's own keys with every BatchNorm (smoke variants with_bn=True);
#: "folded": torchvision vgg16 keys, BatchNorm folded away (smoke variants without BN).
VGG_FORMAT = "repro"


def smoke_weights_entry(cfg) -> str | None:
    """The smoke weights a config's tiny variant loads (a ``repro.weights`` registry name), or
    None for a model trained from scratch."""
    from repro.weights import weights_for_config

    spec = weights_for_config(cfg)
    return spec.name if spec else None


#: The paper backbone whose tiny variant each smoke weight entry is (see RESNETS).
_ENTRY_BACKBONES = {
    "resnet18": dict(type="ResNet", depth=152),
    "resnet50": dict(type="ResNet", depth=50),
    "resnet50_gcn": dict(type="ResNetGCN", depth=50),
}


def smoke_backbone(entry: str) -> dict:
    """The backbone config of the tiny variant whose pretrained weights ``entry`` holds."""
    if entry == "vgg16":
        return dict(type="VGG16", width_mult=VGG_WIDTH, identity_from=VGG_IDENTITY_FROM,
                    format=VGG_FORMAT)
    if entry not in _ENTRY_BACKBONES:
        raise ValueError(f"No smoke pretraining for weights {entry!r}: the smoke profile knows "
                         f"{', '.join(['vgg16', *_ENTRY_BACKBONES])}.")
    paper = _ENTRY_BACKBONES[entry]
    return dict(paper, **_backbone_changes(paper), num_stages=4, out_indices=(0, 1, 2, 3),
                style="pytorch")


def _pretrain_spec(entry: str) -> dict:
    """Everything that shapes the smoke weights of ``entry`` (the cache key)."""
    from repro.data.synth import GENERATOR_VERSION

    return dict(entry=entry, arch=smoke_backbone(entry),
                data=dict(PRETRAIN_DATA, generator=GENERATOR_VERSION),
                pretrain=PRETRAIN if entry == "vgg16" else PRETRAIN_RESNET,
                version=PRETRAIN_VERSION)


def smoke_weights_key(entry: str) -> str:
    blob = json.dumps(_pretrain_spec(entry), sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def ensure_smoke_weights(entry: str, cache_dir: str | Path) -> Path:
    """The file of the pretrained smoke backbone ``entry`` (``vgg16``, ...) under
    ``cache_dir/smoke_weights/<entry>-<key>/<entry>.pth``, pretraining it first if needed.
    Concurrent callers wait on a file lock; the file is written atomically (temporary file,
    then rename), with the pretraining's statistics beside it (``pretrain.json``)."""
    from filelock import FileLock

    folder = Path(cache_dir) / "smoke_weights" / f"{entry}-{smoke_weights_key(entry)}"
    path = folder / f"{entry}.pth"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f"{folder.name}.lock")):
        if path.is_file():
            return path  # another process pretrained it while we waited
        state, stats = _pretrain(entry, Path(cache_dir))
        _atomic_save(state, path, stats)
    return path


def _atomic_save(state: dict, path: Path, stats: dict) -> None:
    import torch

    from repro.files import atomic_write, atomic_write_bytes

    atomic_write_bytes(path.parent / "pretrain.json",
                       json.dumps(stats, indent=1, default=list).encode())
    atomic_write(path, lambda f: torch.save(state, f))


def _pretrain(entry: str, cache_dir: Path) -> tuple[dict, dict]:
    import torch

    from repro import smoke_pretrain as pretrain
    from repro.data.synth import ensure_synthetic

    spec = _pretrain_spec(entry)
    root = ensure_synthetic("voc", cache_dir / "synthetic", **PRETRAIN_DATA)
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        log.warning("Pretraining the smoke %s backbone once (cached in %s).", entry, cache_dir)
        if entry == "vgg16":
            # Seeded here, not only inside pretrain(): the net's random initialisation would
            # otherwise depend on whatever the process drew before (other models, data).
            torch.manual_seed(PRETRAIN["seed"])
            net = pretrain.TorchvisionVGG16BN(VGG_WIDTH, identity_from=VGG_IDENTITY_FROM)
            stats, _ = pretrain.pretrain(net, net.channels, root, **PRETRAIN)
            state = (net.repro_state_dict() if VGG_FORMAT == "repro"
                     else net.folded_state_dict())
        else:
            from mmengine.config import Config
            from mmengine.logging import MMLogger

            from repro.models.build import build_model

            torch.manual_seed(PRETRAIN_RESNET["seed"])
            cfg = spec["arch"]
            net = build_model(Config(dict(model=cfg)))
            # mmengine logs every parameter's initialisation at INFO on stdout (no runner,
            # hence no log level, exists yet): the run's output is its plan and its rows.
            logger = MMLogger.get_current_instance()
            level = logger.level
            logger.setLevel(logging.WARNING)
            try:
                net.init_weights()
            finally:
                logger.setLevel(level)
            widths = _backbone_widths(cfg)
            stats, _ = pretrain.pretrain(net, (widths[1], widths[2], widths[3]), root,
                                         **PRETRAIN_RESNET)
            state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    finally:
        torch.set_num_threads(threads)
    return state, dict(spec, stats=stats)


#: The input convention of every smoke weight file (``repro.smoke_pretrain`` normalises as
#: torchvision does); ``require_weights`` cannot tell it from VGG16's own key names.
INPUT_CONVENTION = "torchvision"


def apply_smoke_weights(cfg, cache_dir: str | Path) -> dict:
    """Point the smoke variant ``cfg`` at its pretrained smoke backbone (pretraining it once if
    needed) through the paper profile's loader ``repro.weights.require_weights``, which checks
    the file against the backbone and sets the data preprocessor to the file's input convention.
    Returns what it did (for the result's provenance)."""
    from repro.weights import require_weights

    entry = smoke_weights_entry(cfg)
    if entry is None:
        return {"pretrained": None}
    path = ensure_smoke_weights(entry, cache_dir)
    info = require_weights(cfg, folder=path.parent)
    if info.get("convention") is None:
        from repro.weights import _set_input_convention

        info["convention"] = INPUT_CONVENTION
        info["preprocessing"] = _set_input_convention(cfg, INPUT_CONVENTION)
    return info
