"""Reports: the paper's layout with ours, paper and Δ apart, intervals, trivial baselines, marks,
footnotes, user rows, plots that fit a page; golden files from synthetic result rows (no
training: fast).

Accept a deliberate change of the output with REPRO_ACCEPT_GOLDEN=1 pytest tests/test_report.py.
"""

import json
import math
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import check_golden

from repro import report
from repro.report import collect, render, render_all
from repro.results import ResultRow, read_all, result_path, write_rows
from repro.tables.registry import get_table

ROOT = Path(__file__).resolve().parents[1]
T0 = "2026-11-21T00:00:00+00:00"


def result(table, key, metric, value, seed=0, **kw):
    spec = get_table(table)
    exp = next((e for e in spec.experiments if e.key == key), None)
    paper = next((c.paper for c in exp.cells if c.metric == metric), None) if exp else None
    defaults = dict(
        table=table, row=key, metric=metric, seed=seed, value=value, status="ok", paper=paper,
        spec_version=spec.version, profile="smoke", data="synthetic",
        config=exp.config if exp else "mine/my_config.py", config_hash="0" * 16,
        git_sha="0123456789ab", timestamp=T0, duration_s=12.0,
        extra={"iters": 300, "total_batch_size": 8},
        weights="none" if exp and any(c.metric == metric and c.static for c in exp.cells)
        else "trained",
    )
    defaults.update(kw)
    return ResultRow(**defaults)


def write(results_dir, rows, history_stamp=None):
    """One file per (row, seed), as the runner writes them; history files when stamped."""
    groups = {}
    for r in rows:
        groups.setdefault((r.table, r.row, r.seed), []).append(r)
    for (table, key, seed), rs in groups.items():
        path = result_path(results_dir, "smoke", table, key, seed)
        if history_stamp:
            path = path.parent / "history" / f"{key}.seed{seed}.{history_stamp}.json"
        write_rows(path, rs)


def miou_rows(table, key, value, seed=0, ci=None, trivial=None, **kw):
    rows = [result(table, key, "mIoU", value, seed, ci=ci, **kw)]
    if trivial is not None:
        rows.append(result(table, key, "trivial_mIoU", trivial, seed, **kw))
        rows.append(result(table, key, "final_loss", 0.4, seed, **kw))
    return rows


# ---------------------------------------------------------------------------------------------
# Golden files: one per layout, each covering some of the features.


def gcn_table1_results(results_dir):
    """Pivoted (k as columns): several seeds, intervals, trivial baselines, every mark, a
    failed row, a row not run, and a user row (an extra column)."""
    t = "gcn/table1"
    rows = []
    for seed, v in enumerate((38.0, 40.0, 42.0)):  # base: three seeds, mean 40 ± 2
        rows += miou_rows(t, "base", v, seed, ci=[v - 1.5, v + 1.5], trivial=3.0)
    rows += miou_rows(t, "k3", 69.5, ci=[68.0, 71.0], trivial=3.1)  # paper 70.1 inside: plain
    rows += miou_rows(t, "k5", 39.0, ci=[37.2, 40.9], trivial=3.0)  # paper 71.1 outside: bold
    rows += miou_rows(t, "k7", 20.0, ci=[18.0, 22.0], trivial=3.0, overrides={"iters": 3})
    rows += miou_rows(t, "k9", 73.0, ci=[72.0, 74.1], weights="released")
    rows += miou_rows(t, "k11", 30.0, ci=[28.0, 32.0], trivial=3.0)
    rows.append(result(t, "k13", "mIoU", None, status="failed",
                       extra={"error": "RuntimeError: CUDA out of memory"}))
    rows += miou_rows(t, "mine", 50.0, ci=[48.5, 51.5], trivial=3.0, user_row=True,
                      config="mine/my_config.py")
    write(results_dir, rows)
    # k11 was run again later and that attempt failed: the shown number is the older one.
    failed = result(t, "k11", "mIoU", None, status="nan_loss",
                    timestamp="2026-11-22T08:00:00+00:00",
                    extra={"error": "non-finite loss at iteration 40"})
    write(results_dir, [failed], history_stamp="20261122T080000Z")
    older = result(t, "k9", "mIoU", None, status="failed", timestamp="2026-11-20T08:00:00+00:00")
    write(results_dir, [older], history_stamp="20261120T080000Z")  # older: no mark


