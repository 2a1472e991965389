"""repro.data.prepare.prepare_coco and ``repro data check coco`` on a tiny fake COCO in COCO's
real formats (instances json with polygons, compressed and uncompressed RLE, crowd regions and a
non-VOC category; images in train2014/ and val2014/), and the synthetic COCO of
repro.data.synth going through the same preparation."""

import argparse
import json
import os
import shutil

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from PIL import Image

from repro.data import prepare as prep
from repro.data.check import add_check_arguments, check_dataset, main_check
from repro.data.prepare import (
    VOC_COCO_CATEGORIES,
    add_prepare_arguments,
    main_prepare,
    prepare_coco,
)
from repro.data.synth import COCO_OTHER_CATEGORIES, coco_rle, make_voc
from repro.metrics.io import voc_palette

W, H = 10, 8
PERSON, DOG, CAR, SHEEP, UMBRELLA = 1, 18, 3, 20, 28  # COCO category ids
VOC = {"person": 15, "dog": 12, "car": 7}  # their VOC indices (sheep only as a crowd)


def rect(x0, y0, x1, y1):
    """Mask of the pixels [x0, x1) x [y0, y1)."""
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def polygon(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]  # covers [x0, x1) x [y0, y1) in pycocotools


def compressed(mask):
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"counts": rle["counts"].decode(), "size": rle["size"]}


def ann(ann_id, img_id, cat, segmentation, crowd=0):
    return dict(id=ann_id, image_id=img_id, category_id=cat, iscrowd=crowd, area=1.0,
                bbox=[0, 0, 1, 1], segmentation=segmentation)


def fake_coco(root):
    """COCO 2014 with four images; returns {kept stem: expected label}."""
    cats = [dict(id=cid, name=name, supercategory="x") for _, _, cid, name in VOC_COCO_CATEGORIES]
    cats.append(dict(id=UMBRELLA, name="umbrella", supercategory="accessory"))
    rng = np.random.default_rng(0)
    sets = {
        "train2014": [
            # 1: a crowd person listed first still voids over the dog painted after it; the dog
            # (later) over the person; a non-VOC umbrella over the dog changes nothing; a crowd
            # of umbrellas (non-VOC) stays background.
            (1, "RGB", [ann(900100000001, 1, PERSON, coco_rle(rect(0, 5, 5, 8)), crowd=1),
                        ann(10, 1, PERSON, polygon(0, 0, 6, 4)),
                        ann(11, 1, UMBRELLA, polygon(7, 0, 10, 3)),
                        ann(12, 1, DOG, compressed(rect(4, 2, 9, 7))),
                        ann(900100000002, 1, UMBRELLA, coco_rle(rect(8, 6, 10, 8)), crowd=1)]),
            # 4: a crowd of sheep only: kept, labels 0 and 255.
            (4, "RGB", [ann(900100000003, 4, SHEEP, compressed(rect(2, 2, 5, 5)), crowd=1)]),
        ],
        "val2014": [
            (2, "RGB", [ann(20, 2, UMBRELLA, polygon(1, 1, 5, 5))]),  # no VOC class: dropped
            (3, "L", [ann(30, 3, CAR, polygon(2, 2, 8, 6))]),  # a greyscale image, as in COCO
        ],
    }
    expected = {}
    one = np.zeros((H, W), np.uint8)
    one[0:4, 0:6] = VOC["person"]
    one[2:7, 4:9] = VOC["dog"]
    one[5:8, 0:5] = 255
    expected["COCO_train2014_000000000001"] = one
    four = np.zeros((H, W), np.uint8)
    four[2:5, 2:5] = 255
    expected["COCO_train2014_000000000004"] = four
    three = np.zeros((H, W), np.uint8)
    three[2:6, 2:8] = VOC["car"]
    expected["COCO_val2014_000000000003"] = three
    (root / "annotations").mkdir(parents=True)
    for name, images in sets.items():
        (root / name).mkdir()
        doc = dict(info={}, licenses=[], categories=cats, images=[], annotations=[])
        for img_id, mode, anns in images:
            file_name = f"COCO_{name}_{img_id:012d}.jpg"
            pixels = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
            Image.fromarray(pixels).convert(mode).save(root / name / file_name, quality=90)
            doc["images"].append(dict(id=img_id, file_name=file_name, width=W, height=H))
            doc["annotations"] += anns
        (root / "annotations" / f"instances_{name}.json").write_text(json.dumps(doc))
    return expected


@pytest.fixture
def dirs(tmp_path):
    """(COCO folder, a VOC2012 root with train_aug and JPEGImages, expected labels)."""
    coco = tmp_path / "coco"
    expected = fake_coco(coco)
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    (voc / "JPEGImages").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation" / "train_aug.txt").write_text("2007_000032\n")
    return coco, voc, expected


def coco_ids(voc):
    return (voc / "ImageSets" / "Segmentation" / "coco.txt").read_text().split()


def read(path):
    with Image.open(path) as im:
        return im.mode, np.array(im), im.getpalette()


