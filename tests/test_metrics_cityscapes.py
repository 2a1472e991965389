"""Cityscapes scores: identical to cityscapesscripts' evalPixelLevelSemanticLabeling.

The official module is run on synthetic labelId / instanceIds PNGs in the official layout. Its
instance path calls ``np.in1d`` (removed in numpy 2.4): the tests alias it to ``np.isin``.
"""

import copy
import math
from pathlib import Path

import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as official
import numpy as np
import pytest
from PIL import Image

from repro.metrics.cityscapes import (
    CLASS_NAMES,
    EVAL_LABEL_IDS,
    CityscapesEvaluator,
    avg_class_size,
    export_label_id_png,
    instance_path_for,
    label_to_train_ids,
    train_to_label_ids,
)
from repro.metrics.score import score_folder

H, W = 24, 40


def _blocks(rng, values, p=None, cell=(4, 5)):
    small = rng.choice(values, size=(H // cell[0], W // cell[1]), p=p)
    return np.kron(small, np.ones(cell, np.int64))


def make_dataset(root: Path, n: int, seed: int, pred_ids: str = "label"):
    """gtFine/val/<city>/..._gtFine_{labelIds,instanceIds}.png and predictions in root/pred."""
    rng = np.random.default_rng(seed)
    ids = np.arange(34)
    weights = np.where(np.isin(ids, EVAL_LABEL_IDS), 3.0, 1.0)
    weights[24:34] += 3  # many instance-class pixels (incl. the ignored caravan / trailer)
    weights /= weights.sum()
    gts, preds = [], []
    for k in range(n):
        city = ["aachen", "bochum"][k % 2]
        stem = f"{city}_{k:06d}_000019"
        gt = _blocks(rng, ids, weights)
        inst = gt.copy()
        has_inst = (gt >= 24) & (gt <= 33) & (_blocks(rng, [0, 1], [0.2, 0.8]) == 1)
        inst[has_inst] = gt[has_inst] * 1000 + _blocks(rng, np.arange(4))[has_inst]
        if pred_ids == "label":
            noise = rng.integers(0, 34, gt.shape)
            pred = np.where(rng.random(gt.shape) < 0.7, gt, noise)
        else:
            gt_train = label_to_train_ids(gt.astype(np.uint8)).astype(np.int64)
            noise = rng.integers(0, 19, gt.shape)
            pred = np.where((rng.random(gt.shape) < 0.7) & (gt_train != 255), gt_train, noise)
        d = root / "gtFine" / "val" / city
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(gt.astype(np.uint8)).save(d / f"{stem}_gtFine_labelIds.png")
        Image.fromarray(inst.astype(np.uint16)).save(d / f"{stem}_gtFine_instanceIds.png")
        pdir = root / "pred"
        pdir.mkdir(exist_ok=True)
        Image.fromarray(pred.astype(np.uint8)).save(pdir / f"{stem}_leftImg8bit.png")
        gts.append(d / f"{stem}_gtFine_labelIds.png")
        preds.append(pdir / f"{stem}_leftImg8bit.png")
    return gts, preds


def run_official(preds, gts, monkeypatch, instances=True):
    monkeypatch.setattr(np, "in1d", np.isin, raising=False)
    args = copy.copy(official.args)
    args.quiet = True
    args.JSONOutput = False
    args.evalInstLevelScore = instances
    args.evalPixelAccuracy = False
    args.colorized = False
    return official.evaluateImgLists([str(p) for p in preds], [str(g) for g in gts], args)


def assert_same(ours: dict, ref: dict, what: str):
    for name, v in ours.items():
        r = ref[name]
        if math.isnan(r):
            assert math.isnan(v), f"{what} '{name}' should be NaN like the official script."
        else:
            assert v == pytest.approx(r, abs=1e-6), f"{what} '{name}' differs from official."


def compare_to_official(evaluator: CityscapesEvaluator, ref: dict, instances=True):
    ours = evaluator.official_scores()
    assert_same(ours["classScores"], ref["classScores"], "class IoU")
    assert_same(ours["categoryScores"], ref["categoryScores"], "category IoU")
    for key in ("averageScoreClasses", "averageScoreCategories"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-6), f"{key} differs from official."
    if instances:
        assert_same(ours["classInstScores"], ref["classInstScores"], "class iIoU")
        assert_same(ours["categoryInstScores"], ref["categoryInstScores"], "category iIoU")
        for key in ("averageScoreInstClasses", "averageScoreInstCategories"):
            assert ours[key] == pytest.approx(ref[key], abs=1e-6), f"{key} differs."
    # every class the official script reports but we do not must be NaN there
    for name, v in ref["classScores"].items():
        if name not in CLASS_NAMES:
            assert math.isnan(v)


def test_label_id_predictions_match_official(tmp_path, monkeypatch):
    gts, preds = make_dataset(tmp_path, 6, seed=0)
    ref = run_official(preds, gts, monkeypatch)
    ev = CityscapesEvaluator(pred_ids="label", gt_ids="label")
    for p, g in zip(preds, gts):
        inst = np.asarray(Image.open(instance_path_for(g)))
        ev.update(np.asarray(Image.open(p)), np.asarray(Image.open(g)), inst, name=p.name)
    assert (ev.cm.mat == np.array(ref["confMatrix"])).all(), "Same 34x34 matrix as official."
    compare_to_official(ev, ref)
    s = ev.summary()
    assert s["mIoU"] == pytest.approx(100 * ref["averageScoreClasses"], abs=1e-6)
    assert s["iIoU"] == pytest.approx(100 * ref["averageScoreInstClasses"], abs=1e-6)
    assert s["cat_IoU"] == pytest.approx(100 * ref["averageScoreCategories"], abs=1e-6)
    assert s["cat_iIoU"] == pytest.approx(100 * ref["averageScoreInstCategories"], abs=1e-6)
    # the folder scorer (with reader processes) gives the same numbers
    folder = score_folder("cityscapes", tmp_path / "pred", tmp_path, num_workers=2, progress=False)
    for k, v in s.items():
        assert folder[k] == pytest.approx(v, abs=1e-9, nan_ok=True), f"score_folder {k}."


def test_train_id_inputs_match_official(tmp_path, monkeypatch):
    gts, preds = make_dataset(tmp_path, 4, seed=1, pred_ids="train")
    official_preds = []
    for p in preds:  # the official script needs labelIds
        q = tmp_path / "pred_label" / p.name
        q.parent.mkdir(exist_ok=True)
        Image.fromarray(train_to_label_ids(np.asarray(Image.open(p)))).save(q)
        official_preds.append(q)
    ref = run_official(official_preds, gts, monkeypatch)
    ev = CityscapesEvaluator(pred_ids="train", gt_ids="train")
    for p, g in zip(preds, gts):
        gt_train = label_to_train_ids(np.asarray(Image.open(g)))
        inst = np.asarray(Image.open(instance_path_for(g)))
        ev.update(np.asarray(Image.open(p)).astype(np.int64), gt_train, inst, name=p.name)
    compare_to_official(ev, ref)
    folder = score_folder(
        "cityscapes", tmp_path / "pred", tmp_path, pred_ids="train", num_workers=0, progress=False
    )
    assert folder["mIoU"] == pytest.approx(100 * ref["averageScoreClasses"], abs=1e-6)


def test_hand_computed_4x4_iiou():
    # road (7) / person (24, one instance of 4 px) / car (26, one instance of 4 px)
    gt = np.array([[7, 7, 24, 24], [7, 7, 24, 24], [26, 26, 7, 7], [26, 26, 7, 7]])
    inst = np.where(gt == 24, 24000, np.where(gt == 26, 26000, gt))
    pred = np.array([[7, 24, 24, 24], [7, 7, 7, 24], [26, 26, 7, 7], [26, 7, 7, 7]])
    ev = CityscapesEvaluator()
    ev.update(pred, gt, inst)
    a = avg_class_size()["person"]
    # person: tp 3, fn 1, fp 1 (a road pixel); weight a/4 -> iIoU = 0.75a / (0.75a + 1 + 0.25a)
    # car: tp 3, fn 1, fp 0 -> IoU 3/4, iIoU 0.75; road: tp 7, fp 2, fn 1 -> 7/10
    s = ev.summary()
    person_iiou = 0.75 * a / (a + 1)
    expect = {
        "IoU.road": 70.0,
        "IoU.person": 60.0,
        "IoU.car": 75.0,
        "mIoU": 100 * (0.7 + 0.6 + 0.75) / 3,
        "iIoU": 100 * (person_iiou + 0.75) / 2,
        "cat_IoU": 100 * (0.7 + 0.6 + 0.75) / 3,  # flat, human, vehicle: same counts here
        "cat_iIoU": 100 * (person_iiou + 0.75) / 2,
        "aAcc": 100 * 13 / 16,
        "mAcc": 100 * (7 / 8 + 3 / 4 + 3 / 4) / 3,
        "fwIoU": 100 * (8 * 0.7 + 4 * 0.6 + 4 * 0.75) / 16,
    }
    for k, v in expect.items():
        assert s[k] == pytest.approx(v, abs=1e-9), f"{k} should be {v} (worked out by hand)."
    assert math.isnan(s["IoU.rider"]), "Classes absent everywhere should be NaN."


def test_missing_instances_skip_iiou():
    ev = CityscapesEvaluator()
    ev.update(np.full((2, 2), 7), np.full((2, 2), 7))
    s = ev.summary()
    assert "iIoU" not in s and "cat_iIoU" not in s, "Without instanceIds, iIoU is skipped."
    assert s["IoU.road"] == 100.0


def test_id_conversion_round_trip_and_errors():
    train = np.arange(19, dtype=np.uint8)
    label = train_to_label_ids(train)
    assert label.tolist() == EVAL_LABEL_IDS, "trainIds 0..18 map to the 19 evaluated labelIds."
    assert (label_to_train_ids(label) == train).all()
    assert label_to_train_ids(np.array([0, 9, 29], np.uint8)).tolist() == [255] * 3
    assert train_to_label_ids(np.array([255], np.uint8)).tolist() == [255]
    with pytest.raises(ValueError, match=r"'im'.*\[19\].*pred_ids"):
        train_to_label_ids(np.array([19]), name="im")
    ev = CityscapesEvaluator()
    with pytest.raises(ValueError, match=r"'p'.*\{40\}"):
        ev.update(np.full((2, 2), 40), np.full((2, 2), 7), name="p")


def test_export_label_id_png_is_found_by_the_official_matcher(tmp_path):
    img = "leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png"
    pred_train = np.array([[0, 13], [11, 18]], np.uint8)
    out = export_label_id_png(pred_train, tmp_path / "server", img)
    assert out == tmp_path / "server" / "aachen_000000_000019_leftImg8bit.png"
    assert np.asarray(Image.open(out)).tolist() == [[7, 26], [24, 33]], "Written as labelIds."
    args = copy.copy(official.args)
    args.predictionPath, args.predictionWalk = str(tmp_path / "server"), None
    gt = "gtFine/val/aachen/aachen_000000_000019_gtFine_labelIds.png"
    assert official.getPrediction(args, gt) == str(out), "The official matcher must find it."
    with pytest.raises(ValueError, match="full size"):
        export_label_id_png(pred_train, tmp_path, img, expected_shape=(1024, 2048))
    with pytest.raises(ValueError, match="255"):
        export_label_id_png(np.full((2, 2), 255, np.uint8), tmp_path, img)


def test_score_folder_cityscapes_errors(tmp_path):
    make_dataset(tmp_path, 2, seed=2)
    victim = next((tmp_path / "pred").glob("bochum*"))
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=r"bochum_000001_000019\*\.png"):
        score_folder("cityscapes", tmp_path / "pred", tmp_path, num_workers=0, progress=False)
    Image.fromarray(np.zeros((H, W), np.uint8)).save(victim)
    Image.fromarray(np.zeros((H, W), np.uint8)).save(victim.with_name(victim.stem + "_x.png"))
    with pytest.raises(ValueError, match="Found 2 predictions"):
        score_folder("cityscapes", tmp_path / "pred", tmp_path, num_workers=0, progress=False)
