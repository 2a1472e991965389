"""Pretrained ImageNet weights: which file each config needs, where it is expected, and whether a
file fits the model before any training starts.

The harness never downloads weights; the user supplies files (registry name: file, users):

- ``vgg16``: torchvision ``vgg16-397923af.pth`` (``features.<i>``, ``classifier.<i>``) or a
  Caffe-converted VGG_ILSVRC_16_layers (``conv1_1.weight`` .. ``fc7.bias``), read by
  ``repro.models.vgg.load_vgg_weights``; FCN, DeepLab, GDN, Dilation, DeconvNet.
- ``resnet152``: torchvision ``resnet152-*.pth`` (``conv1``, ``bn1``, ``layer1.0.conv1`` ..);
  GCN.
- ``resnet50``: torchvision ``resnet50-*.pth``; GCN Table 6.
- ``resnet50_gcn``: ResNet50-GCN (GCN Sec. 4.1.2, ImageNet-trained for Table 6), no public
  file: ``repro pretrain resnet50-gcn --imagenet DIR`` (``repro.pretrain``) writes it, or the
  user's ``ResNetGCN`` state dict; GCN Table 6.
- ``structured_edges``: not a backbone: the structured-edge forest of DeconvNet's EdgeBoxes
  proposals (``repro.models.proposals``); the rows that test with EdgeBoxes (Table 1's DeconvNet
  and EDeconvNet rows, paper profile; the smoke profile uses selective search).

Location: ``$REPRO_WEIGHTS/<file>`` if set, else ``~/.cache/repro/weights/<file>`` (not the
synthetic-data cache ``$REPRO_CACHE``: these files are not regenerable), where ``<file>`` is the
registry name (``vgg16.pth``) or any of the entry's accepted names (e.g. torchvision's own
``vgg16-397923af.pth``), first match wins.

Which entry a config needs: its top-level ``pretrained_weights = '<registry name>'`` key (the
proposed convention; ``pretrained_weights = None`` declares a model trained from scratch); without
the key, inferred from the backbone (``BACKBONES``: ``VGG16`` -> vgg16, ``ResNet`` depth 152 / 50
-> resnet152 / resnet50, ``ResNetGCN`` depth 50 -> resnet50_gcn).

A file is checked against the config's backbone, built on the ``meta`` device (shapes only, no
memory) with ``repro.models.build.build_model``, after the key mapping its loader applies:
``VGG16`` (``repro.models.vgg``): its own ``init_weights`` (torchvision / Caffe names -> Caffe
layer names, DeepLab's fc6/fc7 decimation); every other backbone: mmengine's ``Pretrained``
init (``load_checkpoint``: the ``state_dict`` entry if any, ``module.`` stripped; with
``prefix='backbone.'`` only the keys under that prefix). mmengine loads with ``strict=False``
and only logs what it skips: a file of the wrong depth or variant would train from a partly
random backbone; here it is an error listing the missing, unexpected and mis-shaped keys.

Input conventions differ between files: torchvision weights expect RGB normalised by the
ImageNet mean/std, Caffe VGG16 expects BGR minus the Caffe mean (the FCN / DeepLab / GDN configs
default to Caffe's). :func:`require_weights` sets the config's ``data_preprocessor`` to the
convention of the file it found and records it.

Released models (``repro.released``): the authors' trained ``.caffemodel`` files that reproduce
published rows. ``repro weights`` lists them (file, where published, the rows that use them,
whether present); ``repro weights import-caffe FILE.caffemodel --config CONFIG --out FILE.pth
[--model NAME]`` converts one (``repro.released.import_caffe``; Caffe format:
``repro.caffe``), exit 2 naming the first missing, unexpected or mis-shaped layer.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "REGISTRY",
    "WeightSpec",
    "WeightsCheck",
    "WeightsError",
    "WeightsNotFoundError",
    "check_weights",
    "find_weights",
    "require_proposals",
    "require_weights",
    "weights_dir",
    "weights_for_config",
]

log = logging.getLogger("repro")


@dataclass(frozen=True)
class WeightSpec:
    """One registry entry: a pretrained backbone and how to obtain it."""

    name: str  # registry key, also the preferred file name <name>.pth
    title: str  # what it is
    files: tuple[str, ...]  # accepted file names in the weights folder (globs), in order
    how: str  # how to get the file


REGISTRY = {
    spec.name: spec
    for spec in (
        WeightSpec(
            "vgg16", "VGG16 ImageNet (torchvision or Caffe-converted)",
            ("vgg16.pth", "vgg16-397923af.pth", "vgg16-*.pth", "VGG_ILSVRC_16_layers*.pth"),
            "download https://download.pytorch.org/models/vgg16-397923af.pth (torchvision), or "
            "convert Caffe's VGG_ILSVRC_16_layers.caffemodel: repro weights import-caffe "
            "VGG_ILSVRC_16_layers.caffemodel --model vgg16 --out "
            "<weights folder>/VGG_ILSVRC_16_layers.pth",
        ),
        WeightSpec(
            "resnet152", "ResNet-152 ImageNet (torchvision)",
            ("resnet152.pth", "resnet152-*.pth"),
            "download https://download.pytorch.org/models/resnet152-394f9c45.pth (torchvision)",
        ),
        WeightSpec(
            "resnet18", "ResNet-18 ImageNet (torchvision; the smoke profile's GCN backbone)",
            ("resnet18.pth", "resnet18-*.pth"),
            "download https://download.pytorch.org/models/resnet18-f37072fd.pth (torchvision)",
        ),
        WeightSpec(
            "resnet50", "ResNet-50 ImageNet (torchvision)",
            ("resnet50.pth", "resnet50-*.pth"),
            "download https://download.pytorch.org/models/resnet50-0676ba61.pth (torchvision)",
        ),
        WeightSpec(
            "structured_edges", "Structured-edge forest for DeconvNet's EdgeBoxes proposals "
            "(OpenCV ximgproc model.yml.gz; not a backbone)",
            ("structured_edges.yml.gz", "model.yml.gz", "*.yml.gz"),
            "download model.yml.gz of OpenCV's opencv_extra repository "
            "(testdata/cv/ximgproc/model.yml.gz, Dollar & Zitnick's BSDS forest); also install "
            "OpenCV's contrib build (README: DeconvNet's EdgeBoxes)",
        ),
        WeightSpec(
            "resnet50_gcn", "ResNet50-GCN ImageNet (GCN Sec. 4.1.2; no public weights)",
            ("resnet50_gcn.pth", "resnet50_gcn*.pth"),
            "the authors released no weights: pretrain it on ImageNet with `repro pretrain "
            "resnet50-gcn --imagenet DIR` (GCN Sec. 4.1.2; writes <weights folder>/"
            "resnet50_gcn.pth), or save your own ResNetGCN state dict there (mmseg key names, "
            "optionally under 'backbone.')",
        ),
    )
}

#: (backbone type, depth) -> registry entry, for configs without a ``pretrained_weights`` key.
BACKBONES = {
    ("VGG16", None): "vgg16",
    ("ResNet", 152): "resnet152",
    ("ResNet", 18): "resnet18",
    ("ResNet", 50): "resnet50",
    ("ResNetGCN", 50): "resnet50_gcn",
}

TORCHVISION_INPUT = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                         bgr_to_rgb=True)
CAFFE_INPUT = dict(mean=[104.00699, 116.66877, 122.67892], std=[1.0, 1.0, 1.0], bgr_to_rgb=False)
_INPUTS = {"torchvision": TORCHVISION_INPUT, "caffe": CAFFE_INPUT}


class WeightsNotFoundError(FileNotFoundError):
    """The weight file a config needs is not where it is expected."""


class WeightsError(ValueError):
    """A weight file that does not fit its config, or a config naming no usable entry."""


def weights_dir() -> Path:
    """``$REPRO_WEIGHTS``, else ``~/.cache/repro/weights``."""
    return Path(os.environ.get("REPRO_WEIGHTS") or Path.home() / ".cache" / "repro" / "weights")


def find_weights(spec: WeightSpec, folder: str | os.PathLike | None = None) -> Path | None:
    """The first file in ``folder`` (default :func:`weights_dir`) matching the entry's accepted
    names."""
    folder = Path(folder or weights_dir()).expanduser()
    for pattern in spec.files:
        found = sorted(p for p in folder.glob(pattern) if p.is_file())
        if found:
            return found[0]
    return None


def _load_config(config):
    from mmengine.config import Config

    from repro import paths

    if isinstance(config, Config):
        return config
    path = Path(config)
    return Config.fromfile(str(path if path.is_file() else paths.config_path(str(config))))


def weights_for_config(config) -> WeightSpec | None:
    """The registry entry a config (a ``Config``, a file, or a path under ``mmseg_configs/``)
    needs; None for a model trained from scratch. Raises :class:`WeightsError` when the config
    names an unknown entry or its backbone has none."""
    cfg = _load_config(config)
    if "pretrained_weights" in cfg:
        name = cfg.pretrained_weights
        if name is None:
            return None
        if name not in REGISTRY:
            raise WeightsError(f"Config {cfg.filename}: pretrained_weights={name!r} is not in the "
                               f"weights registry ({', '.join(REGISTRY)}).")
        return REGISTRY[name]
    backbone = cfg.model.get("backbone") or {}
    kind = backbone.get("type", f"none (model type {cfg.model.get('type')})")
    if (kind, backbone.get("depth")) in BACKBONES:
        return REGISTRY[BACKBONES[kind, backbone.get("depth")]]
    raise WeightsError(
        f"Config {cfg.filename}: no pretrained weights are registered for its backbone "
        f"{kind}: add `pretrained_weights = '<name>'` ({', '.join(REGISTRY)}) to the config, or "
        "`pretrained_weights = None` if it trains from scratch."
    )


# ---------------------------------------------------------------------------------------------
# Checking a file against a config's backbone


@dataclass
class WeightsCheck:
    """How a weight file maps onto a config's backbone. ``ok``: every parameter of the backbone
    is in the file with its shape (extra keys, e.g. the ImageNet classifier, are ignored)."""

    path: Path
    config: str
    backbone: str
    convention: str | None = None  # "torchvision", "caffe" or None (unknown)
    prefix: str | None = None  # the Pretrained init's prefix the file needs
    matched: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: file (..) vs model (..)"
    error: str | None = None  # the file could not be read / is in no known format

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing and not self.mismatched and self.matched > 0

    def format(self, limit: int = 10) -> str:
        head = (f"{self.path} for {self.backbone} of {self.config}: "
                + ("fits" if self.ok else "DOES NOT FIT")
                + f" ({self.matched} tensors match; input convention "
                f"{self.convention or 'unknown'})")
        lines = [head]
        if self.error:
            lines.append(f"  {self.error}")
        for what, keys in (("missing from the file", self.missing),
                           ("mis-shaped", self.mismatched),
                           ("in the file but not in the model (ignored)", self.unexpected)):
            if keys:
                more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
                lines.append(f"  {len(keys)} {what}: {', '.join(keys[:limit])}{more}")
        if not self.ok:
            lines.append("  Fix: use a file of exactly this backbone (depth, variant, full "
                         "widths); `repro weights` lists the expected files.")
        return "\n".join(lines)


def _read_state(path: Path) -> dict:
    import torch

    try:  # mmap: only the shapes are needed; legacy (pre-1.6) files cannot be mapped
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:
        return torch.load(path, map_location="cpu", weights_only=True)


def _meta_backbone(cfg):
    import torch
    from mmengine.config import Config

    from repro.models.build import build_model

    backbone = Config(dict(model=cfg.model.backbone.to_dict(),
                           default_scope=cfg.get("default_scope", "mmseg")))
    backbone.model.pop("init_cfg", None)
    with torch.device("meta"):
        return build_model(backbone)


def _convention(keys) -> str | None:
    if "features.0.weight" in keys or "layer1.0.conv1.weight" in keys:
        return "torchvision"
    if "conv1_1.weight" in keys:
        return "caffe"
    return None


def check_weights(path: str | os.PathLike, config) -> WeightsCheck:
    """Compare a weight file with the backbone of ``config`` (module docstring); never raises
    for a bad file: the result says what is wrong."""
    cfg = _load_config(config)
    path = Path(path).expanduser()
    model = _meta_backbone(cfg)
    result = WeightsCheck(path=path, config=Path(cfg.filename or "<config>").name,
                          backbone=type(model).__name__)
    try:
        state = _read_state(path)
    except (OSError, RuntimeError, ValueError) as e:  # pickle / zip errors are RuntimeError
        result.error = f"cannot be read as a PyTorch state dict ({type(e).__name__}: {e})."
        return result
    if not isinstance(state, dict):
        result.error = f"holds a {type(state).__name__}, not a state dict."
        return result
    own = model.state_dict()
    if result.backbone == "VGG16":
        from repro.models.vgg import adapt_to_variant, canonical_vgg_weights

        inner = state.get("state_dict", state)
        result.convention = _convention(inner)
        try:
            mapped = adapt_to_variant(canonical_vgg_weights(state, str(path)), model.variant)
        except (KeyError, ValueError) as e:
            result.error = str(e).strip("\"'")
            return result
        required = [k for k in own if k.split(".")[1] == "conv"]  # BN: loaded when present
    else:
        mapped, result.prefix = _mmengine_mapping(state)
        result.convention = _convention(mapped)
        required = [k for k in own if not k.endswith("num_batches_tracked")]
    result.missing = [k for k in required if k not in mapped]
    result.unexpected = [k for k in mapped if k not in own]
    for k, v in mapped.items():
        if k in own:
            if tuple(v.shape) == tuple(own[k].shape):
                result.matched += 1
            else:
                result.mismatched.append(
                    f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}")
    return result


def _mmengine_mapping(state: dict) -> tuple[dict, str | None]:
    """Keys as mmengine's ``Pretrained`` init would load them; the prefix it would need."""
    if isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    elif isinstance(state.get("model"), dict):
        state = state["model"]
    state = {re.sub(r"^module\.", "", k): v for k, v in state.items()}
    if any(k.startswith("backbone.") for k in state):  # saved from a whole model
        return {k[len("backbone."):]: v for k, v in state.items()
                if k.startswith("backbone.")}, "backbone."
    return state, None


