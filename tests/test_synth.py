"""Synthetic VOC / Cityscapes: layouts, split relations, label semantics, determinism, caching,
and that mmseg's stock datasets read them. Tiny sizes and counts keep this file under a few s."""

import functools
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import id2label
from PIL import Image

from repro.data import synth

VOC_ARGS = dict(seed=3, size=(48, 36), num_train=6, num_val=4, num_test=2, num_sbd_extra=5)
CITY_ARGS = dict(seed=3, size=(64, 32), num_train=4, num_val=2, num_test=2, num_coarse=2)
VOC_ID = re.compile(r"^20(0[7-9]|1[0-2])_\d{6}$")
CITY_STEM = re.compile(r"^([a-z-]+)_(\d{6})_(\d{6})$")


@pytest.fixture(scope="module")
def voc(tmp_path_factory) -> Path:
    return synth.make_voc(tmp_path_factory.mktemp("voc"), **VOC_ARGS)


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    return synth.make_cityscapes(tmp_path_factory.mktemp("city"), **CITY_ARGS)


def read_list(root: Path, name: str) -> list[str]:
    return (root / "ImageSets" / "Segmentation" / f"{name}.txt").read_text().split()


def png(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def tree_bytes(base: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------------------------------------------- VOC


def test_voc_split_lists_have_the_real_relations(voc):
    lists = {
        n: read_list(voc, n)
        for n in ("train", "val", "trainval", "train_aug", "aug", "sbd_train", "seg11valid", "test")
    }
    for name, ids in lists.items():
        assert ids == sorted(set(ids)), f"{name}.txt must be sorted without duplicates, like VOC's."
        bad = [i for i in ids if not VOC_ID.match(i)]
        assert not bad, f"{name}.txt has ids {bad} that are not VOC-style (2007_000032)."
    train, val, aug = set(lists["train"]), set(lists["val"]), set(lists["train_aug"])
    assert (len(train), len(val), len(lists["test"])) == (6, 4, 2), (
        "train/val/test sizes differ from num_train/num_val/num_test: check make_voc's split code."
    )
    assert set(lists["trainval"]) == train | val, "trainval.txt must be exactly train + val."
    assert train < aug and len(aug) == 6 + 5, (
        "train_aug must strictly contain train plus the num_sbd_extra SBD-only ids."
    )
    assert lists["aug"] == lists["train_aug"], "aug.txt (mmseg's name) must equal train_aug.txt."
    assert not aug & val, "train_aug must be disjoint from val, as in the real SBD+VOC list."
    assert set(lists["sbd_train"]) <= aug and lists["sbd_train"], (
        "sbd_train must be a non-empty subset of train_aug (FCN's SBD training list)."
    )
    seg11 = set(lists["seg11valid"])
    assert seg11 <= val and seg11 and not seg11 & set(lists["sbd_train"]), (
        "seg11valid must be a non-empty subset of val, disjoint from sbd_train (FCN's reduced val)."
    )
    assert not set(lists["test"]) & (aug | val), "test ids must not appear in any labelled split."


def test_voc_files_exist_exactly_where_the_real_ones_are(voc):
    train_aug, val, test = (
        read_list(voc, "train_aug"),
        read_list(voc, "val"),
        read_list(voc, "test"),
    )
    train = read_list(voc, "train")

    def names(folder):
        return {p.stem for p in (voc / folder).iterdir()}

    assert names("JPEGImages") == set(train_aug + val + test), (
        "JPEGImages must hold one JPEG per train_aug, val and test id and nothing else."
    )
    assert names("SegmentationClass") == set(train + val), (
        "SegmentationClass must label exactly the VOC train and val ids (not SBD-only, not test)."
    )
    assert names("SegmentationClassAug") == set(train_aug + val), (
        "SegmentationClassAug must label every train_aug and val id, and no test id."
    )
    server = voc.parent / synth.SERVER_GT_DIR
    for kind in ("SegmentationClass", "SegmentationClassAug"):
        assert {p.stem for p in (server / kind).iterdir()} == set(test), (
            f"The simulated server's {kind} must hold exactly the test ids' labels."
        )
    img = Image.open(voc / "JPEGImages" / f"{val[0]}.jpg")
    assert (img.format, img.mode, img.size) == ("JPEG", "RGB", VOC_ARGS["size"]), (
        "VOC images must be RGB JPEGs of the requested (W, H) size."
    )


def test_voc_labels_use_the_voc_palette_and_value_ranges(voc):
    cmap = synth.voc_colormap()
    assert [tuple(cmap[i]) for i in (0, 1, 15, 20, 255)] == [
        (0, 0, 0),
        (128, 0, 0),
        (192, 128, 128),
        (0, 64, 128),
        (224, 224, 192),
    ], "voc_colormap() does not reproduce the devkit's bitget colour map."
    for vid in read_list(voc, "trainval"):
        img = Image.open(voc / "SegmentationClass" / f"{vid}.png")
        assert img.mode == "P", "SegmentationClass PNGs must be palette ('P') images, as in VOC."
        assert bytes(img.getpalette()[:768]) == cmap.tobytes(), (
            "SegmentationClass PNGs must carry the 256-entry VOC colour map as their palette."
        )
        values = set(np.unique(np.array(img)).tolist())
        assert values <= set(range(21)) | {255}, f"{vid}: SegmentationClass values {values}."
    for vid in read_list(voc, "train_aug"):
        img = Image.open(voc / "SegmentationClassAug" / f"{vid}.png")
        assert img.mode == "L", "SegmentationClassAug PNGs must be grayscale index images."
        assert np.array(img).max() <= 20, (
            f"{vid}: SegmentationClassAug must hold only 0..20 (SBD has no void label)."
        )


def test_voc_void_band_is_in_segmentationclass_only(voc):
    assert synth.void_band_width(500, 375) == 5, "The void band must be 5 px at VOC's 500x375."
    assert synth.void_band_width(160, 120) == 3 and synth.void_band_width(8, 8) == 1
    voided = 0
    for vid in read_list(voc, "trainval"):
        cls = png(voc / "SegmentationClass" / f"{vid}.png")
        aug = png(voc / "SegmentationClassAug" / f"{vid}.png")
        keep = cls != 255
        assert (cls[keep] == aug[keep]).all(), (
            f"{vid}: outside the void band SegmentationClass must equal SegmentationClassAug."
        )
        # Every pixel next to a change of class in the full labels must be void in VOC's labels.
        edge = np.zeros(aug.shape, bool)
        edge[:, :-1] |= aug[:, :-1] != aug[:, 1:]
        edge[:-1, :] |= aug[:-1, :] != aug[1:, :]
        assert (cls[edge] == 255).all(), f"{vid}: object boundaries lack the void band."
        voided += int((~keep).sum())
    assert voided > 0, "No void pixels at all: the VOC void band is missing."


# ------------------------------------------------------------------------------------ Cityscapes


def city_stems(root: Path, split: str, folder="leftImg8bit", suffix="_leftImg8bit.png"):
    out = []
    for path in sorted((root / folder / split).glob(f"*/*{suffix}")):
        stem = path.name[: -len(suffix)]
        m = CITY_STEM.match(stem)
        assert m and m.group(1) == path.parent.name, (
            f"{path.name} is not <city>_<seq:06d>_<frame:06d>{suffix} inside its city folder."
        )
        assert path.parent.name in synth.CITIES[split], (
            f"{path.parent.name} is not a real {split} city of Cityscapes."
        )
        out.append((path.parent.name, stem))
    return out


def test_cityscapes_layout_and_file_names(city):
    counts = {"train": 4, "val": 2, "test": 2, "train_extra": 2}
    for split, n in counts.items():
        stems = city_stems(city, split)
        assert len(stems) == n, f"leftImg8bit/{split} has {len(stems)} images, expected {n}."
        gt = "gtCoarse" if split == "train_extra" else "gtFine"
        for town, stem in stems:
            for kind in ("labelIds", "instanceIds", "labelTrainIds", "color"):
                path = city / gt / split / town / f"{stem}_{gt}_{kind}.png"
                assert path.is_file(), f"{path} is missing: every image needs its {gt} {kind}."
        img = Image.open(
            city / "leftImg8bit" / split / stems[0][0] / f"{stems[0][1]}_leftImg8bit.png"
        )
        assert (img.mode, img.size) == ("RGB", CITY_ARGS["size"]), "Images must be RGB, (W, H)."
    assert len({t for t, _ in city_stems(city, "train")}) >= 2, "train should span 2+ cities."


def check_city_labels(lab: np.ndarray, inst: np.ndarray, train: np.ndarray, color: np.ndarray):
    assert lab.max() <= 33, "labelIds must be Cityscapes label ids 0..33."
    lut_train = np.array([id2label[i].trainId for i in range(34)])
    lut_train[lut_train < 0] = 255
    assert (train == lut_train[lab]).all(), (
        "labelTrainIds disagree with cityscapesscripts' trainId of the labelIds (255 if ignored)."
    )
    lut_color = np.array([id2label[i].color for i in range(34)])
    assert color.shape[2] == 4 and (color[..., :3] == lut_color[lab]).all(), (
        "The color PNG must be RGBA with each label's colour from cityscapesscripts."
    )
    has_inst = np.array([id2label[i].hasInstances for i in range(34)])
    per_instance = inst >= 1000
    assert (inst[per_instance] // 1000 == lab[per_instance]).all(), (
        "instanceIds >= 1000 must be labelId * 1000 + index of the same pixel's label."
    )
    assert has_inst[lab[per_instance]].all(), "Only hasInstances classes may have instance ids."
    assert (inst[~per_instance] == lab[~per_instance]).all(), (
        "instanceIds below 1000 must equal the labelId (stuff classes and groups)."
    )


def read_city_gt(base: Path, stem: str, gt: str):
    return [
        png(base / f"{stem}_{gt}_{k}.png")
        for k in ("labelIds", "instanceIds", "labelTrainIds", "color")
    ]


def test_cityscapes_fine_labels_follow_cityscapesscripts(city):
    seen = set()
    for split in ("train", "val"):
        for town, stem in city_stems(city, split):
            lab, inst, train, color = read_city_gt(city / "gtFine" / split / town, stem, "gtFine")
            check_city_labels(lab, inst, train, color)
            seen |= set(np.unique(lab).tolist())
    assert {7, 11, 23} <= seen, "Street scenes must show road, building and sky."
    assert seen & {24, 25, 26, 27, 28, 31, 32, 33}, "No traffic participants in any label map."


def test_cityscapes_test_labels_are_dummies_and_the_server_has_the_truth(city):
    for town, stem in city_stems(city, "test"):
        lab = png(city / "gtFine" / "test" / town / f"{stem}_gtFine_labelIds.png")
        assert not lab.any(), "gtFine/test labelIds must be all 0 dummies, as in the download."
        truth = read_city_gt(city / synth.SERVER_GT_DIR / "gtFine" / "test" / town, stem, "gtFine")
        assert len(np.unique(truth[0])) > 2, "The simulated server must hold the real test labels."
        check_city_labels(*truth)


def test_cityscapes_coarse_labels_have_unlabelled_gaps(city):
    for town, stem in city_stems(city, "train_extra"):
        lab, inst, train, color = read_city_gt(
            city / "gtCoarse" / "train_extra" / town, stem, "gtCoarse"
        )
        check_city_labels(lab, inst, train, color)
        assert (lab == 0).mean() > 0.05, "Coarse labels must leave eroded gaps (labelId 0)."


def test_all_labelids_occur_in_a_default_size_scene_sample():
    seen = set()
    for i in range(80):
        _, lab, _, _ = synth._city_scene(np.random.default_rng([0, i]), 128, 64)
        seen |= set(np.unique(lab).tolist())
    assert seen == set(range(34)), (
        f"labelIds {sorted(set(range(34)) - seen)} never occur in 80 scenes: raise their "
        "probabilities in _city_scene."
    )


# ------------------------------------------------------------------- determinism and caching


def test_same_arguments_give_the_same_bytes_and_seeds_differ(tmp_path, voc, city):
    again = synth.make_voc(tmp_path / "a", **VOC_ARGS)
    assert tree_bytes(again.parent.parent) == tree_bytes(voc.parent.parent), (
        "make_voc is not deterministic: use only the per-image numpy Generators, no global RNG."
    )
    again = synth.make_cityscapes(tmp_path / "b", **CITY_ARGS)
    assert tree_bytes(again) == tree_bytes(city), "make_cityscapes is not deterministic."
    other = synth.make_voc(tmp_path / "c", **{**VOC_ARGS, "seed": 4})
    assert read_list(other, "train") != read_list(voc, "train"), "Another seed gave the same ids."
    other = synth.make_cityscapes(tmp_path / "d", **{**CITY_ARGS, "seed": 4})
    name = "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    assert (other / name).read_bytes() != (city / name).read_bytes(), (
        "Another seed gave the same Cityscapes image: seed the per-image Generators with it."
    )


def test_ensure_synthetic_generates_once_and_reuses_the_cache(tmp_path, monkeypatch):
    calls = []
    real = synth._MAKERS["voc"]

    @functools.wraps(real)  # ensure_synthetic reads the maker's signature
    def counting(out, **kw):
        calls.append(kw)
        return real(out, **kw)

    monkeypatch.setitem(synth._MAKERS, "voc", counting)
    args = dict(size=(32, 24), num_train=2, num_val=2, num_test=1, num_sbd_extra=1)
    roots, errors = [], []

    def call():
        try:
            roots.append(synth.ensure_synthetic("voc", tmp_path, **args))
        except Exception as exc:  # a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"ensure_synthetic raised in a concurrent caller: {errors}"
    assert len(calls) == 1 and roots[0] == roots[1], (
        "Two concurrent ensure_synthetic calls must generate once and return the same root."
    )
    root = roots[0]
    assert root.parts[-2:] == ("VOCdevkit", "VOC2012") and root.parent.parent.parent == tmp_path
    assert synth.ensure_synthetic("voc", tmp_path, seed=0, **args) == root and len(calls) == 1, (
        "A cached dataset (defaults spelled out or not) must be returned without regenerating."
    )
    assert not list(tmp_path.glob(".*tmp*")), "Temporary generation folders were left behind."
    assert synth.is_synthetic(root) and synth.is_synthetic(root / "JPEGImages")
    assert not synth.is_synthetic(tmp_path), "is_synthetic must not see markers below the root."
    assert synth.ensure_synthetic("voc", tmp_path, seed=1, **args) != root, (
        "Different parameters must map to a different cache folder."
    )
    with pytest.raises(TypeError):
        synth.ensure_synthetic("voc", tmp_path, num_trian=3)


def test_a_real_looking_dataset_is_never_overwritten(tmp_path):
    (tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(FileExistsError):
        synth.make_voc(tmp_path, size=(32, 24), num_train=1, num_val=1, num_test=0)


def test_main_synth_prints_counts(tmp_path, capsys):
    root = synth.main_synth(
        "cityscapes", tmp_path, seed=1, size="48x24", num_train=1, num_val=1, num_test=1
    )
    assert root == tmp_path / "cityscapes" and synth.is_synthetic(root)
    out = capsys.readouterr().out
    assert str(root) in out and "train: 1" in out, "main_synth must print where and how many."


# ----------------------------------------------------------------------- mmseg reads the layout


def mmseg_labels(dataset) -> set[int]:
    values = set()
    for i in range(len(dataset)):
        values |= set(np.unique(dataset[i]["gt_seg_map"]).tolist())
    return values


def test_mmseg_stock_datasets_read_the_layout(voc, city):
    from mmseg.datasets import CityscapesDataset, PascalVOCDataset
    from mmseg.utils import register_all_modules

    register_all_modules()
    pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations")]
    for seg_dir, ann, n, allowed in (
        ("SegmentationClass", "val", 4, set(range(21)) | {255}),
        ("SegmentationClassAug", "train_aug", 11, set(range(21))),
    ):
        ds = PascalVOCDataset(
            data_root=str(voc),
            ann_file=f"ImageSets/Segmentation/{ann}.txt",
            data_prefix=dict(img_path="JPEGImages", seg_map_path=seg_dir),
            pipeline=pipeline,
        )
        assert len(ds) == n, f"mmseg found {len(ds)} images in {ann}.txt, expected {n}."
        values = mmseg_labels(ds)
        assert values <= allowed and values - {0, 255}, (
            f"mmseg read {seg_dir} labels {values}: expected object classes within {allowed}."
        )
    ds = CityscapesDataset(
        data_root=str(city),
        pipeline=pipeline,
        data_prefix=dict(img_path="leftImg8bit/train", seg_map_path="gtFine/train"),
    )
    assert len(ds) == 4, f"mmseg found {len(ds)} Cityscapes train images, expected 4."
    assert mmseg_labels(ds) <= set(range(19)) | {255}, "mmseg did not read labelTrainIds."
