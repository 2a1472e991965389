"""Profiles: what running a table row under ``paper`` or ``smoke`` changes in its mmseg config.

``paper``: the paper's protocol as declared by the row (splits, crop, total batch size, schedule)
on real data given by the user, with pretrained weights, typically on GPUs.

``smoke``: the same code path scaled down so that every row runs on a CPU in seconds: synthetic
data in the real layouts, the tiny variant of each model family with a pretrained tiny backbone,
small crops, a few dozen AdamW iterations. Every smoke setting lives in ``repro.smoke`` (read
from the model, never from the config's name); this module applies it. Smoke numbers test the
pipeline, never the paper's claims.

Everything a profile changes is applied here; the planner (repro.plan) calls it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from mmengine.config import Config, ConfigDict

from repro import smoke
from repro.tables.registry import Experiment, Protocol


@dataclass(frozen=True)
class Profile:
    name: str
    iters: int | None  # None: the config's / protocol's schedule
    batch_size: int | None  # None: the protocol's total batch size
    crop: tuple[int, int] | None  # None: the protocol's crop
    num_workers: int = 2
    checkpoint_interval: int | None = None  # None: the config's
    synthetic: dict = field(default_factory=dict)  # params of repro.data.synth per dataset
    # torch intra-op threads (None: torch's default). Tiny smoke models gain nothing from
    # threads, and OpenMP threads spin-waiting on busy cores cost 10x (measured: 281 s vs 26 s
    # for a GCN smoke row on 2 loaded cores).
    threads: int | None = None
    # Dense-CRF cross-validation of crf=True rows (repro.runner.cross_validate_crf).
    crf_cv: dict = field(default_factory=lambda: dict(grid="v2", strategy="fast",
                                                      num_images=100))


PROFILES = {
    "paper": Profile(name="paper", iters=None, batch_size=None, crop=None),
    # Every smoke setting lives in repro/smoke.py (model variants, pretrained backbones, family
    # schedules); this entry only names the profile-wide ones.
    "smoke": Profile(
        name="smoke",
        iters=smoke.ITERS,
        threads=smoke.THREADS,
        batch_size=smoke.BATCH_SIZE,
        crop=smoke.CROP,
        num_workers=smoke.NUM_WORKERS,
        checkpoint_interval=smoke.CHECKPOINT_INTERVAL,
        synthetic=smoke.SYNTHETIC,
        crf_cv=smoke.CRF_CV,
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise KeyError(f"Unknown profile {name!r}; choose one of {', '.join(PROFILES)}.")
    return PROFILES[name]


def set_crop(cfg: Config, crop: tuple[int, int]) -> None:
    """Set the training crop everywhere it appears: RandomCrop (of every part of a
    concatenated dataset) and the preprocessor's pad size."""
    crop = tuple(crop)
    cfg.crop_size = crop
    ds = cfg.train_dataloader.dataset
    for part in ds.get("datasets", [ds]):
        for t in part.get("pipeline", []):
            if t.get("type") == "RandomCrop":
                t["crop_size"] = crop
    if "data_preprocessor" in cfg.model:
        cfg.model.data_preprocessor["size"] = crop
    if "data_preprocessor" in cfg:
        cfg.data_preprocessor["size"] = crop


def set_iters(cfg: Config, iters: int, checkpoint_interval: int | None = None) -> None:
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    for sched in cfg.param_scheduler:
        if sched.get("end") is not None and not sched.get("by_epoch", False):
            sched["end"] = iters
    if checkpoint_interval:
        cfg.default_hooks.checkpoint.interval = min(checkpoint_interval, iters)
        # Keep every checkpoint a resume may need to fall back to (a damaged latest one is
        # set aside; repro.runner), but not all of a long schedule.
        cfg.default_hooks.checkpoint.max_keep_ckpts = 3


