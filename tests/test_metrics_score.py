"""score_folder / main_score on a VOC-layout folder (Cityscapes: test_metrics_cityscapes.py)."""

import argparse
import json
import math
import re

import numpy as np
import pytest
from PIL import Image

from repro.metrics import BoundaryAccuracy, ConfusionMatrix
from repro.metrics.io import voc_palette, write_index_png
from repro.metrics.score import add_score_arguments, main_score, score_folder

V = 255
IDS = ["2007_000033", "2007_000042", "2007_000061", "2008_000002"]


@pytest.fixture
def voc(tmp_path):
    """VOCdevkit/VOC2012/SegmentationClass with void, predictions in three PNG encodings."""
    rng = np.random.default_rng(0)
    gt_dir = tmp_path / "VOCdevkit" / "VOC2012" / "SegmentationClass"
    pred_dir = tmp_path / "pred"
    pairs = {}
    for k, i in enumerate(IDS):
        gt = np.kron(rng.integers(0, 21, (5, 6)), np.ones((6, 7), np.int64))
        gt[rng.random(gt.shape) < 0.05] = V
        pred = np.where(rng.random(gt.shape) < 0.7, np.where(gt == V, 0, gt), 3)
        write_index_png(gt, gt_dir / f"{i}.png")
        if k == 0:
            write_index_png(pred, pred_dir / f"{i}.png")  # palette PNG (like ours)
        elif k == 1:
            write_index_png(pred, pred_dir / f"{i}.png", palette=None)  # greyscale index PNG
        else:
            pred_dir.mkdir(exist_ok=True)
            Image.fromarray(voc_palette()[pred]).save(pred_dir / f"{i}.png")  # colour PNG
        pairs[i] = (pred, gt)
    (tmp_path / "split.txt").write_text("\n".join(IDS) + "\n")
    return tmp_path, pairs


def test_voc_folder_scores_equal_the_confusion_matrix(voc):
    root, pairs = voc
    cm, b = ConfusionMatrix(21), BoundaryAccuracy(7)
    for pred, gt in pairs.values():
        cm.update(pred, gt)
        b.update(pred, gt)
    expected = {**cm.summary(), **b.summary()}
    for gt_dir in (
        root / "VOCdevkit",
        root / "VOCdevkit" / "VOC2012",
        root / "VOCdevkit" / "VOC2012" / "SegmentationClass",
    ):
        out = score_folder(
            "voc",
            root / "pred",
            gt_dir,
            boundary=7,
            split=root / "split.txt",
            num_workers=0,
            progress=False,
        )
        assert out["mIoU"] == pytest.approx(expected["mIoU"]), f"gt_dir={gt_dir} should work."
    assert out["boundary_acc"] == pytest.approx(expected["boundary_acc"])
    assert out["IoU.background"] == pytest.approx(expected["IoU.0"], nan_ok=True), (
        "VOC class names come from mmseg's PascalVOCDataset."
    )
    listed = score_folder(
        "voc", root / "pred", root / "VOCdevkit", split=IDS, num_workers=2, progress=False
    )
    every = score_folder(
        "voc", root / "pred", root / "VOCdevkit", split="all", num_workers=0, progress=False
    )
    assert listed["mIoU"] == pytest.approx(expected["mIoU"]) == every["mIoU"]


def test_json_and_trimap_outputs(voc, tmp_path):
    root, _ = voc
    out = score_folder(
        "voc",
        root / "pred",
        root / "VOCdevkit",
        split="all",
        num_workers=0,
        json_out=tmp_path / "res" / "voc.json",
        trimap_widths=[2, 4],
        progress=False,
    )
    rec = json.loads((tmp_path / "res" / "voc.json").read_text())
    assert rec["num_images"] == 4 and rec["dataset"] == "voc"
    assert rec["metrics"]["mIoU"] == pytest.approx(out["mIoU"])
    assert np.array(rec["confusion_rows_gt_cols_pred"]).shape == (21, 21)
    nan_keys = [k for k, v in out.items() if math.isnan(v)]
    assert all(rec["metrics"][k] is None for k in nan_keys), "NaN is written as null in JSON."
    assert (tmp_path / "res" / "voc_trimap.png").is_file(), "The trimap plot sits next to it."
    assert "trimap_acc.4" in out


