"""The one results schema of the harness, its atomic storage, and reading it back.

Long format: one :class:`ResultRow` per (table, row, metric, seed). Every row carries its
provenance, so a number in a report can always be traced to the code, config and data that
produced it. Storage is one JSON file per (profile, table, row, seed) under ``results/``, written
to a temporary file and renamed into place (mode 0644): a kill never leaves a partial file.
:func:`store` never loses a good result: a failed attempt, or a run with command-line overrides,
does not replace a good result of the table's own protocol (it is kept under ``history/``), and
every replaced file moves to ``history/`` first.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

from repro.files import atomic_write_bytes

SCHEMA_VERSION = 1

Status = Literal[
    "ok",  # trained/evaluated; value is our number
    "failed",  # the row raised; extra["error"] says what
    "nan_loss",  # training stopped on a NaN/inf loss; value is None
    "awaiting_server",  # test-set row: submission written, server numbers not imported yet
    "not_reproduced",  # a cell the harness cannot produce here (e.g. ImageNet error)
    "skipped",  # e.g. a training stage whose data is absent
]


@dataclass
class ResultRow:
    table: str  # table name, e.g. "gcn/table1"
    row: str  # experiment key within the table, e.g. "k15"
    # metric key, e.g. "mIoU", "boundary_acc", "params", "IoU.aeroplane"; every trained row also
    # records "trivial_mIoU" (mIoU of predicting the most frequent ground-truth class
    # everywhere, from the same confusion matrix: the level a model that learned nothing
    # reaches) and "final_loss" (mean training loss of the last logged iterations).
    metric: str
    seed: int  # training seed
    value: float | str | None  # ours: percent for scores, a count for params, a string for
    # architecture cells (e.g. "112x112x64"); None if absent
    status: Status  # see Status above
    paper: float | str | None  # the paper's published value at the time of the run (the spec)
    spec_version: int  # version of the table spec that produced the row
    profile: str  # "smoke" or "paper"
    data: Literal["synthetic", "real"]  # which data the number comes from
    config: str  # mmseg config path relative to mmseg_configs/
    config_hash: str  # sha256 (16 hex) of the fully resolved config actually run
    git_sha: str  # commit of this repository ("-dirty" appended if uncommitted changes)
    versions: dict = field(default_factory=dict)  # python, torch, mmseg, mmengine, mmcv, repro
    device: str = "cpu"  # e.g. "cpu (2 threads)" or "cuda: NVIDIA H100 x1"
    timestamp: str = ""  # ISO 8601 UTC time the row was written
    duration_s: float | None = None  # wall time of the whole experiment (train + eval)
    extra: dict = field(default_factory=dict)  # iterations, batch sizes, CRF params, errors...
    # 95% bootstrap interval [low, high] of ``value`` over the evaluation images (1000 seeded
    # resamples of the per-image confusion matrices, repro.metrics.bootstrap); None when the
    # metric has none (parameter counts, server numbers, static cells).
    ci: list[float] | None = None
    # Where the model's weights came from: "trained" (by this harness), "released" (the
    # authors' released model, converted: `repro weights import-caffe`), "none" (a static cell
    # computed from the built model, or a reference row).
    weights: Literal["trained", "released", "none"] = "trained"
    # Who scored the predictions: "harness" (our confusion matrix), "server" (numbers imported
    # from the evaluation server), "simulated_server" (synthetic data: the generator's hidden
    # test labels, `--simulate-server`).
    scored_by: Literal["harness", "server", "simulated_server"] = "harness"
    # Settings given on the command line that depart from the profile and the table's protocol
    # (e.g. {"iters": 3, "cfg_options": {...}}); empty for a run under the table's own protocol.
    overrides: dict = field(default_factory=dict)
    # True for a row the user added to the table (`repro run TABLE --add NAME=CONFIG`); such a
    # row has no paper value and is shown marked as the user's.
    user_row: bool = False


_FIELDS = {f.name for f in fields(ResultRow)}
#: Fields with a default: files written before a field existed still read.
_OPTIONAL = {"versions", "device", "timestamp", "duration_s", "extra", "ci", "weights",
             "scored_by", "overrides", "user_row"}


class ResultsFileError(ValueError):
    """A results file that cannot be read: names the file and the fix."""

    def __init__(self, message: str, path: Path | None = None):
        super().__init__(message)
        self.path = path

    def table(self) -> str | None:
        """``paper/tableN`` of the damaged file (``<results>/<profile>/<paper>/<tableN>/...``)."""
        if self.path is None:
            return None
        folder = Path(self.path).parent
        if folder.name == HISTORY:
            folder = folder.parent
        return f"{folder.parent.name}/{folder.name}"


def result_path(results_dir: Path, profile: str, table: str, row: str, seed: int) -> Path:
    return Path(results_dir) / profile / table / f"{row}.seed{seed}.json"


def atomic_write_json(path: Path, payload) -> None:
    """Write JSON atomically (:func:`atomic_write_bytes`)."""
    text = json.dumps(payload, indent=1, sort_keys=True, default=_json_default)
    atomic_write_bytes(path, text.encode())


def _json_default(obj):
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def write_rows(path: Path, rows: list[ResultRow]) -> None:
    atomic_write_json(path, {"schema": SCHEMA_VERSION, "rows": [asdict(r) for r in rows]})


#: Statuses of a result worth keeping against a failed or partial rerun.
GOOD = ("ok", "awaiting_server")
HISTORY = "history"


def history_path(path: Path, stamp: str | None = None) -> Path:
    """Where a replaced or refused result file of ``path`` is kept:
    ``<table folder>/history/<row>.seed<S>.<UTC timestamp>.json``."""
    from datetime import UTC, datetime

    stamp = stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = Path(path)
    return path.parent / HISTORY / f"{path.stem}.{stamp}.json"


def _main_status(rows: list[ResultRow]) -> str:
    trained = [r for r in rows if r.weights != "none"] or rows
    return trained[0].status if trained else "failed"


def store(path: Path, rows: list[ResultRow], *, force: bool = False) -> str:
    """Record a row's result without ever losing a good one. Returns what was done.

    - No current result, or the current one is not good (failed, NaN loss...): the new result
      becomes current (the old file, if any, moves to ``history/``).
    - The current result is good and the new one is not (a failed or interrupted attempt):
      the current one stays; the new one goes to ``history/``.
    - The current result is good and came from the table's own protocol, and the new one
      comes from a run with command-line overrides (``--iters 3``, ``--cfg-options``): the
      current one stays unless ``force``; the new one goes to ``history/``.
    - Otherwise the new result becomes current and the old file moves to ``history/``.
    A damaged current file is moved to ``history/`` (suffix ``.damaged``) and replaced.
    """
    path = Path(path)
    old: list[ResultRow] = []
    if path.exists():
        try:
            old = read_file(path)
        except ResultsFileError:
            damaged = history_path(path).with_suffix(".damaged")
            damaged.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, damaged)
            write_rows(path, rows)
            return f"replaced the damaged result file (kept as {damaged})"
    new_good = _main_status(rows) in GOOD
    if old and _main_status(old) in GOOD:
        keep = None
        if not new_good:
            keep = f"this attempt ended '{_main_status(rows)}'"
        elif rows[0].overrides and not old[0].overrides and not force:
            keep = (f"this run had command-line overrides ({_describe(rows[0].overrides)}); "
                    "--force replaces the table's result by it")
        if keep:
            aside = history_path(path)
            write_rows(aside, rows)
            return f"kept the previous good result: {keep}; this attempt is in {aside}"
    if old:
        aside = history_path(path, stamp=None)
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, aside)
    write_rows(path, rows)
    return "recorded"


def _describe(overrides: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in overrides.items())


def read_file(path: Path) -> list[ResultRow]:
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ResultsFileError(
            f"Results file {path} is not valid JSON ({e.msg} at line {e.lineno}). It was edited "
            f"or damaged outside the harness: restore it from git, or rerun that row with "
            f"--force (the damaged file is kept under history/).", path
        ) from e
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        raise ResultsFileError(
            f"Results file {path} does not have the harness's layout "
            f'({{"schema": {SCHEMA_VERSION}, "rows": [...]}}): restore it from git, or rerun '
            "that row with --force.", path
        )
    out = []
    for i, r in enumerate(payload["rows"]):
        missing = _FIELDS - set(r) - _OPTIONAL
        unknown = set(r) - _FIELDS
        if missing or unknown:
            raise ResultsFileError(
                f"Results file {path}, row {i}: missing fields {sorted(missing)}, unknown fields "
                f"{sorted(unknown)}. Restore it from git, or rerun that row with --force.", path
            )
        out.append(ResultRow(**r))
    return out


def read_all(results_dir: Path, profile: str | None = None,
             errors: list[ResultsFileError] | None = None) -> list[ResultRow]:
    """Every current result row under ``results_dir`` (optionally one profile), in file order.
    With ``errors`` given, a damaged file is skipped and its message appended there (one
    damaged file then stops only its own table); without, it raises ResultsFileError."""
    base = Path(results_dir)
    roots = [base / profile] if profile else [p for p in base.iterdir() if p.is_dir()] if (
        base.exists()
    ) else []
    rows: list[ResultRow] = []
    for root in roots:
        if root.name in ("bench", "baselines", "crf", "submissions"):
            continue
        for path in sorted(root.glob("*/*/*.json")):
            try:
                rows.extend(read_file(path))
            except ResultsFileError as e:
                if errors is None:
                    raise
                errors.append(e)
    return rows


def read_history(results_dir: Path, profile: str, table: str,
                 errors: list[ResultsFileError] | None = None) -> list[ResultRow]:
    """The replaced and refused results of a table (``history/``), oldest first; a damaged
    file raises, or is skipped and appended to ``errors`` when given."""
    folder = Path(results_dir) / profile / table / HISTORY
    rows: list[ResultRow] = []
    for path in sorted(folder.glob("*.json")):
        try:
            rows.extend(read_file(path))
        except ResultsFileError as e:
            if errors is None:
                raise
            errors.append(e)
    return rows


def to_frame(rows: list[ResultRow]):
    import pandas as pd

    if not rows:
        return pd.DataFrame(columns=sorted(_FIELDS))
    return pd.DataFrame([asdict(r) for r in rows])
