"""mmengine hooks the harness adds to every run: a progress bar and a stop on non-finite loss."""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS
from tqdm.auto import tqdm


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


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """tqdm bars for training iterations and test images (mmengine only logs lines)."""

    priority = "LOW"

    def __init__(self, desc: str = "", disable: bool | None = None):
        self.desc, self.disable = desc, disable
        self._bar = None

    def _open(self, total, initial, what):
        self._close()
        self._bar = tqdm(
            total=total, initial=initial, desc=f"{self.desc} {what}".strip(), unit="it",
            dynamic_ncols=True, disable=self.disable, leave=False,
        )

    def _close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def before_train(self, runner):
        self._open(runner.max_iters, runner.iter, "train")

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._bar is not None:
            self._bar.update(1)
            loss = (outputs or {}).get("loss")
            if loss is not None:
                self._bar.set_postfix(loss=f"{float(loss):.3f}", refresh=False)

    def after_train(self, runner):
        self._close()

    def before_test_epoch(self, runner):
        self._open(len(runner.test_dataloader), 0, "eval")

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._bar is not None:
            self._bar.update(1)

    def after_test_epoch(self, runner, metrics=None):
        self._close()


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
