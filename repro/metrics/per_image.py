"""Per-image confusion matrices of one evaluation, and their file (``*.per_image.npz``).

The harness scores a whole evaluation set from one summed confusion matrix (``confusion.py``);
the bootstrap confidence intervals (``bootstrap.py``) need the matrix of every image, so that
images can be resampled. :class:`PerImageConfusion` holds them:

- ``names``: the image names (file stem of ``img_path``, e.g. ``2007_000033`` or
  ``frankfurt_000000_000294_leftImg8bit``), in dataset order;
- ``classes``: the class names, in ``dataset_meta['classes']`` order;
- ``matrices``: int64 ``(N, C, C)``, ``matrices[n, i, j]`` = pixels of image ``n`` whose ground
  truth is class ``i`` and whose prediction is class ``j`` (rows = ground truth, void pixels not
  counted), exactly the per-image term of the summed matrix: ``matrices.sum(0)`` equals the
  metric's ``last_confusion``. For Cityscapes the 19 x 19 matrix of the evaluated classes
  (trainId order), whose IoU is the official "IoU class" (predictions are trainIds, so no
  prediction falls in an ignored labelId and the 19 rows hold every counted pixel).

File format (``save`` / ``load``): ``np.savez_compressed`` (zip + deflate, no pickle) with
``format`` (int, 1), ``names`` and ``classes`` (unicode arrays) and ``matrices`` (int64
``(N, C, C)``, dense). Dense was chosen over sparse ``(image, cell, count)`` layouts after
measuring them (``benchmarks/bench_bootstrap.py``, synthetic predictions): deflate already
squeezes the zero cells, so a row's file is 64 KiB for 1449 VOC-like images and 88 KiB for
500 Cityscapes-like images, against 43 and 70 KiB for the smallest sparse layout; the ~20 KiB
saved per row do not pay for a second code path. The file is written atomically (temporary
file + rename).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "PerImageConfusion",
    "PerImageFileError",
    "PerImageFileNotFoundError",
]

FORMAT_VERSION = 1


class PerImageFileError(ValueError):
    """A per-image file that cannot be read: names the file and the fix."""


class PerImageFileNotFoundError(FileNotFoundError):
    """A per-image file that does not exist: names the file and the fix."""


@dataclass(frozen=True)
class PerImageConfusion:
    """The confusion matrix of every image of one evaluation (see the module docstring)."""

    names: tuple[str, ...]
    classes: tuple[str, ...]
    matrices: np.ndarray  # int64 (N, C, C)

    def __post_init__(self) -> None:
        m = np.asarray(self.matrices)
        names, classes = tuple(map(str, self.names)), tuple(map(str, self.classes))
        C = len(classes)
        if m.ndim != 3 or m.shape[1:] != (C, C) or m.shape[0] != len(names):
            raise ValueError(
                f"Per-image matrices of shape {m.shape} do not fit {len(names)} images and "
                f"{C} classes; expected ({len(names)}, {C}, {C})."
            )
        if not (np.issubdtype(m.dtype, np.integer) or m.size == 0):
            raise ValueError(f"Per-image matrices must hold integer counts, got {m.dtype}.")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "matrices", m.astype(np.int64, copy=False))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def total(self) -> np.ndarray:
        """The summed C x C matrix (the metric's ``last_confusion``)."""
        return self.matrices.sum(0)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the file atomically (see the module docstring); returns its path."""
        from repro.files import atomic_write

        return atomic_write(path, lambda f: np.savez_compressed(
            f,
            format=np.int64(FORMAT_VERSION),
            names=np.array(self.names, dtype=str),
            classes=np.array(self.classes, dtype=str),
            matrices=self.matrices,
        ))

    @classmethod
    def load(cls, path: str | os.PathLike) -> PerImageConfusion:
        """Read a file written by :meth:`save`; one-line errors name the file and the fix."""
        path = Path(path)
        if not path.is_file():
            raise PerImageFileNotFoundError(
                f"Per-image confusion file {path} does not exist: rerun the row's evaluation "
                "(`repro run TABLE/ROW --force`) to write it."
            )
        fix = "delete it and rerun the row's evaluation (`repro run TABLE/ROW --force`)"
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = set(z.files)
                need = {"format", "names", "classes", "matrices"}
                if not need <= keys:
                    raise PerImageFileError(
                        f"Per-image confusion file {path} lacks {sorted(need - keys)}: it was "
                        f"not written by the harness; {fix}."
                    )
                version = int(z["format"])
                if version != FORMAT_VERSION:
                    raise PerImageFileError(
                        f"Per-image confusion file {path} has format {version}, this version "
                        f"of repro reads format {FORMAT_VERSION}; {fix}."
                    )
                return cls(tuple(z["names"].tolist()), tuple(z["classes"].tolist()),
                           z["matrices"])
        except PerImageFileError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as e:
            raise PerImageFileError(
                f"Per-image confusion file {path} cannot be read ({type(e).__name__}: {e}); "
                f"{fix}."
            ) from e

    @classmethod
    def stack(cls, names: Sequence[str], classes: Sequence[str],
              matrices: Sequence[np.ndarray]) -> PerImageConfusion:
        """Build from a list of C x C matrices (an empty list gives ``(0, C, C)``)."""
        C = len(classes)
        m = np.stack(matrices) if len(matrices) else np.zeros((0, C, C), np.int64)
        return cls(tuple(names), tuple(classes), m)
