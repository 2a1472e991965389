"""Report plots, sized for a GitHub page: ours vs paper mean IoU as bars, per-class differences
as one heat map.

Drawn with matplotlib's object API on the Agg canvas (``Figure`` + ``FigureCanvasAgg``; no
pyplot and so no global figure state), with constrained layout so that long row titles and the
legend get their own room: the legend sits under the axes, never on the bars. Every figure is
``WIDTH_IN`` x ``DPI`` = 1350 px wide whatever the number of rows (rows grow the height), below
the 1600 px a GitHub page shows without shrinking text to illegibility.

- ``table<N>.png``: every mIoU cell of the table as a horizontal pair of bars, paper (grey) and
  ours (blue; the user's rows orange) with the 95% interval as an error bar where recorded (with
  several seeds: the envelope of the seeds' intervals, as in the table) and the trivial baseline
  as a black tick. Reference rows have the paper's bar only. Horizontal bars keep the paper's
  row titles readable without rotation.
- ``table<N>_classes.png`` (per-class tables: GDN Table 2, DeconvNet Table 1, Dilation Tables
  2-4): ours − paper for every class and the mean, one row per row of ours, diverging colours
  centred on zero, the difference printed in each cell; classes absent from the evaluation set
  grey.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

WIDTH_IN = 9.0
DPI = 150
MAX_WIDTH_PX = 1600  # tests check every plot against this
PAPER_NAMES = {"gcn": "GCN", "gdn": "GDN", "deconvnet": "DeconvNet", "dilation": "Dilation",
               "fcn": "FCN"}
COLORS = {"paper": "#a0a0a0", "ours": "#2b6cb0", "user": "#dd6b20"}


@dataclass
class Bar:
    label: str
    source: str  # "ours", "user", "reference"
    ours: float | None
    ci: tuple[float, float] | None
    paper: float | None
    trivial: float | None
    marks: tuple[str, ...] = ()


def _figure(height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


#: The marks of cells, in legend order: symbol and short legend text (the report's legend,
#: ``repro.report.MARKS``, uses the same symbols with long texts).
MARK_SYMBOLS = {"simulated_server": "†", "released_weights": "‡", "overrides": "§",
                "newer_attempt_failed": "⚠"}
MARK_TEXT = {"simulated_server": "simulated server", "released_weights": "released weights",
             "overrides": "command-line overrides", "newer_attempt_failed": "newer attempt failed"}


def _mark_handles(marks: set[str]) -> list:
    """Legend entries that explain the mark symbols in the labels (text only)."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], linestyle="none", label=f"{MARK_SYMBOLS[m]} {MARK_TEXT[m]}")
            for m in MARK_SYMBOLS if m in marks]


def _symbols(view, c) -> str:
    marks = "".join(MARK_SYMBOLS[m] for m in c.marks)
    return f" {marks}" if marks else ""


def bars(view) -> list[Bar]:
    """The mIoU cells of a report as bars, labelled by the layout row and/or column."""
    cells = [c for c in view.cells if c.metric == "mIoU"]
    many_rows = len({c.layout_row for c in cells}) > 1
    many_cols = len({c.layout_col for c in cells}) > 1
    corner = view.spec.corner
    out = []
    for c in sorted(cells, key=lambda c: (view.layout_rows.index(c.layout_row),
                                          view.layout_cols.index(c.layout_col))):
        ours = c.ours if isinstance(c.ours, float) and c.status == "ok" else None
        paper = float(c.paper) if isinstance(c.paper, (int, float)) else None
        if ours is None and paper is None:
            continue
        parts = []
        if many_rows or not many_cols:
            parts.append(c.layout_row)
        if many_cols:
            # "k = 3"; a long corner title ("Pretrained Model") would crowd the label out.
            pivot_label = view.pivoted and 0 < len(corner) <= 10 and c.source != "user"
            parts.append(f"{corner} = {c.layout_col}" if pivot_label else c.layout_col)
        label = ", ".join(parts)
        if c.source == "reference":
            label += " (published)"
        elif ours is None:
            label += f" ({c.status})"  # failed, awaiting server, not run...
        out.append(Bar(label + _symbols(view, c), c.source, ours,
                       tuple(c.ci) if c.ci else None, paper, c.trivial, tuple(c.marks)))
    return out


