"""Profiles: what running a table row under ``paper`` or ``smoke`` changes in its mmseg config.

``paper``: the paper's protocol as declared by the row (splits, crop, total batch size, schedule)
on real data given by the user, with pretrained weights, typically on GPUs.

``smoke``: the same code path scaled down so that every row runs on a CPU in seconds to a few
minutes: synthetic data in the real layouts, tiny widths (each model config declares its own
tiny variant in a top-level ``smoke`` dict, merged into the config here), small crops, a few
hundred iterations with AdamW (SGD with the papers' momentum 0.99 and batch 1 does not move in
a few hundred steps from scratch). Smoke numbers test the pipeline, never the paper's claims.

Everything a profile changes is in this module; runner.py only builds and runs the result.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from mmengine.config import Config, ConfigDict

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
    optimizer: dict | None = None


PROFILES = {
    "paper": Profile(name="paper", iters=None, batch_size=None, crop=None),
    "smoke": Profile(
        name="smoke",
        iters=300,
        batch_size=8,
        crop=(128, 128),
        num_workers=0,
        checkpoint_interval=100,
        synthetic={
            "voc": dict(seed=0, size=(160, 120), num_train=120, num_val=40, num_test=10),
            "cityscapes": dict(seed=0, size=(256, 128), num_train=60, num_val=20, num_test=6),
        },
        optimizer=dict(type="AdamW", lr=2e-3, weight_decay=1e-4),
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise KeyError(f"Unknown profile {name!r}; choose one of {', '.join(PROFILES)}.")
    return PROFILES[name]


def deep_merge(base: dict, override: dict) -> dict:
    """Recursive dict merge; ``_delete_=True`` in an override dict replaces instead (mmengine)."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if isinstance(v, dict) and not v.get("_delete_", False) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            v = copy.deepcopy(v)
            if isinstance(v, dict):
                v = {kk: vv for kk, vv in v.items() if kk != "_delete_"}
            out[k] = v
    return out


def set_crop(cfg: Config, crop: tuple[int, int]) -> None:
    """Set the training crop everywhere it appears: RandomCrop and the preprocessor's pad size."""
    crop = tuple(crop)
    cfg.crop_size = crop
    for t in cfg.train_dataloader.dataset.get("pipeline", []):
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


def apply_protocol(cfg: Config, protocol: Protocol, data_root: str) -> None:
    """Point the config's data at the protocol's splits under ``data_root``."""
    train_ds = cfg.train_dataloader.dataset
    eval_dls = [cfg.val_dataloader, cfg.test_dataloader]
    train_ds.data_root = data_root
    for dl in eval_dls:
        dl.dataset.data_root = data_root
    if protocol.dataset == "voc":
        train_ds.ann_file = f"ImageSets/Segmentation/{protocol.train_split}.txt"
        train_ds.data_prefix.seg_map_path = protocol.train_labels
        for dl in eval_dls:
            dl.dataset.ann_file = f"ImageSets/Segmentation/{protocol.eval_split}.txt"
            dl.dataset.data_prefix.seg_map_path = protocol.eval_labels
    else:  # cityscapes: the split is a folder
        train_ds.data_prefix = ConfigDict(
            img_path=f"leftImg8bit/{protocol.train_split}",
            seg_map_path=f"gtFine/{protocol.train_split}",
        )
        for dl in eval_dls:
            dl.dataset.data_prefix = ConfigDict(
                img_path=f"leftImg8bit/{protocol.eval_split}",
                seg_map_path=f"gtFine/{protocol.eval_split}",
            )


def apply_profile(
    cfg: Config,
    exp: Experiment,
    profile: Profile,
    data_root: str,
    *,
    seed: int = 0,
    world_size: int = 1,
) -> dict:
    """Rewrite ``cfg`` in place for ``exp`` under ``profile``; returns what it decided (for the
    result's provenance): iterations, batch sizes, crop."""
    protocol = exp.protocol
    if exp.options:
        cfg.merge_from_dict(exp.options)
    # A config's own tiny variant (top-level `smoke` dict); "iters" there overrides the profile's.
    smoke = cfg.get("smoke", {}).to_dict() if profile.name == "smoke" and "smoke" in cfg else {}
    for key, value in smoke.items():
        if key != "iters":
            cfg[key] = deep_merge(cfg[key], value) if isinstance(value, dict) else value
    apply_protocol(cfg, protocol, data_root)

    crop = profile.crop or protocol.crop_size
    set_crop(cfg, crop)
    iters = smoke.get("iters") or profile.iters or protocol.iters or cfg.train_cfg.max_iters
    set_iters(cfg, iters, profile.checkpoint_interval)

    total_batch = profile.batch_size or protocol.batch_size
    if total_batch % world_size:
        raise ValueError(
            f"The total batch size {total_batch} of {exp.key} does not divide over {world_size} "
            "processes: choose a GPU count that divides it."
        )
    cfg.train_dataloader.batch_size = total_batch // world_size
    for dl in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        dl.num_workers = profile.num_workers
        dl.persistent_workers = False
    if profile.optimizer and "optim_wrapper" not in smoke:
        cfg.optim_wrapper = ConfigDict(type="OptimWrapper", optimizer=dict(profile.optimizer))
    cfg.randomness = ConfigDict(seed=seed, deterministic=False)
    return dict(
        iters=iters,
        total_batch_size=total_batch,
        batch_per_process=total_batch // world_size,
        world_size=world_size,
        crop=list(crop),
    )
