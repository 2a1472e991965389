"""Bootstrap intervals of mIoU over images, paired differences and ``repro compare``."""

import argparse
import json
import math

import numpy as np
import pytest

from repro.metrics.bootstrap import (
    CompareError,
    add_compare_arguments,
    bootstrap_miou,
    compare,
    main_compare,
    paired_bootstrap,
    paired_difference,
    per_image_relpath,
    resample_counts,
    resample_indices,
)
from repro.metrics.confusion import confusion_matrix, mean_iou, per_class_iou
from repro.metrics.per_image import PerImageConfusion
from repro.results import ResultRow, result_path, write_rows

V = 255


def pixel_model(rng, n, C=6, shape=(24, 32), accuracy=0.75):
    """(labels, predictions) of n small images: blocky labels with void, noisy predictions."""
    labels, preds = [], []
    for _ in range(n):
        present = rng.choice(C, size=int(rng.integers(2, 4)), replace=False)
        gt = np.kron(rng.choice(present, (shape[0] // 4, shape[1] // 4)), np.ones((4, 4), int))
        gt[rng.random(shape) < 0.05] = V
        noise = rng.integers(0, C, shape)
        pred = np.where(rng.random(shape) < accuracy, np.where(gt == V, 0, gt), noise)
        labels.append(gt)
        preds.append(pred)
    return labels, preds


def matrices(labels, preds, C=6):
    return np.stack([confusion_matrix(p, g, C) for p, g in zip(preds, labels)])


def named(mats, names=None, classes=None):
    n, C = mats.shape[0], mats.shape[1]
    return PerImageConfusion(tuple(names or (f"img{k:03d}" for k in range(n))),
                             tuple(classes or (f"c{c}" for c in range(C))), mats)


def test_identical_predictions_give_a_zero_width_paired_interval():
    labels, preds = pixel_model(np.random.default_rng(0), 40)
    a = named(matrices(labels, preds))
    d = compare(a, a)
    assert d.as_tuple() == (0.0, 0.0, 0.0, False), (
        "Identical predictions must give difference 0 with a zero-width, non-significant interval."
    )
    for c, (diff, lo, hi, sig) in d.per_class.items():
        assert diff == lo == hi == 0.0 and not sig, f"Class {c} should have a zero interval too."
    assert paired_difference(a.matrices, a.matrices.copy()) == (0.0, 0.0, 0.0, False)
    single = bootstrap_miou(a)
    assert single.low < single.value < single.high, "A single row still has a real interval."


def test_known_difference_is_inside_the_interval_and_significant():
    """Model B = model A with half of the wrongly predicted pixels of class 2 corrected."""
    rng = np.random.default_rng(1)
    labels, preds_a = pixel_model(rng, 150)
    preds_b = []
    for gt, pa in zip(labels, preds_a):
        fix = (gt == 2) & (pa != 2) & (rng.random(gt.shape) < 0.5)
        preds_b.append(np.where(fix, 2, pa))
    a, b = named(matrices(labels, preds_a)), named(matrices(labels, preds_b))
    true = 100 * (mean_iou(b.total()) - mean_iou(a.total()))
    assert true > 0.5, "The synthetic correction should raise mIoU (test set-up)."
    d = compare(b, a)
    assert d.difference == pytest.approx(true, abs=1e-12)
    assert d.low <= true <= d.high, "The interval must contain the full-set difference."
    assert d.significant and d.low > 0, "A difference on every image must be significant."
    cls = d.per_class
    assert cls["c2"][3] and cls["c2"][0] == max(v[0] for v in cls.values()), (
        "Class 2's IoU gains most (the others only lose false positives), significantly."
    )
    assert all(v[0] >= 0 for v in cls.values()), "Corrections can only raise a class's IoU."
    ia, ib = bootstrap_miou(a), bootstrap_miou(b)
    assert d.high - d.low < min(ia.width, ib.width), (
        "Pairing removes the between-image variance: the paired interval is narrower than "
        "either row's own interval."
    )
    reverse = compare(a, b)
    assert reverse.as_tuple()[:3] == pytest.approx((-d.difference, -d.high, -d.low), abs=1e-9)


def _reference(mats, idx, confidence=0.95):
    """Slow loop: sum the drawn images' matrices, mIoU from the sum, percentile interval."""
    miou, iou = [], []
    for row in idx:
        total = np.zeros(mats.shape[1:], np.int64)
        for i in row:
            total += mats[i]
        miou.append(100 * mean_iou(total))
        iou.append(100 * per_class_iou(total))
    q = [50 * (1 - confidence), 50 * (1 + confidence)]
    iou = np.array(iou)
    return np.percentile(miou, q), np.nanpercentile(iou, q, axis=0), np.array(miou), iou


def _small_case():
    rng = np.random.default_rng(2)
    labels, preds = pixel_model(rng, 25, C=5)
    mats = matrices(labels, preds, C=5)
    mats[:, 4, :] = 0  # class 4: in the ground truth of two images only (NaN in resamples)
    mats[:, :, 4] = 0
    mats[3, 4, 4], mats[3, 4, 0], mats[11, 4, 4] = 40, 9, 17
    return mats


def test_percentile_interval_equals_a_slow_reference_loop_with_the_same_seed():
    mats = _small_case()
    idx = resample_indices(25, 300, seed=7)
    (low, high), cls, stats, iou = _reference(mats, idx, confidence=0.9)
    assert np.isnan(iou[:, 4]).any(), "Set-up: class 4 should be absent from some resamples."
    r = bootstrap_miou(mats, n_resamples=300, seed=7, confidence=0.9, method="percentile")
    assert r.method == "percentile"
    assert (r.low, r.high) == pytest.approx((low, high), abs=1e-9), (
        "The vectorised interval must equal the reference loop over the same resamples."
    )
    assert r.value == 100 * mean_iou(mats.sum(0)), "The value is the full-set mIoU, exactly."
    for c, (lo, hi) in enumerate(cls.T):
        assert r.per_class[str(c)][1:] == pytest.approx((lo, hi), abs=1e-9), (
            f"Class {c}: the per-class interval should skip resamples without the class."
        )
    counts = resample_counts(25, 300, seed=7)
    assert counts.sum(1).tolist() == [25] * 300 and (
        counts[0] == np.bincount(idx[0], minlength=25)).all(), "Counts are the drawn indices."
    assert bootstrap_miou(mats, seed=8).low != bootstrap_miou(mats, seed=7).low
    other = mats.copy()
    other[:, 1, 1] += 30
    ref_diff = _reference(other, idx, 0.9)[2] - stats
    d = paired_bootstrap(other, mats, n_resamples=300, seed=7, confidence=0.9,
                         method="percentile")
    assert (d.low, d.high) == pytest.approx(tuple(np.percentile(ref_diff, [5, 95])), abs=1e-9)


def test_bca_interval_equals_scipy_bootstrap_with_the_same_seed():
    """scipy.stats.bootstrap (BCa) on a slow loop statistic over image indices: scipy draws
    ``rng.integers(0, N, (B, N))`` in one call (scipy 1.17), the same resamples as ours."""
    from scipy.stats import bootstrap

    mats = _small_case()
    other = mats.copy()
    other[:, 1, 1] += 30
    other[::3, 2, 0] += 25

    def slow_miou(m):
        return lambda idx: 100 * mean_iou(sum(m[int(i)] for i in idx))

    def slow_iou(m, c):
        return lambda idx: 100 * per_class_iou(sum(m[int(i)] for i in idx))[c]

    images = (np.arange(25),)
    kw = dict(n_resamples=300, confidence_level=0.9, method="BCa", vectorized=False)
    ref = bootstrap(images, slow_miou(mats), rng=np.random.default_rng(7), **kw)
    r = bootstrap_miou(mats, n_resamples=300, seed=7, confidence=0.9)
    assert r.method == "BCa"
    assert (r.low, r.high) == pytest.approx(tuple(ref.confidence_interval), abs=1e-9), (
        "Our BCa interval should equal scipy's on the same resamples."
    )
    for c in (0, 2):  # class 4 is NaN in some resamples: scipy cannot do it
        ref_c = bootstrap(images, slow_iou(mats, c), rng=np.random.default_rng(7), **kw)
        assert r.per_class[str(c)][1:] == pytest.approx(tuple(ref_c.confidence_interval),
                                                         abs=1e-9), f"class {c}"
    lo4, hi4 = r.per_class["4"][1:]
    assert lo4 <= r.per_class["4"][0] <= hi4, "A class absent from some resamples still gets one."
    slow_diff = slow_miou(other)
    ref_d = bootstrap(images, lambda idx: slow_diff(idx) - slow_miou(mats)(idx),
                      rng=np.random.default_rng(7), **kw)
    d = paired_bootstrap(other, mats, n_resamples=300, seed=7, confidence=0.9)
    assert (d.low, d.high) == pytest.approx(tuple(ref_d.confidence_interval), abs=1e-9), (
        "The paired BCa interval should equal scipy's on the paired statistic."
    )
    assert r.low != bootstrap_miou(mats, n_resamples=300, seed=7, confidence=0.9,
                                   method="percentile").low, "BCa moves the percentile levels."


def _population(rng, n, C=8):
    """Per-image matrices of n images of a fixed random model, without pixels (fast)."""
    confuse = np.eye(C) * 6 + rng.random((C, C))
    confuse /= confuse.sum(1, keepdims=True)
    out = np.zeros((n, C, C), np.int64)
    for k in range(n):
        present = rng.choice(C, size=int(rng.integers(1, 4)), replace=False)
        area = rng.multinomial(int(rng.integers(500, 3000)), rng.dirichlet(np.ones(present.size)))
        for c, a in zip(present, area):
            row = rng.dirichlet(50 * confuse[c] + 0.01)  # images differ in difficulty
            out[k, c] += rng.multinomial(a, row)
    return out


def test_ninety_five_percent_intervals_cover_the_population_miou():
    rng = np.random.default_rng(3)
    pop = _population(rng, 6000)
    truth = 100 * mean_iou(pop.sum(0))
    hits, widths = 0, []
    for trial in range(150):
        sub = pop[rng.choice(len(pop), 150, replace=False)]
        r = bootstrap_miou(sub, seed=trial, per_class=False)
        hits += r.low <= truth <= r.high
        widths.append(r.width)
    assert 0.88 <= hits / 150 <= 0.99, (
        f"A 95% interval over 150 images should cover the population mIoU about 95% of the "
        f"time, got {hits}/150."
    )
    assert np.mean(widths) > 0.5, "The intervals should reflect the variation between images."


def test_seed_mean_interval_and_input_checks():
    rng = np.random.default_rng(4)
    labels, p1 = pixel_model(rng, 30)
    _, p2 = pixel_model(rng, 30)
    s1, s2 = named(matrices(labels, p1)), named(matrices(labels, p2))
    r = bootstrap_miou([s1, s2])
    assert r.n_seeds == 2 and r.value == pytest.approx(
        (bootstrap_miou(s1).value + bootstrap_miou(s2).value) / 2)
    assert r.low < r.value < r.high
    assert json.loads(json.dumps(r.to_dict()))["method"] == "BCa"
    shuffled = named(s1.matrices[::-1].copy(), names=s1.names[::-1])
    with pytest.raises(CompareError, match="another order, first at position 0"):
        compare(s1, shuffled)
    with pytest.raises(CompareError, match="30 vs 29 images"):
        compare(s1, named(s1.matrices[:29]))
    with pytest.raises(CompareError, match="different classes"):
        compare(s1, named(s1.matrices, classes=[f"k{c}" for c in range(6)]))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_miou(s1, confidence=95)


# ---------------------------------------------------------------------- repro compare
def _store_row(results_dir, table, row, per_image, seed=0, profile="smoke", with_file=True):
    path = result_path(results_dir, profile, table, row, seed)
    rel = per_image_relpath(profile, table, row, seed, "0" * 16)
    if with_file:
        per_image.save(results_dir / rel)
    extra = {"per_image": str(rel)} if with_file else {}
    rows = [ResultRow(table=table, row=row, metric=m, seed=seed, value=1.0, status="ok",
                      paper=None, spec_version=1, profile=profile, data="synthetic",
                      config="x.py", config_hash="0" * 16, git_sha="abc", extra=dict(extra))
            for m in ("mIoU", "aAcc")]
    write_rows(path, rows)


def _cli(argv):
    parser = argparse.ArgumentParser()
    add_compare_arguments(parser)
    return main_compare(parser.parse_args(argv))


def test_compare_command_prints_the_paired_difference(tmp_path, capsys):
    rng = np.random.default_rng(5)
    labels, pa = pixel_model(rng, 60)
    _, pb = pixel_model(rng, 60, accuracy=0.6)
    a, b = named(matrices(labels, pa)), named(matrices(labels, pb))
    _store_row(tmp_path, "gcn/table1", "k15", a)
    _store_row(tmp_path, "gcn/table1", "k13", b, seed=1)
    out_json = tmp_path / "cmp.json"
    rc = _cli(["gcn/table1/k15", "gcn/table1/k13@seed1", "--results-dir", str(tmp_path),
               "--per-class", "--json", str(out_json)])
    out = capsys.readouterr().out
    d = compare(a, b)
    assert rc == 0
    assert f"mIoU(A) - mIoU(B) = {d.difference:+.2f} points" in out
    assert f"[{d.low:+.2f}, {d.high:+.2f}]" in out and "significant" in out and "c5" in out
    assert json.loads(out_json.read_text())["difference"] == pytest.approx(d.difference)


@pytest.mark.parametrize("case", ["order", "names", "no_file_recorded", "missing_row",
                                  "bad_selector"])
def test_compare_command_refuses_with_one_line_and_exit_2(tmp_path, capsys, case):
    labels, pa = pixel_model(np.random.default_rng(6), 20)
    a = named(matrices(labels, pa))
    _store_row(tmp_path, "gcn/table1", "k15", a)
    row_b, sel_b = "k13", "gcn/table1/k13"
    if case == "order":
        _store_row(tmp_path, "gcn/table1", row_b,
                   named(a.matrices[::-1].copy(), names=a.names[::-1]))
    elif case == "names":
        _store_row(tmp_path, "gcn/table1", row_b,
                   named(a.matrices, names=[f"other{k}" for k in range(20)]))
    elif case == "no_file_recorded":
        _store_row(tmp_path, "gcn/table1", row_b, a, with_file=False)
    elif case == "bad_selector":
        sel_b = "gcn/table1"
    rc = _cli(["gcn/table1/k15", sel_b, "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2, f"{case}: a user error exits with 2."
    assert err.count("\n") == 1 and err.startswith("error: "), f"{case}: one line, got {err!r}"
    expected = {"order": "different image lists", "names": "different images",
                "no_file_recorded": "--force", "missing_row": "does not exist",
                "bad_selector": "TABLE/ROW"}[case]
    assert expected in err, f"{case}: the message should say why: {err!r}"


def test_nan_when_nothing_is_counted_or_one_image():
    empty = np.zeros((3, 4, 4), np.int64)
    r = bootstrap_miou(empty, n_resamples=10)
    assert math.isnan(r.value) and math.isnan(r.low) and math.isnan(r.high)
    one = matrices(*pixel_model(np.random.default_rng(7), 1))
    r = bootstrap_miou(one)
    assert not math.isnan(r.value) and math.isnan(r.low) and math.isnan(r.high), (
        "One image has no variation to resample: the interval is NaN, not zero-width."
    )
    assert not r.excludes(0.0), "A NaN interval never marks a delta as significant."
    r = bootstrap_miou(matrices(*pixel_model(np.random.default_rng(7), 30)))
    assert r.excludes(r.low - 0.01) and not r.excludes(r.value)


def test_per_image_file_sits_beside_the_result_file(tmp_path):
    rel = per_image_relpath("smoke", "gcn/table1", "k15", 2, "ab12")
    assert (tmp_path / rel).parent.parent == result_path(
        tmp_path, "smoke", "gcn/table1", "k15", 2).parent
    assert rel != per_image_relpath("smoke", "gcn/table1", "k15", 2, "cd34"), (
        "Per-image files are named by the row's hash, so that another run never overwrites "
        "those of the recorded result.")
    assert not rel.endswith(".json"), "read_all must not take it for a result file."
