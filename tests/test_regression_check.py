"""`repro check`: every row can fail — NaN, a row at its trivial baseline, a drop beyond the
tolerance measured from seed-to-seed spread, a row missing from either side — and a damaged
baseline is one line naming the file. Results are written directly (no training here; the
mutation test in tests/test_mutation.py breaks real models)."""

import json
import math

import pytest

from repro.check import MARGIN, compare, make_baseline, tolerance
from repro.cli import main
from repro.results import ResultRow, result_path, write_rows


def put(results, key, seed, miou, trivial=3.0, status="ok", extra=None):
    table, row = key.rsplit("/", 1)
    base = dict(table=table, row=row, seed=seed, paper=None, spec_version=1, profile="smoke",
                data="synthetic", config="x.py", config_hash="h", git_sha="abc",
                extra=extra or {})
    rows = [ResultRow(metric="mIoU", value=miou, status=status, **base)]
    if trivial is not None:
        rows.append(ResultRow(metric="trivial_mIoU", value=trivial, status=status, **base))
    write_rows(result_path(results, "smoke", table, row, seed), rows)


@pytest.fixture
def results(tmp_path):
    r = tmp_path / "results"
    for seed, (a, b) in enumerate([(30.0, 40.0), (31.0, 44.0), (29.0, 36.0)]):
        put(r, "gcn/table1/k3", seed, a)
        put(r, "gcn/table1/k5", seed, b)
    return r


def test_baseline_keeps_value_trivial_and_measured_spread(results):
    baseline = make_baseline(results)
    k3 = baseline["rows"]["gcn/table1/k3"]
    assert k3["mIoU"] == 30.0 and k3["trivial"] == 3.0, "Seed 0 gives the baseline value."
    assert k3["spread"] == pytest.approx(1.0) and k3["tolerance"] == pytest.approx(3.0), (
        "The tolerance must come from the seed-to-seed spread (3 x std of 30, 31, 29).")
    assert baseline["rows"]["gcn/table1/k5"]["tolerance"] == pytest.approx(12.0)
    assert tolerance(0.01) == 1.0, "A tiny spread still allows floating-point differences."


def test_unchanged_results_pass(results):
    findings, n = compare(make_baseline(results), results)
    assert n == 2 and not findings, [str(f) for f in findings]


@pytest.mark.parametrize("case, value, kwargs, reason", [
    ("nan", math.nan, {}, "NaN"),
    ("trivial level", 12.0, {}, "trivial baseline"),
    ("failed run", None, {"status": "failed"}, "no mIoU (failed)"),
    ("drop beyond tolerance", 26.5, {}, "< baseline 30.00"),
])
def test_each_failure_names_the_row(results, case, value, kwargs, reason):
    baseline = make_baseline(results)
    put(results, "gcn/table1/k3", 0, value, **kwargs)
    findings, _ = compare(baseline, results)
    assert [f.row for f in findings] == ["gcn/table1/k3"] and reason in findings[0].reason, (
        f"A {case} must fail the check naming the row: {[str(f) for f in findings]}")


def test_a_failed_row_is_reported_with_its_recorded_error(results):
    """CI logs keep only their tail: the check's line must carry the cause, not only the status."""
    baseline = make_baseline(results)
    error = "Traceback (most recent call last):\n  ...\nRuntimeError: proposals ran out"
    put(results, "gcn/table1/k3", 0, None, status="failed", extra={"error": error})
    findings, _ = compare(baseline, results)
    assert "no mIoU (failed: RuntimeError: proposals ran out)" in findings[0].reason, (
        f"The failed row's last error line must be in the check's message: {findings[0]}")


def test_a_drop_within_the_tolerance_passes(results):
    baseline = make_baseline(results)
    put(results, "gcn/table1/k3", 0, 27.5)  # 2.5 below, tolerance 3.0
    assert compare(baseline, results)[0] == []


