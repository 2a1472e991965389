"""ConfusionMatrixMetric: mmseg parity, outputs, Cityscapes, post-processing hook, all-reduce."""

import importlib.util
import json
import math
import socket
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as tmp_mp
from mmengine.structures import PixelData
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample
from PIL import Image

import repro.metrics  # noqa: F401  (registers ConfusionMatrixMetric)
from repro.metrics import BoundaryAccuracy, ConfusionMatrix, ConfusionMatrixMetric, Trimap
from repro.metrics.cityscapes import CLASS_NAMES, instance_path_for, label_to_train_ids
from repro.metrics.confusion import confusion_matrix, mean_iou
from repro.metrics.per_image import PerImageConfusion, PerImageFileError

VOC = tuple(f"c{i}" for i in range(21))
V = 255


def _sibling(name):
    """Import another test module of this folder by path (works with or without rootdir)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sample(pred, gt=None, img_path="img/x.jpg", logits=None, seg_map_path=None, as_dict=True):
    """A data sample as mmengine's Evaluator hands it to metrics (``to_dict()``)."""
    ds = SegDataSample()
    ds.set_metainfo(dict(img_path=img_path, ori_shape=tuple(pred.shape)))
    if seg_map_path is not None:
        ds.set_metainfo(dict(seg_map_path=str(seg_map_path)))
    ds.pred_sem_seg = PixelData(data=torch.as_tensor(np.asarray(pred, np.int64))[None])
    if gt is not None:
        ds.gt_sem_seg = PixelData(data=torch.as_tensor(np.asarray(gt, np.int64))[None])
    if logits is not None:
        ds.seg_logits = PixelData(data=torch.as_tensor(logits))
    return ds.to_dict() if as_dict else ds


