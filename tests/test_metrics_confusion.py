"""Confusion matrix: hand-computed cases, parity with mmseg's IoUMetric, errors, merging."""

from fractions import Fraction as F

import numpy as np
import pytest
import torch
from mmseg.evaluation.metrics import IoUMetric

from repro.metrics.confusion import (
    ConfusionMatrix,
    confusion_matrix,
    fw_iou,
    mean_accuracy,
    mean_iou,
    per_class_iou,
    pixel_accuracy,
    summarize,
)

V = 255
# 4x4 case, 3 classes, one void pixel. Worked out on paper:
#   M = [[3,1,0],[0,5,1],[1,0,4]] (rows = label), row sums 4,6,5, column sums 4,6,5
LABEL = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, V, 1], [2, 2, 2, 1]], np.uint8)
PRED = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [2, 0, 0, 1], [2, 2, 2, 2]], np.uint8)
HAND_M = np.array([[3, 1, 0], [0, 5, 1], [1, 0, 4]])
HAND_IOU = [F(3, 5), F(5, 7), F(4, 6)]  # 3/(4+4-3), 5/(6+6-5), 4/(5+5-4)
HAND = {
    "mIoU": sum(HAND_IOU) / 3,
    "aAcc": F(12, 15),
    "mAcc": (F(3, 4) + F(5, 6) + F(4, 5)) / 3,
    "fwIoU": (4 * HAND_IOU[0] + 6 * HAND_IOU[1] + 5 * HAND_IOU[2]) / 15,
}


def test_hand_computed_4x4_every_metric():
    cm = ConfusionMatrix(3)
    cm.update(PRED, LABEL)
    assert (cm.mat == HAND_M).all(), f"The confusion matrix should be {HAND_M.tolist()}."
    assert cm.mat.dtype == np.int64, "The confusion matrix must count in int64."
    np.testing.assert_allclose(cm.iou(), [float(x) for x in HAND_IOU], rtol=0, atol=1e-12)
    s = cm.summary(["a", "b", "c"])
    for key, want in HAND.items():
        assert s[key] == pytest.approx(100 * float(want), abs=1e-10), f"{key} should be {want}."
    assert s["IoU.b"] == pytest.approx(100 * 5 / 7, abs=1e-10)


def test_absent_classes_nan_skipped_and_predicted_only_class_counts_as_zero():
    # class 3 absent everywhere -> NaN, skipped; class 2 only predicted -> IoU 0, counted.
    label = np.array([[0, 1], [1, V]], np.uint8)
    pred = np.array([[0, 2], [1, 0]], np.uint8)
    m = confusion_matrix(pred, label, 4)
    iou = per_class_iou(m)
    assert np.isnan(iou[3]), "A class absent from label and prediction should have IoU NaN."
    assert iou[2] == 0, "A class that is predicted but absent from the label has IoU 0."
    assert mean_iou(m) == pytest.approx((1 + 0.5 + 0) / 3), "NaN classes are skipped in mIoU."
    assert pixel_accuracy(m) == pytest.approx(2 / 3)
    assert mean_accuracy(m) == pytest.approx((1 + 0.5) / 2), "mAcc skips classes without gt."
    assert fw_iou(m) == pytest.approx((1 * 1 + 2 * 0.5) / 3)


def test_empty_matrix_gives_nan_without_warnings():
    with np.errstate(all="raise"):
        s = summarize(np.zeros((3, 3), np.int64))
    assert all(np.isnan(v) for v in s.values()), "An empty matrix should give NaN metrics."


def _random_pairs(rng, n, C, void_frac, shape=(23, 31)):
    out = []
    for _ in range(n):
        label = rng.integers(0, C, shape).astype(np.uint8)
        # structured errors so that IoUs differ between classes
        pred = np.where(rng.random(shape) < 0.6, label, rng.integers(0, C, shape)).astype(np.int64)
        if void_frac:
            label[rng.random(shape) < void_frac] = V
        out.append((pred, label))
    return out


