"""The one results schema of the harness, its atomic storage, and reading it back.

Long format: one :class:`ResultRow` per (table, row, metric, seed). Every row carries its
provenance, so a number in a report can always be traced to the code, config and data that
produced it. Storage is one JSON file per (profile, table, row, seed) under ``results/``, written
to a temporary file and renamed into place: a kill never leaves a partial file, and concurrent
runs of different rows never write the same file (two runs of the *same* row race benignly:
the last complete write wins, both complete).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

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


def result_path(results_dir: Path, profile: str, table: str, row: str, seed: int) -> Path:
    return Path(results_dir) / profile / table / f"{row}.seed{seed}.json"


def atomic_write_json(path: Path, payload) -> None:
    """Write JSON so that readers see either the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=1, sort_keys=True, default=_json_default)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(obj):
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)


def write_rows(path: Path, rows: list[ResultRow]) -> None:
    atomic_write_json(path, {"schema": SCHEMA_VERSION, "rows": [asdict(r) for r in rows]})


def read_file(path: Path) -> list[ResultRow]:
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ResultsFileError(
            f"Results file {path} is not valid JSON ({e.msg} at line {e.lineno}). It was edited "
            f"or damaged outside the harness: delete it and rerun that row "
            f"(`repro run ... --force`), or restore it from git."
        ) from e
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        raise ResultsFileError(
            f"Results file {path} does not have the harness's layout "
            f'({{"schema": {SCHEMA_VERSION}, "rows": [...]}}): delete it and rerun that row.'
        )
    out = []
    for i, r in enumerate(payload["rows"]):
        missing = _FIELDS - set(r) - _OPTIONAL
        unknown = set(r) - _FIELDS
        if missing or unknown:
            raise ResultsFileError(
                f"Results file {path}, row {i}: missing fields {sorted(missing)}, unknown fields "
                f"{sorted(unknown)}. Delete the file and rerun that row."
            )
        out.append(ResultRow(**r))
    return out


def read_all(results_dir: Path, profile: str | None = None) -> list[ResultRow]:
    """Every result row under ``results_dir`` (optionally one profile), in file order."""
    base = Path(results_dir)
    roots = [base / profile] if profile else [p for p in base.iterdir() if p.is_dir()] if (
        base.exists()
    ) else []
    rows: list[ResultRow] = []
    for root in roots:
        if root.name in ("bench", "baselines", "crf", "submissions"):
            continue
        for path in sorted(root.glob("*/*/*.json")):
            rows.extend(read_file(path))
    return rows


def to_frame(rows: list[ResultRow]):
    import pandas as pd

    if not rows:
        return pd.DataFrame(columns=sorted(_FIELDS))
    return pd.DataFrame([asdict(r) for r in rows])
