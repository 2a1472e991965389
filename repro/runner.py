"""Runs one table row: config + profile -> mmengine Runner -> metrics -> result rows.

Training is keyed by a *training hash* (model, data, schedule, seed): rows that train the same
model (GCN Table 1 "k=15" and Table 5 "GCN") share one work directory and train once; the
second only evaluates. mmengine checkpoints every ``checkpoint.interval`` iterations and
``resume=True`` picks up the last one, so a killed run loses at most one interval.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mmengine.config import Config, ConfigDict

from repro import paths
from repro.data.check import DataCheckError
from repro.models.build import build_model
from repro.profiles import (
    Profile,
    SplitMissingError,
    UnknownOptionError,
    apply_profile,
    apply_protocol,
)
from repro.results import ResultRow, ResultsFileError, read_file, result_path, write_rows
from repro.tables.registry import (
    STATIC_METRICS,
    Experiment,
    TableSpec,
    is_static,
    register_static_metric,
)
from repro.weights import WeightsError, WeightsNotFoundError, require_weights

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
    """What determines the trained weights: rows with equal hashes share one training."""
    keys = ("model", "train_dataloader", "optim_wrapper", "param_scheduler", "train_cfg",
            "init_checkpoint")
    d = cfg.to_dict()
    d["model"] = {k: v for k, v in d["model"].items() if k != "test_cfg"}
    return paths.stable_hash({k: d.get(k) for k in keys} | {"seed": d["randomness"]["seed"]})


def config_hash(cfg: Config, *salt: str) -> str:
    """Everything the row's numbers depend on (plus e.g. its cross-validated CRF file)."""
    d = cfg.to_dict()
    d.pop("work_dir", None)
    return paths.stable_hash([d, *salt])


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
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        extra=extra,
    )


def is_done(path: Path, cfg_hash: str) -> bool:
    if not path.exists():
        return False
    rows = read_file(path)
    return bool(rows) and all(r.config_hash == cfg_hash and r.status != "failed" for r in rows)


@dataclass
class RunContext:
    """Everything about *how* rows are run that is the same for every row of a command."""

    profile: Profile
    results_dir: Path
    work_root: Path
    data_root: str | None = None
    seed: int = 0
    force: bool = False
    world_size: int = 1
    launcher: str = "none"

    @property
    def rank(self) -> int:
        return int(os.environ.get("RANK", 0))


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
    ctx = RunContext(profile, Path(results_dir), Path(work_root), data_root, seed, force,
                     world_size, launcher)
    return _run(spec, exp, ctx)