@pytest.mark.parametrize("void_frac", [0.0, 0.1])
def test_same_numbers_as_mmseg_iou_metric(void_frac):
    rng = np.random.default_rng(1)
    C = 21
    pairs = _random_pairs(rng, 12, C, void_frac)
    # drop a class from the labels of every image: exercises NaN / zero IoU handling
    for _p, lab in pairs:
        lab[lab == 7] = 3
    cm = ConfusionMatrix(C)
    results = []
    for p, lab in pairs:
        cm.update(torch.from_numpy(p), torch.from_numpy(lab.astype(np.int64)))
        results.append(
            IoUMetric.intersect_and_union(torch.from_numpy(p), torch.from_numpy(lab), C, V)
        )
    inter, union, area_pred, area_label = (sum(r[i] for r in results) for i in range(4))
    ref = IoUMetric.total_area_to_metrics(inter, union, area_pred, area_label, ["mIoU"])
    np.testing.assert_allclose(
        cm.iou(), ref["IoU"], rtol=0, atol=1e-6, err_msg="Per-class IoU should match IoUMetric."
    )
    np.testing.assert_allclose(cm.class_accuracy(), ref["Acc"], rtol=0, atol=1e-6)
    assert cm.pixel_accuracy() == pytest.approx(float(ref["aAcc"]), abs=1e-6)
    assert cm.mean_iou() == pytest.approx(float(np.nanmean(ref["IoU"])), abs=1e-6)
    assert cm.mean_accuracy() == pytest.approx(float(np.nanmean(ref["Acc"])), abs=1e-6)


def test_numpy_torch_and_any_shape_agree():
    rng = np.random.default_rng(2)
    ((p, lab),) = _random_pairs(rng, 1, 5, 0.1, shape=(2, 3, 17))
    a = confusion_matrix(p, lab, 5)
    b = confusion_matrix(torch.from_numpy(p), torch.from_numpy(lab.astype(np.int64)), 5)
    c = confusion_matrix(p.reshape(-1).astype(np.uint8), lab.reshape(-1), 5)
    assert (a == b).all() and (a == c).all(), "dtype / container / shape must not matter."
    # wide labels (general path) and a negative ignore index
    lab_neg = np.where(lab == V, -1, lab.astype(np.int32))
    d = confusion_matrix(p, lab_neg, 5, ignore_index=-1)
    assert (a == d).all(), "ignore_index=-1 should give the same matrix as 255."


def test_errors_name_the_image_and_the_fix():
    lab = np.zeros((4, 4), np.uint8)
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"2007_000033.*differ in shape.*resize"):
        cm.update(np.zeros((4, 5), np.uint8), lab, name="2007_000033")
    with pytest.raises(ValueError, match=r"'x\.png'.*\{3\}.*outside the classes 0\.\.2"):
        cm.update(np.full((4, 4), 3), lab, name="x.png")
    with pytest.raises(ValueError, match=r"\{-1\}"):
        cm.update(np.full((4, 4), -1), lab, name="x.png")
    bad = lab.copy()
    bad[0, 0] = 7
    with pytest.raises(ValueError, match=r"'y'.*\{7\}.*neither a class.*ignore index \(255\)"):
        cm.update(lab, bad, name="y")
    with pytest.raises(ValueError, match=r"'y'.*\{293, 300\}"):
        cm.update(lab, bad.astype(np.int32) + 293, name="y")
    with pytest.raises(ValueError, match="class index"):
        confusion_matrix(lab, lab, 3, ignore_index=1)
    with pytest.raises(ValueError, match="argmax"):
        cm.update(lab.astype(np.float32), lab)
    assert cm.num_images == 0 and cm.total == 0, "A failed update must not change the counts."


def test_unnamed_image_is_identified_by_its_position():
    cm = ConfusionMatrix(2)
    cm.update(np.zeros(3, np.uint8), np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match=r"update #1"):
        cm.update(np.full(3, 5, np.uint8), np.zeros(3, np.uint8))


def test_merge_and_add_equal_one_pass():
    rng = np.random.default_rng(3)
    pairs = _random_pairs(rng, 6, 4, 0.05)
    whole, a, b = ConfusionMatrix(4), ConfusionMatrix(4), ConfusionMatrix(4)
    for i, (p, lab) in enumerate(pairs):
        whole.update(p, lab)
        (a if i % 2 else b).update(p, lab)
    c = a + b
    assert (c.mat == whole.mat).all() and c.num_images == 6, "a + b should equal one pass."
    assert a.num_images == 3, "+ must not modify its operands."
    a.merge(b)
    assert (a.mat == whole.mat).all(), "merge should add in place."
    with pytest.raises(ValueError, match="same num_classes"):
        a.merge(ConfusionMatrix(5))


def test_all_reduce_is_a_no_op_without_a_process_group():
    cm = ConfusionMatrix(2)
    cm.update(np.array([0, 1]), np.array([0, 0], np.uint8))
    before = cm.mat.copy()
    cm.all_reduce()
    assert (cm.mat == before).all(), "all_reduce without torch.distributed must not change."


def test_counts_stay_exact_beyond_float32_range():
    # 2**24 + 3 pixels of one class: a float32 histogram would round the count.
    n = (1 << 24) + 3
    m = confusion_matrix(np.zeros(n, np.uint8), np.zeros(n, np.uint8), 2)
    assert m[0, 0] == n, "Counts must be exact int64 even past 2**24 pixels in one image."
