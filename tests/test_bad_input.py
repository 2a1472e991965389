"""Errors a user can cause, through the command line: each one exits 2 with a message naming the
file or value and the fix, starts no training, and loses nothing (result files untouched).

Broken datasets are copies of a tiny synthetic VOC damaged one way each. Training is replaced
by a tripwire (``Runner.from_cfg`` raises): a command that would train on bad input fails the
test quickly instead of training.

Tests marked ``needs CLI wiring`` / ``needs runner wiring`` describe behaviour that the CLI
(``repro data check``) and the runner (data check before training, unknown option keys, results
files read outside the row's error handling) do not implement yet; the marks go when they do.
"""

import shutil

import numpy as np
import pytest
from PIL import Image

from repro.cli import main
from repro.data.synth import make_voc
from repro.results import ResultRow, result_path, write_rows

ROW = "gcn/table1/k3"


@pytest.fixture(scope="module")
def voc_master(tmp_path_factory):
    return make_voc(tmp_path_factory.mktemp("voc"), size=(64, 48), num_train=4, num_val=4,
                    num_test=1)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Results (holding one earlier result of ROW), reports and work dirs; no training."""
    from mmengine.runner import Runner

    def tripwire(cls, cfg):
        raise RuntimeError("training started on input that should have been refused")

    monkeypatch.setattr(Runner, "from_cfg", classmethod(tripwire))
    for var in ("REPRO_VOC_ROOT", "REPRO_CITYSCAPES_ROOT"):
        monkeypatch.delenv(var, raising=False)
    results = tmp_path / "results"
    table, row = ROW.rsplit("/", 1)
    write_rows(result_path(results, "smoke", table, row, 0), [ResultRow(
        table=table, row=row, metric="mIoU", seed=0, value=12.5, status="ok", paper=70.1,
        spec_version=1, profile="smoke", data="synthetic", config="gcn/x.py",
        config_hash="0" * 16, git_sha="abc")])
    return results, tmp_path / "reports", tmp_path / "work"


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run(dirs, *args):
    results, reports, work = dirs
    return main(["run", *args, "--profile", "smoke", "--results-dir", str(results),
                 "--reports-dir", str(reports), "--work-dir", str(work)])


def first_val(root):
    return (root / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[0]


def no_jpeg_folder(root):
    shutil.rmtree(root / "JPEGImages")
    return "JPEGImages"


def corrupt_image(root):
    jpg = root / "JPEGImages" / f"{first_val(root)}.jpg"
    jpg.write_bytes(jpg.read_bytes()[:300])
    return str(jpg)


def label_values(root):
    png = root / "SegmentationClass" / f"{first_val(root)}.png"
    arr = np.array(Image.open(png))
    arr[:2, :2] = 42
    Image.fromarray(arr, "L").save(png)
    return str(png)


def label_size(root):
    png = root / "SegmentationClass" / f"{first_val(root)}.png"
    Image.open(png).resize((32, 24)).save(png)
    return str(png)


DAMAGE = [no_jpeg_folder, corrupt_image, label_values, label_size]


@pytest.fixture(params=DAMAGE, ids=[f.__name__ for f in DAMAGE])
def broken(request, voc_master, tmp_path):
    """(a damaged copy of the tiny VOC2012 root, the text the error must contain)."""
    root = shutil.copytree(voc_master, tmp_path / "VOCdevkit" / "VOC2012")
    return root, request.param(root)


def test_missing_data_root(dirs, capsys, tmp_path):
    before = snapshot(dirs[0])
    assert run(dirs, ROW, "--data-root", str(tmp_path / "nope")) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nope") in err and "--data-root" in err, (
        "A missing data root must be named with the option that sets it.")
    assert snapshot(dirs[0]) == before, "A refused run must not touch the results."


def test_data_check_of_a_missing_root(capsys, tmp_path):
    assert main(["data", "check", "voc", "--root", str(tmp_path / "nope")]) == 2
    assert str(tmp_path / "nope") in capsys.readouterr().err


def test_data_check_names_the_broken_file(broken, capsys):
    root, named = broken
    assert main(["data", "check", "voc", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert named in err and "Fix:" in err, (
        f"`repro data check` must exit 2 naming {named} and saying how to fix it:\n{err}")


def test_run_on_broken_data_is_refused_before_training(broken, dirs, capsys):
    root, named = broken
    before = snapshot(dirs[0])
    code = run(dirs, ROW, "--data-root", str(root))
    err = capsys.readouterr().err
    assert code == 2 and named in err and "Fix:" in err, (
        f"`repro run` on broken data must exit 2 with the data check's report naming {named} "
        f"(check the data before training, outside the row's error handling):\n{err}")
    assert snapshot(dirs[0]) == before, (
        "A run refused for bad data must not write a 'failed' row over the earlier result.")


def test_paper_run_without_pretrained_weights(voc_master, dirs, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("REPRO_WEIGHTS", str(tmp_path / "weights"))
    results, reports, work = dirs
    before = snapshot(results)
    code = main(["run", ROW, "--profile", "paper", "--data-root", str(voc_master),
                 "--results-dir", str(results), "--reports-dir", str(reports),
                 "--work-dir", str(work)])
    err = capsys.readouterr().err
    assert code == 2 and str(tmp_path / "weights" / "resnet152.pth") in err, (
        "A paper run must stop before training when its ImageNet weights are missing, naming "
        f"the expected file and how to get it (repro.weights.require_weights):\n{err}")
    assert "download" in err and snapshot(results) == before


def test_unknown_table_and_row(dirs, capsys):
    before = snapshot(dirs[0])
    assert run(dirs, "gcn/table42") == 2
    err = capsys.readouterr().err
    assert "gcn/table42" in err and "gcn/table1" in err and "repro list" in err
    assert run(dirs, "gcn/table1/k4") == 2
    assert "gcn/table1/k15" in capsys.readouterr().err, "The known rows must be listed."
    assert snapshot(dirs[0]) == before


@pytest.fixture
def edited(dirs):
    """ROW's result file edited into invalid JSON (and an existing report); their bytes."""
    results, reports, _ = dirs
    path = next(results.rglob("*.json"))
    path.write_text(path.read_text()[:-40])
    (reports / "gcn").mkdir(parents=True)
    (reports / "gcn" / "table1.md").write_text("# an earlier report\n")
    return path, {**snapshot(results), **snapshot(reports)}