def _run(spec: TableSpec, exp: Experiment, ctx: RunContext) -> tuple[str, list[ResultRow]]:
    start = time.time()
    if ctx.profile.threads:
        import torch

        torch.set_num_threads(ctx.profile.threads)
    data = resolve_data(exp.protocol.dataset, ctx.profile, ctx.data_root)
    out_path = result_path(ctx.results_dir, ctx.profile.name, spec.name, exp.key, ctx.seed)
    extra: dict = {"launcher": ctx.launcher, "data_root": str(data.root)}
    values: dict[str, float | str | None] = {}
    status, cfg_hash = "ok", ""
    try:
        cfg, info = build_config(exp, ctx.profile, data, ctx.seed, ctx.world_size)
        extra.update(info)
        if ctx.profile.name == "paper" and exp.trained_metrics:
            extra["weights"] = require_weights(cfg)  # before the hash: it may set the input
        crf_file = _crf_file(spec, exp, ctx)
        cfg_hash = config_hash(cfg, crf_file.read_text() if crf_file.exists() else "")
        if not ctx.force and is_done(out_path, cfg_hash):
            return "skipped (done, same config hash)", read_file(out_path)
        check_row_data(exp, data)
        for metric in {c.metric for c in exp.cells if is_static(c.metric)}:
            value = STATIC_METRICS[metric.split("@", 1)[0]](exp, metric)
            values[metric] = value if isinstance(value, str) else float(value)
        if exp.trained_metrics:
            metrics, status = _train_and_test(cfg, spec, exp, ctx, extra)
            values.update(metrics)
            if status == "awaiting_server" and ctx.rank == 0:
                from repro.server import package

                archive = package(Path(extra["submission_dir"]), exp.protocol.dataset,
                                  ctx.results_dir / "submissions" / spec.name / exp.key)
                extra["submission"] = str(archive)
                log.warning("%s/%s: upload %s to the evaluation server, then run `repro "
                            "import-server %s/%s --scores FILE`.", spec.name, exp.key, archive,
                            spec.name, exp.key)
    except (DataCheckError, ResultsFileError, UnknownOptionError, WeightsError,
            WeightsNotFoundError):
        raise  # the user's to fix: exit 2, no row written
    except SplitMissingError as e:
        status = "skipped"
        extra["error"] = str(e)
        log.warning("%s/%s skipped: %s", spec.name, exp.key, e)
    except Exception as e:  # noqa: BLE001 - one failing row must not stop the table
        from repro.hooks import NonFiniteLossError

        status = "nan_loss" if isinstance(e, NonFiniteLossError) else "failed"
        extra["error"] = f"{type(e).__name__}: {e}"
        extra["traceback"] = traceback.format_exc(limit=8)
        log.error("%s/%s failed: %s", spec.name, exp.key, extra["error"])

    extra["duration_s"] = round(time.time() - start, 1)
    base = _provenance(spec, exp, ctx.profile, data, ctx.seed, cfg_hash, extra)
    rows = []
    for cell in exp.cells:
        value = values.get(cell.metric)
        cell_status = "ok" if is_static(cell.metric) and value is not None else status
        if cell.metric not in values and status == "ok" and not is_static(cell.metric):
            cell_status = "not_reproduced"  # e.g. ImageNet error: nothing here produces it
        rows.append(ResultRow(metric=cell.metric, value=value, status=cell_status,
                              paper=cell.paper, duration_s=extra["duration_s"], **base))
    # Metrics the paper does not print but a reader wants (per-class IoU, accuracies).
    for metric, value in values.items():
        if metric not in {c.metric for c in exp.cells}:
            rows.append(ResultRow(metric=metric, value=value, status=status, paper=None,
                                  duration_s=extra["duration_s"], **base))
    if ctx.rank == 0:
        write_rows(out_path, rows)
    return status, rows


def check_row_data(exp: Experiment, data: DataSource) -> None:
    """The quick data check of the splits a row trains and evaluates on (DataCheckError)."""
    from repro.data.check import require_valid_data

    p = exp.protocol
    train = p.train_split.split("+")
    labels = {s: p.train_labels for s in train}
    labels[p.eval_split] = None if p.eval_split == "test" else p.eval_labels
    require_valid_data(p.dataset, data.root, [*train, p.eval_split], labels=labels)


def _work_dir(cfg: Config, exp: Experiment, ctx: RunContext) -> Path:
    stem = exp.config.split("/")[-1].removesuffix(".py")
    return ctx.work_root / ctx.profile.name / f"{stem}-{training_hash(cfg)}"


def _final_checkpoint(cfg: Config, exp: Experiment, ctx: RunContext) -> Path:
    return _work_dir(cfg, exp, ctx) / f"iter_{cfg.train_cfg.max_iters}.pth"


def row_ref(spec: TableSpec, key: str) -> tuple[TableSpec, Experiment]:
    """A row named from another row: ``key`` in the same table or ``paper/tableN/key``."""
    from repro.tables.registry import get_table

    if "/" in key:
        table, _, key = key.rpartition("/")
        spec = get_table(table)
    return spec, spec.experiment(key)


def checkpoint_of(spec: TableSpec, key: str, ctx: RunContext) -> Path:
    """The final checkpoint of another row (same table, or ``paper/tableN/key``), training that
    row first if needed (which also records its results)."""
    spec, other = row_ref(spec, key)
    key = other.key
    data = resolve_data(other.protocol.dataset, ctx.profile, ctx.data_root)
    cfg, _ = build_config(other, ctx.profile, data, ctx.seed, ctx.world_size)
    _resolve_init(cfg, spec, other, ctx)
    final = _final_checkpoint(cfg, other, ctx)
    if not final.exists():
        log.warning("Training %s/%s first: another row of the table needs it.", spec.name, key)
        status, rows = _run(spec, other, replace_ctx(ctx, force=True))
        if not final.exists():
            raise RuntimeError(
                f"{spec.name}/{key} ({status}) did not produce {final}: "
                f"{rows[0].extra.get('error', 'see its result file') if rows else ''}"
            )
    return final


