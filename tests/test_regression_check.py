"""`repro check`: the CI regression check on mIoU fails on a deliberately broken model."""

import json

import torch

from repro.check import compare, make_baseline
from repro.cli import main
from repro.models.gcn import GCNHead
from repro.runner import run_experiment
from repro.tables.registry import get_table


def test_check_fails_naming_the_row_of_a_broken_model(tiny_smoke, tmp_path, monkeypatch, capsys):
    import dataclasses

    profile = dataclasses.replace(tiny_smoke, iters=20)
    spec = get_table("gcn/table1")
    dirs = dict(results_dir=tmp_path / "results", work_root=tmp_path / "work")
    status, rows = run_experiment(spec, spec.experiment("k3"), profile, **dirs)
    assert status == "ok", rows[0].extra.get("error")
    baseline_path = tmp_path / "baseline.json"
    assert main(["check", "--update", "--baseline", str(baseline_path),
                 "--results-dir", str(dirs["results_dir"])]) == 0
    baseline = json.loads(baseline_path.read_text())
    assert list(baseline["rows"]) == ["gcn/table1/k3@seed0"]
    assert main(["check", "--baseline", str(baseline_path),
                 "--results-dir", str(dirs["results_dir"])]) == 0, "Unchanged results must pass."

    # Break the model: the head's scores no longer depend on the image.
    def broken(self, inputs):
        x = inputs[0]
        return torch.zeros(x.shape[0], self.num_classes, x.shape[2] * 4, x.shape[3] * 4,
                           requires_grad=True)

    monkeypatch.setattr(GCNHead, "forward", broken)
    run_experiment(spec, spec.experiment("k3"), profile, results_dir=dirs["results_dir"],
                   work_root=tmp_path / "work-broken", force=True)
    findings, n = compare(baseline, dirs["results_dir"], tolerance=0.5)
    assert n == 1 and [f.row for f in findings] == ["gcn/table1/k3@seed0"], (
        "A model whose mIoU collapsed must fail the regression check, naming its row.")
    capsys.readouterr()
    assert main(["check", "--baseline", str(baseline_path), "--tolerance", "0.5",
                 "--results-dir", str(dirs["results_dir"])]) == 1
    assert "REGRESSION gcn/table1/k3@seed0" in capsys.readouterr().err


def test_missing_rows_count_as_regressions(tmp_path):
    baseline = make_baseline(tmp_path)  # nothing there
    baseline["rows"] = {"gcn/table1/k3@seed0": 40.0}
    findings, _ = compare(baseline, tmp_path)
    assert findings and findings[0].status == "missing"