# ---------------------------------------------------------------------------------------------
# The runner's entry point


@functools.cache
def _digest(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def require_weights(cfg, *, check: bool = True, folder: str | os.PathLike | None = None) -> dict:
    """Point ``cfg``'s backbone at its pretrained weights, before training (paper profile; the
    smoke profile's pretrained tiny backbones through ``folder``, see ``repro.smoke``).

    Finds the file of :func:`weights_for_config` in ``folder`` (default :func:`weights_dir`),
    checks it against the backbone (``check``),
    sets ``model.backbone.init_cfg = dict(type='Pretrained', checkpoint=PATH)`` (with
    ``prefix='backbone.'`` for a file saved from a whole model) and the ``data_preprocessor``'s
    mean / std / channel order to the file's convention. Returns what it did, for the result's
    provenance. Raises :class:`WeightsNotFoundError` naming the expected path and how to get
    the file, or :class:`WeightsError` when the file does not fit.
    """
    spec = weights_for_config(cfg)
    if spec is None:
        return {"pretrained": None}
    path = find_weights(spec, folder)
    if path is None:
        expected = Path(folder or weights_dir()) / f"{spec.name}.pth"
        raise WeightsNotFoundError(
            f"{spec.title} weights are needed by {Path(cfg.filename or '').name} but were not "
            f"found: expected {expected} (or {', '.join(spec.files[1:])} in that folder; set "
            f"$REPRO_WEIGHTS to use another folder). To get it: {spec.how}; then check it with "
            f"`repro weights --check FILE --config CONFIG`."
        )
    info = {"pretrained": spec.name, "path": str(path)}
    init = dict(type="Pretrained", checkpoint=str(path))
    if check:
        result = check_weights(path, cfg)
        if not result.ok:
            raise WeightsError(result.format())
        if result.prefix:
            init["prefix"] = result.prefix
        convention = result.convention
        info["convention"] = convention
        if convention in _INPUTS:
            info["preprocessing"] = _set_input_convention(cfg, convention)
    stat = path.stat()
    info["sha256"] = _digest(str(path), stat.st_size, stat.st_mtime)
    cfg.model.backbone.init_cfg = init
    return info


def _set_input_convention(cfg, convention: str) -> str:
    want = _INPUTS[convention]
    changed = "kept"
    for pre in (cfg.model.get("data_preprocessor"), cfg.get("data_preprocessor")):
        if pre is None:
            continue
        current = {k: pre.get(k) for k in want}
        if current != want:
            pre.update(want)
            changed = f"set to the {convention} convention {want} (was {current})"
    if changed != "kept":  # the run's plan says it once per row (a note); details with -v
        log.info("%s: data_preprocessor %s to match %s weights.",
                 Path(cfg.filename or "").name, changed, convention)
    return changed


def require_proposals(cfg) -> dict:
    """Plan-time check of a config's DeconvNet proposals, those of proposal-wise testing
    (``model.test_cfg.proposals``) and of stage-2 training crops (``DeconvNetObjectCrop``):
    for ``type='edgeboxes'`` without ``model``, the structured-edge file is looked up in the
    weights folder (entry ``structured_edges``) and written into the config; then
    ``repro.models.proposals.check_edgeboxes`` runs. Returns what was decided, for the row's
    provenance (empty for configs without EdgeBoxes). Raises ``EdgeBoxesUnavailableError``
    (exit 2) before any training when the contrib build or the file is missing."""
    from repro.models.proposals import (
        EdgeBoxesUnavailableError,
        check_edgeboxes,
        edgeboxes_sources,
    )

    sources = edgeboxes_sources(cfg)
    if not sources:
        return {}
    path = None
    for proposals in sources:
        if not proposals.get("model"):
            entry = REGISTRY["structured_edges"]
            found = find_weights(entry)
            if found is None:
                raise EdgeBoxesUnavailableError(
                    f"DeconvNet's EdgeBoxes proposals (Sec. 6.1) need the structured-edge model "
                    f"file {weights_dir() / entry.files[0]}: {entry.how}; `repro weights` "
                    "lists it.")
            proposals["model"] = str(found)
        path = check_edgeboxes(proposals["model"])
    return dict(proposals="edgeboxes", structured_edges=str(path))