def replace_ctx(ctx: RunContext, **changes) -> RunContext:
    from dataclasses import replace

    return replace(ctx, **changes)


def _resolve_init(cfg: Config, spec: TableSpec, exp: Experiment, ctx: RunContext) -> None:
    """Multi-stage schedules: the init checkpoint is part of the training (and its hash)."""
    if exp.init_from:
        cfg.init_checkpoint = str(checkpoint_of(spec, exp.init_from, ctx))


def _resolve_members(cfg: Config, spec: TableSpec, exp: Experiment, ctx: RunContext) -> None:
    members = []
    for key in exp.members:
        _, member = row_ref(spec, key)
        data = resolve_data(member.protocol.dataset, ctx.profile, ctx.data_root)
        mcfg, _ = build_config(member, ctx.profile, data, ctx.seed, ctx.world_size)
        members.append(dict(model=mcfg.model.to_dict(),
                            checkpoint=str(checkpoint_of(spec, key, ctx))))
    cfg.model = ConfigDict(type="EnsembleSegmentor", members=members)


def _crf_file(spec: TableSpec, exp: Experiment, ctx: RunContext) -> Path:
    """Where `repro crf-cv` keeps a row's cross-validated CRF parameters."""
    return ctx.results_dir / "crf" / ctx.profile.name / spec.name / f"{exp.key}.json"


def default_tta_pipeline(with_labels: bool) -> list[dict]:
    """DeepLab's multi-scale test (scales 0.5..1.75, Chen et al. TPAMI 2017) with flips, for
    configs that do not state their own ``tta_pipeline``."""
    ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    return [
        dict(type="LoadImageFromFile"),
        dict(type="TestTimeAug", transforms=[
            [dict(type="Resize", scale_factor=r, keep_ratio=True) for r in ratios],
            [dict(type="RandomFlip", prob=0.0, direction="horizontal"),
             dict(type="RandomFlip", prob=1.0, direction="horizontal")],
            [dict(type="LoadAnnotations")] if with_labels else [],
            [dict(type="PackSegInputs")],
        ]),
    ]


def _runner_cfg(cfg: Config, work_dir: Path, desc: str) -> Config:
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = str(work_dir)
    cfg.log_level = os.environ.get("REPRO_LOG_LEVEL", "WARNING")
    cfg.custom_hooks = list(cfg.get("custom_hooks", [])) + [
        dict(type="FiniteLossHook"),
        dict(type="RNGStateHook"),
        dict(type="ProgressBarHook", desc=desc),
    ]
    if "visualization" in cfg.default_hooks:
        cfg.default_hooks.visualization = dict(type="SegVisualizationHook", draw=False)
    if cfg.get("launcher", "none") != "none":
        # Some rows leave parameters without gradient in a step (e.g. an auxiliary loss).
        cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel",
                                     find_unused_parameters=True)
        if not torch_cuda():  # CPU DDP takes no device ids (mmengine passes LOCAL_RANK)
            cfg.env_cfg.dist_cfg = dict(backend="gloo")
            cfg.model_wrapper_cfg["device_ids"] = None
    return cfg


def torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def init_cpu_distributed(launcher: str) -> None:
    """mmengine's pytorch launcher calls torch.cuda.set_device unconditionally; on CPU the
    gloo process group is set up here instead (mmengine then finds it initialised)."""
    import torch.distributed as dist

    if launcher != "none" and not torch_cuda() and not dist.is_initialized():
        dist.init_process_group(backend="gloo")


