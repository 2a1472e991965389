"""repro.data.check: split sizes, file presence, readable images, label values and sizes, on
tiny synthetic datasets damaged one way at a time."""

import argparse
import shutil

import numpy as np
import pytest
from PIL import Image

from repro.data.check import (
    QUICK_SAMPLE,
    DataCheckError,
    add_check_arguments,
    check_dataset,
    main_check,
    require_valid_data,
)
from repro.data.synth import MARKER, make_cityscapes, make_voc


@pytest.fixture(scope="module")
def voc_master(tmp_path_factory):
    return make_voc(tmp_path_factory.mktemp("voc"), size=(64, 48), num_train=4, num_val=4,
                    num_test=1)


@pytest.fixture(scope="module")
def city_master(tmp_path_factory):
    return make_cityscapes(tmp_path_factory.mktemp("city"), size=(64, 32), num_train=2,
                           num_val=2, num_test=1, num_coarse=1)


@pytest.fixture
def voc(voc_master, tmp_path):
    """A private copy of the tiny synthetic VOC2012 root, to damage."""
    return shutil.copytree(voc_master, tmp_path / "VOCdevkit" / "VOC2012")


@pytest.fixture
def city(city_master, tmp_path):
    return shutil.copytree(city_master, tmp_path / "cityscapes")


def first_id(root, split="val"):
    return (root / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()[0]


def only_problem(report, kind):
    kinds = [p.kind for p in report.problems]
    assert kinds == [kind], (
        f"Expected exactly one {kind!r} problem, got {kinds}:\n{report.format()}")
    return report.problems[0]


def test_synthetic_voc_passes_with_marker_counts(voc):
    report = check_dataset("voc", voc)
    assert report.ok, f"An undamaged synthetic VOC must pass the check:\n{report.format()}"
    assert report.synthetic and "synthetic" in report.format(), (
        "A dataset with SYNTHETIC.json must be reported as synthetic.")
    assert report.counts["train_aug"] == (8, 8) and report.counts["test"] == (1, 1), (
        f"Split sizes must be compared with the marker's counts on synthetic data: "
        f"{report.counts}")
    assert report.files_checked == 4 + 4 + 8 + 1, (
        "Every distinct image/label pair (train and val with SegmentationClass, train_aug with "
        "SegmentationClassAug, test images alone) must be read exactly once.")


def test_real_data_is_compared_with_the_published_sizes(voc):
    (voc / MARKER).unlink()
    report = check_dataset("voc", voc, splits=["train_aug", "val"], quick=True)
    counts = [p for p in report.problems if p.kind == "count"]
    assert {p.message.split()[1] for p in counts} == {"train_aug", "val"}, report.format()
    assert "10582" in report.format() and "published" in report.format(), (
        "Without SYNTHETIC.json the check must compare with the published split sizes.")


def test_quick_check_decodes_a_sample_only():
    from repro import paths
    from repro.data.synth import ensure_synthetic
    from repro.profiles import PROFILES

    root = ensure_synthetic("voc", paths.cache_dir() / "synthetic",
                            **PROFILES["smoke"].synthetic["voc"])
    report = check_dataset("voc", root, splits=["train_aug", "val"], quick=True)
    assert report.ok, report.format()
    assert report.files_checked <= 2 * QUICK_SAMPLE, (
        "`repro data check --quick` must decode at most QUICK_SAMPLE files per split.")


def test_missing_root_and_wrong_layout_name_the_fix(voc, tmp_path):
    report = check_dataset("voc", tmp_path / "nope")
    problem = only_problem(report, "layout")
    assert str(tmp_path / "nope") in str(problem) and "--data-root" in problem.fix

    problem = only_problem(check_dataset("voc", voc.parent), "layout")
    assert str(voc) in problem.fix, (
        "Given VOCdevkit instead of VOCdevkit/VOC2012, the fix must name the right folder.")

    shutil.rmtree(voc / "JPEGImages")
    problem = only_problem(check_dataset("voc", voc), "layout")
    assert "JPEGImages" in problem.message and "VOC2012" in problem.fix


def test_corrupt_jpeg_is_named(voc):
    vid = first_id(voc)
    jpg = voc / "JPEGImages" / f"{vid}.jpg"
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])
    problem = only_problem(check_dataset("voc", voc, splits=["val"]), "unreadable")
    assert problem.path == str(jpg) and "re-extract" in problem.fix


def test_label_values_outside_the_classes_are_named(voc):
    vid = first_id(voc)
    png = voc / "SegmentationClass" / f"{vid}.png"
    with Image.open(png) as im:
        arr = np.array(im)
    arr[0, :5] = 42
    Image.fromarray(arr, "L").save(png)
    problem = only_problem(check_dataset("voc", voc, splits=["val"]), "values")
    assert problem.path == str(png) and "42" in problem.message and "0..20" in problem.message


