"""repro.data.prepare on small fakes in the real formats: SBD .mat (struct GTcls) + VOC12
palette PNGs -> SegmentationClassAug and split lists; Cityscapes polygons / labelIds ->
labelTrainIds. Idempotence and the no-overwrite rule."""

import argparse
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from repro.data.prepare import (
    add_prepare_arguments,
    find_voc_root,
    main_prepare,
    prepare_cityscapes,
    prepare_voc,
)
from repro.data.synth import make_cityscapes, make_voc

AUG_LISTS = ("train_aug", "aug", "sbd_train", "seg11valid")


@pytest.fixture(scope="module")
def voc_master(tmp_path_factory):
    return make_voc(tmp_path_factory.mktemp("voc"), size=(64, 48), num_train=4, num_val=4,
                    num_test=1)


def ids(root, name):
    return (root / "ImageSets" / "Segmentation" / f"{name}.txt").read_text().split()


def label(path):
    with Image.open(path) as im:
        return im.mode, np.array(im)


@pytest.fixture
def inputs(voc_master, tmp_path):
    """(VOC2012 without SegmentationClassAug and the aug lists, SBD benchmark_RELEASE, a
    folder of 'shipped' lists, the synthetic Aug labels as truth)."""
    voc = shutil.copytree(voc_master, tmp_path / "VOCdevkit" / "VOC2012")
    truth = {p.stem: label(p)[1] for p in (voc / "SegmentationClassAug").glob("*.png")}
    shipped = tmp_path / "splits"
    shipped.mkdir()
    for name in ("train_aug", "seg11valid", "val"):
        shutil.copy(voc / "ImageSets" / "Segmentation" / f"{name}.txt", shipped)
    sbd_train = ids(voc, "sbd_train")
    shutil.rmtree(voc / "SegmentationClassAug")
    for name in AUG_LISTS:
        (voc / "ImageSets" / "Segmentation" / f"{name}.txt").unlink()
    # SBD: its train list, and a val list with the other train_aug ids plus one VOC12 val id
    # (as in SBD); the other VOC12 val ids are not in SBD: their labels come from VOC12.
    val = ids(voc, "val")
    voc_only = val[1]
    sbd_val = sorted({*ids(voc_master, "train_aug")} - {*sbd_train} | {val[0]})
    dataset = tmp_path / "benchmark_RELEASE" / "dataset"
    (dataset / "cls").mkdir(parents=True)
    for i in sbd_train + sbd_val:
        savemat(dataset / "cls" / f"{i}.mat", {"GTcls": {
            "Segmentation": truth[i], "CategoriesPresent": np.unique(truth[i])[1:]}})
    (dataset / "train.txt").write_text("\n".join(sbd_train) + "\n")
    (dataset / "val.txt").write_text("\n".join(sbd_val) + "\n")
    return voc, tmp_path / "benchmark_RELEASE", shipped, truth, voc_only


def test_voc_aug_labels_and_lists(inputs, voc_master):
    voc, sbd, shipped, truth, voc_only = inputs
    report = prepare_voc(voc.parent.parent, sbd, splits_dir=shipped, workers=2, progress=False)
    assert report.ok, f"Preparing complete inputs must succeed:\n{report.format()}"
    assert report.files == {"written": len(truth)}, (
        f"Every SBD .mat and every VOC12 train/val label SBD lacks must be written:\n"
        f"{report.format()}")
    aug = voc / "SegmentationClassAug"
    for i in truth:
        mode, arr = label(aug / f"{i}.png")
        assert mode == "L", f"{i}: SegmentationClassAug must hold greyscale index PNGs."
        if i in ids(voc, "sbd_train") or i in (sbd / "dataset" / "val.txt").read_text().split():
            assert np.array_equal(arr, truth[i]), f"{i}: the SBD label must be copied exactly."
    _, voc_label = label(voc / "SegmentationClass" / f"{voc_only}.png")
    assert np.array_equal(label(aug / f"{voc_only}.png")[1], voc_label), (
        "An id that SBD lacks must get its VOC12 label, palette converted to indices (void kept).")
    for name in ("train_aug", "sbd_train", "seg11valid", "val"):
        assert ids(voc, name) == ids(voc_master, name), f"{name}.txt was not written as expected."
    assert report.check is not None and report.check.ok