def _train(cfg: Config, exp: Experiment, ctx: RunContext, extra: dict, desc: str) -> Path:
    """Train (or resume, or reuse) the row's model; returns the final checkpoint."""
    from mmengine.runner import Runner, find_latest_checkpoint

    work_dir = _work_dir(cfg, exp, ctx)
    final = work_dir / f"iter_{cfg.train_cfg.max_iters}.pth"
    extra.update(training_hash=training_hash(cfg), work_dir=str(work_dir))
    if final.exists():
        extra["trained"] = "reused checkpoint"
        return final
    tcfg = _runner_cfg(cfg, work_dir, desc)
    init = tcfg.pop("init_checkpoint", None)
    if work_dir.exists() and find_latest_checkpoint(str(work_dir)):
        tcfg.resume, tcfg.load_from = True, None  # after a kill: go on from the last checkpoint
        extra["trained"] = "resumed"
    else:
        tcfg.resume, tcfg.load_from = False, init  # stage N starts from stage N-1's weights
        extra["trained"] = "now" + (f", initialised from {init}" if init else "")
    Runner.from_cfg(tcfg).train()
    return final


def _train_and_test(cfg: Config, spec: TableSpec, exp: Experiment, ctx: RunContext,
                    extra: dict) -> tuple[dict, str]:
    from mmengine.runner import Runner

    import repro.plugins  # noqa: F401 - registers the plugins in this process

    desc = f"{spec.name}/{exp.key}"
    cfg.launcher = ctx.launcher
    init_cpu_distributed(ctx.launcher)
    protocol = exp.protocol
    if exp.members:
        _resolve_members(cfg, spec, exp, ctx)
        extra["members"] = list(exp.members)
        test_work_dir = ctx.work_root / ctx.profile.name / f"ensemble-{config_hash(cfg)}"
        checkpoint = None
    else:
        _resolve_init(cfg, spec, exp, ctx)
        checkpoint = _train(cfg, exp, ctx, extra, desc)
        test_work_dir = checkpoint.parent

    tcfg = _runner_cfg(cfg, test_work_dir, desc)
    tcfg.pop("init_checkpoint", None)
    tcfg.load_from, tcfg.resume = (str(checkpoint) if checkpoint else None), False
    if protocol.multi_scale:
        with_labels = protocol.eval_split != "test"
        pipeline = tcfg.get("tta_pipeline") or default_tta_pipeline(with_labels)
        if not with_labels:  # test images have no labels: drop LoadAnnotations everywhere
            pipeline = _without_annotations(pipeline)
        tcfg.test_dataloader.dataset.pipeline = pipeline
        tcfg.model = ConfigDict(type="ProbTTAModel", module=tcfg.model)
    if protocol.eval_split == "test":
        sub = test_work_dir / "submission" / spec.name.replace("/", "_") / exp.key
        tcfg.test_evaluator.output_dir = str(sub)
        extra["submission_dir"] = str(sub)
    if protocol.crf:
        params = _crf_params(tcfg, spec, exp, ctx, extra)
        # One bar for the evaluation, not one per batch of the CRF pool.
        tcfg.test_evaluator.postprocess = dict(type="DenseCRF", progress=False, **params)
    if "proposals" in (tcfg.model.get("test_cfg") or {}):  # DeconvNet: which proposals
        extra["proposals"] = tcfg.model.test_cfg.proposals
    runner = Runner.from_cfg(tcfg)
    metrics = runner.test() or {}
    metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    status = "awaiting_server" if protocol.eval_split == "test" else "ok"
    return metrics, status


def _without_annotations(pipeline: list) -> list:
    out = []
    for t in pipeline:
        if t["type"] == "LoadAnnotations":
            continue
        if t["type"] == "TestTimeAug":
            t = dict(t, transforms=[[x for x in group if x["type"] != "LoadAnnotations"]
                                    for group in t["transforms"]])
            t["transforms"] = [g for g in t["transforms"] if g]
        out.append(t)
    return out


def _crf_params(tcfg: Config, spec: TableSpec, exp: Experiment, ctx: RunContext,
                extra: dict) -> dict:
    """The row's CRF parameters: given in the protocol, or cross-validated (DeepLab protocol)
    by `repro crf-cv`, which runs now if it has not yet."""
    crf = exp.protocol.crf
    if isinstance(crf, dict):
        extra["crf"] = dict(crf, source="protocol")
        return dict(crf)
    path = _crf_file(spec, exp, ctx)
    if not path.exists():
        cross_validate_crf(tcfg, spec, exp, ctx, **ctx.profile.crf_cv)
    result = json.loads(path.read_text())
    params = {k: result["best"][k] for k in ("w1", "sigma_alpha", "sigma_beta", "w2",
                                             "sigma_gamma", "iterations") if k in result["best"]}
    extra["crf"] = dict(params, source=f"cross-validated ({path})",
                        strategy=result.get("strategy"), cv_mIoU=result.get("best_miou"))
    return params


