"""Executes a :class:`repro.plan.Plan`: trainings, CRF cross-validations and evaluations through
mmengine's Runner, in dependency order, independent ones in parallel (``--jobs N``), then
records each row (``repro.results.store``).

Tasks: a :class:`~repro.plan.Training` runs once whatever the number of rows that need it, after
the training it starts from (``init_from``); a CRF cross-validation after its row's training;
an evaluation after its training, its ensemble members' trainings and its CRF parameters. With
``jobs > 1`` tasks run in worker processes (spawned, so no OpenMP state is forked; each worker
keeps torch and mmseg imported between tasks); results are recorded by this process only.

Checkpoints are written atomically (``repro.hooks.AtomicLocalBackend``) and verified before
reuse (every zip member's CRC): a damaged one is set aside (``<name>.damaged-<time>``, named in
the log) and the run resumes from the last good one, or trains from the start. A final
checkpoint that verifies is reused. mmengine saves the RNG states with each checkpoint
(``repro.hooks.RNGStateHook``), so a killed run resumes to the same weights.

A file that breaks while a dataset is read (``repro.data.guard``) stops the run with the file
named (exit 2), whichever row hit it; any other error fails that row only (recorded as
``failed`` unless a good result exists, which is kept: ``repro.results.store``) and the rows
that depend on it.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
import traceback
import zipfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from repro import paths
from repro.plan import CrfCV, Plan, RowPlan, Settings, Training
from repro.results import GOOD, ResultRow, store

log = logging.getLogger("repro")


class DataFileError(RuntimeError):
    """A dataset file failed while it was read during training or evaluation (the message
    names it): the user's to fix, exit 2."""


# ---------------------------------------------------------------------------------------------
# Checkpoints