def test_label_and_image_of_different_sizes(voc):
    vid = first_id(voc)
    png = voc / "SegmentationClass" / f"{vid}.png"
    with Image.open(png) as im:
        im.resize((32, 24)).save(png)
    problem = only_problem(check_dataset("voc", voc, splits=["val"]), "size")
    assert problem.path == str(png) and "32x24" in problem.message and "64x48" in problem.message


def test_colour_label_is_reported_as_wrong_mode(voc):
    vid = first_id(voc)
    png = voc / "SegmentationClass" / f"{vid}.png"
    with Image.open(png) as im:
        im.convert("RGB").save(png)
    problem = only_problem(check_dataset("voc", voc, splits=["val"]), "mode")
    assert "index PNG" in problem.message


def test_missing_files_and_lists(voc):
    aug = voc / "SegmentationClassAug"
    for p in sorted(aug.glob("*.png"))[:2]:
        p.unlink()
    (voc / "ImageSets" / "Segmentation" / "seg11valid.txt").unlink()
    report = check_dataset("voc", voc, splits=["train_aug", "seg11valid"])
    assert [p.kind for p in report.problems] == ["list", "missing"], report.format()
    assert "repro data prepare voc" in report.problems[0].fix
    assert "2 of 8 labels of split train_aug" in report.problems[1].message


def test_count_mismatch_on_synthetic_data(voc):
    lst = voc / "ImageSets" / "Segmentation" / "val.txt"
    lst.write_text("\n".join(lst.read_text().split()[:3]) + "\n")
    problem = only_problem(check_dataset("voc", voc, splits=["val"]), "count")
    assert "3 images" in problem.message and "SYNTHETIC.json has 4" in problem.message


def test_report_caps_the_listing(voc):
    for png in (voc / "SegmentationClass").glob("*.png"):
        with Image.open(png) as im:
            im.resize((10, 10)).save(png)
    report = check_dataset("voc", voc, splits=["trainval"])
    text = report.format(limit=3)
    assert len(report.problems) == 8 and "... and 5 more (5 size)" in text, text


def test_cityscapes_passes_and_checks_every_split(city):
    report = check_dataset("cityscapes", city)
    assert report.ok, report.format()
    assert set(report.counts) == {"train", "val", "test", "train_extra"}


def test_cityscapes_bad_train_ids_and_stale_conversion(city):
    lab = sorted((city / "gtFine" / "val").rglob("*_labelTrainIds.png"))[0]
    arr = np.array(Image.open(lab))
    arr[0, 0] = 19
    Image.fromarray(arr).save(lab)
    report = check_dataset("cityscapes", city, splits=["val"])
    assert [p.kind for p in report.problems] == ["values", "mismatch"], report.format()
    assert "19" in report.problems[0].message and "0..18" in report.problems[0].message
    assert "repro data prepare cityscapes" in report.problems[1].fix


def test_cityscapes_label_ids_out_of_range_and_missing_train_ids(city):
    ids = sorted((city / "gtFine" / "train").rglob("*_labelIds.png"))[0]
    arr = np.array(Image.open(ids))
    arr[0, 0] = 255  # -1 (license plate) must never appear in a labelIds PNG
    Image.fromarray(arr).save(ids)
    for p in (city / "gtFine" / "val").rglob("*_labelTrainIds.png"):
        p.unlink()
    report = check_dataset("cityscapes", city, splits=["train", "val"])
    kinds = [p.kind for p in report.problems]
    assert kinds[0] == "missing" and "repro data prepare cityscapes" in report.problems[0].fix, (
        report.format())
    assert "values" in kinds and "0..33" in report.format()


def test_require_valid_data_raises_with_the_report(voc):
    vid = first_id(voc, "train")
    (voc / "JPEGImages" / f"{vid}.jpg").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataCheckError) as err:
        require_valid_data("voc", voc, ["train_aug", "val"])
    assert f"{vid}.jpg" in str(err.value) and not err.value.report.ok


def test_main_check_exit_codes(voc, capsys):
    parser = add_check_arguments(argparse.ArgumentParser())
    assert main_check(parser.parse_args(["voc", "--root", str(voc), "--quick"])) == 0
    assert "OK" in capsys.readouterr().out
    (voc / "SegmentationClass" / f"{first_id(voc)}.png").write_bytes(b"")
    assert main_check(parser.parse_args(["voc", "--root", str(voc)])) == 2
    assert f"{first_id(voc)}.png" in capsys.readouterr().err
