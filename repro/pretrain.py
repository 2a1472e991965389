"""``repro pretrain resnet50-gcn``: ImageNet pretraining of ResNet50-GCN (Large Kernel Matters,
Sec. 4.1.2, Figure 5, Table 6) on mmpretrain, ending in the weight file GCN Table 6 reads.

The authors released no ResNet50-GCN weights; this command produces them, and the ImageNet
top-5 error of Table 6's first row ("ImageNet cls err (%)", paper 7.9 for ResNet50-GCN).

What the paper says, and how it is followed:

- Sec. 4.1.2: "We first pretrain ResNet-GCN on ImageNet 2015 [29] and fine tune on PASCAL VOC
  2012": the ILSVRC classification data (1000 classes; ``repro.data.imagenet``).
- Table 6's caption: "Top-5 error of 224x224 center-crop on 256x256 image": the evaluation
  resizes every validation image to 256x256 (mmcv ``Resize``, ``keep_ratio=False``) and takes its
  224x224 centre (mmpretrain ``CenterCrop``); the error is 100 - mmpretrain ``Accuracy`` top-5.
  (mmpretrain's own recipe resizes the short side to 256 instead; the caption is followed.)
- Figure 5: the backbone is ``repro.models.resnet_gcn.ResNetGCN``, built from the backbone of the
  Table 6 mmseg config (``TABLE6_CONFIG``, sizes in ``_base_/models/gcn_r50gcn.py``), so the
  network pretrained here is the one fine-tuned there, key for key. For classification it
  returns res-5 only, trains its BatchNorm (``norm_eval=False``, statistics updated) and starts
  from mmseg's ResNet initialisation (Kaiming convolutions, BN weight 1, the last BN of each
  residual branch 0), which is also mmpretrain ResNet's default.

Where the paper is silent (optimiser, schedule, batch, augmentation, epochs), the standard
ResNet-50 ImageNet recipe of mmpretrain is used: ``configs/resnet/resnet50_8xb32_in1k.py``,
read from the installed onedl-mmpretrain (``RECIPE``; it reached 93.06 % top-5 with ResNet-50),
not transcribed: SGD, lr 0.1, momentum 0.9, weight decay 1e-4, total batch 256 (8 GPUs x 32;
``--gpus N`` gives each process 256 / N, so the total and the lr stay the recipe's), 100 epochs,
lr x 0.1 after epochs 30, 60 and 90, ``RandomResizedCrop`` 224 + horizontal flip, RGB input
normalised by the ImageNet mean / std (the convention of the GCN configs' data preprocessor),
``GlobalAveragePooling`` + ``LinearClsHead`` (cross-entropy), validation every epoch.

Deviations from the recipe: only the last ``KEEP_CHECKPOINTS`` epoch checkpoints are kept (disk),
the validation pipeline is the paper's (above), and ``--amp`` (off by default) trains in mixed
precision (mmengine ``AmpOptimWrapper``); both are recorded in the result.

The backbone in mmpretrain: ``type='mmseg.ResNetGCN'``, mmengine's cross-scope reference to the
class registered in mmseg's ``MODELS`` (``import repro.plugins``, named in the config's
``custom_imports``). Nothing is registered into mmpretrain's registry: the class stays registered
once, ``repro.models`` keeps no dependency on the optional mmpretrain, and the dumped config runs
unchanged under mmpretrain's own ``tools/train.py``. A thin wrapper class would add nothing: the
backbone returns the tuple of feature maps that mmpretrain's neck reads.

Outputs (``--out``, default ``$REPRO_WEIGHTS/resnet50_gcn.pth``, i.e. where ``repro.weights``
looks for the ``resnet50_gcn`` entry):

- ``<out>``: the backbone's state dict, mmseg key names without prefix (``conv1.weight``,
  ``layer1.0.branch_a.0.conv.weight`` ..), BatchNorm buffers included, written atomically, then
  checked with ``repro.weights.check_weights`` against every GCN Table 6 ResNet50-GCN config
  (``gcn/gcn-*_r50gcn_*.py``; with ``--smoke``, their tiny variant).
- ``<out minus .pth>.json``: ``imagenet_top5_err`` (the Table 6 metric, %) with top-1, the data,
  recipe and provenance (:func:`result_record`), written atomically.

``--smoke``: the same code path on CPU in about a minute: the tiny-width ResNet50-GCN of the
smoke profile (``repro.smoke``'s variant of the Table 6 configs: base width 8, GCN widths
scaled alike; the profile's segmentation schedule is not used), 64 px crops (evaluation: 73x73
resize, 64 centre crop, the paper's ratio), its own schedule: ``SMOKE_EPOCHS`` epochs with the
recipe's milestones scaled, total batch ``SMOKE_BATCH`` (32) with the lr scaled linearly
(mmpretrain's ``auto_scale_lr`` rule), on the synthetic ImageNet-layout data of
``repro.data.imagenet`` unless ``--imagenet`` is given. Its weights go to the work dir unless
``--out`` says otherwise, never over the real ``resnet50_gcn.pth``.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path

from repro.files import atomic_write_bytes

__all__ = [
    "ARCHS",
    "PretrainError",
    "add_pretrain_arguments",
    "build_pretrain_config",
    "export_backbone",
    "main_pretrain",
    "pretrain",
    "result_record",
    "table6_configs",
]

ARCHS = ("resnet50-gcn",)
#: mmpretrain's standard ResNet-50 ImageNet recipe (the paper gives none).
RECIPE = "mmpretrain::resnet/resnet50_8xb32_in1k.py"
#: The GCN Table 6 config whose backbone is pretrained (all r50gcn configs share it).
TABLE6_CONFIG = "gcn/gcn-k15-br_r50gcn_1xb1-100k_voc12aug-512x512.py"
TOTAL_BATCH = 256  # resnet50_8xb32_in1k: 8 GPUs x 32
CROP, RESIZE = 224, 256  # Table 6: "224x224 center-crop on 256x256 image"
KEEP_CHECKPOINTS = 3
#: Smoke: tiny model, small crops, a few epochs; same pipeline.
SMOKE_EPOCHS, SMOKE_BATCH, SMOKE_CROP = 8, 32, 64
WEIGHTS_NAME = "resnet50_gcn"


class PretrainError(ValueError):
    """A pretraining request that cannot run as given (message names the fix)."""


# ---------------------------------------------------------------------------------------------
# The config


def table6_configs() -> list[str]:
    """The GCN Table 6 ResNet50-GCN configs (paths under ``mmseg_configs/``)."""
    from repro import paths

    root = paths.config_root()
    return sorted(str(p.relative_to(root)) for p in (root / "gcn").glob("gcn-*_r50gcn_*.py"))


def seg_config(rel: str, smoke: bool):
    """An mmseg config of Table 6; if ``smoke``, its tiny variant of the smoke profile
    (``repro.smoke.apply_smoke_variant``: ResNetGCN-50 at base width 8, GCN widths scaled
    alike, trainable BatchNorm), the model every smoke run of the config trains."""
    from mmengine.config import Config

    from repro import paths
    from repro import smoke as smoke_profile

    cfg = Config.fromfile(str(paths.config_path(rel)))
    if smoke:
        smoke_profile.apply_smoke_variant(cfg)
    return cfg


def _backbone(smoke: bool) -> dict:
    """Table 6's ResNetGCN backbone, set up for ImageNet classification (module docstring)."""
    bb = seg_config(TABLE6_CONFIG, smoke).model.backbone.to_dict()
    if bb.get("type") != "ResNetGCN":
        raise PretrainError(f"{TABLE6_CONFIG} no longer has a ResNetGCN backbone: update "
                            "repro.pretrain.TABLE6_CONFIG.")
    bb.update(type="mmseg.ResNetGCN", out_indices=(bb.get("num_stages", 4) - 1,),
              norm_cfg=dict(type="BN", requires_grad=True), norm_eval=False, frozen_stages=-1,
              init_cfg=None)
    return bb