def _split_dataset(template: dict, dataset: str, split: str, labels: str, data_root: str) -> dict:
    """One dataset config for one split, from the config's own dataset as template (the planner
    has checked that the split exists: ``repro.data.source.split_files``)."""
    ds = copy.deepcopy(dict(template))
    ds["data_root"] = data_root
    if dataset == "voc":
        ds["ann_file"] = f"ImageSets/Segmentation/{split}.txt"
        ds["data_prefix"] = dict(ds.get("data_prefix", {}), seg_map_path=labels)
        return ds
    coarse = split == "train_extra"  # Cityscapes' coarse set: labels only in gtCoarse/
    ds["data_prefix"] = dict(img_path=f"leftImg8bit/{split}",
                             seg_map_path=f"{'gtCoarse' if coarse else 'gtFine'}/{split}")
    if coarse:
        ds["seg_map_suffix"] = "_gtCoarse_labelTrainIds.png"
    return ds


def apply_protocol(cfg: Config, protocol: Protocol, data_root: str) -> None:
    """Point the config's data at the protocol's splits under ``data_root`` (a config that
    concatenates datasets gives its first one as the template)."""
    template = cfg.train_dataloader.dataset.to_dict()
    if template.get("type") == "ConcatDataset":
        template = template["datasets"][0]
    parts = [_split_dataset(template, protocol.dataset, split, protocol.train_labels, data_root)
             for split in protocol.train_split.split("+")]
    cfg.train_dataloader.dataset = (
        parts[0] if len(parts) == 1 else dict(type="ConcatDataset", datasets=parts)
    )
    for dl in (cfg.get("val_dataloader"), cfg.test_dataloader):
        if dl:  # the runner drops the val loop (it evaluates with the test loop only)
            dl.dataset = _split_dataset(dl.dataset.to_dict(), protocol.dataset,
                                        protocol.eval_split, protocol.eval_labels, data_root)