def test_labels_pixel_by_pixel_and_the_layout(dirs):
    coco, voc, expected = dirs
    report = prepare_coco(coco, voc, workers=0, progress=False)
    assert report.ok, report.format()
    assert coco_ids(voc) == sorted(expected), (
        "coco.txt lists the images with a VOC category (a crowd counts), not the one with only "
        "an umbrella.")
    for stem, want in expected.items():
        mode, got, palette = read(voc / "SegmentationClassAug" / f"{stem}.png")
        assert mode == "P" and palette[:3 * 256] == voc_palette().ravel().tolist(), (
            "COCO labels are palette PNGs with the VOC colour map, like VOC's own.")
        wrong = np.argwhere(got != want)
        assert not len(wrong), (
            f"{stem}: label differs at (y, x) {wrong[:4].tolist()}: got {got[tuple(wrong[0])]}, "
            f"want {want[tuple(wrong[0])]}. Rule: VOC index of the category, later annotations "
            "over earlier ones, VOC crowd regions 255 over everything, other categories 0.")
        link = voc / "JPEGImages" / f"{stem}.jpg"
        assert link.is_symlink() and not os.path.isabs(os.readlink(link)), (
            "JPEGImages holds relative links to COCO's images (they survive moving both).")
        split = stem.split("_")[1]
        assert link.resolve() == (coco / split / f"{stem}.jpg").resolve()
    manifest = json.loads((voc / "ImageSets" / "Segmentation" / "coco.prepared.json").read_text())
    assert manifest["count"] == 3 and manifest["sets"] == ["train2014", "val2014"]
    assert any("4 images" in n and "109,892" in n for n in report.notes), (
        "The report gives the COCO + train_aug total to compare with GCN's 109,892.")
    assert report.check is not None and report.check.ok and report.check.counts["coco"] == (3, 3)


def test_rerun_changes_nothing_conflicts_need_force_and_copy_mode(dirs):
    coco, voc, expected = dirs
    assert prepare_coco(coco, voc, workers=0, progress=False).ok
    again = prepare_coco(coco, voc, workers=2, progress=False)
    assert again.ok and again.files == {"unchanged": 3}, (
        f"A second preparation must find every file in place, got {dict(again.files)}.")
    stem = sorted(expected)[0]
    label = voc / "SegmentationClassAug" / f"{stem}.png"
    Image.fromarray(np.zeros((H, W), np.uint8), "L").save(label)
    conflict = prepare_coco(coco, voc, workers=0, progress=False)
    assert not conflict.ok and conflict.files["conflict"] == 1
    assert (read(label)[1] == 0).all(), "A differing label is never overwritten silently."
    assert "not written" in conflict.lists["coco"]
    copied = prepare_coco(coco, voc, copy=True, force=True, workers=0, progress=False)
    assert copied.ok, copied.format()
    for s in expected:
        jpg = voc / "JPEGImages" / f"{s}.jpg"
        assert not jpg.is_symlink() and jpg.read_bytes() == (
            coco / s.split("_")[1] / f"{s}.jpg").read_bytes(), "--copy writes copies."
    assert np.array_equal(read(label)[1], expected[stem]), "--force rewrites the label."


