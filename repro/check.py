"""Regression check of the smoke mIoU against a committed baseline (CI: `repro check`).

The baseline (``results/baselines/smoke.json``) holds, for every trained row of every table in
the smoke profile (CPU, synthetic data, seed 0), its mIoU, its trivial baseline (mIoU of
predicting the most frequent class, ``trivial_mIoU``), the seed-to-seed spread measured once
(the row run with several seeds: sample standard deviation) and the tolerance derived from it
(:data:`SPREAD_FACTOR` x spread, at least :data:`MIN_TOLERANCE`). ``repro check`` fails, naming
the row, when

- its mIoU is missing, NaN, or its run failed;
- it does not beat its trivial baseline by ``margin`` mIoU points (a model that stopped
  learning sits at the trivial level: the check must be able to fail for every row);
  exception: a row the baseline marks ``learns: false`` (its smoke variant did not beat the
  margin when the baseline was made). For those the check cannot tell a broken model from a
  working one; it fails on NaN, a missing row or a drop beyond the tolerance only, prints every
  such row as ``NOT LEARNING`` and counts them in its summary, and asks for an update once the
  row beats the margin;
- it fell more than its tolerance below the baseline;
- the results hold a trained row the baseline does not list, or the baseline a row the results
  lack.

``--update`` rewrites the baseline from the results (a deliberate change, reviewed in git): seed
0 gives the value, all seeds present give the spread (a row with one seed keeps the spread of
the previous baseline, if any).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from repro.results import ResultRow, atomic_write_json, read_all

METRIC = "mIoU"
MARGIN = 10.0  # mIoU points above the trivial baseline every smoke row must reach
SPREAD_FACTOR = 3.0  # tolerance = SPREAD_FACTOR x seed-to-seed standard deviation ...
MIN_TOLERANCE = 1.0  # ... but at least this (floating-point differences between machines)
DEFAULT_TOLERANCE = 2.0  # for a row whose spread was never measured
CI_SEED = 0


class BaselineError(ValueError):
    """A baseline file the check cannot read: names the file and the fix."""


@dataclass
class Finding:
    row: str
    reason: str

    def __str__(self) -> str:
        return f"{self.row}: {self.reason}"


def _key(r: ResultRow) -> str:
    return f"{r.table}/{r.row}"


def _rows(results_dir: Path, profile: str) -> dict[str, dict[int, dict[str, ResultRow]]]:
    """row key -> seed -> metric -> result row, for the rows that report an mIoU."""
    out: dict[str, dict[int, dict[str, ResultRow]]] = {}
    for r in read_all(results_dir, profile):
        out.setdefault(_key(r), {}).setdefault(r.seed, {})[r.metric] = r
    return {k: v for k, v in out.items() if any(METRIC in m for m in v.values())}


def _value(r: ResultRow | None) -> float | None:
    if r is None or r.status != "ok" or not isinstance(r.value, (int, float)):
        return None
    return float(r.value)


def tolerance(spread: float | None) -> float:
    if spread is None:
        return DEFAULT_TOLERANCE
    return round(max(MIN_TOLERANCE, SPREAD_FACTOR * spread), 2)


def make_baseline(results_dir: Path, profile: str = "smoke", previous: dict | None = None,
                  margin: float = MARGIN) -> dict:
    rows = {}
    old_rows = (previous or {}).get("rows", {})
    for key, seeds in sorted(_rows(results_dir, profile).items()):
        value = _value(seeds.get(CI_SEED, {}).get(METRIC))
        if value is None or math.isnan(value):
            continue
        trivial = _value(seeds[CI_SEED].get("trivial_mIoU"))
        values = [v for s in seeds.values() if (v := _value(s.get(METRIC))) is not None]
        if len(values) >= 2:
            spread = round(statistics.stdev(values), 3)
            seeds_used = sorted(seeds)
        else:
            spread = old_rows.get(key, {}).get("spread")
            seeds_used = old_rows.get(key, {}).get("seeds")
        rows[key] = dict(mIoU=round(value, 4), trivial=None if trivial is None else
                         round(trivial, 4), spread=spread, seeds=seeds_used,
                         tolerance=tolerance(spread),
                         learns=trivial is None or value >= trivial + margin)
    shas = sorted({r.git_sha for s in _rows(results_dir, profile).values() for m in s.values()
                   for r in m.values()})
    return {
        "profile": profile,
        "metric": METRIC,
        "seed": CI_SEED,
        "margin": margin,
        "rule": f"fail below max(trivial + margin, mIoU - tolerance); tolerance = "
                f"max({MIN_TOLERANCE}, {SPREAD_FACTOR} x seed-to-seed std); rows with learns: "
                "false fail below mIoU - tolerance only",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_sha": shas,
        "rows": rows,
    }


def compare(baseline: dict, results_dir: Path,
            warnings: list[Finding] | None = None) -> tuple[list[Finding], int]:
    """(findings, rows checked): one finding per failing row (module docstring); rows the
    baseline marks ``learns: false`` are appended to ``warnings`` (when given)."""
    margin = float(baseline.get("margin", MARGIN))
    now = _rows(results_dir, baseline.get("profile", "smoke"))
    findings = []
    warnings = [] if warnings is None else warnings
    checked = set(baseline["rows"]) | set(now)
    for key in sorted(checked):
        base = baseline["rows"].get(key)
        seeds = now.get(key, {})
        if base is None:
            findings.append(Finding(key, "has a result but no baseline entry: add it with "
                                         "`repro check --update` if the row is new"))
            continue
        r = seeds.get(CI_SEED, {}).get(METRIC)
        value = _value(r)
        if value is None:
            status = r.status if r is not None else "missing from the results"
            # The row's own error (a failed row records it), so that a CI log names the cause.
            error = (r.extra.get("error") if r is not None else None) or ""
            error = f": {error.strip().splitlines()[-1][:300]}" if error.strip() else ""
            findings.append(Finding(key, f"no mIoU ({status}{error}); baseline "
                                         f"{base['mIoU']:.2f}"))
            continue
        if math.isnan(value):
            findings.append(Finding(key, "mIoU is NaN"))
            continue
        trivial = _value(seeds[CI_SEED].get("trivial_mIoU"))
        if trivial is None:
            trivial = base.get("trivial")
        tol = float(base.get("tolerance", DEFAULT_TOLERANCE))
        learns = base.get("learns", True)
        if not learns:
            beats = trivial is not None and value >= trivial + margin
            warnings.append(Finding(key, (
                f"now beats its trivial baseline by {margin:g} (mIoU {value:.2f}, trivial "
                f"{trivial:.2f}): mark it learning with `repro check --update`") if beats else (
                f"mIoU {value:.2f}, trivial {trivial if trivial is not None else float('nan'):.2f}"
                f": its smoke variant does not learn (baseline learns: false), so a broken "
                f"model of this row cannot be told from a working one")))
        if learns and trivial is not None and value < trivial + margin:
            findings.append(Finding(
                key, f"mIoU {value:.2f} does not beat the trivial baseline {trivial:.2f} by "
                     f"{margin:g} (the model did not learn)"))
        elif value < base["mIoU"] - tol:
            findings.append(Finding(
                key, f"mIoU {value:.2f} < baseline {base['mIoU']:.2f} - tolerance {tol:g} "
                     f"({value - base['mIoU']:+.2f})"))
    return findings, len(checked)


def read_baseline(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise BaselineError(f"Baseline {path} does not exist: create it with `repro check "
                            "--update` after `repro run all --profile smoke`.")
    try:
        baseline = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BaselineError(f"Baseline {path} is not valid JSON ({e.msg}, line {e.lineno}): "
                            "restore it from git or rewrite it with --update.") from e
    rows = baseline.get("rows") if isinstance(baseline, dict) else None
    if not isinstance(rows, dict) or not all(isinstance(v, dict) for v in rows.values()):
        raise BaselineError(f"Baseline {path} does not have the layout of `repro check "
                            "--update` (rows: {TABLE/ROW: {mIoU, trivial, spread, tolerance}}): "
                            "restore it from git or rewrite it with --update.")
    problems = [f"{name} {baseline[name]!r} is not {want}"
                for name, want, ok in _TOP_FIELDS
                if name in baseline and not ok(baseline[name])]
    problems += [f"row {key}: {name} {entry.get(name)!r} is not {want}"
                 for key, entry in rows.items() for name, want, required, ok in _ROW_FIELDS
                 if (required or name in entry) and not ok(entry.get(name))]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BaselineError(f"Baseline {path}: {problems[0]}{more}: restore it from git or "
                            "rewrite it with --update.")
    return baseline


def _number(v) -> bool:
    """A finite JSON number (``true``/``false`` are not numbers here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _optional(check):
    return lambda v: v is None or check(v)


#: Top-level baseline fields the check reads: (name, what it must be, test).
_TOP_FIELDS = (
    ("margin", "a finite number", _number),
    ("profile", "a profile name", lambda v: isinstance(v, str) and bool(v)),
)
#: Fields of a baseline row: (name, what it must be, required, test); every field that
#: :func:`compare` or :func:`make_baseline` reads from a row is validated before use.
_ROW_FIELDS = (
    ("mIoU", "a finite number", True, _number),
    ("trivial", "a finite number or null", False, _optional(_number)),
    ("spread", "a non-negative number or null", False, _optional(lambda v: _number(v) and v >= 0)),
    ("tolerance", "a non-negative number", False, lambda v: _number(v) and v >= 0),
    ("learns", "true or false", False, lambda v: isinstance(v, bool)),
    ("seeds", "a list of seeds or null", False, _optional(
        lambda v: isinstance(v, list) and all(isinstance(s, int) and not isinstance(s, bool)
                                              for s in v))),
)


def main_check(args) -> int:
    if args.update:
        previous = None
        if Path(args.baseline).exists():
            try:
                previous = read_baseline(args.baseline)
            except BaselineError as e:  # rewriting it is what --update is for
                print(f"note: {e} Rewriting it; no spread is carried over from it.")
        baseline = make_baseline(args.results_dir, previous=previous)
        if not baseline["rows"]:
            raise BaselineError(f"No smoke mIoU under {args.results_dir}: run `repro run all "
                                "--profile smoke` first.")
        atomic_write_json(Path(args.baseline), baseline)
        unmeasured = [k for k, v in baseline["rows"].items() if v["spread"] is None]
        print(f"baseline {args.baseline}: {len(baseline['rows'])} rows"
              + (f"; {len(unmeasured)} without a measured spread (tolerance "
                 f"{DEFAULT_TOLERANCE}): run them with --seed 0 1 2 and update again"
                 if unmeasured else ""))
        return 0
    baseline = read_baseline(args.baseline)
    warnings: list[Finding] = []
    findings, n = compare(baseline, args.results_dir, warnings)
    for w in warnings:
        print(f"NOT LEARNING {w}", file=sys.stderr)
    for f in findings:
        print(f"REGRESSION {f}", file=sys.stderr)
    print(f"{n - len(findings)} passed, {len(findings)} failed (mIoU vs {args.baseline}: "
          f"{baseline.get('rule', '')})"
          + (f"; {len(warnings)} of them do not learn in the smoke profile (NOT LEARNING "
             "above): for those only NaN, a missing row or a drop fails" if warnings else ""))
    return 1 if findings else 0