def cross_validate_crf(tcfg: Config, spec: TableSpec, exp: Experiment, ctx: RunContext,
                       grid="v2", strategy: str = "fast", num_images: int = 100) -> Path:
    """DeepLab's CRF cross-validation for a trained row: the model's probabilities on
    ``num_images`` val images (fixed seed) are saved once, then the grid is searched."""
    from mmengine.runner import Runner

    from repro.crf.cv import main_crf_cv, save_probabilities, select_images

    cv_cfg = copy.deepcopy(tcfg)
    for key in ("postprocess", "output_dir", "format_only"):
        cv_cfg.test_evaluator.pop(key, None)
    if exp.protocol.eval_split == "test":  # no labels: cross-validate on val, as DeepLab did
        val = dataclasses.replace(exp.protocol, eval_split="val")
        apply_protocol(cv_cfg, val, cv_cfg.test_dataloader.dataset.data_root)
        pipeline = cv_cfg.test_dataloader.dataset.pipeline
        if not any(t["type"] == "LoadAnnotations" for t in pipeline):
            pipeline.insert(1, dict(type="LoadAnnotations"))
    runner = Runner.from_cfg(cv_cfg)
    if cv_cfg.load_from:
        runner.load_checkpoint(cv_cfg.load_from)
    dataset = runner.test_dataloader.dataset
    names = [Path(dataset.get_data_info(i)["img_path"]).stem for i in range(len(dataset))]
    chosen = set(select_images(names, n=min(num_images, len(names)), seed=0))
    out_dir = Path(cv_cfg.work_dir) / "crf_cv" / spec.name.replace("/", "_") / exp.key

    def items():
        runner.model.eval()
        for batch in runner.test_dataloader:
            # Multi-scale batches hold one list of augmented views per image.
            first = [s[0] if isinstance(s, (list, tuple)) else s for s in batch["data_samples"]]
            if not any(Path(s.img_path).stem in chosen for s in first):
                continue
            for sample in runner.model.test_step(batch):
                name = Path(sample.img_path).stem
                if name in chosen:
                    yield (name, sample.seg_logits.data.softmax(dim=0), sample.img_path,
                           sample.seg_map_path)

    # Every rank saves its shard; collective=True merges them and waits for all ranks.
    save_probabilities(out_dir, items(), collective=True)
    out = _crf_file(spec, exp, ctx)
    main_crf_cv(out_dir, grid=grid, strategy=strategy, out=out)
    return out


def crf_cv_row(spec: TableSpec, exp: Experiment, profile: Profile, *, results_dir: Path,
               work_root: Path, data_root: str | None = None, seed: int = 0, grid="v2",
               strategy: str = "fast", num_images: int = 100) -> Path:
    """`repro crf-cv TABLE/ROW`: train the row's model if needed, save its probabilities on
    ``num_images`` val images, search the grid; the row's CRF evaluation then uses the result."""
    ctx = RunContext(profile, Path(results_dir), Path(work_root), data_root, seed)
    data = resolve_data(exp.protocol.dataset, profile, data_root)
    cfg, _ = build_config(exp, profile, data, seed)
    if exp.members:
        raise ValueError(f"{spec.name}/{exp.key} is an ensemble: cross-validate a member row.")
    _resolve_init(cfg, spec, exp, ctx)
    checkpoint = _train(cfg, exp, ctx, {}, f"{spec.name}/{exp.key}")
    tcfg = _runner_cfg(cfg, checkpoint.parent, f"{spec.name}/{exp.key}")
    tcfg.pop("init_checkpoint", None)
    tcfg.load_from, tcfg.resume = str(checkpoint), False
    return cross_validate_crf(tcfg, spec, exp, ctx, grid=grid, strategy=strategy,
                              num_images=num_images)
