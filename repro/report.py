"""results/ + table specs -> reports/<paper>/table<N>.md (or .csv / .json) in the paper's layout.

Generated from ``results/`` only, never edited by hand: rerun ``repro report``. Reads result
rows (:mod:`repro.results`) and table specs (:mod:`repro.tables.registry`); importing this module
loads neither torch, mmseg nor pandas, and matplotlib is imported only when a plot is drawn
(:mod:`repro.plots`).

What a cell shows
-----------------
Every cell of the paper's table becomes one :class:`CellView` (the long format that
``--format csv|json`` writes): ours, its 95% interval, the trivial baseline, the paper's value
as printed, and Δ = ours − paper in the paper's unit (260K, 252M, percent).

- **ours**: the mean over seeds; with several seeds ``mean ± std`` (sample std across seeds).
  A class whose IoU is undefined (in neither the evaluation labels nor our predictions; NaN in
  the results) reads "not in eval set" and has no Δ. A row that did not produce a number shows
  its status ("failed", "awaiting server", ...). "—": not run yet.
- **95% CI**: the bootstrap interval over evaluation images stored with the result (``ci``).
  With several seeds, the mIoU's is the interval of the seed mean (images resampled together
  across the seeds' per-image files: :func:`seed_mean_intervals`); where a seed's per-image file
  is missing, and for other metrics, the envelope of the seeds' intervals (lowest low, highest
  high), said in ``ci_of``; each seed's own interval is in the CSV/JSON (``seed_cis``).
- **trivial**: for mIoU cells, the mIoU of predicting the most frequent class everywhere (the
  row's ``trivial_mIoU``, same evaluation, mean over the same seeds): a smoke number at this
  level means the row learned nothing.
- **Δ** is **bold** when the paper's value lies outside our 95% interval (outside the envelope
  with several seeds): the gap is larger than the image-sampling noise of our evaluation.
  Without an interval (parameter counts, server numbers) Δ is never bold. The interval covers
  the evaluation images, not training noise: only several seeds speak to that.
- String cells (layer output sizes such as "112x112x64") show ✓ / ✗ in the Δ place.
- Reference rows (other methods' published numbers, ``Experiment.reference``) show the paper's
  number only, titled "(published)".

Layout
------
The table specs pivot cells into the paper's layout rows and columns; this module keeps that
layout and gives ours, paper and Δ their own places in one of two ways:

- **Column groups** for plain tables (every layout row holds one experiment) with at most three
  paper columns (GDN Table 1, GCN Tables 5, 8 and 10, DeconvNet Table 2): each paper column
  becomes ``<col>: ours | 95% CI | trivial | paper | Δ`` (CI / trivial only where recorded), so a
  row of the paper stays one line.
- **Sub-rows** everywhere else: pivoted tables, whose experiments are the columns (GCN Table 1:
  k = base, 3, ..., 15) and wide per-class tables (20-22 class columns: three columns per class
  would not fit a page). The paper's columns stay as printed; under each layout row come the
  sub-rows ``ours``, ``95% CI``, ``trivial``, ``paper``, ``Δ`` (only those that have a value).
  A reader compares vertically within a column, as the paper's own table is read.

Rows the user added (``user_row``: ``repro run TABLE --add NAME=CONFIG``) appear as an extra
layout row in plain tables and as an extra column in pivoted ones, titled "NAME (yours)"; their
metrics go to the paper's column (plain) or the first layout row (pivoted) using the same metric.

Marks (legend under each table, only the marks that occur): † simulated server, ‡ released
weights, § command-line overrides (which ones: in the legend), ⚠ a newer attempt of the row
failed (replaced and failed attempts are kept under ``<profile>/<table>/history/``; the Rows
section has the error). Protocol notes of the rows the harness runs become numbered footnotes
(¹ ²) on the rows they concern. A mark or footnote that holds for every cell of a layout row
sits on the row's title, one that holds for a whole column on the column header, otherwise on
the cell itself.

Between-row significance (a paired bootstrap of two rows' difference, e.g. GCN k=15 vs k=13)
and the seed-mean intervals read the per-image files, so they are computed outside
:func:`collect` (:func:`row_comparisons`, :func:`seed_mean_intervals`); :func:`render_all` passes
them in, and the comparisons get a section of their own.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from repro import plots as plots_module  # matplotlib itself is imported when a plot is drawn
from repro.plots import MARK_SYMBOLS
from repro.results import ResultRow, ResultsFileError, read_all, read_history

if TYPE_CHECKING:
    from repro.tables.registry import Cell, Experiment, TableSpec


GENERATED = "<!-- Generated by `repro report` from results/; do not edit by hand. -->"
FORMATS = ("md", "csv", "json")
SCALE = {"K": 1e3, "M": 1e6, "%": 1.0, "": 1.0}
STATUS_TEXT = {
    "failed": "failed",
    "nan_loss": "loss diverged",
    "awaiting_server": "awaiting server",
    "not_reproduced": "not reproduced",
    "skipped": "skipped",
}
ABSENT = "not in eval set"
NOT_RUN = "—"
FAILED_STATUSES = ("failed", "nan_loss")
#: Cell marks: name -> (symbol, legend text).
_MARK_TEXTS = {
    "simulated_server": "scored by a simulated server: the synthetic generator's hidden test "
                        "labels (`--simulate-server`), standing in for the real evaluation server",
    "released_weights": "the authors' released model, converted (`repro weights import-caffe`) "
                        "and evaluated here without training",
    "overrides": "run with command-line settings that depart from the table's protocol",
    "newer_attempt_failed": "a newer attempt of this row failed; the number shown comes from "
                            "the earlier successful run (see Rows)",
}
#: mark -> (symbol, legend text); the symbols are the plots' (repro.plots.MARK_SYMBOLS).
MARKS = {m: (symbol, _MARK_TEXTS[m]) for m, symbol in MARK_SYMBOLS.items()}
USER_SUFFIX = " (yours)"
REFERENCE_SUFFIX = " (published)"
SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
SUPERSCRIPTS = str.maketrans("0123456789", SUPERSCRIPT_DIGITS)


@dataclass
class CellView:
    """One cell of a report, in the long format that ``--format csv|json`` writes.

    Numbers are in the paper's unit (``unit``: "%" percent, "K" thousands, "M" millions).
    """

    table: str
    layout_row: str  # the paper's row title
    layout_col: str  # the paper's column title
    row: str  # experiment key in the table spec (or the user's row name)
    title: str  # experiment title
    metric: str
    unit: str
    source: str  # "ours" (a row the harness runs), "reference" (published only), "user"
    status: str  # "ok", "not run", "not in eval set", "published", or a result status
    ours: float | str | None = None  # mean over seeds
    ours_std: float | None = None  # sample std across seeds (several seeds only)
    seeds: list[int] = field(default_factory=list)
    ci: list[float] | None = None  # 95% interval (several seeds: see ci_of)
    ci_of: str | None = None  # "images" (one seed), "seed mean", "envelope of seeds"
    seed_cis: dict[int, list[float]] | None = None  # each seed's own interval
    trivial: float | None = None  # trivial_mIoU of the same row and seeds (mIoU cells)
    paper: float | str | None = None  # as printed
    delta: float | None = None  # ours - paper
    significant: bool | None = None  # paper outside ``ci``; None without an interval
    match: bool | None = None  # string cells: ours == paper
    marks: list[str] = field(default_factory=list)  # keys of MARKS
    overrides: dict = field(default_factory=dict)  # command-line overrides per seed, merged
    notes: list[int] = field(default_factory=list)  # footnote numbers (protocol notes)


@dataclass(frozen=True)
class Comparison:
    """A paired difference between two rows of one table (computed by the paired bootstrap
    elsewhere); rendered as given under "Differences between rows"."""

    table: str
    metric: str
    row_a: str
    row_b: str
    diff: float  # a - b, in percent
    ci: tuple[float, float]  # paired 95% bootstrap interval of the difference

    @property
    def significant(self) -> bool:
        return not self.ci[0] <= 0.0 <= self.ci[1]


@dataclass
class TableView:
    """Everything a report of one table shows, independent of the output format."""

    spec: TableSpec
    profile: str | None
    rows: list[ResultRow]  # this table's results in ``profile``
    cells: list[CellView]
    layout_rows: list[str]
    layout_cols: list[str]
    pivoted: bool
    experiments: list[Experiment]  # the spec's, then the user's rows (synthesised)
    user_keys: list[str]
    stale_keys: list[str]  # results whose key is neither in the spec nor a user row
    newer_failures: dict[tuple[str, int], ResultRow]  # (row, seed) -> newer failed attempt
    notes: list[str] = field(default_factory=list)  # footnote texts, numbered from 1
    # Where each mark is drawn: layout row titles, column titles, (row, col) cells.
    row_marks: dict[str, list[str]] = field(default_factory=dict)
    col_marks: dict[str, list[str]] = field(default_factory=dict)
    cell_marks: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    reference_rows: set[str] = field(default_factory=set)  # titled "(published)"
    reference_cols: set[str] = field(default_factory=set)

    def cell(self, row: str, col: str) -> CellView | None:
        return self._index.get((row, col))

    def __post_init__(self):
        self._index = {(c.layout_row, c.layout_col): c for c in self.cells}


# ---------------------------------------------------------------------------------------------
# Formatting.


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_ours(value: float, unit: str) -> str:
    if unit == "K":
        return f"{value:.0f}K"
    if unit == "M":
        return f"{value:.1f}M"
    return f"{value:.1f}"


def fmt_paper(value: float | str | None, unit: str) -> str:
    """The paper's value as transcribed (62.22 stays 62.22, 72 stays 72)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    text = f"{value:.1f}" if round(value, 1) == value else f"{value:g}"  # 69.0, 62.22
    if unit in ("K", "M"):
        text = f"{value:g}{unit}"
    return text