def apply_test_mode(cfg: Config, protocol: Protocol, image_width: int) -> None:
    """Inference mode of the protocol. ``crop4`` (GCN Sec. 4.3, Cityscapes): four 1024x1024
    crops of the 1024x2048 image, scores fused: mmseg's slide inference with stride
    (1024, 342) gives exactly 4 overlapping crops along the width; both scale with the image
    width (synthetic Cityscapes is smaller)."""
    if protocol.test_mode == "crop4":
        scale = image_width / 2048
        crop = max(32, round(1024 * scale))
        cfg.model.test_cfg = ConfigDict(mode="slide", crop_size=(crop, crop),
                                        stride=(crop, max(1, round(342 * scale))))
    elif protocol.test_mode == "slide":
        crop = tuple(cfg.crop_size)
        cfg.model.test_cfg = ConfigDict(mode="slide", crop_size=crop,
                                        stride=tuple(max(1, c * 2 // 3) for c in crop))


def choose(setting: str, candidates: list[tuple[str, object]]) -> tuple[object, str, list[str]]:
    """The first value given (not None) among ``candidates`` (source, value), highest
    precedence first, and a note when it replaces a different value that would otherwise have
    applied (the next one given)."""
    given = [(src, v) for src, v in candidates if v is not None]
    if not given:
        raise ValueError(f"No value for {setting}.")
    (src, value), rest = given[0], given[1:]
    notes = [f"{setting} {value} ({src}) replaces {rest[0][1]} ({rest[0][0]})"
             for _ in rest[:1] if rest[0][1] != value]
    return value, src, notes


def apply_profile(
    cfg: Config,
    exp: Experiment,
    profile: Profile,
    data_root: str,
    *,
    seed: int = 0,
    world_size: int = 1,
    iters: int | None = None,
    checkpoint_interval: int | None = None,
    full_width: bool = False,
) -> dict:
    """Rewrite ``cfg`` in place for ``exp`` under ``profile``; returns what it decided (for the
    result's provenance): iterations, batch sizes, crop, and ``notes`` naming every setting
    that replaced another.

    Precedence, highest first: the command line (``iters``, ``checkpoint_interval``; the
    caller applies ``--cfg-options`` after this), then the row (its options; in the smoke
    profile the model's own smoke settings; in the paper profile the protocol's schedule),
    then the profile. ``full_width``: keep the paper's model in the smoke profile (released
    weights are evaluated at full width).
    """
    protocol = exp.protocol
    if exp.options:
        unknown = unknown_option_keys(cfg, exp.options)
        if unknown:
            raise UnknownOptionError(
                f"Row {exp.key} sets {', '.join(unknown)}, which neither its config "
                f"{exp.config} nor the class each key would be passed to accepts (mmengine "
                "would add it silently): fix the key in the table spec's options (see the "
                "config and the class's arguments)."
            )
        cfg.merge_from_dict(exp.options)
    # The model family's tiny variant and schedule (repro.smoke), read from the paper's model.
    schedule: dict = {}
    if profile.name == "smoke" and not full_width:
        schedule = smoke.smoke_schedule(cfg)
        smoke.apply_smoke_variant(cfg)
    apply_protocol(cfg, protocol, data_root)

    crop = schedule.get("crop") or profile.crop or protocol.crop_size
    set_crop(cfg, crop)
    synth = profile.synthetic.get(protocol.dataset)
    apply_test_mode(cfg, protocol, synth["size"][0] if synth else 2048)
    notes: list[str] = []
    if profile.name == "smoke":
        candidates = [("--iters", iters), ("the model's smoke settings", schedule.get("iters")),
                      ("smoke profile", profile.iters)]
    else:
        candidates = [("--iters", iters), ("protocol", protocol.iters),
                      ("config", cfg.train_cfg.max_iters)]
    n_iters, _, more = choose("iterations", candidates)
    notes += more
    interval, _, more = choose("checkpoint interval", [
        ("--checkpoint-interval", checkpoint_interval),
        (f"{profile.name} profile", profile.checkpoint_interval
         or cfg.default_hooks.checkpoint.interval)])
    notes += more
    set_iters(cfg, n_iters, interval)

    total_batch = schedule.get("batch_size") or profile.batch_size or protocol.batch_size
    if total_batch % world_size:
        raise ValueError(
            f"The total batch size {total_batch} of {exp.key} does not divide over {world_size} "
            "processes: choose a GPU count that divides it."
        )
    cfg.train_dataloader.batch_size = total_batch // world_size
    for dl in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        dl.num_workers = profile.num_workers
        dl.persistent_workers = False
    cfg.randomness = ConfigDict(seed=seed, deterministic=False)
    return dict(
        iters=n_iters,
        paper_iters=protocol.iters,
        total_batch_size=total_batch,
        batch_per_process=total_batch // world_size,
        world_size=world_size,
        crop=list(crop),
        notes=notes,
    )


class UnknownOptionError(ValueError):
    """A table row option naming a key that its config cannot take."""


def _accepts(cls, key: str) -> bool:
    """``key`` is an argument of ``cls.__init__`` or, through ``**kwargs``, of a base class."""
    import inspect

    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        if key in params:
            return True
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return False
    return False


def _registered(type_name):
    import mmseg.registry
    from mmengine.registry import Registry

    import repro.plugins  # noqa: F401 - registers the plugins

    if not isinstance(type_name, str):
        return type_name if isinstance(type_name, type) else None
    for reg in vars(mmseg.registry).values():
        if isinstance(reg, Registry) and reg.get(type_name) is not None:
            return reg.get(type_name)
    return None


def unknown_option_keys(cfg: Config, options: dict) -> list[str]:
    """Dotted option keys naming nothing: every part must exist in the config, except the last
    when its parent builds a registered class (``type``) that takes it as an argument."""
    unknown = []
    for key in options:
        node, parts = cfg.to_dict(), key.split(".")
        for i, part in enumerate(parts):
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                last = i == len(parts) - 1
                cls = _registered(node.get("type")) if last and isinstance(node, dict) else None
                if cls is None or not _accepts(cls, part):
                    unknown.append(key)
                break
    return unknown
