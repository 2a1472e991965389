"""Atomic file writes, the one way every file of the harness is written (results, per-image
matrices, checkpoints, converted and pretrained weights, prepared data, caches).

A file is written to a temporary file in its own folder, flushed to disk, given its final mode
and renamed over the target: a reader (or a rerun after a kill or a full disk) sees the old file
or the complete new one, never a truncated one, and no temporary file is left behind. Files are
readable by the group and others (0644), not ``mkstemp``'s 0600. Standard library only, so that
any module can use it without import cost or cycles.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_bytes"]


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object],
                 mode: int = 0o644) -> Path:
    """Call ``write(f)`` with a binary file and put what it wrote at ``path`` atomically (module
    docstring); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data), mode)