def fmt_delta(value: float, unit: str) -> str:
    value = 0.0 if round(value, 1) == 0 else value  # no "-0.0"
    return f"{value:+.1f}{unit if unit in ('K', 'M') else ''}"


def fmt_ci(ci) -> str:
    return f"[{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""


def fmt_overrides(overrides: dict) -> str:
    """{"iters": 3, "cfg_options": {"a.b": 1}} -> "iters=3, a.b=1"."""
    parts = []
    for k, v in sorted(overrides.items()):
        if isinstance(v, dict):
            parts += [f"{kk}={vv}" for kk, vv in sorted(v.items())]
        else:
            parts.append(f"{k}={v}")
    return ", ".join(parts)


def superscript(n: int) -> str:
    return str(n).translate(SUPERSCRIPTS)


def ours_text(c: CellView) -> str:
    if c.source == "reference":
        return ""
    if c.status != "ok":
        return {"not run": NOT_RUN}.get(c.status, c.status)
    if isinstance(c.ours, str):
        return c.ours
    text = fmt_ours(c.ours, c.unit)
    if c.ours_std is not None:
        text += f" ± {fmt_ours(c.ours_std, c.unit)}"
    return text


def delta_text(c: CellView, md: bool = True) -> str:
    if c.match is not None:
        return "✓" if c.match else "✗"
    if c.delta is None:
        return ""
    text = fmt_delta(c.delta, c.unit)
    return f"**{text}**" if md and c.significant else text