def test_gcn_table1_pivoted_report(tmp_path):
    gcn_table1_results(tmp_path / "results")
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [get_table("gcn/table1")])
    text = out.read_text()
    assert "| Score | ours" in text and "| paper" in text and "| Δ" in text, (
        "A pivoted table must keep the paper's columns (k) and give ours, paper and Δ their own "
        "sub-rows under the paper's row.")
    assert "40.0 ± 2.0" in text, "Several seeds must read mean ± std across seeds."
    assert "[36.5, 43.5]" in text, (
        "With several seeds the interval shown must span the seeds' intervals.")
    assert "**-32.1**" in text and "| -0.6 " in text, (
        "Δ is bold only when the paper's value lies outside our interval (71.1 outside "
        "[37.2, 40.9]; 70.1 inside [68.0, 71.0]).")
    assert "| trivial" in text, "Smoke mIoU cells must show the trivial baseline beside them."
    assert "mine (yours)" in text, "A user's row must be an extra column in a pivoted table."
    assert "§" in text and "iters=3" in text, "Overridden cells must be marked, saying which."
    assert "‡" in text and "⚠" in text, "Released weights and newer failed attempts are marked."
    assert "newer attempt 2026-11-22T08:00:00+00:00 loss diverged" in text, (
        "The Rows section must say that a newer attempt of a row failed, and how.")
    assert "2026-11-20" not in text, "An older failed attempt than the result shown is no news."
    assert not re.search(r"\bnan\b", text, re.I), "No report may print 'nan'."
    assert (out.parent / "table1.png").exists(), "The report must link a plot of ours vs paper."
    check_golden("gcn_table1.md", text)


def test_long_format_csv_and_json(tmp_path):
    gcn_table1_results(tmp_path / "results")
    spec = get_table("gcn/table1")
    (csv_out,) = render_all(tmp_path / "results", tmp_path / "reports", [spec], fmt="csv")
    (json_out,) = render_all(tmp_path / "results", tmp_path / "reports", [spec], fmt="json")
    assert csv_out.suffix == ".csv" and json_out.suffix == ".json"
    payload = json.loads(json_out.read_text())  # strict JSON: no NaN
    cells = {c["row"]: c for c in payload["cells"]}
    assert cells["base"]["ours"] == pytest.approx(40.0) and cells["base"]["ours_std"] == \
        pytest.approx(2.0), "JSON cells carry the mean and std across seeds."
    assert cells["k5"]["significant"] is True and cells["k3"]["significant"] is False
    assert cells["k3"]["delta"] == pytest.approx(-0.6)
    assert cells["mine"]["source"] == "user" and cells["mine"]["paper"] is None
    assert cells["k7"]["marks"] == ["overrides"] and cells["k7"]["overrides"] == {"iters": 3}
    assert cells["k15"]["status"] == "not run" and cells["k13"]["status"] == "failed"
    assert sorted(cells["base"]["seed_cis"]) == ["0", "1", "2"]
    check_golden("gcn_table1.csv", csv_out.read_text())


def gdn_table1_results(results_dir):
    """Plain, one paper column (column groups): footnotes, released baselines, a user row."""
    t = "gdn/table1"
    rows = []
    rows += miou_rows(t, "fcn32s", 59.1, ci=[58.0, 60.2], weights="released")
    rows += miou_rows(t, "fcn32s-gdn", 12.3, ci=[11.0, 13.6], trivial=3.2)
    rows += miou_rows(t, "fcn32s-fc", 11.0, ci=[10.0, 12.0], trivial=3.2)
    rows += miou_rows(t, "dl-largefov", 73.0, ci=[72.1, 73.9], weights="released")
    rows += miou_rows(t, "dl-largefov-gdn", 15.0, ci=[14.0, 16.0], trivial=3.0,
                      overrides={"cfg_options": {"optim_wrapper.optimizer.lr": 0.01}})
    rows += miou_rows(t, "mine", 20.0, ci=[19.0, 21.0], trivial=3.0, user_row=True)
    rows.append(result(t, "old-key", "mIoU", 5.0))  # a row since removed from the spec
    write(results_dir, rows)