def test_invalid_results_json_in_list_and_report(dirs, edited, capsys):
    path, before = edited
    results, reports, _ = dirs
    assert main(["list", "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "not valid JSON" in err and "rerun" in err, (
        "An edited results file must be named with the fix (delete and rerun, or restore).")
    assert main(["report", "gcn/table1", "gcn/table2", "--results-dir", str(results),
                 "--reports-dir", str(reports)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and err.strip().count("\n") == 0, err
    after = {**snapshot(results), **snapshot(reports)}
    assert (reports / "gcn" / "table2.md").exists(), (
        "One damaged results file must stop only its own table's report.")
    assert {p: after[p] for p in before} == before, (
        "Neither the broken results file nor the earlier report may be rewritten.")


def test_invalid_results_json_of_the_row_being_run(dirs, edited, capsys):
    path, before = edited
    assert run(dirs, ROW) == 2
    assert str(path) in capsys.readouterr().err
    assert {**snapshot(dirs[0]), **snapshot(dirs[1])} == before, (
        "`repro run` must stop on an unreadable results file of its row, not overwrite it.")


def test_unknown_config_key_in_a_row_option(dirs, capsys, monkeypatch):
    from repro.tables import registry
    from repro.tables.registry import Cell, Experiment, TableSpec

    spec = TableSpec(
        paper="badinput", number=1, caption="A row whose option misspells a config key.",
        experiments=(Experiment(
            key="typo", title="typo", config="gcn/gcn-k15_r152_1xb1-100k_voc12aug-512x512.py",
            cells=(Cell("mIoU", "Score", "typo"),),
            options={"model.decode_head.kernal": 3},  # the head's argument is `k`
        ),),
    )
    registry.all_tables()  # load the real tables first
    monkeypatch.setitem(registry._TABLES, spec.name, spec)
    before = snapshot(dirs[0])
    code = run(dirs, "badinput/table1/typo")
    err = capsys.readouterr().err
    assert code == 2 and "model.decode_head.kernal" in err, (
        "An option naming a key that neither the config nor the class it builds has must be "
        f"refused before training, naming the key (mmengine would add it silently):\n{err}")
    assert snapshot(dirs[0]) == before