def _recipe():
    try:
        from mmengine.hub import get_config

        return get_config(RECIPE)
    except (ImportError, FileNotFoundError, KeyError) as e:
        raise PretrainError(
            f"mmpretrain's recipe {RECIPE} cannot be read ({type(e).__name__}: {e}): install "
            "the pretrain extra, `pip install -e .[pretrain]` (onedl-mmpretrain and a "
            "torchvision built for your torch).") from e


def build_pretrain_config(layout, *, work_dir: str | os.PathLike, smoke: bool = False,
                          gpus: int = 1, seed: int = 0, amp: bool = False,
                          workers: int | None = None, epochs: int | None = None,
                          recipe=None):
    """The mmengine ``Config`` that trains ResNet50-GCN on ``layout`` (an
    :class:`repro.data.imagenet.ImageNetLayout`): mmpretrain's recipe with the changes of the
    module docstring. Pure: builds nothing, reads only the config files.

    ``recipe``: the recipe to change (an mmengine ``Config`` or dict, left unchanged); default
    :data:`RECIPE`, read from the installed onedl-mmpretrain. Only reading the default needs
    mmpretrain, so the changes can be checked on a transcription of the recipe without it."""
    from mmengine.config import Config

    if recipe is None:
        cfg = _recipe()
    else:
        cfg = Config(copy.deepcopy(recipe.to_dict() if isinstance(recipe, Config) else recipe))
    total = SMOKE_BATCH if smoke else TOTAL_BATCH
    if gpus < 1 or total % gpus:
        raise PretrainError(f"--gpus {gpus}: the total batch of {total} must split evenly over "
                            "the processes; use a divisor of it (1, 2, 4, 8 ...).")
    crop = SMOKE_CROP if smoke else CROP
    resize = round(crop * RESIZE / CROP)
    base_epochs = cfg.train_cfg.max_epochs
    epochs = epochs or (SMOKE_EPOCHS if smoke else base_epochs)

    backbone = _backbone(smoke)
    cfg.model.backbone = backbone
    cfg.model.head.in_channels = backbone.get("base_channels", 64) * 8 * 4  # res-5, expansion 4
    cfg.model.head.num_classes = layout.num_classes
    if layout.num_classes < 5:
        raise PretrainError(f"{layout.root} has {layout.num_classes} classes: top-5 error needs "
                            "at least 5.")

    def pipeline(stages: list, test: bool) -> list:
        out = []
        for t in stages:
            t = dict(t)
            if t["type"] == "RandomResizedCrop":
                t["scale"] = crop
            elif t["type"] == "ResizeEdge" and test:
                t = dict(type="Resize", scale=(resize, resize), keep_ratio=False)
            elif t["type"] == "CenterCrop":
                t["crop_size"] = crop
            out.append(t)
        return out

    data_root = layout.root
    extra = {} if layout.num_classes == 1000 else {"metainfo": dict(classes=layout.classes)}
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg[name]
        loader.dataset.data_root = data_root
        loader.dataset.update(extra)
        loader.dataset.pipeline = pipeline(loader.dataset.pipeline, name != "train_dataloader")
        loader.batch_size = total // gpus
        if workers is not None or smoke:
            loader.num_workers = 0 if workers is None else workers
        if loader.num_workers == 0:
            loader.persistent_workers = False
    cfg.test_evaluator = cfg.val_evaluator = dict(type="Accuracy", topk=(1, 5))

    # Schedule: the recipe's, its milestones scaled to the number of epochs; lr scaled linearly
    # with the total batch (mmpretrain's auto_scale_lr rule) when it is not the recipe's 256.
    sched = cfg.param_scheduler
    sched.milestones = sorted({max(1, round(m * epochs / base_epochs))
                               for m in sched.milestones})
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs if smoke else cfg.train_cfg.val_interval
    cfg.optim_wrapper.optimizer.lr *= total / cfg.auto_scale_lr.base_batch_size
    if amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"

    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=KEEP_CHECKPOINTS)
    cfg.default_hooks.logger.interval = 10 if smoke else cfg.default_hooks.logger.interval
    cfg.custom_imports = dict(imports=["repro.plugins"], allow_failed_imports=False)
    # The harness's hooks (registered in mmseg's registry): stop at a non-finite loss; keep the
    # RNG states in the checkpoints so that a resumed run continues like an uninterrupted one
    # (exactly so with --workers 0; loader processes reseed themselves when they restart).
    cfg.custom_hooks = list(cfg.get("custom_hooks", [])) + [
        dict(type="mmseg.FiniteLossHook"), dict(type="mmseg.RNGStateHook")]
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = str(work_dir)
    cfg.launcher = "pytorch" if gpus > 1 else "none"
    cfg.resume, cfg.load_from = False, None
    cfg.pretrain = dict(  # what repro changed, for the record (mmengine ignores the key)
        arch="resnet50-gcn", smoke=smoke, recipe=RECIPE, seg_config=TABLE6_CONFIG,
        total_batch=total, gpus=gpus, epochs=epochs, amp=amp, crop=crop, eval_resize=resize,
    )
    # Named for what it trains: the runner dumps it into the work dir under this name.
    return Config(cfg.to_dict(), cfg_text=f"# repro.pretrain on {RECIPE}\n",
                  filename=f"resnet50-gcn_{'smoke' if smoke else 'in1k'}.py")


