"""Where things live: configs, the synthetic-data cache, and provenance of the running code."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT_CONFIGS = PACKAGE_DIR.parent / "mmseg_configs"


def config_root() -> Path:
    """``mmseg_configs/`` of a checkout, else the copy shipped inside the package."""
    if (_CHECKOUT_CONFIGS / "_base_").is_dir():
        return _CHECKOUT_CONFIGS
    return PACKAGE_DIR / "_configs"  # pyproject maps mmseg_configs/ to repro._configs


def config_path(rel: str) -> Path:
    path = config_root() / rel
    if not path.is_file():
        raise FileNotFoundError(
            f"Config {rel} not found under {config_root()}: check the table spec's config name "
            f"(configs are listed by `ls {config_root()}`)."
        )
    return path


def cache_dir() -> Path:
    """Synthetic data and other regenerable files: $REPRO_CACHE or ~/.cache/repro."""
    return Path(os.environ.get("REPRO_CACHE", Path.home() / ".cache" / "repro"))


def split_file(name: str) -> Path:
    """A VOC split list shipped with the package (val, train_aug, seg11valid)."""
    return PACKAGE_DIR / "data" / "splits" / f"{name}.txt"


@functools.cache
def git_sha() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=PACKAGE_DIR, capture_output=True,
            text=True, check=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=PACKAGE_DIR,
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from repro import __version__

        return f"release-{__version__}"


@functools.cache
def versions() -> dict:
    import mmcv
    import mmengine
    import mmseg
    import torch

    from repro import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mmseg": mmseg.__version__,
        "mmengine": mmengine.__version__,
        "mmcv": mmcv.__version__,
        "repro": __version__,
    }


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        return f"cuda: {torch.cuda.get_device_name(0)} x{n}"
    return f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"


def stable_hash(obj) -> str:
    """16 hex digits of sha256 over a canonical JSON dump (dict key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