def test_a_row_that_never_learned_is_marked_and_reported_never_silent(tmp_path):
    put(tmp_path, "gcn/table1/k3", 0, 3.0 + MARGIN - 0.5)
    baseline = make_baseline(tmp_path)
    assert baseline["rows"]["gcn/table1/k3"]["learns"] is False, (
        "A baseline taken from a row below its trivial level + margin must say it does not learn.")
    warnings = []
    assert compare(baseline, tmp_path, warnings)[0] == []
    assert [w.row for w in warnings] == ["gcn/table1/k3"] and "does not learn" in \
        warnings[0].reason, "Every row the check cannot judge must be reported by name."
    put(tmp_path, "gcn/table1/k3", 0, 0.5)
    findings = compare(baseline, tmp_path)[0]
    assert findings and "< baseline" in findings[0].reason, (
        "A non-learning row still fails when it drops beyond its tolerance.")
    put(tmp_path, "gcn/table1/k3", 0, 3.0 + MARGIN + 5)
    warnings = []
    compare(baseline, tmp_path, warnings)
    assert "repro check --update" in warnings[0].reason, (
        "A row that starts to learn must ask for the baseline to be updated.")


def test_a_learning_row_at_its_trivial_level_fails_even_within_its_tolerance(results):
    baseline = make_baseline(results)
    baseline["rows"]["gcn/table1/k3"].update(mIoU=12.5, tolerance=5.0)
    put(results, "gcn/table1/k3", 0, 3.0 + MARGIN - 0.5)
    findings = compare(baseline, results)[0]
    assert findings and "did not learn" in findings[0].reason, (
        "A learning row that falls to its trivial level fails whatever its tolerance.")


def test_rows_missing_on_either_side_fail(results):
    baseline = make_baseline(results)
    baseline["rows"]["gcn/table2/gcn-k3"] = dict(mIoU=40.0, trivial=3.0, tolerance=2.0)
    put(results, "gcn/table1/k7", 0, 35.0)
    findings = {f.row: f.reason for f in compare(baseline, results)[0]}
    assert "missing" in findings["gcn/table2/gcn-k3"], "A baseline row without result fails."
    assert "no baseline entry" in findings["gcn/table1/k7"], "A result without baseline fails."


def test_cli_check_update_and_fail(results, tmp_path, capsys):
    path = tmp_path / "baseline.json"
    assert main(["check", "--update", "--baseline", str(path), "--results-dir",
                 str(results)]) == 0
    assert main(["check", "--baseline", str(path), "--results-dir", str(results)]) == 0
    put(results, "gcn/table1/k5", 0, 20.0)
    capsys.readouterr()
    assert main(["check", "--baseline", str(path), "--results-dir", str(results)]) == 1
    assert "REGRESSION gcn/table1/k5" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["{not json", json.dumps({"rows": {"a/b/c": 12}}), "[]"])
def test_a_damaged_baseline_is_one_line(tmp_path, capsys, text):
    path = tmp_path / "baseline.json"
    path.write_text(text)
    assert main(["check", "--baseline", str(path), "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err and "--update" in err, err


@pytest.mark.parametrize("field, value", [
    ("tolerance", "abc"), ("trivial", "abc"), ("spread", "abc"), ("spread", -1.0),
    ("learns", "no"), ("learns", 1), ("mIoU", True), ("mIoU", None), ("seeds", "0 1 2"),
    ("margin", "ten"),
])
def test_a_malformed_baseline_field_is_one_line_naming_the_file(results, tmp_path, capsys,
                                                                field, value):
    """Each field the check reads from a baseline is validated: a hand edit gone wrong is one
    line naming the file, the field and the fix, never a traceback from inside the comparison."""
    baseline = make_baseline(results)
    if field == "margin":
        baseline["margin"] = value
    else:
        baseline["rows"]["gcn/table1/k3"][field] = value
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline))
    capsys.readouterr()
    assert main(["check", "--baseline", str(path), "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, (
        f"A malformed baseline must give one line, not a traceback:\n{err}")
    assert str(path) in err and field in err and "--update" in err, (
        f"The line must name the file, the field {field!r} and the fix: {err}")