def random_voc(rng, n, shape=(30, 40), C=21):
    out = []
    for k in range(n):
        gt = np.kron(rng.integers(0, C, (shape[0] // 5, shape[1] // 5)), np.ones((5, 5), int))
        gt[rng.random(shape) < 0.05] = V
        pred = np.where(rng.random(shape) < 0.7, np.where(gt == V, 0, gt), rng.integers(0, C))
        out.append((pred, gt, f"img/{k:04d}.jpg"))
    return out


def build(classes=VOC, **kw):
    m = METRICS.build(dict(type="ConfusionMatrixMetric", **kw))
    m.dataset_meta = dict(classes=classes)
    return m


def test_registered_and_same_numbers_as_iou_metric():
    assert METRICS.get("ConfusionMatrixMetric") is ConfusionMatrixMetric
    data = random_voc(np.random.default_rng(0), 9)
    ours = build()
    ref = IoUMetric(ignore_index=V)
    ref.dataset_meta = dict(classes=VOC)
    for i in range(0, 9, 4):  # batches of 4, 4, 1
        batch = [sample(p, g, path) for p, g, path in data[i : i + 4]]
        ours.process({}, batch)
        ref.process({}, batch)
    inter, union, area_pred, area_label = (sum(r[i] for r in ref.results) for i in range(4))
    exact = IoUMetric.total_area_to_metrics(inter, union, area_pred, area_label, ["mIoU"])
    ref_rounded = ref.evaluate(9)
    m = ours.evaluate(9)
    # IoUMetric divides in float32: compare fractions (0-1) to 1e-6
    assert m["mIoU"] / 100 == pytest.approx(np.nanmean(exact["IoU"]), abs=1e-6), (
        "mIoU should equal IoUMetric's unrounded mean IoU."
    )
    assert m["aAcc"] / 100 == pytest.approx(float(exact["aAcc"]), abs=1e-6)
    assert m["mAcc"] / 100 == pytest.approx(np.nanmean(exact["Acc"]), abs=1e-6)
    for k in ("mIoU", "aAcc", "mAcc"):
        assert abs(m[k] - ref_rounded[k]) <= 0.005 + 1e-9, f"{k} rounds to IoUMetric's value."
    for c, v in zip(VOC, exact["IoU"]):
        got = m[f"IoU.{c}"]
        assert (math.isnan(got) and math.isnan(v)) or got / 100 == pytest.approx(v, abs=1e-6)
    assert isinstance(m["mIoU"], float) and set(m) >= {"fwIoU", "IoU.c0"}
    assert ours.last_confusion.shape == (21, 21) and ours.last_confusion.sum() == sum(
        int((g != V).sum()) for _, g, _ in data
    ), "last_confusion should count every non-void pixel."
    # state is reset: a second round starts from zero
    ours.process({}, [sample(*data[0])])
    assert ours.evaluate(1)["aAcc"] == pytest.approx(
        100 * np.mean((data[0][0] == data[0][1])[data[0][1] != V])
    )


def test_per_image_matrices_sum_to_the_total_and_round_trip(tmp_path):
    data = random_voc(np.random.default_rng(6), 7)
    out = tmp_path / "rows" / "k15.seed0.per_image.npz"
    m = build(per_image_out=str(out))
    m.process({}, [sample(*d) for d in data[:4]])
    m.process({}, [sample(*d) for d in data[4:]])
    m.evaluate(7)
    per = m.last_per_image
    assert per.names == tuple(f"{k:04d}" for k in range(7)), (
        "Per-image matrices should be keyed by the image's file stem, in dataset order."
    )
    assert per.classes == VOC and per.matrices.shape == (7, 21, 21)
    assert per.matrices.dtype == np.int64
    np.testing.assert_array_equal(per.total(), m.last_confusion,
                                  "The per-image matrices must sum to the total matrix exactly.")
    for (p, g, _), mat in zip(data, per.matrices):
        np.testing.assert_array_equal(mat, confusion_matrix(p, g, 21))
    back = PerImageConfusion.load(out)
    assert back.names == per.names and back.classes == per.classes
    np.testing.assert_array_equal(back.matrices, per.matrices, "The file must round-trip.")
    assert list(out.parent.iterdir()) == [out], "The file is written atomically, no leftovers."
    plain = build()
    plain.process({}, [sample(*data[0])])
    plain.evaluate(1)
    assert plain.last_per_image is None, "Without the option no per-image matrices are kept."
    out.write_bytes(b"not a zip")
    with pytest.raises(PerImageFileError, match="k15.seed0.per_image.npz"):
        PerImageConfusion.load(out)
    with pytest.raises(FileNotFoundError, match="repro run"):
        PerImageConfusion.load(tmp_path / "missing.npz")


def test_boundary_and_trimap_keys_match_the_accumulators():
    data = random_voc(np.random.default_rng(1), 3)
    m = build(boundary_width=3, trimap_widths=[1, 5], prefix="val")
    m.process({}, [sample(p, g, path, as_dict=False) for p, g, path in data])
    b, t = BoundaryAccuracy(3), Trimap(21, [1, 5])
    for p, g, _ in data:
        b.update(p, g)
        t.update(p, g)
    out = m.evaluate(3)
    assert out["val/boundary_acc"] == pytest.approx(b.summary()["boundary_acc"])
    assert out["val/internal_acc"] == pytest.approx(b.summary()["internal_acc"])
    assert out["val/trimap_acc.5"] == pytest.approx(t.summary()["trimap_acc.5"])
    assert out["val/trimap_mIoU.1"] == pytest.approx(t.summary()["trimap_mIoU.1"], nan_ok=True)


def test_output_pngs_and_format_only(tmp_path):
    data = random_voc(np.random.default_rng(2), 2)
    m = build(output_dir=str(tmp_path / "out"))
    m.process({}, [sample(p, g, f"JPEGImages/2007_00{k}.jpg") for k, (p, g, _) in enumerate(data)])
    m.evaluate(2)
    for k, (p, _, _) in enumerate(data):
        with Image.open(tmp_path / "out" / f"2007_00{k}.png") as im:
            assert im.mode == "P", "VOC predictions should be palette PNGs like SegmentationClass."
            assert (np.asarray(im) == p).all()
    fo = build(output_dir=str(tmp_path / "test"), format_only=True)
    fo.process({}, [sample(data[0][0], None, "JPEGImages/2008_1.jpg")])
    assert fo.evaluate(1) == {}, "format_only returns no metrics."
    assert (tmp_path / "test" / "2008_1.png").is_file()
    with pytest.raises(ValueError, match="gt_sem_seg"):
        build().process({}, [sample(data[0][0], None)])
    with pytest.raises(ValueError, match="output_dir"):
        build(format_only=True)
    with pytest.raises(ValueError, match="'voc' or 'cityscapes'"):
        build(dataset="ade")
    with pytest.raises(ValueError, match="original size"):
        bad = sample(data[0][0], data[0][1])
        bad["ori_shape"] = (7, 7)
        build().process({}, [bad])


def test_cityscapes_metric_matches_official(tmp_path, monkeypatch):
    cs = _sibling("test_metrics_cityscapes")
    gts, preds = cs.make_dataset(tmp_path, 4, seed=3, pred_ids="train")
    official_preds = []
    from repro.metrics.cityscapes import train_to_label_ids

    for p in preds:
        q = tmp_path / "pl" / p.name
        q.parent.mkdir(exist_ok=True)
        Image.fromarray(train_to_label_ids(np.asarray(Image.open(p)))).save(q)
        official_preds.append(q)
    ref = cs.run_official(official_preds, gts, monkeypatch)
    m = build(dataset="cityscapes", classes=tuple(CLASS_NAMES), output_dir=str(tmp_path / "srv"),
              per_image=True)
    batch = []
    for p, g in zip(preds, gts):
        gt_train = label_to_train_ids(np.asarray(Image.open(g)))
        seg_map = str(g).replace("_gtFine_labelIds.png", "_gtFine_labelTrainIds.png")
        img = str(p).replace("pred", "leftImg8bit")
        batch.append(sample(np.asarray(Image.open(p)), gt_train, img, seg_map_path=seg_map))
    m.process({}, batch)
    out = m.evaluate(len(batch))
    assert out["mIoU"] == pytest.approx(100 * ref["averageScoreClasses"], abs=1e-6)
    assert out["iIoU"] == pytest.approx(100 * ref["averageScoreInstClasses"], abs=1e-6)
    assert out["cat_IoU"] == pytest.approx(100 * ref["averageScoreCategories"], abs=1e-6)
    assert out["cat_iIoU"] == pytest.approx(100 * ref["averageScoreInstCategories"], abs=1e-6)
    for name in CLASS_NAMES:
        r = ref["classScores"][name]
        assert out[f"IoU.{name}"] == pytest.approx(100 * r, abs=1e-6, nan_ok=True)
    assert m.last_label_id_confusion.shape == (34, 34) and m.last_confusion.shape == (19, 19)
    per = m.last_per_image
    assert per.matrices.shape == (len(batch), 19, 19) and per.classes == tuple(CLASS_NAMES)
    np.testing.assert_array_equal(per.total(), m.last_confusion,
                                  "Cityscapes per-image matrices must sum to the 19-class total.")
    assert 100 * mean_iou(per.total()) == pytest.approx(out["mIoU"], abs=1e-9), (
        "The 19-class matrices must give the official class mIoU (what the bootstrap resamples)."
    )
    written = sorted(x.name for x in (tmp_path / "srv").iterdir())
    assert written == sorted(p.name for p in preds), "One labelId PNG per image, same name."
    # without instanceIds files: no iIoU, a warning, the other scores unchanged
    for g in gts:
        instance_path_for(g).unlink()
    m2 = build(dataset="cityscapes", classes=tuple(CLASS_NAMES))
    m2.process({}, batch)
    out2 = m2.evaluate(len(batch))
    assert "iIoU" not in out2 and out2["mIoU"] == pytest.approx(out["mIoU"])


def test_postprocess_hook_gets_softmax_rgb_and_name(tmp_path, monkeypatch):
    calls = []

    class FakePP:
        def process_many(self, items):
            calls.append(items)
            return [probs.argmin(0) for probs, _, _ in items]  # differs from the argmax

        def close(self):
            calls.append("closed")

    fake = types.ModuleType("repro.crf")
    fake.build_postprocessor = lambda cfg: (calls.append(("cfg", cfg)), FakePP())[1]
    monkeypatch.setitem(sys.modules, "repro.crf", fake)

    rng = np.random.default_rng(4)
    H, W, C = 6, 8, 21
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = 200  # red: checks RGB (not BGR) order
    path = tmp_path / "2007_000001.jpg"
    Image.fromarray(img).save(path, quality=100)
    logits = rng.normal(size=(C, H, W)).astype(np.float32)
    gt = rng.integers(0, C, (H, W))
    m = build(postprocess=dict(type="DenseCRF", iterations=10), per_image=True)
    m.process({}, [sample(logits.argmax(0), gt, str(path), logits=logits)])
    m.process({}, [sample(logits.argmax(0), gt, str(path), logits=logits)])
    assert calls[0] == ("cfg", dict(type="DenseCRF", iterations=10)), "Built once, from cfg."
    assert len(calls) == 3, "The post-processor should be built once and called per batch."
    probs, image, name = calls[1][0]
    assert probs.dtype == np.float32 and probs.shape == (C, H, W)
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5, err_msg="probs must be a softmax.")
    np.testing.assert_allclose(probs, torch.softmax(torch.from_numpy(logits), 0).numpy(), 1e-6)
    assert image.dtype == np.uint8 and image.shape == (H, W, 3) and image[..., 0].mean() > 150
    assert name == "2007_000001"
    cm = ConfusionMatrix(C)
    cm.update(logits.argmin(0), gt)
    assert m.evaluate(2)["aAcc"] == pytest.approx(100 * cm.pixel_accuracy()), (
        "The post-processed labels, not pred_sem_seg, must be scored."
    )
    assert calls[-1] == "closed", "evaluate() should close the post-processor (its pool)."
    np.testing.assert_array_equal(m.last_per_image.matrices, np.stack([cm.mat, cm.mat]),
                                  "Per-image matrices must count the post-processed labels.")


# ---------------------------------------------------------------------- distributed (gloo)
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dist_worker(rank, world, port, data, out_dir):
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        cm = ConfusionMatrix(21)
        for p, g, _ in data[rank::world]:
            cm.update(p, g)
        cm.all_reduce()
        # mmengine DefaultSampler: pad 5 samples to 6 by repeating sample 0; rank r gets r::2
        n = len(data)
        order = (list(range(n)) * 2)[: world * math.ceil(n / world)][rank::world]
        m = build(boundary_width=2, per_image_out=str(Path(out_dir) / "per_image.npz"))
        for i in order:
            m.process({}, [sample(*data[i])])
        out = m.evaluate(n)
        result = dict(matrix=cm.mat.tolist(), metrics=out, last=m.last_confusion.tolist(),
                      names=list(m.last_per_image.names),
                      per_image=m.last_per_image.matrices.tolist())
        (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_all_reduce_equals_one_process(tmp_path):
    # torch.multiprocessing with "fork": "spawn" re-imports the whole harness (mmseg, models) in
    # each child, ~10 s per child on these 2 shared cores; the all-reduce path is the same.
    data = random_voc(np.random.default_rng(5), 5)
    tmp_mp.start_processes(
        _dist_worker, args=(2, _free_port(), data, str(tmp_path)), nprocs=2, start_method="fork"
    )
    single = ConfusionMatrix(21)
    for p, g, _ in data:
        single.update(p, g)
    m = build(boundary_width=2)
    m.process({}, [sample(*d) for d in data])
    expected = m.evaluate(5)
    per_image = [confusion_matrix(p, g, 21).tolist() for p, g, _ in data]
    names = [Path(path).stem for _, _, path in data]
    written = PerImageConfusion.load(tmp_path / "per_image.npz")
    assert list(written.names) == names and written.matrices.tolist() == per_image, (
        "The main process should write every image once, in dataset order."
    )
    for rank in (0, 1):
        r = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert r["names"] == names and r["per_image"] == per_image, (
            f"Rank {rank}: the gathered per-image matrices should be in dataset order, "
            "without the sampler's padding (sample 0 repeated on rank 1)."
        )
        assert r["matrix"] == single.mat.tolist(), "The all-reduced matrix should equal one pass."
        assert r["last"] == single.mat.tolist(), (
            "The metric must drop the sampler's padding (sample 0 repeated on rank 1)."
        )
        for k, v in expected.items():
            got = r["metrics"][k]
            assert (got is None and math.isnan(v)) or got == pytest.approx(v, nan_ok=True), (
                f"Rank {rank} should return the same {k} as one process."
            )
