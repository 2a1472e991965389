"""Runner mechanisms on an ad-hoc table of tiny GCN rows: multi-stage init, optional splits,
ensembles of trained rows, multi-scale testing with a CRF, cross-validated CRF parameters."""

import json

import pytest

from repro.session import run_experiment
from repro.tables.registry import Cell, Experiment, Protocol, TableSpec

K3 = "gcn/gcn-k3_r152_1xb1-100k_voc12aug-512x512.py"
BASE = "gcn/gcn-base_r152_1xb1-100k_voc12aug-512x512.py"
CRF = dict(w1=4, sigma_alpha=30, sigma_beta=3)


def row(key, config=K3, **kw):
    protocol = kw.pop("protocol", Protocol())
    return Experiment(key, key, config, protocol=protocol,
                      cells=(Cell("mIoU", key, "mIoU", None),), **kw)


SPEC = TableSpec(paper="mech", number=1, caption="runner mechanisms", experiments=(
    row("s1"),
    row("s2", protocol=Protocol(train_split="train"), init_from="s1"),
    row("coco", protocol=Protocol(train_split="coco+train_aug")),
    row("other", config=BASE),
    row("ens", members=("s1", "other")),
    row("ms-crf", protocol=Protocol(multi_scale=True, crf=CRF)),
    row("crf-cv", protocol=Protocol(crf=True)),
))


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mech")
    return dict(results_dir=tmp / "results", work_root=tmp / "work")


def run(key, profile, dirs):
    status, rows = run_experiment(SPEC, SPEC.experiment(key), profile, **dirs)
    return status, rows[0]


def test_later_stage_trains_from_the_earlier_one(tiny_smoke, dirs):
    status, r = run("s2", tiny_smoke, dirs)
    assert status == "ok", r.extra.get("error")
    assert r.extra["trained"] == "now, initialised from mech/table1/s1@seed0", (
        "A row with init_from must start from the earlier stage's final checkpoint.")
    assert r.extra["stages"] == ["mech/table1/s1@seed0", "mech/table1/s2@seed0"]
    assert (dirs["work_root"] / "smoke").glob("*/iter_4.pth"), (
        "The earlier stage must have been trained first.")


def test_absent_optional_split_skips_the_row(tiny_smoke, dirs, tmp_path):
    from repro.data.synth import make_voc

    root = make_voc(tmp_path, size=(64, 48), num_train=4, num_val=4, num_test=1)  # no COCO
    status, skipped = run_experiment(SPEC, SPEC.experiment("coco"), tiny_smoke, **dirs,
                                     data_root=str(root))
    assert status == "skipped" and "coco.txt" in skipped[0][1], (
        "A stage whose data is absent (COCO) must be skipped with a message naming the list.")


def test_ensemble_averages_trained_members(tiny_smoke, dirs):
    status, r = run("ens", tiny_smoke, dirs)
    assert status == "ok", r.extra.get("error")
    assert r.extra["members"] == ["s1", "other"] and 0 <= r.value <= 100


def test_multi_scale_with_given_crf_parameters(tiny_smoke, dirs):
    status, r = run("ms-crf", tiny_smoke, dirs)
    assert status == "ok", r.extra.get("error")
    assert r.extra["crf"]["source"] == "protocol" and r.extra["crf"]["w1"] == 4


def test_crf_row_uses_the_cross_validated_parameters(tiny_smoke, dirs):
    import dataclasses

    profile = dataclasses.replace(tiny_smoke, crf_cv=dict(
        grid="w1=3:4,sigma_alpha=30:10:40,sigma_beta=3", strategy="fast", num_images=4))
    status, r = run("crf-cv", profile, dirs)
    assert status == "ok", r.extra.get("error")
    out = dirs["results_dir"] / "crf" / "smoke" / "mech" / "table1" / "crf-cv.seed0.json"
    best = json.loads(out.read_text())["best"]
    assert r.extra["crf"]["w1"] == best["w1"] and "cross-validated" in r.extra["crf"]["source"], (
        "A crf=True row must evaluate with the parameters `repro crf-cv` chose, and say so.")