def test_gdn_table1_plain_report(tmp_path):
    gdn_table1_results(tmp_path / "results")
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [get_table("gdn/table1")])
    text = out.read_text()
    assert "| mean IoU: ours" in text and "| paper" in text, (
        "A plain table with one paper column must give ours, CI, trivial, paper and Δ columns.")
    assert re.search(r"\| FCN-32s \[31\]¹ ‡ +\| 59\.1", text), (
        "A protocol note must be a numbered footnote on the row's title, with its marks.")
    assert "¹ Protocol: paper: 59.4 is the CVPR 2015 FCN-32s model" in text, (
        "Footnotes are listed under the table.")
    assert text.index("¹ Protocol") > text.index("| DL-LargeFOV + GDN"), (
        "Footnotes go below the table, not above it.")
    assert "Protocol note" not in text.split("| Method")[0], "No notes float above the table."
    assert "| mine (yours)" in text, "A user's row is an extra layout row in a plain table."
    assert "optim_wrapper.optimizer.lr=0.01" in text, "The legend says which overrides."
    assert "old-key" in text, "Results of rows no longer in the spec are reported, not hidden."
    check_golden("gdn_table1.md", text)


def gdn_table2_results(results_dir):
    """Per-class (sub-rows): reference rows, absent classes, simulated server, no-paper rows."""
    spec = get_table("gdn/table2")
    rows = []
    for i, exp in enumerate(spec.runnable):
        for c in exp.cells:
            absent = c.metric in ("IoU.bicycle", "IoU.sofa") and i % 2 == 1
            v = math.nan if absent else 10.0 + i + len(c.col) / 10
            rows.append(result(spec.name, exp.key, c.metric, v, scored_by="simulated_server"))
    write(results_dir, rows)


def test_gdn_table2_per_class_report(tmp_path):
    gdn_table2_results(tmp_path / "results")
    spec = get_table("gdn/table2")
    outs = render(spec, read_all(tmp_path / "results"), tmp_path / "reports",
                  results_dir=tmp_path / "results")
    text = outs[0].read_text()
    assert "not in eval set" in text and not re.search(r"\bnan\b", text, re.I), (
        "A class absent from the evaluation set must say so, never 'nan'.")
    assert re.search(r"\| FCN-8S \[31\] \(published\) +\| published +\| 76\.8 ", text), (
        "A reference row must show the paper's number only, clearly labelled.")
    assert "FCN-32S + GDN¹ †" in text, (
        "Simulated-server rows must be marked (on the title when the whole row is).")
    assert "† scored by a simulated server" in text, "The legend explains each mark used."
    assert [p.name for p in outs[1:]] == ["table2.png", "table2_classes.png"], (
        "Per-class tables get the bar plot and one heat map of ours − paper.")
    check_golden("gdn_table2.md", text)


def test_deconvnet_table2_strings_and_units(tmp_path):
    spec = get_table("deconvnet/table2")
    exp = spec.experiments[0]
    rows = []
    for c in exp.cells:
        v = 251_836_992 if c.metric == "params" else c.paper
        if c.metric == "output_size@pool1":
            v = "111x111x64"  # a mismatch must show ✗
        rows.append(result(spec.name, exp.key, c.metric, v))
    write(tmp_path / "results", rows)
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [spec])
    text = out.read_text()
    assert re.search(r"\| pool1 +\| 111x111x64 +\| 112x112x64 +\| ✗", text), (
        "String cells show ours and the paper's value apart, with ✓/✗ in the Δ place.")
    assert re.search(r"251\.8M +\| 252M +\| -0\.2M", text), "Parameter counts keep their units."
    check_golden("deconvnet_table2.md", text)


