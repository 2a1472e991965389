"""Regression check of mIoU against a committed baseline (CI: `repro check`).

The baseline (``results/baselines/smoke.json``) holds the smoke-profile mIoU of every trained
row of every table, produced by ``repro run all --profile smoke`` on CPU with fixed seeds.
``repro check`` compares fresh results with it and fails, naming the rows, when a row's mIoU
falls more than the tolerance below its baseline, or when a row that had a number no longer
produces one (failed, NaN loss, missing). ``--update`` rewrites the baseline deliberately.

Smoke runs on CPU with fixed seeds are repeatable on one machine to the last digit (tested by
the crash-safety test); the tolerance absorbs the floating-point differences between CPUs and
BLAS builds, not training noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from repro.results import ResultRow, atomic_write_json, read_all

DEFAULT_TOLERANCE = 2.0  # mIoU points
METRIC = "mIoU"


@dataclass
class Finding:
    row: str  # "gcn/table1/k3 seed 0"
    baseline: float
    now: float | None
    status: str

    def __str__(self) -> str:
        if self.now is None:
            return f"{self.row}: baseline mIoU {self.baseline:.2f}, now no number ({self.status})"
        return (f"{self.row}: mIoU {self.now:.2f} < baseline {self.baseline:.2f} "
                f"({self.now - self.baseline:+.2f})")


def _key(r: ResultRow) -> str:
    return f"{r.table}/{r.row}@seed{r.seed}"


def current(results_dir: Path, profile: str = "smoke") -> dict[str, ResultRow]:
    return {_key(r): r for r in read_all(results_dir, profile) if r.metric == METRIC}


def make_baseline(results_dir: Path, profile: str = "smoke",
                  tolerance: float = DEFAULT_TOLERANCE) -> dict:
    rows = current(results_dir, profile)
    values = {k: round(r.value, 4) for k, r in sorted(rows.items())
              if r.status == "ok" and isinstance(r.value, float)}
    shas = sorted({r.git_sha for r in rows.values()})
    return {
        "profile": profile,
        "metric": METRIC,
        "tolerance": tolerance,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_sha": shas,
        "rows": values,
    }


def compare(baseline: dict, results_dir: Path,
            tolerance: float | None = None) -> tuple[list[Finding], int]:
    """(findings, rows checked): one finding per row below baseline - tolerance or gone."""
    tol = baseline.get("tolerance", DEFAULT_TOLERANCE) if tolerance is None else tolerance
    now = current(results_dir, baseline.get("profile", "smoke"))
    findings = []
    for key, base in baseline["rows"].items():
        r = now.get(key)
        if r is None or r.status != "ok" or not isinstance(r.value, float):
            findings.append(Finding(key, base, None, r.status if r else "missing"))
        elif r.value < base - tol:
            findings.append(Finding(key, base, r.value, r.status))
    return findings, len(baseline["rows"])


def write_baseline(path: Path, baseline: dict) -> None:
    atomic_write_json(Path(path), baseline)
