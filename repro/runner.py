"""Runs one table row: config + profile -> mmengine Runner -> metrics -> result rows.

Training is keyed by a *training hash* (model, data, schedule, seed): rows that train the same
model (GCN Table 1 "k=15" and Table 5 "GCN") share one work directory and train once; the
second only evaluates. mmengine checkpoints every ``checkpoint.interval`` iterations and
``resume=True`` picks up the last one, so a killed run loses at most one interval.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mmengine.config import Config

from repro import paths
from repro.profiles import Profile, apply_profile
from repro.results import ResultRow, read_file, result_path, write_rows
from repro.tables.registry import (
    STATIC_METRICS,
    Experiment,
    TableSpec,
    is_static,
    register_static_metric,
)

log = logging.getLogger("repro")

DATA_ENV = {"voc": "REPRO_VOC_ROOT", "cityscapes": "REPRO_CITYSCAPES_ROOT"}


class DataNotFoundError(FileNotFoundError):
    pass


@dataclass
class DataSource:
    root: Path
    kind: str  # "synthetic" or "real"


def resolve_data(dataset: str, profile: Profile, data_root: str | None = None) -> DataSource:
    """The dataset root for a row: the user's (``--data-root`` or $REPRO_VOC_ROOT /
    $REPRO_CITYSCAPES_ROOT), else, for the smoke profile, synthetic data generated once into the
    cache."""
    from repro.data.synth import ensure_synthetic, is_synthetic

    given = data_root or os.environ.get(DATA_ENV[dataset])
    if given:
        root = Path(given).expanduser()
        if not root.is_dir():
            raise DataNotFoundError(
                f"Data root {root} for {dataset} does not exist. Point --data-root (or "
                f"${DATA_ENV[dataset]}) at the dataset folder "
                f"({'VOCdevkit/VOC2012' if dataset == 'voc' else 'cityscapes'}), or prepare it "
                f"with `repro data prepare {dataset} ...`."
            )
        return DataSource(root, "synthetic" if is_synthetic(root) else "real")
    if profile.name != "smoke":
        raise DataNotFoundError(
            f"The {profile.name} profile needs the real {dataset} dataset: pass --data-root or set "
            f"${DATA_ENV[dataset]}; or use --profile smoke to run on synthetic data."
        )
    root = ensure_synthetic(dataset, paths.cache_dir() / "synthetic", **profile.synthetic[dataset])
    return DataSource(root, "synthetic")


def build_config(
    exp: Experiment, profile: Profile, data: DataSource, seed: int = 0, world_size: int = 1
) -> tuple[Config, dict]:
    cfg = Config.fromfile(str(paths.config_path(exp.config)))
    info = apply_profile(cfg, exp, profile, str(data.root), seed=seed, world_size=world_size)
    if exp.protocol.eval_split == "test":
        _test_set_outputs(cfg)
    cfg.pop("smoke", None)
    # The harness evaluates once, with the test loop. mmengine's IterBasedTrainLoop would also
    # validate at the last iteration whatever val_interval says, so the val loop goes.
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    return cfg, info


def _test_set_outputs(cfg: Config) -> None:
    """Test images have no public labels: predict and write the server submission only."""
    ds = cfg.test_dataloader.dataset
    ds.pipeline = [t for t in ds.pipeline if t["type"] != "LoadAnnotations"]
    cfg.test_evaluator.format_only = True


def training_hash(cfg: Config) -> str:
    keys = ("model", "train_dataloader", "optim_wrapper", "param_scheduler", "train_cfg")
    d = cfg.to_dict()
    return paths.stable_hash({k: d.get(k) for k in keys} | {"seed": d["randomness"]["seed"]})


def config_hash(cfg: Config) -> str:
    d = cfg.to_dict()
    d.pop("work_dir", None)
    return paths.stable_hash(d)


def build_model(cfg: Config):
    """The model of a config, outside a Runner (parameter counts, tests)."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import repro  # noqa: F401 - registers the plugins

    init_default_scope(cfg.get("default_scope", "mmseg"))
    return MODELS.build(cfg.model)


@register_static_metric("params")
def count_params(exp: Experiment, metric: str) -> int:
    """Parameters of the model at the *paper's* widths (never the smoke variant), total or of
    one submodule: ``params`` or ``params@decode_head.kernels.3``."""
    cfg = Config.fromfile(str(paths.config_path(exp.config)))
    if exp.options:
        cfg.merge_from_dict(exp.options)
    model = build_model(cfg)
    module = model.get_submodule(metric.split("@", 1)[1]) if "@" in metric else model
    return sum(p.numel() for p in module.parameters())


def _provenance(spec: TableSpec, exp: Experiment, profile: Profile, data: DataSource | None,
                seed: int, cfg_hash: str, extra: dict) -> dict:
    return dict(
        table=spec.name,
        row=exp.key,
        seed=seed,
        spec_version=spec.version,
        profile=profile.name,
        data=data.kind if data else "synthetic",
        config=exp.config or "",
        config_hash=cfg_hash,
        git_sha=paths.git_sha(),
        versions=paths.versions(),
        device=paths.device_description(),
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        extra=extra,
    )