def test_voc_rerun_changes_nothing_and_never_overwrites(inputs):
    voc, sbd, shipped, truth, _ = inputs
    prepare_voc(voc, sbd, splits_dir=shipped, workers=0, progress=False)
    png = sorted((voc / "SegmentationClassAug").glob("*.png"))[0]
    stamps = {p: p.stat().st_mtime_ns for p in (voc / "SegmentationClassAug").glob("*.png")}
    again = prepare_voc(voc, sbd, splits_dir=shipped, workers=0, progress=False)
    assert again.ok and set(again.files) == {"unchanged"}, again.format()
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items()), (
        "A second run over prepared data must not rewrite any file.")

    Image.fromarray(np.zeros((48, 64), np.uint8), "L").save(png)
    edited = png.read_bytes()
    blocked = prepare_voc(voc, sbd, splits_dir=shipped, workers=0, progress=False)
    conflicts = [p for p in blocked.problems if p.kind == "conflict"]
    assert not blocked.ok and [p.path for p in conflicts] == [str(png)], blocked.format()
    assert "--force" in conflicts[0].fix and png.read_bytes() == edited, (
        "A different existing file must be left alone and reported, with --force as the fix.")
    forced = prepare_voc(voc, sbd, splits_dir=shipped, force=True, workers=0, progress=False)
    assert forced.ok and forced.files["written"] == 1
    assert np.array_equal(label(png)[1], truth[png.stem])


def test_voc_missing_sbd_train_list_and_corrupt_mat(inputs):
    voc, sbd, shipped, _, _ = inputs
    (sbd / "dataset" / "train.txt").unlink()
    bad = sorted((sbd / "dataset" / "cls").glob("*.mat"))[0]
    bad.write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    report = prepare_voc(voc, sbd, splits_dir=shipped, workers=0, progress=False)
    text = report.format()
    assert not report.ok and "train.txt" in text and "sbd_train" not in report.lists, text
    assert any(p.path == str(bad) and "benchmark.tgz" in p.fix for p in report.problems), (
        "A .mat that cannot be read must be reported by name with the archive to re-extract.")
    assert report.files["written"] > 0, "One bad file must not stop the others."


def test_voc_inputs_not_found(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="VOCdevkit/VOC2012"):
        find_voc_root(tmp_path)
    parser = add_prepare_arguments(argparse.ArgumentParser())
    assert main_prepare(parser.parse_args(["voc", "--voc", str(tmp_path)])) == 2
    assert "--sbd" in capsys.readouterr().err


@pytest.fixture
def city(tmp_path):
    return make_cityscapes(tmp_path, size=(64, 32), num_train=2, num_val=1, num_test=1,
                           num_coarse=1)


def test_cityscapes_train_ids_from_label_ids(city):
    train_ids = sorted(p for gt in ("gtFine", "gtCoarse")
                       for p in (city / gt).rglob("*_labelTrainIds.png"))
    truth = {p: label(p)[1] for p in train_ids}
    for p in train_ids:
        p.unlink()
    report = prepare_cityscapes(city, workers=0, progress=False)
    assert report.ok, report.format()
    assert report.files == {"written": 5}, "gtFine train/val/test and gtCoarse must be converted."
    for p, arr in truth.items():
        assert np.array_equal(label(p)[1], arr), f"{p.name} differs from the labels table mapping."


def test_cityscapes_polygons_take_precedence(city):
    from cityscapesscripts.preparation.json2labelImg import json2labelImg

    stem = sorted((city / "gtFine" / "val").rglob("*_gtFine_labelIds.png"))[0]
    base = str(stem)[: -len("_labelIds.png")]
    polygons = {"imgHeight": 32, "imgWidth": 64, "objects": [
        {"label": "road", "polygon": [[0, 16], [63, 16], [63, 31], [0, 31]]},
        {"label": "cargroup", "polygon": [[10, 10], [30, 10], [30, 25], [10, 25]]},
        {"label": "license plate", "polygon": [[12, 20], [16, 20], [16, 22], [12, 22]]},
    ]}
    with open(f"{base}_polygons.json", "w") as f:
        json.dump(polygons, f)
    json2labelImg(f"{base}_polygons.json", f"{base}_labelIds.png", "ids")  # keep them in sync
    report = prepare_cityscapes(city, force=True, workers=0, progress=False)
    assert report.ok, report.format()
    assert "from 1 polygon files" in report.format()
    arr = label(f"{base}_labelTrainIds.png")[1]
    assert arr[31, 0] == 0 and arr[12, 12] == 13 and arr[0, 0] == 255, (
        "Polygons must be drawn with cityscapesscripts' trainIds encoding (road 0, car 13, "
        "background 255).")

    polygons["objects"].append({"label": "flying saucer", "polygon": [[0, 0], [5, 0], [5, 5]]})
    with open(f"{base}_polygons.json", "w") as f:
        json.dump(polygons, f)
    bad = prepare_cityscapes(city, workers=0, progress=False)
    assert any("flying saucer" in p.message and p.path.endswith("_polygons.json")
               for p in bad.problems), "An unknown label must be reported, not exit the process."