def config_hash(cfg, layout) -> str:
    """What the training depends on: the config less paths and loader workers, and the data."""
    d = copy.deepcopy(cfg.to_dict())
    d.pop("work_dir", None)
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        d[name]["dataset"].pop("data_root", None)
        d[name].pop("num_workers", None)
        d[name].pop("persistent_workers", None)
    data = layout.summary()
    data.pop("root")
    blob = json.dumps({"cfg": d, "data": data, "classes": layout.classes}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------------------------
# Running it


def _init_cpu_distributed(launcher: str) -> None:
    """mmengine's pytorch launcher sets a CUDA device unconditionally; on CPU the gloo group is
    set up here instead (mmengine then finds it initialised)."""
    import torch
    import torch.distributed as dist

    if launcher != "none" and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend="gloo")


def export_backbone(model, out: str | os.PathLike) -> Path:
    """Writes ``model``'s backbone state dict (mmseg key names, no prefix; a DDP wrapper is
    unwrapped) to ``out`` atomically; returns the path."""
    import torch
    from mmengine.model import is_model_wrapper

    if is_model_wrapper(model):
        model = model.module
    state = {k: v.detach().cpu().clone() for k, v in model.backbone.state_dict().items()}
    buf = io.BytesIO()  # not the temp file: torch.save names the archive after its file
    torch.save(state, buf)
    out = Path(out)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def result_record(metrics: dict, cfg, layout, weights: Path, checks: list, wall_s: float,
                  trained: str) -> dict:
    """The JSON written next to the weights: the Table 6 metric and where it came from."""
    from repro import paths

    top1, top5 = float(metrics["accuracy/top1"]), float(metrics["accuracy/top5"])
    try:
        import mmpretrain

        versions = dict(paths.versions(), mmpretrain=mmpretrain.__version__)
    except ImportError:  # pragma: no cover - the run itself needed it
        versions = paths.versions()
    p = cfg.pretrain
    return {
        "imagenet_top5_err": round(100.0 - top5, 4),
        "imagenet_top1_err": round(100.0 - top1, 4),
        "metric_note": (f"100 - top-k accuracy (%) of the {p['crop']}x{p['crop']} centre crop of "
                        f"each validation image resized to {p['eval_resize']}x"
                        f"{p['eval_resize']} (GCN Table 6 caption), mmpretrain Accuracy"),
        "data": "synthetic" if layout.synthetic else "imagenet",
        "dataset": layout.summary(),
        "weights": weights.name,
        "weights_sha256": _sha256(weights),
        "weights_format": "backbone state dict, mmseg ResNetGCN key names, no prefix",
        "checked_against": checks,
        "smoke": p["smoke"],
        "recipe": p["recipe"],
        "seg_config": p["seg_config"],
        "epochs": p["epochs"],
        "total_batch": p["total_batch"],
        "gpus": p["gpus"],
        "lr": cfg.optim_wrapper.optimizer.lr,
        "milestones": list(cfg.param_scheduler.milestones),
        "amp": p["amp"],
        "seed": cfg.randomness.seed,
        "trained": trained,
        "wall_s": round(wall_s, 1),
        "work_dir": cfg.work_dir,
        "git_sha": paths.git_sha(),
        "versions": versions,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def pretrain(layout, *, work_root: str | os.PathLike, out: str | os.PathLike | None,
             smoke: bool = False, gpus: int = 1, seed: int = 0, amp: bool = False,
             workers: int | None = None, epochs: int | None = None) -> dict | None:
    """Trains (or resumes, or reuses a finished run), tests, exports and checks; returns the
    result record on rank 0 (None on the other ranks). Raises :class:`PretrainError` when the
    exported file does not fit the Table 6 configs."""
    from mmengine.dist import get_rank
    from mmengine.runner import Runner

    from repro.weights import check_weights

    started = time.monotonic()
    cfg = build_pretrain_config(layout, work_dir="", smoke=smoke, gpus=gpus, seed=seed,
                                amp=amp, workers=workers, epochs=epochs)
    name = f"resnet50-gcn-{'smoke' if smoke else 'paper'}-{config_hash(cfg, layout)}"
    work_dir = Path(work_root) / "pretrain" / name
    cfg.work_dir = str(work_dir)
    # mmengine's per-iteration log: kept for a days-long run, quiet for smoke runs.
    cfg.log_level = os.environ.get("REPRO_LOG_LEVEL", "WARNING" if smoke else "INFO")
    out = Path(out) if out else work_dir / f"{WEIGHTS_NAME}.pth"
    _init_cpu_distributed(cfg.launcher)
    import torch

    if cfg.launcher != "none" and not torch.cuda.is_available():
        cfg.env_cfg.dist_cfg = dict(backend="gloo")
        cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None)

    final = work_dir / f"epoch_{cfg.train_cfg.max_epochs}.pth"
    if final.is_file():
        cfg.load_from, trained = str(final), "reused the finished run's checkpoint"
    elif (work_dir / "last_checkpoint").is_file():  # mmengine's pointer to the latest
        cfg.resume, trained = True, "resumed from the last checkpoint"
    else:
        trained = "now"
    runner = Runner.from_cfg(cfg)
    if not final.is_file():
        runner.train()
    metrics = runner.test()
    if get_rank() != 0:
        return None

    export_backbone(runner.model, out)
    checks = []
    for rel in table6_configs():
        result = check_weights(out, seg_config(rel, smoke))
        if not result.ok:
            raise PretrainError(f"The exported weights do not fit {rel}:\n{result.format()}")
        checks.append(f"{rel}{' (smoke variant)' if smoke else ''}: fits, "
                      f"{result.matched} tensors")
    record = result_record(metrics, cfg, layout, out, checks, time.monotonic() - started,
                           trained)
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(out.with_suffix(".json"), text.encode())
    return record