def test_missing_prediction_is_named(voc):
    root, _ = voc
    (root / "pred" / f"{IDS[2]}.png").unlink()
    with pytest.raises(FileNotFoundError, match=rf"pred/{IDS[2]}\.png"):
        score_folder(
            "voc", root / "pred", root / "VOCdevkit", split=IDS, num_workers=0, progress=False
        )
    with pytest.raises(FileNotFoundError, match="Unknown split"):
        score_folder("voc", root / "pred", root / "VOCdevkit", split="nope", progress=False)
    with pytest.raises(FileNotFoundError, match=r"1449 predictions|of 1449"):
        score_folder("voc", root / "pred", root / "VOCdevkit", progress=False)  # default: val


def test_bad_prediction_values_and_sizes_name_the_file(voc):
    root, pairs = voc
    write_index_png(np.full((30, 42), 21), root / "pred" / f"{IDS[0]}.png", palette=None)
    with pytest.raises(ValueError, match=rf"{IDS[0]}\.png.*\{{21\}}.*outside the classes"):
        score_folder(
            "voc", root / "pred", root / "VOCdevkit", split=IDS, num_workers=0, progress=False
        )
    write_index_png(np.zeros((10, 10)), root / "pred" / f"{IDS[0]}.png")
    with pytest.raises(ValueError, match=rf"{IDS[0]}\.png is 10x10.*original image size"):
        score_folder(
            "voc", root / "pred", root / "VOCdevkit", split=IDS, num_workers=0, progress=False
        )


def test_main_score_cli_entry(voc, tmp_path, capsys):
    root, _ = voc
    parser = add_score_arguments(argparse.ArgumentParser())
    args = parser.parse_args(
        [
            "--dataset",
            "voc",
            "--pred",
            str(root / "pred"),
            "--gt",
            str(root / "VOCdevkit"),
            "--boundary",
            "7",
            "--split",
            "all",
            "--json",
            str(tmp_path / "o.json"),
            "--workers",
            "0",
        ]
    )
    assert main_score(args) == 0
    text = capsys.readouterr().out
    assert "mIoU" in text and "boundary_acc" in text and "aeroplane" in text
    assert (tmp_path / "o.json").is_file()


def test_named_split_is_read_from_the_dataset_first(voc):
    root, pairs = voc
    sets = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True)
    (sets / "val.txt").write_text(f"{IDS[1]}\n{IDS[3]}\n")
    cm = ConfusionMatrix(21)
    for i in (IDS[1], IDS[3]):
        cm.update(*pairs[i])
    out = score_folder("voc", root / "pred", root / "VOCdevkit", num_workers=0, progress=False)
    assert out["mIoU"] == pytest.approx(cm.mean_iou() * 100), (
        "split='val' should use the dataset's ImageSets/Segmentation/val.txt when it exists."
    )


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_truncated_prediction_is_one_line_naming_it(voc, capsys, workers):
    """`repro score` on a damaged PNG: exit 2 and one line naming the file, also when the file
    is read in a worker process (never a multiprocessing traceback)."""
    from repro.cli import main

    root, _ = voc
    damaged = root / "pred" / f"{IDS[1]}.png"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    code = main(["score", "--dataset", "voc", "--pred", str(root / "pred"), "--gt",
                 str(root / "VOCdevkit"), "--split", "all", "--workers", workers])
    err = capsys.readouterr().err
    # Progress-bar renderings ("scoring voc:  25%|...| 1/4 [...]") are not messages.
    lines = [ln for ln in re.sub(r"scoring voc:[^\]\r\n]*\]", "", err).replace(
        "\r", "\n").splitlines() if ln.strip()]
    assert code == 2 and "Traceback" not in err, (
        f"A damaged prediction must exit 2 without a traceback (workers {workers}):\n{err}")
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(damaged) in lines[0], (
        f"The error must be one line naming {damaged} (workers {workers}):\n{err}")