def test_gcn_table2_mixes_scores_and_parameters(tmp_path):
    spec = get_table("gcn/table2")
    rows = []
    for exp in spec.runnable:
        for c in exp.cells:
            if c.metric.startswith("params"):
                rows.append(result(spec.name, exp.key, c.metric, c.paper * 1e3 + 400))
            else:
                rows += miou_rows(spec.name, exp.key, 50.0, ci=[49.0, 51.0], trivial=3.0)
    write(tmp_path / "results", rows)
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [spec])
    text = out.read_text()
    assert re.search(r"\| ours +\| 260K +\| 434K", text) and "+0.4K" in text, (
        "Parameter rows print counts in thousands like the paper (260K), Δ in the same unit.")
    check_golden("gcn_table2.md", text)


def test_statuses_show_instead_of_numbers(tmp_path):
    spec = get_table("gcn/table5")
    rows = [result(spec.name, e.key, c.metric, None, status="nan_loss")
            for e in spec.runnable for c in e.cells]
    write(tmp_path / "results", rows)
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [spec], plots=False)
    text = out.read_text()
    assert "loss diverged" in text and "| 71.3 " in text, (
        "A row stopped by a non-finite loss must say so, beside the paper's number.")


def test_empty_results_say_how_to_fill_the_table(tmp_path):
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [get_table("gcn/table1")])
    assert "repro run gcn/table1" in out.read_text()


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="md, csv, json"):
        render_all(tmp_path / "results", tmp_path / "reports", [get_table("gcn/table1")],
                   fmt="html")


def test_comparisons_have_their_section(tmp_path):
    gcn_table1_results(tmp_path / "results")
    spec = get_table("gcn/table1")
    comp = report.Comparison(spec.name, "mIoU", "k15", "k13", 0.6, (-0.2, 1.4))
    view = collect(spec, read_all(tmp_path / "results"), "smoke", comparisons=[comp])
    text = report.markdown(view)
    assert "## Differences between rows" in text and "| no " in text, (
        "Paired differences render in their own section, significant only when the interval "
        "excludes zero.")


# ---------------------------------------------------------------------------------------------
# Plots.


def png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file."
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("table,make", [
    ("gdn/table2", gdn_table2_results), ("gcn/table1", gcn_table1_results),
])
def test_plots_fit_a_page_and_nothing_is_cut_off(tmp_path, table, make):
    from repro import plots

    make(tmp_path / "results")
    spec = get_table(table)
    view = collect(spec, read_all(tmp_path / "results"), "smoke",
                   report.read_history(tmp_path / "results", "smoke", table))
    figs = [plots.bar_figure("bars", plots.bars(view), "ours")]
    if plots.heat_rows(view):
        figs.append(plots.heat_figure("heat", *plots.heat_rows(view)))
    for fig in figs:
        assert plots.layout_problems(fig) == [], (
            "Plot labels must not be cut off and the legend must not cover the bars.")
    for png in plots.table_plots(view, tmp_path / "plots", "t"):
        width, height = png_size(png[1])
        assert width <= plots.MAX_WIDTH_PX, f"{png[1].name} is {width} px wide (max 1600)."


def test_layout_check_catches_a_clipped_label():
    from repro import plots

    fig = plots._figure(3.0)
    fig.set_layout_engine("none")
    ax = fig.add_subplot()
    ax.set_yticks([0], ["a very long row title that does not fit at all"])
    assert plots.layout_problems(fig), "A clipped tick label must be reported."


def test_committed_plots_fit_a_page():
    pngs = sorted((ROOT / "reports").rglob("*.png"))
    assert pngs, "reports/ holds the plots of the committed results."
    wide = [f"{p.relative_to(ROOT)}: {png_size(p)[0]} px" for p in pngs if png_size(p)[0] > 1600]
    assert not wide, f"Plots wider than 1600 px: {wide}. Regenerate with `repro report`."


# ---------------------------------------------------------------------------------------------
# The committed results.


def test_reports_of_committed_results_print_no_nan(tmp_path):
    results = read_all(ROOT / "results")
    assert results, "The repository commits smoke results."
    from repro.tables.registry import all_tables

    for spec in all_tables().values():
        history = report.read_history(ROOT / "results", "smoke", spec.name)
        view = collect(spec, results, report.choose_profile(results, spec.name), history)
        for text in (report.markdown(view), report.to_csv(view), report.to_json(view)):
            found = re.search(r".{0,60}\bnan\b.{0,20}", text, re.I)
            assert not found, f"The report of {spec.name} prints 'nan': {found.group(0)!r}"


