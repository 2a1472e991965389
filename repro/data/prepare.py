"""Convert the downloaded datasets into the layout the harness trains on.

``prepare_voc(voc, sbd)`` (``repro data prepare voc --voc PATH --sbd PATH``), from

- PASCAL VOC 2012 (``VOCtrainval_11-May-2012.tar``, root ``VOCdevkit/VOC2012``): ``JPEGImages``,
  ``SegmentationClass/<id>.png`` (palette PNGs, 0..20 and 255 = void),
  ``ImageSets/Segmentation/{train,val}.txt``;
- SBD, the Semantic Boundaries Dataset (``benchmark.tgz``, ``benchmark_RELEASE/dataset``):
  ``cls/<id>.mat`` (MATLAB struct ``GTcls``, field ``Segmentation``: uint8 class indices 0..20,
  no void band), ``train.txt`` (8498 ids) and ``val.txt`` (2857 ids),

writes into the VOC2012 folder, as DeepLab's ``SegmentationClassAug`` (and mmseg's
``voc_aug.py``) do:

- ``SegmentationClassAug/<id>.png``: greyscale (mode L) index PNGs, one per SBD ``.mat``
  (11355), plus the VOC12 train/val labels of the ids SBD lacks, palette converted to indices
  (these keep VOC's 255 void band);
- ``ImageSets/Segmentation/``: ``train_aug`` (10582, the list shipped in ``repro/data/splits``;
  the one derived from the inputs, VOC12 train + SBD train/val - VOC12 val, is compared with
  it), ``sbd_train`` (SBD's own ``train.txt``, FCN's training list), ``seg11valid`` (736,
  shipped) and ``val`` (1449, shipped).

``prepare_cityscapes(root)`` (``repro data prepare cityscapes --root PATH``) writes
``<stem>_labelTrainIds.png`` next to every ``gtFine`` and ``gtCoarse`` label, as
``cityscapesscripts.preparation.createTrainIdLabelImgs`` does (that script finds the dataset
through ``$CITYSCAPES_DATASET``; here the root is an argument), from one of two sources:

1. ``<stem>_polygons.json`` when present: drawn by cityscapesscripts' own ``createLabelImage``
   with the ``trainIds`` encoding, exactly the official script's output;
2. otherwise ``<stem>_labelIds.png`` (e.g. a copy without the polygons), mapped through the
   ``cityscapesscripts.helpers.labels`` table (labelId -> trainId, ignored classes -> 255).
   Both give the same image: the polygons draw the same regions in the same order.

``prepare_coco(coco, voc)`` (``repro data prepare coco --coco PATH --voc PATH``) adds Microsoft
COCO to the VOC2012 folder as the split ``coco``, for the protocols that pre-train on COCO's
images of the 20 VOC classes (GCN Sec. 4.2, Tables 7-8 Stage-1: "COCO has 80 classes and here we
only retain the images including the same 20 classes in PASCAL VOC 2012"; Dilation Sec. 5,
Tables 3-4: coarse tuning on VOC-2012 + COCO). From COCO's instance annotations
(``annotations/instances_<set>.json``, read with ``pycocotools``) and images (``<set>/``):

- kept: every image with at least one annotation (crowd or not) of the 20 VOC categories
  (``VOC_COCO_CATEGORIES``: COCO category id per VOC class), COCO's own ``catToImgs`` index;
- ``SegmentationClassAug/<stem>.png``: palette PNGs with the VOC colour map, like VOC's labels:
  0 background (every other COCO category too), the VOC index of each instance's category
  painted from its mask (``COCO.annToMask``: polygons, uncompressed or compressed RLE) in the
  order of the json, a later annotation over an earlier one, then the crowd regions
  (``iscrowd`` 1) of the VOC categories as 255 (void) over everything: a crowd region mixes
  instances and background. Crowd regions of other categories stay background;
- ``JPEGImages/<stem>.jpg``: a relative symbolic link to COCO's image (``copy=True``: a copy);
- ``ImageSets/Segmentation/coco.txt``: the kept stems (``COCO_train2014_000000000009``), written
  only when every image converted; then ``coco.prepared.json`` next to it (sources, counts, the
  rule above) against which ``repro data check coco`` checks the count.

Which COCO: the papers do not name the release. GCN's Stage-1 total, 109,892 images of COCO +
SBD + VOC, leaves 99,310 for COCO beside train_aug's 10,582, more than the 82,783 images of
COCO 2014 train alone: GCN used train + val (2014, the same 123,287 images as 2017 train + val).
(At least 97,861 even if SBD and all of VOC 2012 trainval, 12,031 images, were in it.)
Dilation's slides say "VOC-2012, Microsoft COCO" only. Default: ``train2014`` + ``val2014`` when
both annotation files are there, else ``train2017`` + ``val2017`` (never both generations: the
same images twice); ``sets`` chooses.

All preparations are idempotent: an existing output with the same pixels (or the same list of
ids) is left alone, one with different content is never overwritten without ``force`` (it is
reported as a conflict). Files are written atomically (temporary file + rename), converted in a
process pool with a tqdm progress bar, and the result is verified with
``repro.data.check.check_dataset(quick=True)``.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import functools
import io
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from repro.data.check import (
    COCO_MANIFEST,
    LABEL_ID_LABEL,
    TRAIN_ID_LABEL,
    VOC_LABEL,
    CheckReport,
    Problem,
    check_dataset,
    file_names,
    train_id_lut,
    voc_colormap,
)
from repro.files import atomic_write

__all__ = [
    "PrepareReport",
    "add_prepare_arguments",
    "find_cityscapes_root",
    "find_coco_root",
    "find_sbd_dir",
    "find_voc_root",
    "main_prepare",
    "prepare_cityscapes",
    "prepare_coco",
    "prepare_voc",
    "VOC_COCO_CATEGORIES",
]

SHIPPED_SPLITS = Path(__file__).resolve().parent / "splits"


@dataclass
class PrepareReport:
    """What a preparation did; ``ok`` when nothing went wrong and the check passed."""

    dataset: str
    root: Path
    files: Counter = field(default_factory=Counter)  # written / unchanged / conflict / error
    lists: dict[str, str] = field(default_factory=dict)  # list name -> what happened
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    check: CheckReport | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and (self.check is None or self.check.ok)

    def format(self, limit: int = 20) -> str:
        done = ", ".join(f"{n} {k}" for k, n in sorted(self.files.items())) or "none"
        lines = [f"prepared {self.dataset} at {self.root} in {self.seconds:.1f} s",
                 f"  label files: {done}"]
        lines += [f"  list {name}: {what}" for name, what in self.lists.items()]
        lines += [f"  note: {n}" for n in self.notes]
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s) while preparing:")
            lines += [f"  {p}" for p in self.problems[:limit]]
            rest = Counter(p.kind for p in self.problems[limit:])
            if rest:
                kinds = ", ".join(f"{n} {k}" for k, n in rest.most_common())
                lines.append(f"  ... and {sum(rest.values())} more ({kinds}).")
        if self.check is not None:
            lines.append("verification: " + self.check.format(limit))
            lines.append(f"A full check reads every file: `repro data check {self.dataset} "
                         f"--root {self.root}`.")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Finding the inputs


def find_voc_root(path: str | os.PathLike) -> Path:
    """The ``VOC2012`` folder given it, ``VOCdevkit`` or the folder holding ``VOCdevkit``."""
    path = Path(path).expanduser()
    for cand in (path, path / "VOC2012", path / "VOCdevkit" / "VOC2012"):
        if (cand / "JPEGImages").is_dir():
            return cand
    raise FileNotFoundError(
        f"No VOC2012 dataset at {path} (looked for JPEGImages in it, in VOC2012/ and in "
        "VOCdevkit/VOC2012/): pass --voc the VOCdevkit/VOC2012 folder extracted from "
        "VOCtrainval_11-May-2012.tar."
    )


def find_sbd_dir(path: str | os.PathLike) -> Path:
    """SBD's ``dataset`` folder (holding ``cls/``) given it, ``benchmark_RELEASE`` or its
    parent."""
    path = Path(path).expanduser()
    for cand in (path, path / "dataset", path / "benchmark_RELEASE" / "dataset"):
        if (cand / "cls").is_dir():
            return cand
    raise FileNotFoundError(
        f"No SBD dataset at {path} (looked for cls/ in it, in dataset/ and in "
        "benchmark_RELEASE/dataset/): pass --sbd the benchmark_RELEASE folder extracted from "
        "SBD's benchmark.tgz."
    )


def _read_ids(path: Path) -> list[str]:
    return [s.split()[0] for s in path.read_text().splitlines() if s.strip()]


# ---------------------------------------------------------------------------------------------
# One file: read the source, convert, compare with what is there, write atomically


def _load_sbd(path: Path) -> np.ndarray:
    from scipy.io import loadmat

    return np.asarray(
        loadmat(path, struct_as_record=False, squeeze_me=True)["GTcls"].Segmentation, np.uint8)


def _load_voc(path: Path) -> np.ndarray:
    from repro.metrics.io import read_label_png

    return read_label_png(path)  # palette / greyscale indices, VOC-coloured RGB mapped back


def _load_polygons(path: Path) -> np.ndarray:
    from cityscapesscripts.helpers.annotation import Annotation
    from cityscapesscripts.helpers.labels import name2label
    from cityscapesscripts.preparation.json2labelImg import createLabelImage

    annotation = Annotation()
    annotation.fromJsonFile(str(path))
    for obj in annotation.objects:  # createLabelImage exits the process on an unknown label
        name = obj.label
        if name not in name2label and name.endswith("group"):
            name = name[: -len("group")]
        if name not in name2label:
            raise ValueError(f"unknown Cityscapes label {obj.label!r}")
    return np.asarray(createLabelImage(annotation, "trainIds"))


def _load_label_ids(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        if im.mode not in ("L", "P"):
            raise ValueError(f"mode {im.mode}, expected an 8-bit labelIds PNG")
        ids = np.asarray(im)
    bad = sorted({int(v) for v in np.unique(ids)} - set(range(34)))
    if bad:
        raise ValueError(f"labelIds {bad[:8]} outside {LABEL_ID_LABEL.allowed}")
    return train_id_lut()[ids]


# source kind -> (loader, label encoding of the output, fix for a bad source)
_SOURCES = {
    "sbd": (_load_sbd, VOC_LABEL, "re-extract it from SBD's benchmark.tgz"),
    "voc": (_load_voc, VOC_LABEL, "re-extract it from VOCtrainval_11-May-2012.tar"),
    "polygons": (_load_polygons, TRAIN_ID_LABEL, "re-extract it from gtFine_trainvaltest.zip / "
                 "gtCoarse.zip"),
    "labelids": (_load_label_ids, TRAIN_ID_LABEL, "re-extract it from gtFine_trainvaltest.zip / "
                 "gtCoarse.zip"),
}


def _convert(task: tuple[str, str, str, bool]) -> tuple[str, Problem | None]:
    """(kind, source, destination, force) -> (written|unchanged|conflict|error, problem)."""
    kind, src, dst, force = task
    load, encoding, fix = _SOURCES[kind]
    try:
        arr = load(Path(src))
    except Exception as e:  # noqa: BLE001 - any failure is reported against its file
        return "error", Problem(src, f"cannot be converted ({type(e).__name__}: {e}).",
                                fix + ".", "unreadable")
    present = np.flatnonzero(np.bincount(arr.ravel(), minlength=256))
    bad = [int(v) for v in present if not encoding.lut[v]]
    if bad:
        return "error", Problem(src, f"has values {bad[:8]} outside the {encoding.name}s "
                                f"{encoding.allowed}.", fix + ".", "values")
    return _write_png(arr, Path(dst), force)


def _write_png(arr: np.ndarray, dst: Path, force: bool,
               palette: np.ndarray | None = None) -> tuple[str, Problem | None]:
    if dst.exists():
        try:
            with Image.open(dst) as im:
                old = np.asarray(im)
            same = old.shape == arr.shape and np.array_equal(old, arr)
            why = "different pixels" if old.shape == arr.shape else (
                f"size {old.shape[1]}x{old.shape[0]} instead of {arr.shape[1]}x{arr.shape[0]}")
        except (OSError, SyntaxError, ValueError):
            same, why = False, "unreadable content"
        if same:
            return "unchanged", None
        if not force:
            return "conflict", Problem(
                str(dst), f"already exists and differs from the conversion ({why}).",
                "pass --force to overwrite it (or move it away to keep it).", "conflict")
    def save(f) -> None:
        im = Image.fromarray(arr, "L" if palette is None else "P")
        if palette is not None:
            im.putpalette(palette.tobytes())
        im.save(f, format="PNG")

    atomic_write(dst, save)
    return "written", None


def _run(tasks: list[tuple], workers: int | None, progress: bool, desc: str,
         report: PrepareReport, convert=_convert) -> None:
    from tqdm import tqdm

    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    bar = tqdm(total=len(tasks), desc=desc, unit="file", disable=not progress)
    chunk = max(1, min(64, len(tasks) // max(1, 8 * workers)))
    if workers > 1 and len(tasks) > chunk:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            results = pool.map(convert, tasks, chunksize=chunk)
            _collect(results, bar, report)
    else:
        _collect(map(convert, tasks), bar, report)
    bar.close()


def _collect(results: Iterable, bar, report: PrepareReport) -> None:
    for status, problem in results:
        report.files[status] += 1
        if problem is not None:
            report.problems.append(problem)
        bar.update()


def _write_list(report: PrepareReport, list_dir: Path, name: str, ids: list[str],
                force: bool) -> None:
    path = list_dir / f"{name}.txt"
    if path.is_file():
        old = _read_ids(path)
        if old == ids:
            report.lists[name] = f"unchanged ({len(ids)} ids)"
            return
        if not force:
            report.lists[name] = "conflict"
            report.problems.append(Problem(
                str(path), f"already exists with {len(old)} ids that differ from the {len(ids)} "
                "to be written.", "pass --force to overwrite it (or move it away to keep it).",
                "conflict"))
            return
    atomic_write(path, lambda f: f.write("".join(f"{i}\n" for i in ids).encode()))
    report.lists[name] = f"written ({len(ids)} ids)"


# ---------------------------------------------------------------------------------------------
# The two datasets


def prepare_voc(
    voc: str | os.PathLike,
    sbd: str | os.PathLike,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
    splits_dir: str | os.PathLike | None = None,
) -> PrepareReport:
    """SBD + VOC12 -> ``SegmentationClassAug`` and the split lists (module docstring).

    Args:
        voc: ``VOCdevkit/VOC2012`` (or ``VOCdevkit``, or the folder holding it).
        sbd: ``benchmark_RELEASE`` (or its ``dataset`` folder, or the folder holding it).
        force: overwrite existing files whose content differs.
        workers: conversion processes (default ``min(8, cpu count)``; 0 or 1: this process).
        progress: show a tqdm progress bar.
        splits_dir: where the shipped ``train_aug``/``seg11valid``/``val`` lists are read
            (default ``repro/data/splits``; tests pass small ones).

    Raises ``FileNotFoundError`` when ``voc`` or ``sbd`` is not found; everything else that
    goes wrong is a problem in the returned report.
    """
    start = time.perf_counter()
    root, sbd_dir = find_voc_root(voc), find_sbd_dir(sbd)
    splits_dir = Path(splits_dir) if splits_dir is not None else SHIPPED_SPLITS
    report = PrepareReport("voc", root)
    list_dir = root / "ImageSets" / "Segmentation"
    voc_lists = {}
    for name in ("train", "val"):
        path = list_dir / f"{name}.txt"
        voc_lists[name] = _read_ids(path) if path.is_file() else []
        if not voc_lists[name]:
            report.problems.append(Problem(
                str(path), "VOC12 split list is missing or empty.",
                "extract VOCtrainval_11-May-2012.tar completely.", "list"))
    sbd_lists = {}
    for name, count in (("train", 8498), ("val", 2857)):
        path = sbd_dir / f"{name}.txt"
        sbd_lists[name] = _read_ids(path) if path.is_file() else None
        if sbd_lists[name] is None:
            report.problems.append(Problem(
                str(path), f"SBD's {name}.txt ({count} ids in the release) is missing, so "
                + ("sbd_train (FCN's training list) cannot be written." if name == "train" else
                   "train_aug cannot be compared with SBD."),
                "re-extract benchmark.tgz (benchmark_RELEASE/dataset/train.txt, val.txt).", "list"))

    mats = sorted(n[:-4] for n in file_names(sbd_dir / "cls", ".mat"))
    if not mats:
        report.problems.append(Problem(str(sbd_dir / "cls"), "holds no .mat labels.",
                                       "re-extract benchmark.tgz.", "missing"))
    in_sbd = set(mats)
    aug = root / "SegmentationClassAug"
    tasks = [("sbd", str(sbd_dir / "cls" / f"{i}.mat"), str(aug / f"{i}.png"), force)
             for i in mats]
    voc_labels = file_names(root / "SegmentationClass", ".png")
    voc_only = sorted((set(voc_lists["train"]) | set(voc_lists["val"])) - in_sbd)
    missing = [i for i in voc_only if f"{i}.png" not in voc_labels]
    if missing:
        report.problems.append(Problem(
            str(root / "SegmentationClass"), f"{len(missing)} VOC12 labels of ids not in SBD are "
            f"missing ({', '.join(missing[:3])}).",
            "extract VOCtrainval_11-May-2012.tar completely.", "missing"))
    tasks += [("voc", str(root / "SegmentationClass" / f"{i}.png"), str(aug / f"{i}.png"), force)
              for i in voc_only if f"{i}.png" in voc_labels]
    report.notes.append(f"SegmentationClassAug: {len(mats)} from SBD .mat, "
                        f"{len(tasks) - len(mats)} from VOC12 SegmentationClass (ids not in SBD)")
    _run(tasks, workers, progress, "SegmentationClassAug", report)

    shipped = {n: _read_ids(splits_dir / f"{n}.txt") for n in ("train_aug", "seg11valid", "val")}
    lists = dict(shipped)
    if sbd_lists["train"] is not None:
        lists["sbd_train"] = sbd_lists["train"]
    if sbd_lists["val"] is not None:
        derived = (set(voc_lists["train"]) | set(sbd_lists["train"] or [])
                   | set(sbd_lists["val"])) - set(voc_lists["val"])
        extra, lacking = derived - set(shipped["train_aug"]), set(shipped["train_aug"]) - derived
        if extra or lacking:
            report.notes.append(
                f"train_aug derived from these inputs (VOC12 train + SBD train/val - VOC12 val) "
                f"has {len(derived)} ids: {len(lacking)} of the shipped list's "
                f"{len(shipped['train_aug'])} are not in it (e.g. {sorted(lacking)[:3]}), "
                f"{len(extra)} more are (e.g. {sorted(extra)[:3]}); the shipped list is written")
    if set(shipped["val"]) != set(voc_lists["val"]) and voc_lists["val"]:
        report.notes.append(f"the dataset's val.txt has {len(voc_lists['val'])} ids, the "
                            f"shipped VOC12 val {len(shipped['val'])}")
    for name, ids in lists.items():
        _write_list(report, list_dir, name, ids, force)
    report.check = check_dataset("voc", root, splits=list(lists), quick=True, workers=workers)
    report.seconds = time.perf_counter() - start
    return report


def find_cityscapes_root(path: str | os.PathLike) -> Path:
    """The Cityscapes root (holding ``gtFine/``) given it or the folder holding ``cityscapes``."""
    path = Path(path).expanduser()
    for cand in (path, path / "cityscapes"):
        if (cand / "gtFine").is_dir() or (cand / "gtCoarse").is_dir():
            return cand
    raise FileNotFoundError(
        f"No Cityscapes labels at {path} (looked for gtFine/ and gtCoarse/ in it and in "
        "cityscapes/): pass --root the folder where gtFine_trainvaltest.zip was extracted."
    )


def prepare_cityscapes(
    root: str | os.PathLike,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> PrepareReport:
    """``<stem>_labelTrainIds.png`` for every gtFine / gtCoarse label (module docstring): from
    the polygons where present, else from the labelIds. Arguments as :func:`prepare_voc`."""
    start = time.perf_counter()
    root = find_cityscapes_root(root)
    report = PrepareReport("cityscapes", root)
    tasks = []
    for gt in ("gtFine", "gtCoarse"):
        for split_dir in sorted(p for p in (root / gt).glob("*") if p.is_dir()):
            for city in sorted(p for p in split_dir.iterdir() if p.is_dir()):
                names = file_names(city)
                stems = {n[: -len(s)] for n in names for s in ("_polygons.json", "_labelIds.png")
                         if n.endswith(s)}
                for stem in sorted(stems):
                    kind, src = (("polygons", f"{stem}_polygons.json")
                                 if f"{stem}_polygons.json" in names
                                 else ("labelids", f"{stem}_labelIds.png"))
                    tasks.append((kind, str(city / src), str(city / f"{stem}_labelTrainIds.png"),
                                  force))
    if not tasks:
        report.problems.append(Problem(
            str(root), "holds no *_polygons.json or *_labelIds.png labels under gtFine/ or "
            "gtCoarse/<split>/<city>/.", "extract gtFine_trainvaltest.zip into the root.",
            "missing"))
    kinds = Counter(t[0] for t in tasks)
    report.notes.append(f"labelTrainIds from {kinds['polygons']} polygon files (cityscapesscripts "
                        f"createLabelImage) and {kinds['labelids']} labelIds PNGs (labels table)")
    _run(tasks, workers, progress, "labelTrainIds", report)
    report.check = check_dataset("cityscapes", root, quick=True, workers=workers)
    report.seconds = time.perf_counter() - start
    return report


# ---------------------------------------------------------------------------------------------
# COCO for the VOC protocols

#: The 20 PASCAL VOC classes in COCO: (VOC index, VOC name, COCO category id, COCO's name).
VOC_COCO_CATEGORIES = (
    (1, "aeroplane", 5, "airplane"), (2, "bicycle", 2, "bicycle"), (3, "bird", 16, "bird"),
    (4, "boat", 9, "boat"), (5, "bottle", 44, "bottle"), (6, "bus", 6, "bus"),
    (7, "car", 3, "car"), (8, "cat", 17, "cat"), (9, "chair", 62, "chair"),
    (10, "cow", 21, "cow"), (11, "diningtable", 67, "dining table"), (12, "dog", 18, "dog"),
    (13, "horse", 19, "horse"), (14, "motorbike", 4, "motorcycle"), (15, "person", 1, "person"),
    (16, "pottedplant", 64, "potted plant"), (17, "sheep", 20, "sheep"),
    (18, "sofa", 63, "couch"), (19, "train", 7, "train"), (20, "tvmonitor", 72, "tv"),
)
#: Default COCO sets, first complete pair wins (the 2014 and 2017 pairs hold the same images).
COCO_SETS = (("train2014", "val2014"), ("train2017", "val2017"))
COCO_SPLIT = "coco"
COCO_RULE = (
    "images with any annotation of the 20 VOC categories; label 0 background (other categories "
    "too), instances painted with their VOC index in json order (later over earlier), crowd "
    "regions of VOC categories 255 over everything"
)
_SEVERITY = ("unchanged", "written", "conflict", "error")


def find_coco_root(path: str | os.PathLike) -> Path:
    """The COCO folder (holding ``annotations/instances_*.json``) given it or its parent."""
    path = Path(path).expanduser()
    for cand in (path, path / "coco"):
        if any((cand / "annotations").glob("instances_*.json")):
            return cand
    raise FileNotFoundError(
        f"No COCO instance annotations at {path} (looked for annotations/instances_*.json in it "
        "and in coco/): pass --coco the folder where annotations_trainval2014.zip and the image "
        "zips (train2014.zip, val2014.zip) were extracted."
    )


def coco_sets(root: Path, sets: Iterable[str] | None = None) -> list[str]:
    """The COCO sets to prepare: ``sets`` (each must have its annotation file), else the first
    complete pair of ``COCO_SETS``."""
    ann = root / "annotations"
    present = sorted(p.name[len("instances_"):-len(".json")] for p in ann.glob("instances_*.json"))
    if sets:
        sets = list(dict.fromkeys(sets))
        for name in sets:
            if name not in present:
                raise FileNotFoundError(
                    f"{ann / f'instances_{name}.json'} does not exist: extract COCO's annotation "
                    f"zip of that year into {root}, or choose --sets among {', '.join(present)}.")
        return sets
    for group in COCO_SETS:
        if all(name in present for name in group):
            return list(group)
    raise FileNotFoundError(
        f"{ann} holds neither instances_train2014.json + instances_val2014.json nor the 2017 "
        f"pair (it has {', '.join(present) or 'none'}): extract annotations_trainval2014.zip "
        "there, or name the sets to use with --sets."
    )


def _load_coco_json(path: Path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        return COCO(str(path))


def _coco_label(img: dict, anns: list[dict]) -> np.ndarray:
    """One image's VOC label map from its VOC-category annotations (the module docstring's
    rule): instances in order, then crowd regions as void."""
    from pycocotools.coco import COCO

    coco = COCO()  # annToMask needs only the image's size from the index
    coco.imgs = {img["id"]: img}
    label = np.zeros((img["height"], img["width"]), np.uint8)
    for ann in anns:
        if not ann["iscrowd"]:
            label[coco.annToMask(ann) > 0] = ann["voc"]
    for ann in anns:
        if ann["iscrowd"]:
            label[coco.annToMask(ann) > 0] = 255
    return label


def _place_image(src: Path, dst: Path, copy: bool, force: bool) -> tuple[str, Problem | None]:
    """A relative symbolic link (or a copy) of ``src`` at ``dst``, atomically."""
    if dst.is_symlink() or dst.exists():
        try:
            same = os.path.samefile(src, dst) or filecmp.cmp(src, dst, shallow=False)
        except OSError:  # a dangling link
            same = False
        if same and dst.is_symlink() != copy:
            return "unchanged", None
        if not same and not force:
            return "conflict", Problem(
                str(dst), f"already exists and is not {src}.",
                "pass --force to replace it (or move it away to keep it).", "conflict")
    if copy:
        with open(src, "rb") as f:
            atomic_write(dst, lambda out: out.write(f.read()))
        return "written", None
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(src, dst.parent), tmp)
    os.replace(tmp, dst)
    return "written", None


@functools.cache
def _voc_palette() -> np.ndarray:
    return voc_colormap()


def _convert_coco(task: tuple) -> tuple[str, Problem | None]:
    """(image record, its VOC annotations, annotation file, image, JPEG and label destinations,
    copy, force) -> (written|unchanged|conflict|error, problem)."""
    img, anns, ann_file, src, dst_img, dst_label, copy, force = task
    src = Path(src)
    try:
        with Image.open(src) as im:
            size = im.size
    except (OSError, SyntaxError, ValueError) as e:
        return "error", Problem(str(src), f"COCO image cannot be read ({type(e).__name__}: {e}).",
                                "extract it again from COCO's image zip of its set.", "unreadable")
    if size != (img["width"], img["height"]):
        return "error", Problem(
            str(src), f"is {size[0]}x{size[1]} but {Path(ann_file).name} says "
            f"{img['width']}x{img['height']}.",
            "use the images and annotations of the same COCO release.", "size")
    try:
        label = _coco_label(img, anns)
    except Exception as e:  # noqa: BLE001 - any failure is reported against its file
        return "error", Problem(ann_file, f"annotations of image {img['id']} cannot be decoded "
                                f"({type(e).__name__}: {e}).",
                                "extract the annotation zip again.", "unreadable")
    results = [_place_image(src, Path(dst_img), copy, force),
               _write_png(label, Path(dst_label), force, palette=_voc_palette())]
    return max(results, key=lambda r: _SEVERITY.index(r[0]))


def prepare_coco(
    coco: str | os.PathLike,
    voc: str | os.PathLike,
    *,
    sets: Iterable[str] | None = None,
    copy: bool = False,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> PrepareReport:
    """COCO's images of the VOC classes -> the VOC2012 folder's split ``coco`` (module
    docstring).

    Args:
        coco: the COCO folder holding ``annotations/`` and the image folders (``train2014/``).
        voc: ``VOCdevkit/VOC2012`` (or ``VOCdevkit``, or the folder holding it).
        sets: COCO sets to use (``train2014``, ``val2017``, ...); default: 2014 train + val,
            else 2017 train + val.
        copy: copy the images into ``JPEGImages`` instead of linking them.
        force, workers, progress: as :func:`prepare_voc`.

    Raises ``FileNotFoundError`` when ``coco``, an annotation file or ``voc`` is not found;
    everything else that goes wrong is a problem in the returned report (and then ``coco.txt``
    is not written: rerun after fixing it, finished files are kept).
    """
    start = time.perf_counter()
    coco_root, root = find_coco_root(coco), find_voc_root(voc)
    sets = coco_sets(coco_root, sets)
    report = PrepareReport(COCO_SPLIT, root)
    voc_of = {cid: index for index, _, cid, _ in VOC_COCO_CATEGORIES}
    tasks, stems, sources = [], {}, {}
    for name in sets:
        ann_file = coco_root / "annotations" / f"instances_{name}.json"
        if progress:
            print(f"reading {ann_file} ...", file=sys.stderr, flush=True)
        try:
            index = _load_coco_json(ann_file)
        except (OSError, ValueError, KeyError, TypeError) as e:
            report.problems.append(Problem(str(ann_file), f"cannot be read ({type(e).__name__}: "
                                           f"{e}).", "extract the annotation zip again.",
                                           "unreadable"))
            continue
        wrong = [f"{cid} is {index.cats.get(cid, {}).get('name')!r}, not {coco_name!r}"
                 for _, _, cid, coco_name in VOC_COCO_CATEGORIES
                 if index.cats.get(cid, {}).get("name") != coco_name]
        if wrong:
            report.problems.append(Problem(
                str(ann_file), f"does not have COCO's categories (category {wrong[0]}).",
                "pass COCO's own instances_<set>.json from its annotation zip.", "layout"))
            continue
        keep = sorted({i for cid in voc_of for i in index.getImgIds(catIds=[cid])})
        sources[name] = dict(annotation_file=str(ann_file), images=len(index.imgs),
                             annotations=len(index.anns), kept=len(keep))
        for img_id in keep:
            rec = index.imgs[img_id]
            img = {k: rec[k] for k in ("id", "height", "width", "file_name")}
            anns = [dict(image_id=a["image_id"], segmentation=a["segmentation"],
                         iscrowd=int(a.get("iscrowd", 0)), voc=voc_of[a["category_id"]])
                    for a in index.imgToAnns[img_id] if a["category_id"] in voc_of]
            stem = Path(img["file_name"]).stem
            if stem in stems:
                report.problems.append(Problem(
                    str(ann_file), f"image {img['file_name']} is also in {stems[stem]}.",
                    "prepare one COCO release only (2014 or 2017 sets, not both).", "list"))
                continue
            stems[stem] = name
            tasks.append((img, anns, str(ann_file), str(coco_root / name / img["file_name"]),
                          str(root / "JPEGImages" / f"{stem}.jpg"),
                          str(root / "SegmentationClassAug" / f"{stem}.png"), copy, force))
        del index
    report.notes.append(
        f"COCO {' + '.join(sets)}: " + ", ".join(
            f"{name} {src['kept']} of {src['images']} images" for name, src in sources.items())
        + " hold the VOC classes")
    _run(tasks, workers, progress, "COCO -> SegmentationClassAug", report, _convert_coco)

    list_dir = root / "ImageSets" / "Segmentation"
    ids = sorted(stems)
    if not ids and not report.problems:
        report.problems.append(Problem(
            str(coco_root / "annotations"), f"no image of {', '.join(sets)} holds one of the 20 "
            "VOC categories.", "pass COCO's own instance annotations (instances_<set>.json).",
            "missing"))
    if report.problems:
        report.lists[COCO_SPLIT] = "not written (fix the problems below, then rerun)"
    else:
        _write_list(report, list_dir, COCO_SPLIT, ids, force)
    if not report.problems:
        manifest = dict(
            prepared_by="repro data prepare coco", coco_root=str(coco_root), sets=sets,
            sources=sources, count=len(ids), images="copy" if copy else "symlink",
            labels="SegmentationClassAug", rule=COCO_RULE,
            categories={voc_name: cid for _, voc_name, cid, _ in VOC_COCO_CATEGORIES})
        atomic_write(list_dir / COCO_MANIFEST,
                      lambda f: f.write((json.dumps(manifest, indent=2) + "\n").encode()))
        aug = list_dir / "train_aug.txt"
        if aug.is_file():
            n_aug = len(_read_ids(aug))
            report.notes.append(f"with train_aug ({n_aug}) the COCO + SBD + VOC training set "
                                f"has {len(ids) + n_aug} images (GCN Sec. 4.2: 109,892)")
        report.check = check_dataset(COCO_SPLIT, root, quick=True, workers=workers)
    report.seconds = time.perf_counter() - start
    return report


# ---------------------------------------------------------------------------------------------
# Command line


def add_prepare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``repro data prepare`` options (the names :func:`main_prepare` reads)."""
    parser.add_argument("dataset", choices=["voc", "cityscapes", "coco"])
    parser.add_argument("--voc", default=None,
                        help="voc, coco: the VOCdevkit/VOC2012 folder (coco is added to it)")
    parser.add_argument("--sbd", default=None,
                        help="voc: SBD's benchmark_RELEASE folder (from benchmark.tgz)")
    parser.add_argument("--root", default=None, help="cityscapes: the dataset root")
    parser.add_argument("--coco", default=None,
                        help="coco: the COCO folder holding annotations/instances_*.json and "
                             "the image folders (train2014/, val2014/)")
    parser.add_argument("--sets", nargs="+", default=None,
                        help="coco: COCO sets to use (default: train2014 val2014, else "
                             "train2017 val2017)")
    parser.add_argument("--copy", action="store_true",
                        help="coco: copy the images into JPEGImages instead of linking them")
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing files whose content differs")
    parser.add_argument("--workers", type=int, default=None, help="conversion processes")
    return parser


def main_prepare(args: argparse.Namespace) -> int:
    """Entry of ``repro data prepare``: prints the report; 0 if all went well, else 2."""
    if args.dataset == "voc":
        if not args.voc or not args.sbd:
            print("error: `repro data prepare voc` needs --voc VOCdevkit/VOC2012 and --sbd "
                  "benchmark_RELEASE.", file=sys.stderr)
            return 2
        report = prepare_voc(args.voc, args.sbd, force=args.force, workers=args.workers)
    elif args.dataset == "coco":
        if not args.coco or not args.voc:
            print("error: `repro data prepare coco` needs --coco COCO_DIR (holding annotations/) "
                  "and --voc VOCdevkit/VOC2012.", file=sys.stderr)
            return 2
        report = prepare_coco(args.coco, args.voc, sets=args.sets, copy=args.copy,
                              force=args.force, workers=args.workers)
    else:
        if not args.root:
            print("error: `repro data prepare cityscapes` needs --root (the folder holding "
                  "gtFine/).", file=sys.stderr)
            return 2
        report = prepare_cityscapes(args.root, force=args.force, workers=args.workers)
    print(report.format(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 2
