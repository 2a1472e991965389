"""What the harness adds to every mmengine run: progress events, a stop on non-finite loss, the
RNG states in checkpoints, and atomic checkpoint writes."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss: the row stops with status ``nan_loss``."""


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first NaN/inf loss instead of training on garbage."""

    priority = "VERY_HIGH"

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        loss = (outputs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss.detach())):
            raise NonFiniteLossError(
                f"Loss became {float(loss)} at iteration {runner.iter + 1}; lower the learning "
                "rate or check the labels (values outside the classes and 255)."
            )


#: Where ProgressHook sends its events: set by the runner (a queue in a worker process, the
#: display itself in-process). None: events are dropped.
_SINK = None


def set_progress_sink(sink) -> None:
    """``sink(event: dict)`` receives the progress events of every run in this process."""
    global _SINK
    _SINK = sink


@HOOKS.register_module()
class ProgressHook(Hook):
    """Reports training and evaluation progress as events (the runner's display turns them into
    a bar on a terminal, or a log line every few iterations off one) and writes
    ``train_summary.json`` (final loss: mean of the last tenth of the iterations, at least 5;
    seconds) into the work dir when training ends, so a reused checkpoint still has its loss.

    Args:
        task: the label shown for this run (e.g. "train gcn/table1/k15@seed0").
        every: send an iteration event every this many iterations (default: 20 per run).
    """

    priority = "LOW"

    def __init__(self, task: str = "", every: int | None = None):
        self.task, self.every = task, every
        self._losses: list[float] = []
        self._start = 0.0
        self._first_iter = 0

    def _emit(self, **event) -> None:
        if _SINK is not None:
            _SINK(dict(task=self.task, time=time.time(), **event))

    def before_train(self, runner):
        self._start, self._first_iter = time.time(), runner.iter
        self._every = self.every or max(1, runner.max_iters // 20)
        self._emit(kind="start", what="train", total=runner.max_iters, done=runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        loss = (outputs or {}).get("loss")
        if loss is not None:
            self._losses.append(float(loss.detach()))
        i = runner.iter + 1
        if i % self._every == 0 or i == runner.max_iters:
            lr = runner.optim_wrapper.get_lr()
            lr = next(iter(lr.values()))[0] if isinstance(lr, dict) and lr else None
            self._emit(kind="iter", what="train", done=i, total=runner.max_iters,
                       loss=self._losses[-1] if self._losses else None, lr=lr,
                       rate=(i - self._first_iter) / max(time.time() - self._start, 1e-9))

    def after_train(self, runner):
        tail = self._losses[-max(5, len(self._losses) // 10):]
        summary = dict(final_loss=float(np.mean(tail)) if tail else None,
                       iterations_run=runner.iter - self._first_iter,
                       seconds=round(time.time() - self._start, 1))
        if runner.rank == 0:
            from repro.results import atomic_write_json

            atomic_write_json(Path(runner.work_dir) / "train_summary.json", summary)
        self._emit(kind="end", what="train", **summary)

    def before_test_epoch(self, runner):
        self._start = time.time()
        self._every = max(1, len(runner.test_dataloader) // 10)
        self._emit(kind="start", what="eval", total=len(runner.test_dataloader), done=0)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        i = batch_idx + 1
        if i % self._every == 0:
            self._emit(kind="iter", what="eval", done=i, total=len(runner.test_dataloader),
                       rate=i / max(time.time() - self._start, 1e-9))


@register_backend("atomic_local")
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, but every write is atomic (a temporary file in the same
    folder, flushed to disk, then renamed over the target): a kill or a full disk while a
    checkpoint is written leaves the previous file, never a truncated one. The runner selects
    it for checkpoints (``CheckpointHook(backend_args=dict(backend='atomic_local'))``)."""

    def put(self, obj: bytes, filepath) -> None:
        from repro.results import atomic_write_bytes

        atomic_write_bytes(Path(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = "utf-8") -> None:
        self.put(obj.encode(encoding), filepath)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Keep the random number generators in the checkpoint so that a resumed run continues
    exactly like an uninterrupted one (mmengine restores the model, optimizer, scheduler and
    sampler position, but not the RNG states that random crops and flips draw from; its
    resume skips the consumed batches without running their transforms)."""

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint["rng_states"] = dict(
            python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state()
        )

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.get("rng_states")
        if states and getattr(runner, "_resume", False):  # not for load_from (tests, stages)
            random.setstate(states["python"])
            np.random.set_state(states["numpy"])
            torch.set_rng_state(states["torch"])
