"""Reports: the paper's layout, ours beside the paper, statuses; golden files.

Accept a deliberate change of the output with REPRO_ACCEPT_GOLDEN=1 pytest tests/test_report.py.
"""

from conftest import check_golden

from repro.report import render_all
from repro.results import ResultRow, result_path, write_rows
from repro.tables.registry import get_table


def fake_results(results_dir, table, values, status="ok"):
    spec = get_table(table)
    for exp in spec.runnable:
        rows = [
            ResultRow(table=table, row=exp.key, metric=c.metric, seed=0,
                      value=values(exp, c), status=status if not c.metric.startswith("params")
                      else "ok", paper=c.paper, spec_version=spec.version, profile="smoke",
                      data="synthetic", config=exp.config, config_hash="0" * 16,
                      git_sha="0123456789ab", timestamp="2026-11-21T00:00:00+00:00",
                      duration_s=12.0, extra={"iters": 300, "total_batch_size": 8})
            for c in exp.cells
        ]
        write_rows(result_path(results_dir, "smoke", table, exp.key, 0), rows)


def test_gcn_table1_report_matches_golden(tmp_path):
    fake_results(tmp_path / "results", "gcn/table1", lambda e, c: c.paper - 30.0)
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [get_table("gcn/table1")])
    text = out.read_text()
    assert "| Score | 39.0 (69.0, -30.0) |" in text, (
        "Each cell must read 'ours (paper, difference)' in the paper's layout (k as columns).")
    assert "Data: synthetic" in text, "The header must say the numbers come from synthetic data."
    assert (out.parent / "table1.png").exists(), "The report must link a plot of ours vs paper."
    check_golden("gcn_table1.md", text)


def test_gcn_table2_report_mixes_scores_and_parameters(tmp_path):
    def values(exp, cell):
        return cell.paper * 1e3 if cell.metric.startswith("params") else 50.0

    fake_results(tmp_path / "results", "gcn/table2", values)
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [get_table("gcn/table2")])
    text = out.read_text()
    assert "260K (260K, +0.0)" in text and "3484K (3484K, +0.0)" in text, (
        "Parameter rows must print counts in thousands like the paper (260K).")
    check_golden("gcn_table2.md", text)


def test_statuses_show_instead_of_numbers(tmp_path):
    fake_results(tmp_path / "results", "gcn/table5", lambda e, c: None, status="nan_loss")
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [get_table("gcn/table5")])
    assert "NaN loss (71.3)" in out.read_text(), (
        "A row stopped by a NaN loss must say so in its cells, beside the paper's number.")


def test_empty_results_say_how_to_fill_the_table(tmp_path):
    (out,) = render_all(tmp_path / "results", tmp_path / "reports", [get_table("gcn/table1")])
    assert "repro run gcn/table1" in out.read_text()