def is_done(path: Path, cfg_hash: str) -> bool:
    if not path.exists():
        return False
    rows = read_file(path)
    return bool(rows) and all(r.config_hash == cfg_hash and r.status != "failed" for r in rows)


def run_experiment(
    spec: TableSpec,
    exp: Experiment,
    profile: Profile,
    *,
    results_dir: Path,
    work_root: Path,
    data_root: str | None = None,
    seed: int = 0,
    force: bool = False,
    world_size: int = 1,
    launcher: str = "none",
) -> tuple[str, list[ResultRow]]:
    """Run one row and write its result file. Returns (what happened, rows)."""
    start = time.time()
    data = resolve_data(exp.protocol.dataset, profile, data_root)
    cfg, info = build_config(exp, profile, data, seed=seed, world_size=world_size)
    cfg_hash = config_hash(cfg)
    out_path = result_path(results_dir, profile.name, spec.name, exp.key, seed)
    if not force and is_done(out_path, cfg_hash):
        return "skipped (done, same config hash)", read_file(out_path)

    extra = dict(info, launcher=launcher, data_root=str(data.root))
    values: dict[str, float | str | None] = {}
    status = "ok"
    try:
        for metric in {c.metric for c in exp.cells if is_static(c.metric)}:
            value = STATIC_METRICS[metric.split("@", 1)[0]](exp, metric)
            values[metric] = value if isinstance(value, str) else float(value)
        if exp.trained_metrics:
            metrics, status = _train_and_test(cfg, spec, exp, profile, work_root, launcher, extra)
            values.update(metrics)
            if status == "awaiting_server":
                from repro.server import package

                archive = package(Path(extra["submission_dir"]), exp.protocol.dataset,
                                  Path(results_dir) / "submissions" / spec.name / exp.key)
                extra["submission"] = str(archive)
                log.warning("%s/%s: upload %s to the evaluation server, then run `repro "
                            "import-server %s/%s --scores FILE`.", spec.name, exp.key, archive,
                            spec.name, exp.key)
    except Exception as e:  # noqa: BLE001 - one failing row must not stop the table
        from repro.hooks import NonFiniteLossError

        status = "nan_loss" if isinstance(e, NonFiniteLossError) else "failed"
        extra["error"] = f"{type(e).__name__}: {e}"
        extra["traceback"] = traceback.format_exc(limit=8)
        log.error("%s/%s failed: %s", spec.name, exp.key, extra["error"])

    extra["duration_s"] = round(time.time() - start, 1)
    base = _provenance(spec, exp, profile, data, seed, cfg_hash, extra)
    rows = []
    for cell in exp.cells:
        value = values.get(cell.metric)
        cell_status = "ok" if is_static(cell.metric) and value is not None else status
        rows.append(ResultRow(
            metric=cell.metric, value=value, status=cell_status, paper=cell.paper,
            duration_s=extra["duration_s"], **base,
        ))
    # Metrics the paper does not print but a reader wants (per-class IoU, accuracies).
    for metric, value in values.items():
        if metric not in {c.metric for c in exp.cells}:
            rows.append(ResultRow(
                metric=metric, value=value, status=status, paper=None,
                duration_s=extra["duration_s"], **base,
            ))
    write_rows(out_path, rows)
    return status, rows


def _train_and_test(cfg: Config, spec: TableSpec, exp: Experiment, profile: Profile,
                    work_root: Path, launcher: str, extra: dict) -> tuple[dict, str]:
    from mmengine.runner import Runner

    import repro  # noqa: F401 - registers the plugins in this process

    t_hash = training_hash(cfg)
    work_dir = Path(work_root) / profile.name / f"{exp.config.split('/')[-1][:-3]}-{t_hash}"
    cfg.work_dir = str(work_dir)
    cfg.launcher = launcher
    cfg.log_level = os.environ.get("REPRO_LOG_LEVEL", "WARNING")
    desc = f"{spec.name}/{exp.key}"
    cfg.custom_hooks = list(cfg.get("custom_hooks", [])) + [
        dict(type="FiniteLossHook"),
        dict(type="ProgressBarHook", desc=desc),
    ]
    if "visualization" in cfg.default_hooks:
        cfg.default_hooks.visualization = dict(type="SegVisualizationHook", draw=False)
    final = work_dir / f"iter_{cfg.train_cfg.max_iters}.pth"
    extra["training_hash"] = t_hash
    extra["work_dir"] = str(work_dir)
    if exp.protocol.eval_split == "test":
        sub = work_dir / "submission" / spec.name.replace("/", "_") / exp.key
        cfg.test_evaluator.output_dir = str(sub)
        extra["submission_dir"] = str(sub)
    if final.exists():
        cfg.load_from = str(final)
        cfg.resume = False
        extra["trained"] = "reused checkpoint"
        runner = Runner.from_cfg(cfg)
    else:
        cfg.resume = True  # picks up the last checkpoint in work_dir after a kill
        runner = Runner.from_cfg(cfg)
        runner.train()
        extra["trained"] = "now"
    metrics = runner.test() or {}
    metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    status = "awaiting_server" if exp.protocol.eval_split == "test" else "ok"
    return metrics, status