def verify_checkpoint(path: Path) -> bool:
    """True if ``path`` is a complete torch zip checkpoint (every member's CRC checks)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def _set_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    os.replace(path, aside)
    log.warning("Checkpoint %s is damaged (incomplete or corrupt): set aside as %s.", path, aside)
    return aside


def _iteration(path: Path) -> int:
    try:
        return int(path.stem.split("_")[-1])
    except ValueError:
        return -1


def latest_good_checkpoint(work_dir: Path) -> Path | None:
    """The newest ``iter_N.pth`` in ``work_dir`` that verifies; damaged newer ones are set
    aside."""
    for ckpt in sorted(Path(work_dir).glob("iter_*.pth"), key=_iteration, reverse=True):
        if verify_checkpoint(ckpt):
            return ckpt
        _set_aside(ckpt)
    return None


# ---------------------------------------------------------------------------------------------
# mmengine configs at run time (not part of any hash)


def _runtime_cfg(cfg_dict: dict, work_dir: Path, task: str, settings: Settings):
    from mmengine.config import Config

    cfg = Config(copy.deepcopy(cfg_dict), format_python_code=False)  # no yapf: it costs seconds
    cfg.work_dir = str(work_dir)
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{os.getpid()}"
    # Unique per run: mmengine keys its logger, message hub and visualizer instances by name.
    cfg.experiment_name = f"{task.replace('/', '_').replace(' ', '_')}-{stamp}"
    if cfg.get("visualizer"):
        cfg.visualizer.name = f"visualizer-{stamp}"
    # WARNING while the Runner is built (it logs its environment and the whole config at INFO);
    # _build_runner then lets INFO through to the run's log file.
    cfg.log_level = "WARNING"
    cfg.custom_hooks = list(cfg.get("custom_hooks", [])) + [
        dict(type="FiniteLossHook"),
        dict(type="RNGStateHook"),
        dict(type="ProgressHook", task=task),
    ]
    if "checkpoint" in cfg.default_hooks:
        cfg.default_hooks.checkpoint.backend_args = dict(backend="atomic_local")
    cfg.default_hooks.pop("visualization", None)  # draws nothing here (not an mmengine default)
    _guard_datasets(cfg)
    cfg.launcher = settings.launcher
    if settings.launcher != "none":
        # Some rows leave parameters without gradient in a step (e.g. an auxiliary loss).
        cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel",
                                     find_unused_parameters=True)
        if not _cuda():  # CPU DDP takes no device ids (mmengine passes LOCAL_RANK)
            cfg.env_cfg.dist_cfg = dict(backend="gloo")
            cfg.model_wrapper_cfg["device_ids"] = None
    return cfg


def _guard_datasets(cfg) -> None:
    """Wrap every dataset pipeline in ``GuardedPipeline`` so that a file that fails to load,
    or a label with values outside the classes, is named (``repro.data.guard``); no sample-list
    serialisation without loader workers."""
    for key in ("train_dataloader", "test_dataloader"):
        dl = cfg.get(key)
        if not dl:
            continue
        stack = [dl.dataset]
        while stack:
            ds = stack.pop()
            if "datasets" in ds:  # ConcatDataset
                stack.extend(ds.datasets)
            elif "dataset" in ds:  # wrappers
                stack.append(ds.dataset)
            elif ds.get("pipeline"):
                num_classes = 19 if "Cityscapes" in str(ds.get("type")) else 21
                ds.pipeline = [dict(type="GuardedPipeline", transforms=list(ds.pipeline),
                                    num_classes=num_classes)]
                if not dl.get("num_workers"):
                    # Serialising the sample list only saves memory across loader worker
                    # processes; without workers it is a gc.collect() per dataset built.
                    ds.serialize_data = False


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _quiet_console(runner) -> None:
    """mmengine logs INFO to the console and the run's log file; keep the file, silence the
    console below WARNING (progress comes from repro.progress) and drop known noise."""
    from repro._quiet import NoiseFilter

    runner.logger.setLevel(logging.INFO)
    for handler in runner.logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.INFO)
        elif isinstance(handler, logging.StreamHandler):
            handler.setLevel(logging.INFO if os.environ.get("REPRO_LOG_LEVEL") == "INFO"
                             else logging.WARNING)
            handler.addFilter(NoiseFilter())


def _build_runner(cfg):
    from mmengine.runner import Runner

    import repro.plugins  # noqa: F401 - registers the plugins in this process

    with mmengine_output():
        runner = Runner.from_cfg(cfg)
    _quiet_console(runner)
    return runner


def mmengine_output():
    """mmengine and mmseg print some messages (e.g. which checkpoint they load) on stdout:
    while they work, stdout goes to stderr (without the known noise, repro._quiet), so that
    stdout carries only the command's output."""
    import contextlib

    from repro._quiet import FilteredStream

    @contextlib.contextmanager
    def redirected():
        stream = FilteredStream()
        with contextlib.redirect_stdout(stream):
            yield
        stream.flush()

    return redirected()


def _data_error(e: BaseException) -> DataFileError | None:
    """The DataFileError behind ``e`` (also when re-raised by a DataLoader worker)."""
    from repro.data.guard import DataFileError as GuardError

    if isinstance(e, GuardError):
        return DataFileError(str(e))
    text = str(e)
    if "GuardedPipeline" in text or "DataFileError" in text:
        lines = [ln for ln in text.splitlines() if "DataFileError:" in ln]
        if lines:
            return DataFileError(lines[-1].split("DataFileError:", 1)[1].strip())
    return None


# ---------------------------------------------------------------------------------------------
# Tasks (module level: they run in worker processes)


def _init_process(settings: Settings, queue=None) -> None:
    if settings.profile.threads:
        import torch

        torch.set_num_threads(settings.profile.threads)
    if settings.launcher != "none" and not _cuda():
        # mmengine's pytorch launcher calls torch.cuda.set_device unconditionally; on CPU the
        # gloo process group is set up here instead (mmengine then finds it initialised).
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="gloo")
    if queue is not None:
        from repro import hooks

        hooks.set_progress_sink(queue.put)


def warm_yapf() -> None:
    """Import yapf once in this process before it starts processes that build Runners (the
    ``--jobs`` pool, torchrun ranks).

    mmengine's Runner imports yapf when it logs its config (``Config.pretty_text`` imports it even
    unformatted). In a fresh environment yapf's first import rewrites its grammar pickle in the
    user cache, and yapf 0.43 renames the file into place before writing it
    (``yapf_third_party._ylib2to3.pgen2.grammar.Grammar.dump``). A second process importing
    yapf at that moment reads an empty file and fails with "EOFError: Ran out of input". This was
    seen in a CI rehearsal with ``--jobs 2``, where a DeconvNet training failed this way. After one
    import here the pickle is complete and newer than the grammar, so workers only read it.
    """
    try:
        import yapf  # noqa: F401
    except ImportError:  # mmengine without yapf: nothing to warm
        pass