def test_import_is_cheap():
    code = ("import sys, repro.report; "
            "print(sorted(m for m in ('torch', 'mmseg', 'mmengine', 'matplotlib', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]", (
        f"import repro.report must not load heavy libraries; it loaded {out.stdout.strip()}.")


def test_a_damaged_history_file_stops_only_its_table(tmp_path):
    from repro.results import ResultsFileError

    gcn_table1_results(tmp_path / "results")
    reports = tmp_path / "reports"
    (reports / "gcn").mkdir(parents=True)
    (reports / "gcn" / "table1.md").write_text("# an earlier report\n")
    bad = tmp_path / "results" / "smoke" / "gcn" / "table1" / "history" / "k3.seed0.x.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsFileError, match="k3.seed0.x.json"):
        render_all(tmp_path / "results", reports, [get_table("gdn/table1"),
                                                   get_table("gcn/table1")])
    assert (reports / "gcn" / "table1.md").read_text() == "# an earlier report\n", (
        "A damaged history file must leave its table's earlier report untouched.")
    assert (reports / "gdn" / "table1.md").exists(), (
        "A damaged file must stop only its own table's report.")


def test_report_command_line_writes_the_chosen_format(tmp_path, capsys):
    import argparse

    gcn_table1_results(tmp_path / "results")
    parser = argparse.ArgumentParser()
    report.add_report_arguments(parser)
    args = parser.parse_args(["gcn/table1", "--format", "json", "--results-dir",
                              str(tmp_path / "results"), "--reports-dir", str(tmp_path / "r")])
    assert report.main_report(args) == 0
    out = tmp_path / "r" / "gcn" / "table1.json"
    assert str(out) in capsys.readouterr().out and json.loads(out.read_text())["cells"], (
        "`repro report --format json` writes the long-format cells and prints the file.")
    with pytest.raises(SystemExit):
        parser.parse_args(["--format", "html"])


def test_several_seeds_get_the_interval_of_their_mean(tmp_path):
    """With per-image files, a multi-seed mIoU cell shows the bootstrap interval of the seed
    mean (images resampled together across seeds), narrower than the seeds' envelope."""
    from repro.metrics.bootstrap import bootstrap_miou
    from repro.metrics.per_image import PerImageConfusion

    rng = np.random.default_rng(3)
    t, results = "gcn/table1", tmp_path / "results"
    sets, rows = [], []
    for seed in range(3):
        mats = np.zeros((40, 21, 21), np.int64)
        for n in range(40):
            for c in rng.choice(21, 3, replace=False):
                hit = int(rng.integers(50, 100))
                mats[n, c, c] += hit
                mats[n, c, (c + 1) % 21] += 100 - hit
        per_image = PerImageConfusion(tuple(f"im{n}" for n in range(40)),
                                      tuple(f"c{c}" for c in range(21)), mats)
        rel = f"smoke/{t}/per_image/base.seed{seed}.x.npz"
        per_image.save(results / rel)
        one = bootstrap_miou(per_image)
        sets.append(per_image)
        rows += miou_rows(t, "base", one.value, seed, ci=[one.low, one.high], trivial=3.0,
                          extra={"per_image": rel})
    write_rows(results / "smoke" / t / "base.json", rows)
    (json_out,) = render_all(results, tmp_path / "reports", [get_table(t)], fmt="json")
    cell = next(c for c in json.loads(json_out.read_text())["cells"] if c["row"] == "base")
    mean = bootstrap_miou(sets)
    assert cell["ci_of"] == "seed mean" and cell["ci"] == pytest.approx([mean.low, mean.high]), (
        "Several seeds with per-image files: the interval is that of the seeds' mean.")
    envelope = [min(c[0] for c in cell["seed_cis"].values()),
                max(c[1] for c in cell["seed_cis"].values())]
    assert envelope[0] < cell["ci"][0] and cell["ci"][1] < envelope[1], (
        "The interval of the mean of three seeds is narrower than the seeds' envelope.")
