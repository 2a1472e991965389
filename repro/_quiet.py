"""Known third-party noise, silenced once at its source so that stdout carries only what a
command is for (a run's plan, its rows, its reports):

- onedl-mmseg prints "Could not import OneDL" on stdout (``print_log`` without a logger) when
  its datasets import without the optional OneDL package;
- onedl-mmcv warns that ``MultiScaleDeformableAttention`` needs the compiled ops (the harness
  installs with ``MMCV_WITH_OPS=0`` on purpose: no model here uses them);
- mmengine logs deprecation warnings of its own ``FileClient`` / ``HardDiskBackend`` while it
  saves every checkpoint, and prints "Loads checkpoint by local backend from path: ..." on
  stdout for every checkpoint it loads;
- mmengine advises setting ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` under torchrun (which sets
  them), and warns that its Runner switches the start method to ``fork`` in the worker
  processes of ``--jobs N`` (spawned on purpose; the Runner's own data workers may fork);
- mmengine's optimizer constructor warns once per frozen parameter (the smoke variants freeze
  their first VGG stages on purpose);
- mmengine lists the parameters a checkpoint lacks or has in excess when a later stage starts
  from an earlier one (GDN's phases add the label branch and swap FCN's deconvolution for
  global interpolation, on purpose; the plan says "initialised from"); a mis-shaped key is
  still shown;
- mmcv's ConvModule warns of a conv bias before BatchNorm: DeconvNet's convolutions have both
  (its Caffe model, whose weights load here), as do the smoke variants with BatchNorm;
- mmseg warns that ``avg_non_ignore`` defaults to False for every CrossEntropyLoss built: the
  configs state their loss normalisation on purpose (the papers' Caffe semantics).

Anything else a third-party import prints is passed through unchanged.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings

NOISE = (
    "Could not import OneDL",
    "Fail to import ``MultiScaleDeformableAttention``",
    '"FileClient" will be deprecated',
    '"HardDiskBackend" is the alias of "LocalBackend"',
    "Loads checkpoint by local backend from path",
    "Default ``avg_non_ignore`` is False",
    "since its requires_grad=False",
    "Unnecessary conv bias before batch/instance norm",
    "Multi-processing start method",
    "missing keys in source state_dict",
    "unexpected key in source state_dict",
    "The model and loaded state dict do not match exactly",
)


def silence_warnings() -> None:
    """Ignore the known noise among Python warnings (in this process, for good)."""
    warnings.filterwarnings("ignore", message=".*MultiScaleDeformableAttention.*")
    warnings.filterwarnings("ignore", message="Default ``avg_non_ignore`` is False")
    warnings.filterwarnings("ignore", message="Unnecessary conv bias before batch/instance norm")
    # mmengine's advice to set the thread counts under torchrun, which does set them.
    warnings.filterwarnings("ignore", message="Setting (OMP|MKL)_NUM_THREADS environment")
    warnings.filterwarnings("ignore", message="Multi-processing start method")


class FilteredStream(io.TextIOBase):
    """A text stream that drops lines of known noise and forwards the rest to the current
    ``sys.stderr`` (looked up at each write: loggers created while stdout is redirected here
    keep this object, and must not write to a stream that was replaced and closed since)."""

    def __init__(self):
        self._partial = ""
        self._after_noise = False

    @property
    def target(self):
        return sys.stderr

    def write(self, text: str) -> int:
        lines = (self._partial + text).splitlines(keepends=True)
        self._partial = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        kept = []
        for line in lines:
            if is_noise(line):
                self._after_noise = True
            elif not line.strip() and self._after_noise:
                # The blank lines of a multi-line message of noise (mmengine's "state dict do
                # not match" block, and print's newline after it) go with it.
                continue
            else:
                self._after_noise = False
                kept.append(line)
        if kept:
            self.target.write("".join(kept))
        return len(text)

    def flush(self) -> None:
        if self._partial and not is_noise(self._partial):
            self.target.write(self._partial)
        self._partial = ""
        self.target.flush()


def is_noise(text: str) -> bool:
    return any(n in text for n in NOISE)


@contextlib.contextmanager
def quiet_imports():
    """Import third-party packages inside this block: their known noise is dropped."""
    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*MultiScaleDeformableAttention.*")
        with contextlib.redirect_stdout(buf):
            yield
    for line in buf.getvalue().splitlines():
        if not is_noise(line):
            print(line, file=sys.stdout)


class NoiseFilter(logging.Filter):
    """Drops the known noise from a logging handler (mmengine's console handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not is_noise(record.getMessage())