def relaunch_under_torchrun(module: str, argv: list[str], nproc: int) -> int:
    """Rerun ``python -m module *argv`` under torchrun, ``nproc`` processes (one per GPU, gloo
    on CPU) with a free port on this machine for the rendezvous; returns torchrun's exit code.
    Used by ``repro run`` and ``repro pretrain`` with ``--launcher pytorch``."""
    import socket
    import subprocess
    import sys

    warm_yapf()  # the ranks start together
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           "--master_addr=127.0.0.1", f"--master_port={port}", "-m", module, *argv]
    print("launching: " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.call(cmd)


def _barrier() -> None:
    """Wait for every rank (no-op without an initialised process group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def train(t: Training, settings: Settings) -> dict:
    """Train (or resume, or reuse) ``t``; returns provenance: how, final loss, seconds.
    Under torchrun, rank 0 alone verifies and sets aside checkpoints (it alone writes them);
    the ranks wait for each other around it."""
    start = time.time()
    final = t.final
    summary_file = t.work_dir / "train_summary.json"
    if _rank() == 0:
        if final.exists() and not verify_checkpoint(final):
            _set_aside(final)
        latest_good_checkpoint(t.work_dir)  # sets aside damaged newer ones
    _barrier()
    if final.exists():
        summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
        return dict(trained="reused checkpoint", final_loss=summary.get("final_loss"),
                    seconds=0.0)
    cfg = _runtime_cfg(t.cfg, t.work_dir, f"train {t.label}", settings)
    checkpoints = sorted(t.work_dir.glob("iter_*.pth"), key=_iteration)
    if checkpoints:  # after a kill: go on from the last good checkpoint
        cfg.resume, cfg.load_from = True, str(checkpoints[-1])
        how = f"resumed from {checkpoints[-1].name}"
    else:
        if t.upstream is not None:
            init, source = str(t.upstream.final), t.upstream.label
        elif t.init_weights:
            init, source = t.init_weights["path"], f"released {t.init_weights['name']}"
        else:
            init, source = None, None
        cfg.resume, cfg.load_from = False, init
        how = "now" + (f", initialised from {source}" if init else "")
    runner = _build_runner(cfg)
    with mmengine_output():
        runner.train()
    _barrier()
    if not verify_checkpoint(final):
        raise RuntimeError(f"Training ended without a complete final checkpoint {final}.")
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return dict(trained=how, final_loss=summary.get("final_loss"),
                seconds=round(time.time() - start, 1))


def _eval_work_dir(row: RowPlan, settings: Settings) -> Path:
    if row.training is not None:
        return row.training.work_dir
    return settings.work_root / settings.profile.name / f"eval-{row.hash}"


def _eval_cfg(cfg_dict: dict, row: RowPlan, settings: Settings, work_dir: Path, task: str):
    cfg = _runtime_cfg(cfg_dict, work_dir, task, settings)
    if row.training is not None:
        cfg.load_from = str(row.training.final)
    if row.members:
        model = cfg.model if cfg.model.type == "EnsembleSegmentor" else cfg.model.module
        for member, t in zip(model.members, row.members):
            member["checkpoint"] = str(t.final)
    cfg.resume = False
    return cfg


def cross_validate(row: RowPlan, settings: Settings) -> dict:
    """DeepLab's CRF cross-validation for ``row`` (``row.crf`` is a CrfCV): the model's
    probabilities on ``num_images`` val images (fixed seed) are saved once, then the grid is
    searched; the result file records the plan's key."""
    from repro.crf.cv import main_crf_cv, save_probabilities, select_images

    cv: CrfCV = row.crf
    work_dir = _eval_work_dir(row, settings)
    cfg = _eval_cfg(cv.cfg, row, settings, work_dir, f"crf-cv {row.label}")
    for key in ("postprocess", "output_dir", "format_only", "per_image_out"):
        cfg.test_evaluator.pop(key, None)
    runner = _build_runner(cfg)
    if cfg.load_from:
        with mmengine_output():
            runner.load_checkpoint(cfg.load_from)
    dataset = runner.test_dataloader.dataset
    names = [Path(dataset.get_data_info(i)["img_path"]).stem for i in range(len(dataset))]
    chosen = set(select_images(names, n=min(cv.num_images, len(names)), seed=0))
    out_dir = work_dir / "crf_cv" / row.spec.name.replace("/", "_") / f"{row.exp.key}-{cv.key}"

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
    result = main_crf_cv(out_dir, grid=cv.grid, strategy=cv.strategy, out=cv.out,
                         progress=False)
    if _rank() == 0:
        result["plan_key"] = cv.key
        from repro.results import atomic_write_json

        atomic_write_json(cv.out, result)
    return crf_params(result)


CRF_KEYS = ("w1", "sigma_alpha", "sigma_beta", "w2", "sigma_gamma", "iterations")


def crf_params(result: dict) -> dict:
    return {k: result["best"][k] for k in CRF_KEYS if k in result["best"]}


def current_crf(cv: CrfCV) -> dict | None:
    """The cross-validated parameters of ``cv`` if its file exists with the same plan key."""
    if not cv.out.is_file():
        return None
    try:
        result = json.loads(cv.out.read_text())
    except json.JSONDecodeError:
        return None
    return crf_params(result) if result.get("plan_key") == cv.key else None


def evaluate(row: RowPlan, settings: Settings, crf: dict | None) -> dict:
    """Evaluate ``row`` (its training is done); returns metrics and provenance."""
    import numpy as np

    from repro.metrics.bootstrap import per_image_relpath
    from repro.metrics.confusion import trivial_miou

    start = time.time()
    work_dir = _eval_work_dir(row, settings)
    cfg = _eval_cfg(row.cfg, row, settings, work_dir, f"eval {row.label}")
    extra: dict = {}
    if row.exp.protocol.eval_split == "test":
        sub = work_dir / "submission" / row.spec.name.replace("/", "_") / row.exp.key
        cfg.test_evaluator.output_dir = str(sub)
        extra["submission_dir"] = str(sub)
    if crf:
        # One bar for the evaluation, not one per batch of the CRF pool.
        cfg.test_evaluator.postprocess = dict(type="DenseCRF", progress=False, **crf)
    per_image = None
    if row.exp.protocol.eval_split != "test":
        # Per-image confusion matrices (bootstrap intervals, `repro compare`), named by the
        # row's hash: a run of another hash never overwrites those of the recorded result.
        per_image = per_image_relpath(row.profile, row.spec.name, row.exp.key, row.seed,
                                      row.hash)
        cfg.test_evaluator.per_image_out = str(settings.results_dir / per_image)
    if "proposals" in (cfg.model.get("test_cfg") or {}):  # DeconvNet: which proposals
        extra["proposals"] = cfg.model.test_cfg.proposals
    runner = _build_runner(cfg)
    with mmengine_output():
        metrics = runner.test() or {}
    values = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    metric = runner.test_evaluator.metrics[0]
    mat = getattr(metric, "last_confusion", None)
    if mat is not None and row.exp.protocol.eval_split != "test" and np.asarray(mat).sum():
        values["trivial_mIoU"] = 100.0 * trivial_miou(mat)
    values.update(static_values(row)["values"])
    ci = {}
    if per_image and (settings.results_dir / per_image).is_file():
        from repro.metrics.bootstrap import bootstrap_miou
        from repro.metrics.per_image import PerImageConfusion

        extra["per_image"] = per_image
        result = bootstrap_miou(PerImageConfusion.load(settings.results_dir / per_image))
        ci["mIoU"] = [float(result.low), float(result.high)]
    extra["eval_seconds"] = round(time.time() - start, 1)
    return dict(values=values, extra=extra, ci=ci)


def static_values(row: RowPlan) -> dict:
    """The row's static cells, computed from the built model (or read from a file: None when
    there is nothing to read, recorded as not reproduced)."""
    out = {}
    for cell in row.exp.static_cells:
        value = cell.static(row.exp, cell.metric)
        if value is not None:
            out[cell.metric] = value if isinstance(value, str) else float(value)
    return dict(values=out, extra={})


def _rank() -> int:
    return int(os.environ.get("RANK", 0))


@dataclass
class _Task:
    kind: str  # "train", "crf", "eval"
    key: str
    payload: object
    deps: set[str] = field(default_factory=set)
    rows: list[RowPlan] = field(default_factory=list)  # rows waiting on it (for failures)


def _call(kind: str, payload, settings: Settings, extra=None):
    """Run one task (in a worker or in this process); exceptions are returned as text so that
    they cross the process boundary intact."""
    try:
        if kind == "train":
            return "ok", train(payload, settings)
        if kind == "crf":
            return "ok", cross_validate(payload, settings)
        if kind == "static":
            return "ok", static_values(payload)
        return "ok", evaluate(payload, settings, extra)
    except Exception as e:  # noqa: BLE001 - reported per task by the scheduler
        from repro.hooks import NonFiniteLossError

        data = _data_error(e)
        if data is not None:
            return "data_error", str(data)
        status = "nan_loss" if isinstance(e, NonFiniteLossError) else "failed"
        return status, dict(error=f"{type(e).__name__}: {e}",
                            traceback=traceback.format_exc(limit=8))


# ---------------------------------------------------------------------------------------------
# The scheduler


class Executor:
    """Runs a plan's tasks in dependency order and records every row (module docstring)."""

    def __init__(self, plan: Plan, settings: Settings, jobs: int = 1, display=None,
                 on_recorded=None):
        self.plan, self.s, self.jobs = plan, settings, max(1, jobs)
        self.display = display
        self.on_recorded = on_recorded or (lambda row, status, rows, note: None)
        self.tasks: dict[str, _Task] = {}
        self.outcomes: dict[str, tuple[str, object]] = {}
        self.fatal_error: str | None = None
        self._build()

    def _add(self, task: _Task) -> _Task:
        return self.tasks.setdefault(task.key, task)

    def _training_task(self, t: Training) -> str:
        key = f"train:{t.key}"
        if key not in self.tasks:
            deps = {self._training_task(t.upstream)} if t.upstream else set()
            self._add(_Task("train", key, t, deps))
        return key

    def _build(self) -> None:
        for row in self.plan.rows:
            if row.action == "done":
                continue
            deps: set[str] = set()
            if row.action == "static":
                self._add(_Task("static", f"static:{row.label}", row))
                continue
            for t in ([row.training] if row.training else []) + list(row.members):
                deps.add(self._training_task(t))
            if isinstance(row.crf, CrfCV) and (self.s.force or current_crf(row.crf) is None):
                # Rows whose cross-validation is the same (same model, same val images and
                # grid: e.g. a table's CRF row and the test-set row of the same model) share it.
                key = f"crf:{row.crf.key}"
                self._add(_Task("crf", key, row, set(deps))).rows.append(row)
                deps = deps | {key}
            self._add(_Task("eval", f"eval:{row.label}", row, deps))

    @property
    def total(self) -> int:
        return len(self.tasks)

    # -- running ---------------------------------------------------------------------------

    def _ready(self, pending: dict[str, _Task]) -> list[_Task]:
        return [t for t in pending.values()
                if all(d in self.outcomes for d in t.deps)]

    def _failed_dep(self, task: _Task) -> tuple[str, dict] | None:
        for d in sorted(task.deps):
            status, info = self.outcomes[d]
            if status != "ok":
                info = info if isinstance(info, dict) else {"error": str(info)}
                what = f"{d.split(':', 1)[0]} of {self.tasks[d].payload.label}"
                return ("nan_loss" if status == "nan_loss" else "failed",
                        dict(info, error=f"{what} failed: {info.get('error', status)}"))
        return None

    def _crf_for(self, row: RowPlan):
        if isinstance(row.crf, dict):
            return dict(row.crf), dict(row.crf, source="protocol")
        if isinstance(row.crf, CrfCV):
            key = f"crf:{row.crf.key}"
            params = self.outcomes[key][1] if key in self.outcomes else current_crf(row.crf)
            return params, dict(params, source=f"cross-validated ({row.crf.out})",
                                grid=row.crf.grid, strategy=row.crf.strategy)
        return None, None

    def run(self) -> dict[str, tuple[str, object]]:
        pending = dict(self.tasks)
        if self.jobs == 1 or self.s.launcher != "none":
            self._run_serial(pending)
        else:
            self._run_pool(pending)
        return self.outcomes

    def _start(self, task: _Task):
        """(kind, payload, extra) to call, or None when the task is settled without running."""
        failed = self._failed_dep(task)
        if failed:
            self.outcomes[task.key] = failed
            self._finished(task)
            return None
        extra = None
        if task.kind == "eval":
            extra, _ = self._crf_for(task.payload)
        return task.kind, task.payload, extra

    def _run_serial(self, pending: dict[str, _Task]) -> None:
        from repro import hooks

        _init_process(self.s)
        hooks.set_progress_sink(self.display.event if self.display is not None else None)
        try:
            while pending and self.fatal_error is None:
                ready = self._ready(pending)
                if not ready:
                    raise RuntimeError(f"Dependency cycle among {sorted(pending)}.")
                task = ready[0]
                del pending[task.key]
                call = self._start(task)
                if call is None:
                    continue
                kind, payload, extra = call
                self.outcomes[task.key] = _call(kind, payload, self.s, extra)
                self._finished(task)
        finally:
            hooks.set_progress_sink(None)

    def _run_pool(self, pending: dict[str, _Task]) -> None:
        import multiprocessing as mp
        import queue as queue_mod

        warm_yapf()
        ctx = mp.get_context("spawn")
        events = ctx.Queue()
        running: dict = {}
        with ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=_init_process,
                                 initargs=(self.s, events)) as pool:
            while (pending or running) and not (self.fatal_error and not running):
                if self.fatal_error is None:
                    # Longest work first among the ready tasks: trainings before evaluations.
                    for task in sorted(self._ready(pending), key=lambda t: t.kind != "train"):
                        if len(running) >= self.jobs:
                            break
                        del pending[task.key]
                        call = self._start(task)
                        if call is not None:
                            kind, payload, extra = call
                            running[pool.submit(_call, kind, payload, self.s, extra)] = task
                if not running:
                    if pending and not self._ready(pending):
                        raise RuntimeError(f"Dependency cycle among {sorted(pending)}.")
                    continue
                done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                while True:
                    try:
                        event = events.get_nowait()
                    except queue_mod.Empty:
                        break
                    if self.display is not None:
                        self.display.event(event)
                for future in done:
                    task = running.pop(future)
                    self.outcomes[task.key] = future.result()
                    self._finished(task)

    def _finished(self, task: _Task) -> None:
        status, info = self.outcomes[task.key]
        if status == "data_error":
            self.fatal_error = str(info)
        if task.kind == "crf" and status == "ok" and _rank() == 0:
            import shutil

            for row in task.rows[1:]:  # the rows that share this cross-validation
                row.crf.out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(task.payload.crf.out, row.crf.out)
        if self.display is not None:
            self.display.task_done(f"{task.kind} {task.payload.label}")
            if task.kind == "train" and status == "ok":
                self.display.line(f"   trained {task.payload.label} ({info['trained']}, "
                                  f"{info['seconds']:.0f} s)")
        if task.kind in ("eval", "static"):
            self._record(task.payload, status, info)

    # -- recording --------------------------------------------------------------------------

    def _record(self, row: RowPlan, status: str, info) -> None:
        if status == "data_error" or _rank() != 0:
            return
        values: dict = {}
        ci: dict = {}
        extra = dict(row.info, launcher=self.s.launcher, data_root=str(row.data.root),
                     data_fingerprint=row.data_fingerprint, notes=list(row.notes))
        if status == "ok":
            values, ci = info["values"], info.get("ci", {})
            extra.update(info["extra"])
            if row.exp.protocol.eval_split == "test":  # predictions for the server only
                status = "awaiting_server"
        else:
            extra.update(info)
        if row.training is not None:
            train = self.outcomes.get(f"train:{row.training.key}")
            if train and train[0] == "ok":
                extra.update(trained=train[1]["trained"], work_dir=str(row.training.work_dir),
                             train_seconds=train[1]["seconds"])
                if train[1].get("final_loss") is not None and status in GOOD:
                    values["final_loss"] = float(train[1]["final_loss"])
            extra["stages"] = [t.label for t in row.training.chain()]
            first = row.training.chain()[0].init_weights  # e.g. GDN from a released baseline
            if first:
                extra["init_weights"] = {k: first[k] for k in ("name", "path", "sha256")}
        if row.members:
            extra["members"] = list(row.exp.members)
        if row.exp.follows:
            extra["follows"] = row.exp.follows
        if row.crf is not None:
            _, extra["crf"] = self._crf_for(row)
        if status == "awaiting_server":
            self._package(row, extra)
        rows = self._rows(row, status, values, extra, ci)
        try:
            note = store(row.result_path, rows, force=self.s.force)
        except OSError as e:  # a full disk or a folder made read-only since planning
            note = self._unsaved(row, rows, e)
        self.on_recorded(row, status, rows, note)

    def _unsaved(self, row: RowPlan, rows: list[ResultRow], error: OSError) -> str:
        """The results could not be written: keep the numbers anywhere that works (the work
        dir, else the system's temporary folder), say where, and stop the run (exit 2)."""
        import tempfile

        from repro.results import write_rows

        name = f"{row.spec.name.replace('/', '_')}_{row.exp.key}.seed{row.seed}.json"
        for folder in (self.s.work_root / "unsaved-results", Path(tempfile.gettempdir())):
            try:
                write_rows(folder / name, rows)
            except OSError:
                continue
            self.fatal_error = (
                f"Could not write {row.result_path} ({error.strerror or error}); the evaluated "
                f"results are saved in {folder / name}: free space (or fix the permissions) and "
                f"move that file to {row.result_path}.")
            return self.fatal_error
        self.fatal_error = (f"Could not write {row.result_path} ({error.strerror or error}) nor "
                           "any fallback: free disk space and rerun.")
        return self.fatal_error

    def _package(self, row: RowPlan, extra: dict) -> None:
        from repro.server import package

        archive = package(Path(extra["submission_dir"]), row.exp.protocol.dataset,
                          self.s.results_dir / "submissions" / row.spec.name / row.exp.key)
        extra["submission"] = str(archive)

    def _rows(self, row: RowPlan, status: str, values: dict, extra: dict,
              ci: dict | None = None) -> list[ResultRow]:
        duration = sum(float(extra.get(k) or 0) for k in ("train_seconds", "eval_seconds"))
        base = dict(
            table=row.spec.name, row=row.exp.key, seed=row.seed, spec_version=row.spec.version,
            profile=row.profile, data=row.data.kind, config=row.exp.config or "",
            config_hash=row.hash, git_sha=paths.git_sha(), versions=paths.versions(),
            device=paths.device_description(),
            timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
            duration_s=round(duration, 1), extra=extra, overrides=dict(row.overrides),
            user_row=row.user_row,
            weights="released" if row.released else "trained",
        )
        rows = []
        for cell in row.exp.cells:
            static = cell.static is not None
            value = values.get(cell.metric)
            cell_status = status
            if static:
                cell_status = "ok" if value is not None else "not_reproduced"
            elif status == "ok" and cell.metric not in values:
                cell_status = "not_reproduced"  # e.g. ImageNet error: nothing here produces it
            rows.append(ResultRow(metric=cell.metric, value=value, status=cell_status,
                                  paper=cell.paper, ci=(ci or {}).get(cell.metric),
                                  **dict(base, weights="none") if static else base))
        shown = {c.metric for c in row.exp.cells}
        # Metrics the paper does not print but a reader wants (per-class IoU, accuracies,
        # the trivial baseline, the final loss).
        for metric, value in values.items():
            if metric not in shown:
                rows.append(ResultRow(metric=metric, value=value, status=status, paper=None,
                                      ci=(ci or {}).get(metric), **base))
        return rows