# ---------------------------------------------------------------------------------------------
# Command line


def add_pretrain_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``repro pretrain`` options (the names :func:`main_pretrain` reads); counts, epochs
    and the seed are validated at parse time (``repro.argtypes``: exit 2 before any work)."""
    from repro.argtypes import nonnegative_int, positive_int, seed_int

    parser.add_argument("arch", choices=ARCHS,
                        help="backbone to pretrain: resnet50-gcn (GCN Sec. 4.1.2, Table 6)")
    parser.add_argument("--imagenet", type=Path, default=None, metavar="DIR",
                        help="ImageNet in mmpretrain's layout (DIR/train/<wnid>/*.JPEG, DIR/val/ "
                        "with DIR/meta/val.txt); with --smoke, default: a synthetic stand-in")
    parser.add_argument("--work-dir", type=Path, default=Path("work_dirs"),
                        help="checkpoints and logs go to WORK_DIR/pretrain/<run>/ (default "
                        "./work_dirs); rerunning the same command resumes there")
    parser.add_argument("--out", type=Path, default=None,
                        help="weight file to write (default: $REPRO_WEIGHTS/resnet50_gcn.pth, "
                        "where `repro weights` looks; with --smoke, the run's work dir); the "
                        "ImageNet errors go to the same name with .json")
    parser.add_argument("--gpus", type=positive_int, default=1,
                        help="processes (torchrun, one per GPU; gloo on CPU); the total batch of "
                        "256 is split over them")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny model, small crops, a few epochs on CPU (tests the pipeline, "
                        "not the paper)")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision (not in the recipe, which is fp32; recorded)")
    parser.add_argument("--workers", type=nonnegative_int, default=None,
                        help="data loader processes per GPU (default: the recipe's 5; 0 with "
                        "--smoke)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="override the number of epochs (recipe: 100; milestones scale "
                        "with it; recorded)")
    parser.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    return parser


def _argv(args: argparse.Namespace) -> list[str]:
    """The command line of ``args`` (for the torchrun relaunch)."""
    argv = [args.arch]
    for flag in ("imagenet", "work_dir", "out", "gpus", "workers", "epochs", "seed"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    return argv + [f"--{f}" for f in ("smoke", "amp") if getattr(args, f)]


def _relaunch(args: argparse.Namespace) -> int:
    from repro.runner import relaunch_under_torchrun

    return relaunch_under_torchrun("repro.pretrain", _argv(args), args.gpus)


def _default_out(args) -> Path | None:
    from repro.weights import REGISTRY, weights_dir

    if args.out is not None:
        out = args.out.expanduser()
        if args.smoke and out.resolve().parent == weights_dir().expanduser().resolve() and any(
                out.match(p) for p in REGISTRY[WEIGHTS_NAME].files):
            raise PretrainError(f"--smoke would write the tiny model to {out}, where the real "
                                "ResNet50-GCN weights are looked for: pass another --out.")
        return out
    return None if args.smoke else weights_dir().expanduser() / f"{WEIGHTS_NAME}.pth"


def main_pretrain(args: argparse.Namespace) -> int:
    """Entry of ``repro pretrain``: 0 when the weights and their JSON are written and fit the
    Table 6 configs, 2 on a user error (message on stderr, nothing written)."""
    from repro import paths
    from repro.data.imagenet import ImageNetDataError, check_imagenet, ensure_synthetic_imagenet

    rank0 = int(os.environ.get("RANK", 0)) == 0
    try:
        out = _default_out(args)
        if args.imagenet is None:
            if not args.smoke:
                raise PretrainError("repro pretrain needs --imagenet DIR (ImageNet in "
                                    "mmpretrain's layout), or --smoke for synthetic data.")
            args.imagenet = ensure_synthetic_imagenet(paths.cache_dir() / "synthetic")
        layout = check_imagenet(args.imagenet)
        if args.gpus > 1 and "RANK" not in os.environ:
            return _relaunch(args)
        if rank0 and not layout.synthetic and not layout.full:
            print(f"warning: {layout.root} has {layout.num_train} training / {layout.num_val} "
                  f"validation images of {layout.num_classes} classes, not ILSVRC-2012's "
                  "1281167 / 50000 / 1000: the error will not be comparable with Table 6.",
                  file=sys.stderr)
        record = pretrain(layout, work_root=args.work_dir, out=out, smoke=args.smoke,
                          gpus=args.gpus, seed=args.seed, amp=args.amp, workers=args.workers,
                          epochs=args.epochs)
    except (PretrainError, ImageNetDataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if record is not None:
        weights = Path(record["work_dir"]) / record["weights"] if out is None else out
        print(f"{record['data']} ImageNet top-5 error {record['imagenet_top5_err']:.2f} % "
              f"(top-1 {record['imagenet_top1_err']:.2f} %), {record['epochs']} epochs, "
              f"{record['wall_s']:.0f} s")
        print(f"weights: {weights}\nresult: {weights.with_suffix('.json')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_pretrain_arguments(argparse.ArgumentParser(
        prog="python -m repro.pretrain", description=__doc__.splitlines()[0]))
    return main_pretrain(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
