"""The runner end to end on synthetic data with a few iterations: results, skip, reuse,
report, non-finite loss, and the evaluation-server round trip of a test-set row."""

import dataclasses
from pathlib import Path

import pytest

from repro import server, smoke
from repro.metrics.confusion import mean_iou
from repro.metrics.per_image import PerImageConfusion
from repro.report import render_all
from repro.results import read_file, result_path
from repro.session import run_experiment
from repro.tables.registry import Protocol, TableSpec, get_table


@pytest.fixture
def dirs(tmp_path):
    return dict(results_dir=tmp_path / "results", work_root=tmp_path / "work")


def test_row_runs_writes_results_and_is_skipped_when_done(tiny_smoke, dirs):
    spec = get_table("gcn/table1")
    exp = spec.experiment("k3")
    status, rows = run_experiment(spec, exp, tiny_smoke, **dirs)
    assert status == "ok", f"The smoke row failed: {rows[0].extra.get('error')}"
    by_metric = {r.metric: r for r in rows}
    assert 0 <= by_metric["mIoU"].value <= 100
    assert by_metric["mIoU"].paper == 70.1 and by_metric["mIoU"].data == "synthetic"
    assert "IoU.aeroplane" in by_metric, "Per-class IoU must be kept beside the paper's cells."
    r = by_metric["mIoU"]
    assert r.git_sha and r.config_hash and r.versions["torch"] and r.device, (
        "Every result row must carry provenance (git sha, config hash, versions, device).")
    path = result_path(dirs["results_dir"], "smoke", "gcn/table1", "k3", 0)
    assert read_file(path)[0].value == r.value

    status, _ = run_experiment(spec, exp, tiny_smoke, **dirs)
    assert status.startswith("skipped"), "A row done with the same config hash must be skipped."

    (out,) = render_all(dirs["results_dir"], dirs["results_dir"].parent / "reports", [spec])
    assert f"{r.value:.1f}" in out.read_text(), "The report must show the row's mIoU."

    status, rows5 = run_experiment(spec, spec.experiment("k5"), tiny_smoke, **dirs)
    assert status == "ok", rows5[0].extra.get("error")
    for row in (r, rows5[0]):  # two rows trained in one process: a visualizer each (one
        # shared by name would write the second row's vis_data into the first row's work dir)
        # (training and evaluation within one second share mmengine's timestamped folder)
        runs = list(Path(row.extra["work_dir"]).glob("*/vis_data/config.py"))
        assert runs, f"{row.row} must log into its own work dir ({row.extra['work_dir']})."


def test_rows_training_the_same_model_share_the_checkpoint(tiny_smoke, dirs):
    t1, t5 = get_table("gcn/table1"), get_table("gcn/table5")
    run_experiment(t1, t1.experiment("base"), tiny_smoke, **dirs)
    status, rows = run_experiment(t5, t5.experiment("baseline"), tiny_smoke, **dirs)
    assert status == "ok", rows[0].extra.get("error")
    assert rows[0].extra["trained"] in ("reused checkpoint", "now"), rows[0].extra["trained"]
    assert rows[0].extra["training_key"] == read_file(result_path(
        dirs["results_dir"], "smoke", "gcn/table1", "base", 0))[0].extra["training_key"], (
        "Table 5 'Baseline' trains the same model as Table 1 'base': it must reuse the "
        "checkpoint and only evaluate (with the boundary metric).")
    metrics = {r.metric: r.value for r in rows}
    assert 0 <= metrics["boundary_acc"] <= 100 and 0 <= metrics["internal_acc"] <= 100


def test_non_finite_loss_stops_the_row_with_a_status(tiny_smoke, dirs):
    exploding = dataclasses.replace(tiny_smoke, iters=30)
    spec = get_table("gcn/table1")
    status, rows = run_experiment(spec, spec.experiment("k5"), exploding, **dirs,
                                  cfg_options={"optim_wrapper.optimizer.lr": 1e12})
    assert status == "nan_loss", f"An exploding loss must stop the row as nan_loss, got {status}."
    assert rows[0].value is None and "Loss became" in rows[0].extra["error"]


def test_test_set_row_round_trip_through_the_simulated_server(tiny_smoke, dirs):
    base = get_table("gcn/table1").experiment("k3")
    exp = dataclasses.replace(base, key="k3-test",
                              protocol=Protocol(eval_split="test", crop_size=(512, 512)))
    spec = TableSpec(paper="test", number=1, caption="test-set row", experiments=(exp,))
    status, rows = run_experiment(spec, exp, tiny_smoke, **dirs)
    assert status == "awaiting_server", rows[0].extra.get("error")
    assert rows[0].extra["submission"].endswith("results.tgz")
    path = result_path(dirs["results_dir"], "smoke", spec.name, exp.key, 0)
    scores = server.simulate_into(path, dirs["results_dir"], "voc")
    back = {r.metric: r for r in read_file(path)}
    assert back["mIoU"].status == "ok" and back["mIoU"].value == pytest.approx(scores["mIoU"])
    assert back["mIoU"].scored_by == "simulated_server", "Simulated numbers must be marked."
    assert 0 < back["trivial_mIoU"].value < 100, (
        "A server-scored row records its trivial baseline, so that CI can tell a test-set row "
        "that learned from one that did not.")
    per_image = PerImageConfusion.load(dirs["results_dir"] / back["mIoU"].extra["per_image"])
    num_test = smoke.SYNTHETIC["voc"]["num_test"]
    assert len(per_image) == num_test and 100 * mean_iou(per_image.total()) == pytest.approx(
        scores["mIoU"]), (
        f"The per-image matrices of the {num_test} test images sum to the scored matrix.")
    low, high = back["mIoU"].ci
    assert low < scores["mIoU"] < high and high - low > 0.5, (
        f"A simulated-server row gets a bootstrap interval like a labelled evaluation, got "
        f"[{low}, {high}] around {scores['mIoU']}.")


def test_server_scores_parse_text_and_json(tmp_path):
    names = ["background", "aeroplane"]
    (tmp_path / "s.txt").write_text("background 90.1\nAeroplane: 80.5\nmean 85.3\n")
    assert server.parse_scores(tmp_path / "s.txt", names) == {
        "IoU.background": 90.1, "IoU.aeroplane": 80.5, "mIoU": 85.3}
    (tmp_path / "s.json").write_text('{"background": 90.0}')
    with pytest.raises(ValueError, match="aeroplane"):
        server.parse_scores(tmp_path / "s.json", names)
