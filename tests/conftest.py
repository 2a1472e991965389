"""Shared test set-up: a persistent cache for synthetic data, tiny profiles, golden files."""

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
    """The smoke profile cut to a handful of iterations: tests the path, not the learning."""
    from repro.profiles import PROFILES

    return dataclasses.replace(PROFILES["smoke"], iters=4, batch_size=2, checkpoint_interval=2)


@pytest.fixture
def tiny_smoke():
    return tiny_profile()
