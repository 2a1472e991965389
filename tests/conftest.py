"""Shared test set-up: a persistent cache for synthetic data, tiny profiles, golden files."""

import contextlib
import dataclasses
import os
import tempfile
from pathlib import Path

import pytest

# Synthetic datasets are generated once per machine into this cache (tox sets its own).
os.environ.setdefault("REPRO_CACHE", str(Path(tempfile.gettempdir()) / "repro-test-cache"))
os.environ.setdefault("MPLBACKEND", "Agg")

#: Rewrite golden files instead of comparing: REPRO_ACCEPT_GOLDEN=1 pytest tests/test_report.py
ACCEPT_GOLDEN = os.environ.get("REPRO_ACCEPT_GOLDEN") == "1"
GOLDEN_DIR = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if ACCEPT_GOLDEN or not path.exists():
        if not ACCEPT_GOLDEN:
            pytest.fail(f"Golden file {path} does not exist: review the output and create it with "
                        f"REPRO_ACCEPT_GOLDEN=1 pytest {__name__}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    expected = path.read_text()
    assert text == expected, (
        f"The generated text differs from the golden file {path}. If the change is intended, "
        "review `git diff` after accepting it: REPRO_ACCEPT_GOLDEN=1 pytest tests/test_report.py."
    )


def tiny_profile():
    """The smoke profile cut to a handful of iterations: tests the path, not the learning. Use
    it inside :func:`no_family_schedules` (the model families' own smoke iterations and batch
    sizes would take precedence over the profile's)."""
    from repro.profiles import PROFILES

    return dataclasses.replace(PROFILES["smoke"], iters=4, batch_size=2, checkpoint_interval=2)


@contextlib.contextmanager
def no_family_schedules():
    """repro.smoke's per-family iterations and batch sizes switched off (their optimizers
    stay): every row then trains the profile's iterations."""
    from repro import smoke

    families = {k: {kk: vv for kk, vv in v.items() if kk not in ("iters", "batch_size")}
                for k, v in smoke.FAMILIES.items()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(smoke, "FAMILIES", families)
        yield


@pytest.fixture
def tiny_smoke():
    with no_family_schedules():
        yield tiny_profile()