def bar_figure(title: str, items: list[Bar], ours_label: str):
    n = len(items)
    fig = _figure(1.6 + 0.42 * n)
    ax = fig.add_subplot()
    h = 0.38
    for i, b in enumerate(items):
        if b.paper is not None:
            ax.barh(i - h / 2 if b.ours is not None else i, b.paper, height=h,
                    color=COLORS["paper"])
        if b.ours is not None:
            err = None
            if b.ci:
                err = [[max(b.ours - b.ci[0], 0.0)], [max(b.ci[1] - b.ours, 0.0)]]
            y = i + h / 2 if b.paper is not None else i
            ax.barh(y, b.ours, height=h, color=COLORS["user" if b.source == "user" else "ours"],
                    xerr=err, error_kw=dict(ecolor="black", capsize=2, lw=0.8))
            right = b.ci[1] if b.ci else b.ours
            ax.text(right + 0.8, y, f"{b.ours:.1f}", va="center", fontsize=7)
            if b.trivial is not None:
                ax.plot([b.trivial], [y], marker="|", color="black", markersize=9, mew=1.6,
                        linestyle="none")
    ax.set_yticks(range(n), [b.label for b in items], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 108)
    ax.set_xlabel("mean IoU (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)

    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color=COLORS["paper"], label="paper")]
    if any(b.ours is not None and b.source != "user" for b in items):
        handles.append(Patch(color=COLORS["ours"], label=ours_label))
    if any(b.source == "user" for b in items):
        handles.append(Patch(color=COLORS["user"], label="your rows"))
    if any(b.ci for b in items):
        handles.append(Line2D([], [], color="black", lw=0.8, label="95% interval"))
    if any(b.trivial is not None for b in items):
        handles.append(Line2D([], [], color="black", marker="|", markersize=9, mew=1.6,
                              linestyle="none", label="trivial baseline"))
    handles += _mark_handles({m for b in items for m in b.marks})
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5),
               fontsize=8, frameon=False)
    return fig


def heat_rows(view):
    """Per-class tables: (row labels, column labels, differences, absent) for the rows of ours
    that have a paper value; None for other tables."""
    if not any(c.metric.startswith("IoU.") for c in view.cells):
        return None
    cols = [col for col in view.layout_cols
            if any(c.layout_col == col and (c.metric.startswith("IoU.") or c.metric == "mIoU")
                   for c in view.cells)]
    labels, diffs, absent, marks = [], [], [], set()
    for row in view.layout_rows:
        cells = [view.cell(row, col) for col in cols]
        if not any(c and c.delta is not None for c in cells):
            continue
        marks.update(m for c in cells if c for m in c.marks)
        labels.append(row + next((_symbols(view, c) for c in cells if c and c.marks), ""))
        diffs.append([c.delta if c and c.delta is not None else math.nan for c in cells])
        absent.append([bool(c) and c.status == "not in eval set" for c in cells])
    return (labels, cols, diffs, absent, marks) if labels else None


def heat_figure(title: str, labels: list[str], cols: list[str], diffs, absent, marks=()):
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.patches import Patch

    d = np.array(diffs, dtype=float)
    m = np.ma.masked_invalid(d)
    vmax = max(1.0, float(np.nanmax(np.abs(d)))) if np.isfinite(d).any() else 1.0
    cmap = colormaps["RdBu"].with_extremes(bad="#d9d9d9")
    fig = _figure(2.2 + 0.36 * len(labels))
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap=cmap, vmin=-vmax, vmax=vmax, aspect="auto")
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            if np.isfinite(d[i, j]):
                ax.text(j, i, f"{d[i, j]:+.0f}", ha="center", va="center", fontsize=6.5,
                        color="white" if abs(d[i, j]) > 0.6 * vmax else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", rotation_mode="anchor",
                  fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    cb = fig.colorbar(im, ax=ax, shrink=0.9, pad=0.01)
    cb.set_label("ours − paper (IoU points)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    handles = _mark_handles(set(marks))
    if any(any(r) for r in absent):
        handles.insert(0, Patch(color="#d9d9d9", label="not in eval set"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5),
                   fontsize=8, frameon=False)
    return fig


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def table_plots(view, out_dir: Path, stem: str) -> list[tuple[str, Path]]:
    """Draw a report's plots into ``out_dir``; returns (alt text, path) for each."""
    spec = view.spec
    data = ", ".join(sorted({r.data for r in view.rows}))
    name = f"{PAPER_NAMES.get(spec.paper, spec.paper)} Table {spec.number}"
    out = []
    items = bars(view)
    if any(b.ours is not None for b in items):
        fig = bar_figure(f"{name}: mean IoU, ours vs paper", items,
                         f"ours ({view.profile}, {data})")
        out.append(("mean IoU: ours vs paper", save(fig, out_dir / f"{stem}.png")))
    heat = heat_rows(view)
    if heat:
        fig = heat_figure(f"{name}: per-class IoU, ours − paper ({view.profile}, {data})", *heat)
        out.append(("per-class IoU: ours minus paper", save(fig, out_dir / f"{stem}_classes.png")))
    return out


def layout_problems(fig) -> list[str]:
    """What a reader would miss: text cut off at the figure's edge, a legend over the axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    problems = []
    # Tick labels exist for ticks outside the view too, undrawn: check only the drawn ones.
    ticks, drawn = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * max(1.0, abs(hi - lo))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((tick.label1, tick.label2))
                if tick.label1.get_visible() and lo - eps <= tick.get_loc() <= hi + eps:
                    drawn.append(tick.label1)
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and
                                    hasattr(a, "get_window_extent")) if t not in ticks]
    for t in texts + drawn:
        if not t.get_visible() or not t.get_text():
            continue
        e = t.get_window_extent(renderer)
        if e.x0 < box.x0 - 1 or e.x1 > box.x1 + 1 or e.y0 < box.y0 - 1 or e.y1 > box.y1 + 1:
            problems.append(f"text {t.get_text()!r} is cut off at the figure's edge")
    for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        e = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if e.overlaps(ax.get_window_extent(renderer)):
                problems.append("the legend covers an axes")
    return problems