def test_a_killed_preparation_reruns_cleanly(dirs, monkeypatch):
    coco, voc, expected = dirs
    calls = []

    def dies_on_the_second(task):
        calls.append(task)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is killed mid-way
        return convert(task)

    convert = prep._convert_coco
    monkeypatch.setattr(prep, "_convert_coco", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        prepare_coco(coco, voc, workers=0, progress=False)
    assert not (voc / "ImageSets" / "Segmentation" / "coco.txt").exists(), (
        "coco.txt is written last: an interrupted preparation leaves no split to train on.")
    monkeypatch.setattr(prep, "_convert_coco", convert)
    report = prepare_coco(coco, voc, workers=0, progress=False)
    assert report.ok and report.files == {"unchanged": 1, "written": 2}, dict(report.files)
    assert coco_ids(voc) == sorted(expected)


def test_missing_image_wrong_json_and_missing_folders(dirs, tmp_path):
    coco, voc, _ = dirs
    (coco / "val2014" / "COCO_val2014_000000000003.jpg").unlink()
    report = prepare_coco(coco, voc, workers=0, progress=False)
    assert not report.ok and any(p.kind == "unreadable" and "COCO_val2014_000000000003" in p.path
                                 for p in report.problems), report.format()
    assert not (voc / "ImageSets" / "Segmentation" / "coco.txt").exists(), (
        "With an image missing the split is not written (rerun after fixing it).")

    path = coco / "annotations" / "instances_val2014.json"
    doc = json.loads(path.read_text())
    name, doc["categories"][0]["name"] = doc["categories"][0]["name"], "truck"  # not COCO's
    path.write_text(json.dumps(doc))
    report = prepare_coco(coco, voc, sets=["val2014"], workers=0, progress=False)
    assert [p.kind for p in report.problems] == ["layout"], report.format()

    doc["categories"][0]["name"] = name
    doc["annotations"] = [a for a in doc["annotations"] if a["category_id"] == UMBRELLA]
    path.write_text(json.dumps(doc))
    report = prepare_coco(coco, voc, sets=["val2014"], workers=0, progress=False)
    assert [p.kind for p in report.problems] == ["missing"], (
        "A COCO set without any VOC category gives no empty split but a problem.")

    with pytest.raises(FileNotFoundError, match="instances_val2017.json"):
        prepare_coco(coco, voc, sets=["val2017"], progress=False)
    with pytest.raises(FileNotFoundError, match="annotations/instances"):
        prepare_coco(tmp_path / "nowhere", voc, progress=False)
    shutil.move(coco / "annotations" / "instances_train2014.json", tmp_path / "t.json")
    with pytest.raises(FileNotFoundError, match="neither"):
        prepare_coco(coco, voc, progress=False)


def test_check_coco_catches_bad_labels_links_and_counts(dirs):
    coco, voc, expected = dirs
    assert prepare_coco(coco, voc, workers=0, progress=False).ok
    assert check_dataset("coco", voc).ok
    stems = sorted(expected)
    Image.fromarray(np.full((H, W), 30, np.uint8), "L").save(
        voc / "SegmentationClassAug" / f"{stems[0]}.png")
    (coco / "train2014" / f"{stems[1]}.jpg").unlink()  # the link now dangles
    lst = voc / "ImageSets" / "Segmentation" / "coco.txt"
    lst.write_text(lst.read_text() + "2007_000032\n")  # an edited list
    report = check_dataset("coco", voc)
    kinds = {p.kind: p for p in report.problems}
    assert set(kinds) == {"values", "missing", "count"}, report.format()
    assert "30" in kinds["values"].message, "A label value outside 0..20/255 is named."
    assert stems[1] in report.format() and "links to" in report.format(), (
        "A dangling link to a COCO image is reported as such.")
    assert "coco.prepared.json" in kinds["count"].message


def test_cli_prepare_and_check(dirs, capsys):
    coco, voc, _ = dirs
    parser = add_prepare_arguments(argparse.ArgumentParser())
    assert main_prepare(parser.parse_args(["coco", "--coco", str(coco), "--voc", str(voc),
                                           "--workers", "0"])) == 0
    assert main_prepare(parser.parse_args(["coco", "--voc", str(voc)])) == 2
    assert "--coco" in capsys.readouterr().err
    check = add_check_arguments(argparse.ArgumentParser())
    assert main_check(check.parse_args(["coco", "--root", str(voc)])) == 0


def test_the_synthetic_coco_goes_through_the_preparation(tmp_path):
    root = make_voc(tmp_path, size=(64, 48), num_train=2, num_val=2, num_test=1, num_coco=12)
    coco = tmp_path / "coco"
    for name in ("train2014", "val2014"):
        doc = json.loads((coco / "annotations" / f"instances_{name}.json").read_text())
        assert {"images", "annotations", "categories"} <= set(doc)
        assert all((coco / name / im["file_name"]).is_file() for im in doc["images"]), (
            "The synthetic COCO keeps COCO's layout: <set>/<file_name> beside annotations/.")
    anns = [a for n in ("train2014", "val2014")
            for a in json.loads((coco / "annotations" / f"instances_{n}.json").read_text())[
                "annotations"]]
    other = {cid for cid, _, _ in COCO_OTHER_CATEGORIES}
    assert any(a["iscrowd"] for a in anns) and any(a["category_id"] in other for a in anns), (
        "The synthetic COCO must hold crowd and non-VOC annotations to exercise those rules.")
    assert all(isinstance(a["segmentation"], list) != bool(a["iscrowd"]) for a in anns), (
        "Like COCO: polygons for instances, uncompressed RLE for crowds.")
    truth = sorted(p.stem for p in (coco / "_synthetic_truth").glob("*.png"))
    assert coco_ids(root) == truth and 0 < len(truth) < 12, (
        "The split coco is written by the preparation: the images holding a VOC category.")
    meta = json.loads((root / "SYNTHETIC.json").read_text())
    assert meta["counts"]["coco"] == len(truth)
    agree = total = 0
    for stem in truth:
        want = read(coco / "_synthetic_truth" / f"{stem}.png")[1]
        got = read(root / "SegmentationClassAug" / f"{stem}.png")[1]
        assert np.array_equal(got == 255, want == 255), "Crowd regions (RLE) are exact."
        agree, total = agree + (got == want).sum(), total + got.size
    assert agree / total > 0.95, (
        f"Prepared labels agree with the generator's on {agree / total:.1%} of the pixels; "
        "polygons should differ from the painted masks only along outlines.")
    assert check_dataset("coco", root).ok


def test_coco_rle_round_trips_through_pycocotools():
    mask = np.random.default_rng(1).random((7, 5)) > 0.5
    mask[0, 0] = True  # a mask starting with a foreground pixel needs the leading 0 run
    rle = mask_utils.frPyObjects(coco_rle(mask), *mask.shape)
    assert np.array_equal(mask_utils.decode(rle), mask)