# ---------------------------------------------------------------------------------------------
# Results -> cells.


def scored_by(r: ResultRow) -> str:
    """Who scored a row; result files written before ``scored_by`` existed recorded a simulated
    server only in ``extra["scores_from"]``."""
    if r.scored_by == "harness" and str(r.extra.get("scores_from", "")).startswith("simulated"):
        return "simulated_server"
    return r.scored_by


def row_marks(rows: Iterable[ResultRow]) -> list[str]:
    rows = list(rows)
    marks = []
    if any(scored_by(r) == "simulated_server" for r in rows):
        marks.append("simulated_server")
    if any(r.weights == "released" for r in rows):
        marks.append("released_weights")
    if any(r.overrides for r in rows):
        marks.append("overrides")
    return marks


def _merged_overrides(rows: Iterable[ResultRow]) -> dict:
    out: dict = {}
    for r in rows:
        out.update(r.overrides or {})
    return out


def _timestamp(ts: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return None


def newer_failures(rows: list[ResultRow], history: list[ResultRow]
                   ) -> dict[tuple[str, int], ResultRow]:
    """(row, seed) -> the newest attempt in ``history`` when it failed after the result shown."""
    shown: dict[tuple[str, int], datetime] = {}
    for r in rows:
        t = _timestamp(r.timestamp)
        if t is not None and ((r.row, r.seed) not in shown or t > shown[(r.row, r.seed)]):
            shown[(r.row, r.seed)] = t
    latest: dict[tuple[str, int], tuple[datetime, ResultRow]] = {}
    for r in history:
        t = _timestamp(r.timestamp)
        key = (r.row, r.seed)
        if t is None:
            continue
        if key not in latest or t > latest[key][0] or (
                t == latest[key][0] and r.status in FAILED_STATUSES):
            latest[key] = (t, r)
    out = {}
    for key, (t, r) in latest.items():
        if r.status in FAILED_STATUSES and key in shown and t > shown[key]:
            out[key] = r
    return out


def _cell_view(spec: TableSpec, exp: Experiment, cell: Cell, source: str,
               by_metric: dict[str, list[ResultRow]], newer: dict,
               seed_mean_ci: list[float] | None = None) -> CellView:
    unit = cell.unit
    view = CellView(table=spec.name, layout_row=cell.row, layout_col=cell.col, row=exp.key,
                    title=exp.title, metric=cell.metric, unit=unit, source=source,
                    status="not run", paper=cell.paper)
    if source == "reference":
        view.status = "published"
        return view
    rows = sorted(by_metric.get(cell.metric, []), key=lambda r: r.seed)
    if not rows:
        return view
    ok = [r for r in rows if r.status == "ok"]
    view.marks = row_marks(rows)
    view.overrides = _merged_overrides(rows)
    if any((exp.key, r.seed) in newer for r in rows):
        view.marks.append("newer_attempt_failed")
    if not ok:
        last = rows[-1]
        view.status = STATUS_TEXT.get(last.status, last.status)
        view.seeds = [r.seed for r in rows]
        return view
    view.seeds = [r.seed for r in ok]
    if isinstance(cell.paper, str) or any(isinstance(r.value, str) for r in ok):
        view.status = "ok"
        view.ours = str(ok[-1].value)
        if cell.paper is not None:
            view.match = view.ours == str(cell.paper)
        return view
    values = [float(r.value) for r in ok if _finite(r.value)]
    if not values:  # NaN: the class is absent; None: the metric was not produced
        view.status = ABSENT if any(isinstance(r.value, float) for r in ok) else "not run"
        return view
    scale = SCALE[unit]
    view.status = "ok"
    mean = sum(values) / len(values) / scale
    view.ours = mean
    if len(values) > 1 and cell.static is None:
        var = sum((v / scale - mean) ** 2 for v in values) / (len(values) - 1)
        view.ours_std = math.sqrt(var)
    cis = {r.seed: [r.ci[0] / scale, r.ci[1] / scale] for r in ok
           if r.ci and all(_finite(x) for x in r.ci)}
    if cis:
        view.seed_cis = cis
        if len(cis) == 1:
            view.ci, view.ci_of = next(iter(cis.values())), "images"
        elif cell.metric == "mIoU" and seed_mean_ci:
            view.ci, view.ci_of = list(seed_mean_ci), "seed mean"
        else:
            view.ci = [min(c[0] for c in cis.values()), max(c[1] for c in cis.values())]
            view.ci_of = "envelope of seeds"
    if cell.metric == "mIoU":
        seeds = set(view.seeds)
        triv = [float(r.value) for r in by_metric.get("trivial_mIoU", [])
                if r.seed in seeds and r.status == "ok" and _finite(r.value)]
        if triv:
            view.trivial = sum(triv) / len(triv)
    if _finite(cell.paper):
        view.delta = mean - float(cell.paper)
        if view.ci:
            view.significant = not view.ci[0] <= float(cell.paper) <= view.ci[1]
    return view


def _pivoted(spec: TableSpec) -> bool:
    """True when some layout row holds cells of several experiments (experiments = columns)."""
    owners: dict[str, set[str]] = {}
    for e in spec.experiments:
        for c in e.cells:
            owners.setdefault(c.row, set()).add(e.key)
    return any(len(v) > 1 for v in owners.values())


def _user_experiment(spec: TableSpec, key: str, rows: list[ResultRow], pivoted: bool,
                     layout_rows: list[str], layout_cols: list[str]) -> Experiment:
    """A user's row as an experiment: its metrics in the spec's places for the same metric."""
    from repro.tables.registry import Cell, Experiment

    title = key + USER_SUFFIX
    metrics = list(dict.fromkeys(r.metric for r in rows))
    units: dict[str, str] = {}
    where: dict[str, str] = {}  # metric -> column (plain) or layout row (pivoted), first use
    for e in spec.experiments:
        for c in e.cells:
            units.setdefault(c.metric, c.unit)
            where.setdefault(c.metric, c.row if pivoted else c.col)
    cells = []
    for m in metrics:
        if m in where:
            cells.append(Cell(m, where[m], title, None, units[m]) if pivoted
                         else Cell(m, title, where[m], None, units[m]))
    config = next((r.config for r in rows if r.config), None)
    return Experiment(key=key, title=title, config=config, cells=tuple(cells))


def _lift(positions: set, decidable: set, layout_rows: list[str], layout_cols: list[str]):
    """Place a mark held by ``positions`` (a subset of ``decidable`` (row, col) cells): on a row
    title when it holds for every decidable cell of that row, else on a column title when it
    holds for every remaining decidable cell of the column, else on the cells."""
    rows = [r for r in layout_rows
            if (d := {p for p in decidable if p[0] == r}) and d <= positions]
    left = {p for p in positions if p[0] not in rows}
    dec_left = {p for p in decidable if p[0] not in rows}
    cols = [c for c in layout_cols
            if (d := {p for p in dec_left if p[1] == c}) and d <= left]
    cells = {p for p in left if p[1] not in cols}
    return rows, cols, cells


def collect(spec: TableSpec, results: list[ResultRow], profile: str | None,
            history: list[ResultRow] = (), comparisons: Iterable[Comparison] = (),
            seed_mean_cis: dict[str, list[float]] | None = None) -> TableView:
    """Pure: a table spec and result rows -> everything its report shows (``seed_mean_cis``:
    row -> interval of its seeds' mean mIoU, :func:`seed_mean_intervals`)."""
    mine = [r for r in results if r.table == spec.name and r.profile == profile] if profile \
        else []
    by_key: dict[str, dict[str, list[ResultRow]]] = {}
    for r in mine:
        by_key.setdefault(r.row, {}).setdefault(r.metric, []).append(r)
    spec_keys = {e.key for e in spec.experiments}
    user_keys = [k for k in by_key if k not in spec_keys and
                 any(r.user_row for rs in by_key[k].values() for r in rs)]
    stale_keys = [k for k in by_key if k not in spec_keys and k not in user_keys]
    newer = newer_failures(mine, list(history))
    layout_rows, layout_cols = spec.layout()
    pivoted = _pivoted(spec)
    experiments = list(spec.experiments)
    for key in user_keys:
        rows = [r for rs in by_key[key].values() for r in rs]
        user = _user_experiment(spec, key, rows, pivoted, layout_rows, layout_cols)
        experiments.append(user)
        if pivoted:
            layout_cols.append(user.title)
        else:
            layout_rows.append(user.title)
    cells: list[CellView] = []
    for exp in experiments:
        source = "reference" if exp.reference else "user" if exp.key in user_keys else "ours"
        for cell in exp.cells:
            cells.append(_cell_view(spec, exp, cell, source, by_key.get(exp.key, {}), newer,
                                    (seed_mean_cis or {}).get(exp.key)))
    view = TableView(spec=spec, profile=profile, rows=mine, cells=cells,
                     layout_rows=layout_rows, layout_cols=layout_cols, pivoted=pivoted,
                     experiments=experiments, user_keys=user_keys, stale_keys=stale_keys,
                     newer_failures=newer,
                     comparisons=[c for c in comparisons if c.table == spec.name])
    _place_marks(view)
    return view


def _place_marks(view: TableView) -> None:
    """Footnotes for protocol notes, and where each mark is drawn (see :func:`_lift`)."""
    exps = {e.key: e for e in view.experiments}
    all_pos = {(c.layout_row, c.layout_col) for c in view.cells}
    with_ours = {(c.layout_row, c.layout_col) for c in view.cells
                 if c.source != "reference" and c.status != "not run"}
    placements: list[tuple[str, set, set]] = []  # (marker text, positions, decidable)
    # Protocol notes of the rows the harness runs, numbered in layout order.
    note_pos: dict[str, set] = {}
    for c in sorted(view.cells, key=lambda c: (view.layout_rows.index(c.layout_row),
                                               view.layout_cols.index(c.layout_col))):
        exp = exps[c.row]
        if c.source == "ours" and exp.protocol.note:
            note_pos.setdefault(exp.protocol.note, set()).add((c.layout_row, c.layout_col))
    view.notes = list(note_pos)
    for i, pos in enumerate(note_pos.values(), 1):
        for c in view.cells:
            if (c.layout_row, c.layout_col) in pos:
                c.notes.append(i)
        placements.append((superscript(i), pos, all_pos))
    for name, (symbol, _) in MARKS.items():
        pos = {(c.layout_row, c.layout_col) for c in view.cells if name in c.marks}
        if pos:
            placements.append((symbol, pos, with_ours))
    ref = {(c.layout_row, c.layout_col) for c in view.cells if c.source == "reference"}
    for marker, pos, decidable in placements:
        rows, cols, cells = _lift(pos, decidable, view.layout_rows, view.layout_cols)
        for r in rows:
            view.row_marks.setdefault(r, []).append(marker)
        for c in cols:
            view.col_marks.setdefault(c, []).append(marker)
        for p in cells:
            view.cell_marks.setdefault(p, []).append(marker)
    # Reference rows say so in their title (or column title, in a pivoted table).
    rows, cols, _ = _lift(ref, all_pos, view.layout_rows, view.layout_cols)
    view.reference_rows, view.reference_cols = set(rows), set(cols)


def _title(view: TableView, row: str) -> str:
    suffix = REFERENCE_SUFFIX if row in view.reference_rows else ""
    marks = view.row_marks.get(row, [])
    return _with_marks(row + suffix, marks)


def _col_title(view: TableView, col: str) -> str:
    suffix = REFERENCE_SUFFIX if col in view.reference_cols else ""
    return _with_marks(col + suffix, view.col_marks.get(col, []))


def _with_marks(text: str, marks: list[str]) -> str:
    """Footnote numbers right after the text (superscripts), mark symbols after a space."""
    notes = ",".join(m for m in marks if m[0] in SUPERSCRIPT_DIGITS)
    symbols = "".join(m for m in marks if m[0] not in SUPERSCRIPT_DIGITS)
    return f"{text}{notes}" + (f" {symbols}" if symbols else "")


# ---------------------------------------------------------------------------------------------
# Markdown.


def choose_profile(results: list[ResultRow], table: str) -> str | None:
    profiles = {r.profile for r in results if r.table == table}
    if not profiles:
        return None
    return "paper" if "paper" in profiles else sorted(profiles)[-1]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _tabulate(body: list[list[str]], headers: list[str]) -> str:
    body = [[_md_escape(str(x)) for x in row] for row in body]
    return tabulate(body, headers=[_md_escape(h) for h in headers], tablefmt="github",
                    disable_numparse=True)


def _ours_cell(view: TableView, c: CellView) -> str:
    text = ours_text(c)
    marks = view.cell_marks.get((c.layout_row, c.layout_col), [])
    return _with_marks(text, marks) if text else "".join(marks)


def use_column_groups(view: TableView) -> bool:
    return not view.pivoted and len(view.layout_cols) <= 3


def table_md(view: TableView) -> str:
    return _column_groups(view) if use_column_groups(view) else _sub_rows(view)


def _column_groups(view: TableView) -> str:
    headers = [view.spec.corner]
    parts: list[tuple[str, str]] = []  # (column, part)
    for col in view.layout_cols:
        cells = [c for c in view.cells if c.layout_col == col]
        strings = any(c.match is not None or isinstance(c.paper, str) for c in cells)
        kinds = ["ours"]
        if any(c.ci for c in cells):
            kinds.append("95% CI")
        if any(c.trivial is not None for c in cells):
            kinds.append("trivial")
        if any(c.paper is not None for c in cells):
            kinds += ["paper", "match" if strings else "Δ"]
        for i, k in enumerate(kinds):
            headers.append(f"{_col_title(view, col)}: {k}" if i == 0 else k)
            parts.append((col, k))
    body = []
    for row in view.layout_rows:
        line = [_title(view, row)]
        for col, k in parts:
            c = view.cell(row, col)
            line.append(_part(view, c, k) if c else "")
        body.append(line)
    return _tabulate(body, headers)


def _part(view: TableView, c: CellView, kind: str) -> str:
    if kind == "ours":
        return _ours_cell(view, c)
    if kind == "95% CI":
        return fmt_ci(c.ci)
    if kind == "trivial":
        return fmt_ours(c.trivial, c.unit) if c.trivial is not None else ""
    if kind in ("paper", "published"):
        return fmt_paper(c.paper, c.unit)
    return delta_text(c)


def _sub_rows(view: TableView) -> str:
    headers = [view.spec.corner, ""] + [_col_title(view, c) for c in view.layout_cols]
    body = []
    for row in view.layout_rows:
        cells = [view.cell(row, col) for col in view.layout_cols]
        present = [c for c in cells if c]
        if all(c.source == "reference" for c in present):
            kinds = ["published"]
        else:
            strings = any(c.match is not None or isinstance(c.paper, str) for c in present)
            kinds = ["ours", "95% CI", "trivial", "paper", "match" if strings else "Δ"]
            kinds = [k for k in kinds if k == "ours" or any(_part(view, c, k) for c in present)]
        for i, k in enumerate(kinds):
            line = [_title(view, row) if i == 0 else "", k]
            line += [_part(view, c, k) if c else "" for c in cells]
            body.append(line)
    return _tabulate(body, headers)


def header_md(view: TableView) -> list[str]:
    spec, mine = view.spec, view.rows
    lines = [GENERATED, f"# {spec.citation}: Table {spec.number}", "", f"> {spec.caption}", ""]
    if not mine:
        lines.append("**No results yet.** Run `repro run " + spec.name + "` to fill this table.")
        return lines + [""]
    kinds = sorted({r.data for r in mine})
    seeds = sorted({r.seed for r in mine})
    lines.append(
        f"**Profile: {view.profile}. Data: {', '.join(kinds)}.** Spec version {spec.version}; "
        f"code {', '.join(sorted({r.git_sha for r in mine}))}; "
        f"seeds {', '.join(str(s) for s in seeds)}; "
        f"last run {max(r.timestamp for r in mine)}."
    )
    if "synthetic" in kinds:
        lines += ["", "Numbers on synthetic data test the pipeline end to end; they say nothing "
                      "about the paper's claims. Run with `--profile paper --data-root ...` on "
                      "the real dataset to reproduce them."]
    stale = sorted({r.spec_version for r in mine if r.spec_version != spec.version})
    if stale:
        lines += ["", f"Some rows come from an older spec version ({stale}): rerun them with "
                      "--force."]
    lines += ["", how_to_read(view)]
    return lines + [""]


def how_to_read(view: TableView) -> str:
    cells = view.cells
    text = ["How to read: **ours** is our number"]
    if any(c.ours_std is not None for c in cells):
        text.append(" (mean ± std across seeds)")
    text.append(", **paper** the published value as printed, **Δ** = ours − paper in the "
                "paper's unit.")
    if any(c.ci for c in cells):
        text.append(" **95% CI**: bootstrap interval of our number over the evaluation images")
        if any(c.ci_of == "seed mean" for c in cells):
            text.append(" (with several seeds, of their mean: the images resampled together "
                        "across the seeds)")
        if any(c.ci_of == "envelope of seeds" for c in cells):
            text.append(" (with several seeds and no per-image files: from the lowest to the "
                        "highest of the seeds' intervals)")
        text.append("; a **bold Δ** means the paper's value lies outside it, a gap larger "
                    "than the sampling noise of the evaluation set (training noise needs "
                    "several seeds).")
    if any(c.trivial is not None for c in cells):
        text.append(" **trivial**: mIoU of predicting the most frequent class everywhere on "
                    "the same evaluation; a row at that level learned nothing.")
    if any(c.match is not None for c in cells):
        text.append(" **match**: ✓ when our value equals the paper's.")
    if any(c.unit in ("K", "M") for c in cells):
        text.append(" Parameter counts are computed from the built model at the paper's "
                    "widths.")
    return "".join(text)


def legend_md(view: TableView) -> list[str]:
    out = []
    for i, note in enumerate(view.notes, 1):
        out.append(f"{superscript(i)} Protocol: {note.rstrip('.')}.")
    used = {m for c in view.cells for m in c.marks}
    for name, (symbol, text) in MARKS.items():
        if name not in used:
            continue
        if name == "overrides":
            per_row = {}
            for c in view.cells:
                if "overrides" in c.marks:
                    per_row.setdefault(c.row, fmt_overrides(c.overrides))
            text += ": " + "; ".join(f"{k}: {v}" for k, v in per_row.items())
        out.append(f"{symbol} {text}.")
    if view.user_keys:
        out.append(f"(yours): a row you added (`repro run {view.spec.name} --add NAME=CONFIG`) "
                   "under this table's protocol; the paper has no value for it.")
    if any(c.source == "reference" for c in view.cells):
        out.append("(published): another method's published numbers, shown as printed; the "
                   "harness does not run it.")
    if any(c.status == ABSENT for c in view.cells):
        out.append(f"{ABSENT}: the class occurs neither in the evaluation labels nor in our "
                   "predictions, so its IoU is undefined.")
    if any(c.status == "not run" and c.source != "reference" for c in view.cells):
        out.append(f"{NOT_RUN}: not run yet.")
    # Blank lines between entries: Markdown would join them into one paragraph.
    return [x for line in out for x in (line, "")]


def rows_md(view: TableView) -> list[str]:
    if not view.rows:
        return []
    by_key: dict[str, list[ResultRow]] = {}
    for r in view.rows:
        by_key.setdefault(r.row, []).append(r)
    body = []
    who = {"harness": "harness", "server": "evaluation server",
           "simulated_server": "simulated server"}
    for exp in view.experiments:
        if exp.reference:
            continue
        rows = by_key.get(exp.key, [])
        name = exp.title if exp.key not in view.user_keys else exp.key + USER_SUFFIX
        if not rows:
            body.append([exp.key, name, exp.config or "", "", "not run"] + [""] * 6)
            continue
        static = {c.metric for c in exp.static_cells}
        trained = [r for r in rows if r.metric not in static] or rows
        last = max(rows, key=lambda r: (r.timestamp, r.seed))
        extra = last.extra or {}
        status = ", ".join(sorted({r.status for r in rows}))
        errors = {r.extra.get("error") for r in rows if r.extra.get("error")}
        if errors:
            status += ": " + "; ".join(sorted(e[:120] for e in errors))
        for seed in sorted({r.seed for r in rows}):
            failed = view.newer_failures.get((exp.key, seed))
            if failed:
                err = (failed.extra or {}).get("error", "")
                status += (f"; ⚠ seed {seed}: newer attempt {failed.timestamp} "
                           f"{STATUS_TEXT.get(failed.status, failed.status)}"
                           f"{': ' + err[:120] if err else ''}")
        body.append([
            exp.key, name, last.config or exp.config or "",
            ", ".join(str(s) for s in sorted({r.seed for r in rows})), status,
            ", ".join(sorted({r.weights for r in trained})),
            ", ".join(sorted({who.get(scored_by(r), scored_by(r)) for r in trained})),
            fmt_overrides(_merged_overrides(rows)),
            extra.get("iters", ""), extra.get("total_batch_size", ""),
            f"{last.duration_s:.0f}" if last.duration_s is not None else "",
        ])
    headers = ["row", "model", "config", "seeds", "status", "weights", "scored by", "overrides",
               "iters", "batch", "time (s)"]
    keep = [i for i, h in enumerate(headers) if i < 5 or any(str(line[i]) for line in body)]
    out = ["## Rows", "", _tabulate([[line[i] for i in keep] for line in body],
                                    [headers[i] for i in keep]), ""]
    if view.stale_keys:
        out += [f"Results for rows that are not in the table spec (renamed or removed rows): "
                f"{', '.join(view.stale_keys)}. They are not shown; delete their files.", ""]
    return out


def comparisons_md(view: TableView) -> list[str]:
    if not view.comparisons:
        return []
    body = [[c.metric, c.row_a, c.row_b, f"{c.diff:+.1f}", fmt_ci(c.ci),
             "yes" if c.significant else "no"] for c in view.comparisons]
    return ["## Differences between rows", "",
            "Paired bootstrap over the same evaluation images: the difference is significant "
            "when its 95% interval excludes zero.", "",
            _tabulate(body, ["metric", "row A", "row B", "A − B", "95% CI", "significant"]),
            ""]


def markdown(view: TableView, images: list[tuple[str, str]] = ()) -> str:
    lines = header_md(view)
    lines += [table_md(view), ""]
    lines += legend_md(view)
    for alt, name in images:
        lines += [f"![{alt}]({name})", ""]
    lines += comparisons_md(view)
    lines += rows_md(view)
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# CSV / JSON: the long format.

CSV_FIELDS = ("table", "profile", "layout_row", "layout_col", "row", "title", "metric", "unit",
              "source", "status", "ours", "ours_std", "seeds", "ci_low", "ci_high", "trivial",
              "paper", "delta", "significant", "match", "marks", "overrides", "notes")


def _record(view: TableView, c: CellView) -> dict:
    rec = asdict(c)
    rec["profile"] = view.profile
    rec["notes"] = [view.notes[i - 1] for i in c.notes]
    for k, v in rec.items():  # no NaN in the output: JSON has none, readers trip on "nan"
        if isinstance(v, float):
            rec[k] = round(v, 4) if math.isfinite(v) else None
        elif k in ("ci", "seed_cis") and v:
            rec[k] = [round(x, 4) for x in v] if k == "ci" else {
                s: [round(x, 4) for x in ci] for s, ci in v.items()}
    return rec


def to_json(view: TableView) -> str:
    payload = {
        "table": view.spec.name, "profile": view.profile,
        "data": sorted({r.data for r in view.rows}), "spec_version": view.spec.version,
        "marks": {k: v[1] for k, v in MARKS.items()},
        "cells": [_record(view, c) for c in view.cells],
        "comparisons": [asdict(c) for c in view.comparisons],
    }
    return json.dumps(payload, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def to_csv(view: TableView) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for c in view.cells:
        rec = _record(view, c)
        rec["ci_low"], rec["ci_high"] = rec["ci"] if rec["ci"] else ("", "")
        rec["seeds"] = " ".join(str(s) for s in rec["seeds"])
        rec["marks"] = " ".join(rec["marks"])
        rec["overrides"] = fmt_overrides(rec["overrides"])
        rec["notes"] = " | ".join(rec["notes"])
        w.writerow({k: "" if rec[k] is None else rec[k] for k in CSV_FIELDS})
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Files.


def render(spec: TableSpec, results: list[ResultRow], reports_dir: Path,
           profile: str | None = None, fmt: str = "md", *, history: list[ResultRow] | None = None,
           results_dir: Path | None = None, plots: bool = True,
           comparisons: Iterable[Comparison] = (),
           seed_mean_cis: dict[str, list[float]] | None = None) -> list[Path]:
    """Write one table's report; returns the files written (the .md first)."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    profile = profile or choose_profile(results, spec.name)
    if history is None:
        history = read_history(results_dir, profile, spec.name) if results_dir and profile \
            else []
    view = collect(spec, results, profile, history, comparisons, seed_mean_cis)
    out_dir = Path(reports_dir) / spec.paper
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"table{spec.number}"
    if fmt == "csv":
        (out := out_dir / f"{stem}.csv").write_text(to_csv(view))
        return [out]
    if fmt == "json":
        (out := out_dir / f"{stem}.json").write_text(to_json(view))
        return [out]
    written: list[Path] = []
    images: list[tuple[str, str]] = []
    if plots and view.rows:
        for alt, path in plots_module.table_plots(view, out_dir, stem):
            images.append((alt, path.name))
            written.append(path)
    if plots:  # a plot of an earlier report that this one does not draw would mislead
        for stale in (out_dir / f"{stem}.png", out_dir / f"{stem}_classes.png"):
            if stale not in written:
                stale.unlink(missing_ok=True)
    md = out_dir / f"{stem}.md"
    md.write_text(markdown(view, images))
    return [md, *written]


def row_comparisons(spec: TableSpec, results: list[ResultRow], results_dir: Path,
                    profile: str | None) -> list[Comparison]:
    """Paired bootstrap differences of mIoU (seed 0) between the pairs of rows the table
    declares (``TableSpec.comparisons``; default: consecutive trained rows) and between a
    user's row and the row whose protocol it follows (``extra["follows"]``), where both rows
    were evaluated on the same images (their per-image files, ``extra["per_image"]``)."""
    from repro.metrics.bootstrap import paired_difference
    from repro.metrics.per_image import PerImageConfusion

    have = {r.row: Path(results_dir) / r.extra["per_image"] for r in results
            if r.table == spec.name and r.profile == profile and r.seed == 0 and
            r.metric == "mIoU" and r.status == "ok" and (r.extra or {}).get("per_image")}
    pairs = spec.comparisons or tuple(
        (b.key, a.key) for a, b in zip(spec.runnable, spec.runnable[1:]))
    pairs += tuple(dict.fromkeys(  # a user's row against the row whose protocol it follows
        (r.row, r.extra["follows"]) for r in results
        if r.table == spec.name and r.user_row and (r.extra or {}).get("follows")))
    out = []
    for a, b in pairs:
        if a not in have or b not in have or not have[a].is_file() or not have[b].is_file():
            continue
        try:
            diff, low, high, _ = paired_difference(PerImageConfusion.load(have[a]),
                                                   PerImageConfusion.load(have[b]))
        except ValueError:  # evaluated on different images: no paired difference
            continue
        out.append(Comparison(spec.name, "mIoU", a, b, float(diff), (float(low), float(high))))
    return out


def seed_mean_intervals(spec: TableSpec, results: list[ResultRow], results_dir: Path,
                        profile: str | None) -> dict[str, list[float]]:
    """Row -> 95% bootstrap interval of the mean mIoU of its seeds, for the rows of ``spec``
    with several seeds whose per-image files all exist and hold the same images (the images
    are resampled together across seeds: ``bootstrap_miou`` of the list)."""
    from repro.metrics.bootstrap import bootstrap_miou
    from repro.metrics.per_image import PerImageConfusion

    files: dict[str, list[Path]] = {}
    seeds: dict[str, int] = {}
    for r in results:
        if r.table == spec.name and r.profile == profile and r.metric == "mIoU" \
                and r.status == "ok":
            seeds[r.row] = seeds.get(r.row, 0) + 1
            if (r.extra or {}).get("per_image"):
                files.setdefault(r.row, []).append(Path(results_dir) / r.extra["per_image"])
    out = {}
    for row, paths in files.items():
        if len(paths) < 2 or len(paths) != seeds[row] or not all(p.is_file() for p in paths):
            continue
        try:
            result = bootstrap_miou([PerImageConfusion.load(p) for p in paths], per_class=False)
        except ValueError:  # seeds evaluated on different images: the envelope stays
            continue
        out[row] = [float(result.low), float(result.high)]
    return out


def render_all(results_dir: Path, reports_dir: Path, tables: list[TableSpec] | None = None,
               profile: str | None = None, fmt: str = "md", *, plots: bool = True,
               comparisons: Iterable[Comparison] | None = None) -> list[Path]:
    """Regenerate the reports of ``tables`` (default: all) from ``results_dir``.

    Returns the report files written (one per table: .md, .csv or .json); plots land beside the
    .md files. ``fmt="md"`` also rewrites the index ``reports_dir/README.md``.
    ``comparisons``: the between-row differences to show (default: :func:`row_comparisons`).
    """
    from repro.tables.registry import all_tables

    if fmt not in FORMATS:
        raise ValueError(f"Unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    errors: list[ResultsFileError] = []
    results = read_all(results_dir, errors=errors)
    # Every file is read before any report is written: a damaged one changes nothing, and
    # stops only its own table's report.
    histories = {}
    for spec in tables or list(all_tables().values()):
        chosen = profile or choose_profile(results, spec.name)
        histories[spec.name] = read_history(results_dir, chosen, spec.name, errors) \
            if chosen else []
    damaged = {e.table() for e in errors}
    specs = [s for s in (tables or list(all_tables().values())) if s.name not in damaged]
    outs = []
    for spec in specs:
        chosen = profile or choose_profile(results, spec.name)
        pairs = list(comparisons) if comparisons is not None else row_comparisons(
            spec, results, results_dir, chosen)
        written = render(spec, results, Path(reports_dir), profile, fmt,
                         history=histories[spec.name], plots=plots, comparisons=pairs,
                         seed_mean_cis=seed_mean_intervals(spec, results, results_dir, chosen))
        outs.append(written[0])
    if fmt == "md":
        index = [GENERATED, "# Reports", "", "| table | caption |", "|---|---|"]
        for spec in all_tables().values():
            index.append(f"| [{spec.name}]({spec.paper}/table{spec.number}.md) | "
                         f"{spec.caption[:90]}{'…' if len(spec.caption) > 90 else ''} |")
        (Path(reports_dir) / "README.md").write_text("\n".join(index) + "\n")
    if errors:
        more = f" ({len(errors) - 1} more damaged file(s))" if len(errors) > 1 else ""
        raise ResultsFileError(f"{errors[0]}{more}", errors[0].path)
    return outs


# ---------------------------------------------------------------------------------------------
# Command line (`repro report`): the CLI adds these two.


def add_report_arguments(p) -> None:
    p.add_argument("tables", nargs="*", default=["all"],
                   help="tables to report: gcn/table1, table1 (every paper's Table 1), gcn, all")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--reports-dir", type=Path, default=Path("reports"))
    p.add_argument("--profile", choices=["smoke", "paper"], default=None,
                   help="whose numbers to show (default: paper when a table has paper results)")
    p.add_argument("--format", choices=FORMATS, default="md", dest="format",
                   help="md: Markdown tables and plots (default); csv / json: one record per "
                        "cell (ours, 95%% CI, paper, delta, marks) for your own analysis")


def main_report(args) -> int:
    from repro.tables.registry import resolve

    specs = [s for sel in args.tables for s in resolve(sel)]
    for out in render_all(args.results_dir, args.reports_dir, specs, args.profile, args.format):
        print(out)
    return 0


def list_tables(results_dir: Path) -> None:
    """`repro list`: every table, its rows, which have released models, and what is done
    (printed); a damaged results file is raised after the listing."""
    import textwrap

    from repro.tables.registry import all_tables
    from repro.tables.rows import RELEASED_HEADING, released_models

    errors: list[ResultsFileError] = []
    done: dict[tuple[str, str], set[str]] = {}
    for r in read_all(results_dir, errors=errors):
        if r.status in ("ok", "awaiting_server"):
            done.setdefault((r.table, r.profile), set()).add(r.row)
    body = []
    released: dict[str, list[str]] = {}  # table -> "row (released model + ...)"
    for name, spec in all_tables().items():
        runnable = spec.runnable
        status = [f"{profile} {len(done[name, profile])}/{len(runnable)}"
                  for profile in ("smoke", "paper") if (name, profile) in done]
        for e in runnable:  # the planner's rule: the row's own model, or all its members'
            if models := released_models(spec, e):
                released.setdefault(name, []).append(f"{e.key} ({' + '.join(models)})")
        body.append([name, len(runnable), len(spec.experiments) - len(runnable),
                     len(released.get(name, ())), ", ".join(status) or "not run",
                     spec.caption[:50]])
    print(tabulate(body, headers=["table", "rows", "ref. rows", "released", "done", "caption"]))
    if released:
        print(f"\n{RELEASED_HEADING} (repro run TABLE/ROW --released; their files: "
              "repro weights):")
        for name, rows in released.items():
            print(textwrap.fill(", ".join(rows), width=100, initial_indent=f"  {name}: ",
                                subsequent_indent="    ", break_on_hyphens=False))
    if errors:
        raise ResultsFileError(str(errors[0]), errors[0].path)
