"""Dataset checks before training: split sizes, readable images, label values and label sizes.

What is checked is what mmseg's ``PascalVOCDataset`` / ``CityscapesDataset`` and the official
evaluations read:

PASCAL VOC 2012 (``root`` = ``VOCdevkit/VOC2012``):

- ``ImageSets/Segmentation/<split>.txt``: one id per line. Published sizes (``VOC_SIZES``):
  train 1464, val 1449, trainval 2913, test 1456 (VOC2012), train_aug 10582 (DeepLab: VOC12
  train + SBD train/val minus VOC12 val), sbd_train 8498 (SBD's ``train.txt``, FCN), seg11valid
  736 (FCN's reduced val).
- ``JPEGImages/<id>.jpg`` for every id of every split.
- Labels: ``SegmentationClass/<id>.png`` (palette or greyscale index PNG, 0..20 and 255 = void)
  for train, val, trainval and seg11valid; ``SegmentationClassAug/<id>.png`` (index PNG, written
  by ``repro data prepare voc``) for train_aug and sbd_train; none for test.

Cityscapes (``root`` = the folder holding ``leftImg8bit/`` and ``gtFine/``):

- ``leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png``; published sizes
  (``CITYSCAPES_SIZES``): train 2975, val 500, test 1525, train_extra 19998.
- ``gtFine/<split>/<city>/<stem>_gtFine_labelTrainIds.png`` (trainIds 0..18, 255 = ignored; what
  mmseg trains and scores on, written by ``repro data prepare cityscapes``) for train and val,
  ``gtCoarse/train_extra/...`` for train_extra; ``<stem>_gtFine_labelIds.png`` (labelIds 0..33,
  what the official evaluation reads) required for val, checked wherever present, and then
  trainIds must equal the ``cityscapesscripts.helpers.labels`` mapping of the labelIds. Test
  labels are dummies in the real download: test is checked for images only.

COCO for the VOC protocols (``dataset='coco'``, ``root`` = the same ``VOCdevkit/VOC2012``): the
split ``coco`` written by ``repro data prepare coco``: ``ImageSets/Segmentation/coco.txt``, its
count against ``coco.prepared.json`` (written with it; no published count exists, it depends on
the COCO release), ``JPEGImages/<id>.jpg`` (links to COCO's images: a dangling link is named as
such) and ``SegmentationClassAug/<id>.png`` (VOC class indices 0..20, 255 = void).

On synthetic data (``SYNTHETIC.json`` next to the dataset, see ``repro.data.synth``) the split
sizes are compared with the counts in the marker instead of the published ones.

Per file: the image must open and decode (JPEG: a 1/8-scale draft decode, which still reads the
whole compressed stream and so catches truncated files; PNG: every chunk's CRC via
``PIL.Image.verify``, no decompression), the label must decode as an 8-bit index PNG whose values
are in range and whose size is the image's. Missing files are found by listing each folder once,
never by one ``stat`` per id. ``quick=True`` decodes at most ``QUICK_SAMPLE`` files per split
(a fixed sample) and still checks every list, count and file presence; files are read in a
thread pool (PIL and zlib release the GIL).
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "CITYSCAPES_SIZES",
    "COCO_MANIFEST",
    "QUICK_SAMPLE",
    "VOC_SIZES",
    "CheckReport",
    "DataCheckError",
    "Problem",
    "add_check_arguments",
    "check_dataset",
    "file_names",
    "main_check",
    "require_valid_data",
    "train_id_lut",
]

#: The file beside a synthetic dataset (``repro.data.synth``) that records how it was made.
MARKER = "SYNTHETIC.json"


def voc_colormap(n: int = 256) -> np.ndarray:
    """The standard PASCAL VOC colour map (the devkit's bitget algorithm), shape (n, 3) uint8."""
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap

VOC_SIZES = {
    "train": 1464,
    "val": 1449,
    "trainval": 2913,
    "train_aug": 10582,
    "sbd_train": 8498,
    "seg11valid": 736,
    "test": 1456,
}
CITYSCAPES_SIZES = {"train": 2975, "val": 500, "test": 1525, "train_extra": 19998}
#: Label folder of each VOC split (the harness's protocols); test has no public labels.
VOC_LABELS = {
    "train": "SegmentationClass",
    "val": "SegmentationClass",
    "trainval": "SegmentationClass",
    "seg11valid": "SegmentationClass",
    "train_aug": "SegmentationClassAug",
    "sbd_train": "SegmentationClassAug",
    "coco": "SegmentationClassAug",  # COCO in the VOC layout (``repro data prepare coco``)
    "test": None,
}
#: Provenance of the split ``coco``, next to its list (written by ``repro data prepare coco``).
COCO_MANIFEST = "coco.prepared.json"
#: Files decoded per split by ``quick=True``. Measured on one core: a pair takes ~6 ms at VOC's
#: 500x375 and ~70 ms at Cityscapes' 2048x1024 (two label PNGs), so a two-split row's quick
#: check takes ~0.1 s on the smoke profile's synthetic data, ~0.4 s on VOC, ~4.5 s on Cityscapes
#: (less with the reader threads).
QUICK_SAMPLE = 32
DATA_ENV = {"voc": "REPRO_VOC_ROOT", "cityscapes": "REPRO_CITYSCAPES_ROOT",
            "coco": "REPRO_VOC_ROOT"}
# Problems are listed in this order (then by path).
KINDS = ("layout", "list", "count", "missing", "unreadable", "mode", "size", "values", "mismatch",
         "conflict")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data: the file (or folder) at fault, what, and how to fix it."""

    path: str
    message: str
    fix: str
    kind: str  # one of KINDS

    def __str__(self) -> str:
        return f"{self.path}: {self.message} Fix: {self.fix}"


@dataclass
class CheckReport:
    """The result of :func:`check_dataset`. ``ok`` is True when there are no problems."""

    dataset: str
    root: Path
    synthetic: bool = False
    quick: bool = False
    splits: list[str] = field(default_factory=list)
    #: split -> (files found, expected count or None when unknown)
    counts: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self, limit: int = 20) -> str:
        """The report as text: a header, the counts, the first ``limit`` problems one per line,
        then a summary of the rest by kind."""
        data = "synthetic data, sizes from SYNTHETIC.json" if self.synthetic else "real data"
        mode = "quick check (a sample of each split decoded)" if self.quick else "full check"
        lines = [f"{self.dataset} at {self.root} ({data}): {mode}, {self.files_checked} images "
                 f"with their labels read in {self.seconds:.1f} s"]
        for split, (found, expected) in self.counts.items():
            ref = "?" if expected is None else str(expected)
            flag = "" if expected is None or found == expected else "  <- differs"
            lines.append(f"  {split:<12} {found:>6} / {ref:<6}{flag}")
        lines += [f"  note: {n}" for n in self.notes]
        if self.ok:
            lines.append("OK: no problems found.")
            return "\n".join(lines)
        lines.append(f"{len(self.problems)} problem(s):")
        lines += [f"  {p}" for p in self.problems[:limit]]
        rest = self.problems[limit:]
        if rest:
            kinds = ", ".join(f"{n} {k}" for k, n in Counter(p.kind for p in rest).most_common())
            lines.append(f"  ... and {len(rest)} more ({kinds}); `repro data check` with "
                         "--limit 0 lists them all.")
        return "\n".join(lines)


class DataCheckError(ValueError):
    """The data a run needs failed its check; ``report`` holds the problems."""

    def __init__(self, report: CheckReport):
        self.report = report
        super().__init__(report.format())


# ---------------------------------------------------------------------------------------------
# Label encodings


@dataclass(frozen=True, eq=False)
class _LabelKind:
    name: str  # "VOC class index", "trainId", "labelId"
    allowed: str  # human-readable allowed values
    lut: tuple[bool, ...]  # 256 entries: value allowed
    fix: str  # how to repair a bad file


def _lut(values: Iterable[int]) -> tuple[bool, ...]:
    ok = set(values)
    return tuple(v in ok for v in range(256))


VOC_LABEL = _LabelKind(
    "VOC class index", "0..20 or 255 (void)", _lut([*range(21), 255]),
    "replace the label with the one from the VOC/SBD archive, or rerun `repro data prepare voc` "
    "(a label from another dataset or a resized/interpolated PNG has such values)",
)
TRAIN_ID_LABEL = _LabelKind(
    "Cityscapes trainId", "0..18 or 255", _lut([*range(19), 255]),
    "recreate the trainIds with `repro data prepare cityscapes --root ROOT --force`",
)
LABEL_ID_LABEL = _LabelKind(
    "Cityscapes labelId", "0..33", _lut(range(34)),
    "re-extract the label from the Cityscapes archive (gtFine_trainvaltest.zip / gtCoarse.zip)",
)


@functools.cache
def train_id_lut() -> np.ndarray:
    """256-entry uint8 labelId -> trainId table (cityscapesscripts labels; ignored -> 255)."""
    from cityscapesscripts.helpers.labels import labels

    lut = np.full(256, 255, np.uint8)
    for lab in labels:
        if 0 <= lab.id < 256:
            lut[lab.id] = lab.trainId if 0 <= lab.trainId < 255 else 255
    return lut


# ---------------------------------------------------------------------------------------------
# Per-file checks (run in threads)


@dataclass(frozen=True)
class _Job:
    image: Path
    labels: tuple[tuple[Path, _LabelKind], ...] = ()


def _open_image(path: Path) -> tuple[tuple[int, int] | None, Problem | None]:
    """(W, H) of a readable image, else a problem naming the file."""
    try:
        with Image.open(path) as im:
            size = im.size
            if im.format == "JPEG":
                im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
            elif im.format == "PNG":
                im.verify()
            else:
                im.load()
        return size, None
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises all three on damaged files
        if path.is_symlink() and not path.exists():
            return None, Problem(
                str(path), f"links to {os.readlink(path)}, which does not exist.",
                "rerun `repro data prepare coco --coco COCO_DIR --voc VOC2012` with --coco where "
                "COCO's images are now (or --copy, to keep copies).", "missing")
        return None, Problem(
            str(path), f"image cannot be read ({type(e).__name__}: {e}).",
            "re-extract this file from the dataset archive (the copy is truncated or damaged).",
            "unreadable",
        )


def _read_label(path: Path, kind: _LabelKind) -> tuple[np.ndarray | None, list[Problem]]:
    try:
        with Image.open(path) as im:
            mode = im.mode
            arr = np.asarray(im) if mode in ("P", "L") else None
    except (OSError, SyntaxError, ValueError) as e:
        return None, [Problem(
            str(path), f"label cannot be read ({type(e).__name__}: {e}).",
            "re-extract it from the archive, or recreate it with `repro data prepare`.",
            "unreadable",
        )]
    if arr is None:
        return None, [Problem(
            str(path), f"label is a mode {mode} image; labels are 8-bit index PNGs (mode L or P) "
            f"of {kind.name}s.",
            "convert colour labels to index PNGs (`repro data prepare` does it for VOC palette "
            "labels) or re-extract the original file.",
            "mode",
        )]
    present = np.flatnonzero(np.bincount(arr.ravel(), minlength=256))
    bad = [int(v) for v in present if not kind.lut[v]]
    if bad:
        shown = ", ".join(map(str, bad[:8])) + (" ..." if len(bad) > 8 else "")
        return arr, [Problem(
            str(path), f"label has values {shown} outside the {kind.name}s {kind.allowed}.",
            kind.fix + ".", "values",
        )]
    return arr, []


def _check_job(job: _Job) -> list[Problem]:
    size, problem = _open_image(job.image)
    problems = [problem] if problem else []
    arrays = {}
    for path, kind in job.labels:
        arr, found = _read_label(path, kind)
        problems += found
        if arr is None:
            continue
        arrays[kind.name] = (path, arr)
        if size is not None and (arr.shape[1], arr.shape[0]) != size:
            problems.append(Problem(
                str(path), f"label is {arr.shape[1]}x{arr.shape[0]} but its image {job.image} is "
                f"{size[0]}x{size[1]}; a label must have its image's size.",
                "re-extract both files from the archive (one of them was resized or replaced).",
                "size",
            ))
    if TRAIN_ID_LABEL.name in arrays and LABEL_ID_LABEL.name in arrays:
        (tpath, train), (lpath, ids) = arrays[TRAIN_ID_LABEL.name], arrays[LABEL_ID_LABEL.name]
        if train.shape == ids.shape and not np.array_equal(train_id_lut()[ids], train):
            problems.append(Problem(
                str(tpath), f"trainIds differ from the mapping of {lpath.name} "
                "(cityscapesscripts labels table): a stale or foreign conversion.",
                "recreate them with `repro data prepare cityscapes --root ROOT --force`.",
                "mismatch",
            ))
    return problems


# ---------------------------------------------------------------------------------------------
# Dataset layouts -> jobs


def file_names(folder: Path, suffix: str = "") -> set[str]:
    """File names in ``folder`` ending with ``suffix`` (empty set if it does not exist)."""
    try:
        with os.scandir(folder) as it:
            return {e.name for e in it if e.name.endswith(suffix)}
    except FileNotFoundError:
        return set()


def _missing_problem(folder: Path, missing: list[str], total: int, split: str, what: str,
                     fix: str) -> Problem:
    examples = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
    return Problem(str(folder), f"{len(missing)} of {total} {what} of split {split} are missing "
                   f"({examples}).", fix, "missing")


def _read_ids(path: Path) -> list[str]:
    return [s.split()[0] for s in path.read_text().splitlines() if s.strip()]


def _voc(root: Path, splits: list[str] | None, labels: Mapping[str, str | None],
         expected: Mapping[str, int], report: CheckReport) -> dict[str, list[_Job]]:
    probs = report.problems
    if not (root / "JPEGImages").is_dir():
        nested = [c for c in (root / "VOC2012", root / "VOCdevkit" / "VOC2012")
                  if (c / "JPEGImages").is_dir()]
        fix = (f"pass {nested[0]} instead." if nested else
               "point --data-root (or $REPRO_VOC_ROOT) at the VOCdevkit/VOC2012 folder of "
               "VOCtrainval_11-May-2012.tar, and prepare it with `repro data prepare voc`.")
        probs.append(Problem(str(root), "has no JPEGImages folder, so it is not a VOC2012 root "
                             "(JPEGImages, SegmentationClass, ImageSets/Segmentation).", fix,
                             "layout"))
        return {}
    list_dir = root / "ImageSets" / "Segmentation"
    explicit = splits is not None
    if splits is None:
        splits = [s for s in VOC_SIZES if (list_dir / f"{s}.txt").is_file()]
        for s in ("train", "val"):
            if s not in splits:
                splits.append(s)  # VOC2012 always has them: their absence is a problem
        for s in VOC_SIZES:
            if s not in splits:
                report.notes.append(f"split {s} not present ({_list_fix(s)})")
        if (list_dir / "coco.txt").is_file():
            report.notes.append("split coco present: `repro data check coco` checks it")
    report.splits = list(splits)
    jpegs = file_names(root / "JPEGImages", ".jpg")
    label_names: dict[str, set[str]] = {}
    jobs: dict[str, list[_Job]] = {}
    for split in splits:
        list_path = list_dir / f"{split}.txt"
        if not list_path.is_file():
            if explicit or split in ("train", "val"):
                probs.append(Problem(str(list_path), f"split list {split}.txt does not exist.",
                                     _list_fix(split) + ".", "list"))
            continue
        ids = _read_ids(list_path)
        dupes = len(ids) - len(set(ids))
        if dupes:
            probs.append(Problem(str(list_path), f"{dupes} ids appear more than once.",
                                 "use the published list (`repro data prepare voc` writes it).",
                                 "list"))
        _count(report, split, len(ids), expected.get(split), str(list_path), _list_fix(split))
        missing = [i for i in ids if f"{i}.jpg" not in jpegs]
        if missing:
            probs.append(_missing_problem(
                root / "JPEGImages", missing, len(ids), split, "images",
                "extract the VOC2012 archive completely (test images: VOC2012test.tar)."))
        label_dir = labels.get(split, VOC_LABELS.get(split, "SegmentationClass"))
        if label_dir is None:
            jobs[split] = [_Job(root / "JPEGImages" / f"{i}.jpg") for i in ids
                           if f"{i}.jpg" in jpegs]
            continue
        if label_dir not in label_names:
            label_names[label_dir] = file_names(root / label_dir, ".png")
            if not (root / label_dir).is_dir():
                probs.append(Problem(str(root / label_dir), "label folder does not exist.",
                                     _label_fix(label_dir), "layout"))
        have = label_names[label_dir]
        if (root / label_dir).is_dir():
            gone = [i for i in ids if f"{i}.png" not in have]
            if gone:
                probs.append(_missing_problem(root / label_dir, gone, len(ids), split, "labels",
                                              _label_fix(label_dir)))
        jobs[split] = [
            _Job(root / "JPEGImages" / f"{i}.jpg", ((root / label_dir / f"{i}.png", VOC_LABEL),))
            for i in ids if f"{i}.jpg" in jpegs and f"{i}.png" in have
        ]
    return jobs


def _list_fix(split: str) -> str:
    if split == "coco":
        return ("prepare it with `repro data prepare coco --coco COCO_DIR --voc VOC2012` (COCO's "
                "images of the VOC classes, GCN Tables 7-8 Stage-1, Dilation Tables 3-4)")
    if split in ("train_aug", "sbd_train", "seg11valid"):
        return ("write it with `repro data prepare voc --voc VOC2012 --sbd benchmark_RELEASE` "
                "(needs SBD for train_aug and sbd_train)")
    if split == "test":
        return "extract VOC2012test.tar into the same VOCdevkit (needed for test-server rows)"
    return "extract VOCtrainval_11-May-2012.tar completely (ImageSets/Segmentation)"


def _label_fix(label_dir: str) -> str:
    if label_dir == "SegmentationClassAug":
        return "create it with `repro data prepare voc --voc VOC2012 --sbd benchmark_RELEASE`."
    return "extract VOCtrainval_11-May-2012.tar completely."


def _count(report: CheckReport, split: str, found: int, expected: int | None, where: str,
           fix: str) -> None:
    report.counts[split] = (found, expected)
    if expected is not None and found != expected:
        source = "SYNTHETIC.json" if report.synthetic else "the published split"
        if split == "coco" and not report.synthetic:
            source = f"{COCO_MANIFEST} (written with it)"
            fix = ("the list was edited or its preparation interrupted: rerun `repro data prepare "
                   "coco --coco COCO_DIR --voc VOC2012 --force`")
        if report.synthetic:
            fix = "regenerate the synthetic dataset with `repro data synth` (it was edited)"
        report.problems.append(Problem(
            where, f"split {split} has {found} images, {source} has {expected}.", fix + ".",
            "count"))


def _cityscapes(root: Path, splits: list[str] | None, expected: Mapping[str, int],
                report: CheckReport) -> dict[str, list[_Job]]:
    probs = report.problems
    if not (root / "leftImg8bit").is_dir():
        nested = [c for c in (root / "cityscapes",) if (c / "leftImg8bit").is_dir()]
        fix = (f"pass {nested[0]} instead." if nested else
               "point --data-root (or $REPRO_CITYSCAPES_ROOT) at the folder where "
               "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip were extracted.")
        probs.append(Problem(str(root), "has no leftImg8bit folder, so it is not a Cityscapes "
                             "root (leftImg8bit/, gtFine/).", fix, "layout"))
        return {}
    explicit = splits is not None
    if splits is None:
        splits = [s for s in CITYSCAPES_SIZES if (root / "leftImg8bit" / s).is_dir()]
        for s in ("train", "val"):
            if s not in splits:
                splits.append(s)
        for s in CITYSCAPES_SIZES:
            if s not in splits:
                report.notes.append(f"split {s} not present")
    report.splits = list(splits)
    prepare_fix = "run `repro data prepare cityscapes --root ROOT` (cityscapesscripts)."
    jobs: dict[str, list[_Job]] = {}
    for split in splits:
        img_dir = root / "leftImg8bit" / split
        if not img_dir.is_dir():
            if explicit or split in ("train", "val"):
                probs.append(Problem(str(img_dir), f"image folder of split {split} does not "
                                     "exist.", _city_archive(split), "layout"))
            continue
        coarse = split == "train_extra"
        gt = "gtCoarse" if coarse else "gtFine"
        images = []
        for city in sorted(p.name for p in img_dir.iterdir() if p.is_dir()):
            images += [(city, n[: -len("_leftImg8bit.png")])
                       for n in sorted(file_names(img_dir / city, "_leftImg8bit.png"))]
        _count(report, split, len(images), expected.get(split), str(img_dir),
               _city_archive(split))
        if split == "test":  # public test labels are dummies
            jobs[split] = [_Job(img_dir / c / f"{s}_leftImg8bit.png") for c, s in images]
            continue
        gt_dir = root / gt / split
        if not gt_dir.is_dir():
            probs.append(Problem(str(gt_dir), f"label folder of split {split} does not exist.",
                                 _city_archive(split), "layout"))
            continue
        listing = {c: file_names(gt_dir / c, ".png") for c in {c for c, _ in images}}
        want = [("labelTrainIds", TRAIN_ID_LABEL, True, prepare_fix),
                ("labelIds", LABEL_ID_LABEL, split == "val", _city_archive(split))]
        split_jobs = []
        for suffix, _, required, fix in want:
            gone = [f"{s}_{gt}_{suffix}.png" for c, s in images
                    if f"{s}_{gt}_{suffix}.png" not in listing[c]]
            if gone and (required or len(gone) < len(images)):
                probs.append(_missing_problem(gt_dir, gone, len(images), split,
                                              f"*_{gt}_{suffix}.png labels", fix))
        for c, s in images:
            labels = tuple((gt_dir / c / f"{s}_{gt}_{suffix}.png", kind)
                           for suffix, kind, _, _ in want if f"{s}_{gt}_{suffix}.png" in listing[c])
            split_jobs.append(_Job(img_dir / c / f"{s}_leftImg8bit.png", labels))
        jobs[split] = split_jobs
    return jobs


def _city_archive(split: str) -> str:
    if split == "train_extra":
        return "extract leftImg8bit_trainextra.zip and gtCoarse.zip into the root"
    return "extract leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip into the root"


# ---------------------------------------------------------------------------------------------
# Entry points


def _synthetic_counts(root: Path) -> dict[str, int] | None:
    import json

    for p in (root, root.parent, root.parent.parent):
        if (p / MARKER).is_file():
            return json.loads((p / MARKER).read_text()).get("counts", {})
    return None


def check_dataset(
    dataset: str,
    root: str | os.PathLike,
    splits: Iterable[str] | None = None,
    quick: bool = False,
    *,
    labels: Mapping[str, str | None] | None = None,
    workers: int | None = None,
    sample: int = QUICK_SAMPLE,
) -> CheckReport:
    """Check a VOC 2012 or Cityscapes dataset, or the COCO split of a VOC root (see the module
    docstring); never raises for bad data: everything wrong is a :class:`Problem` in the
    returned report.

    Args:
        dataset: ``'voc'``, ``'cityscapes'`` or ``'coco'`` (``splits`` and ``labels`` are then
            fixed: the split ``coco`` with ``SegmentationClassAug``).
        root: ``VOCdevkit/VOC2012`` (voc, coco) or the Cityscapes root.
        splits: split names to check (VOC: list names under ``ImageSets/Segmentation``;
            Cityscapes: ``leftImg8bit`` sub-folders). None: every split present, and train/val
            must be.
        quick: decode at most ``sample`` files per split (a fixed sample); lists, counts and
            the presence of every file are still checked.
        labels: VOC only: label folder per split when it differs from ``VOC_LABELS`` (a
            protocol's ``train_labels`` / ``eval_labels``); None for images only.
        workers: reader threads (default ``min(8, cpu count)``).
        sample: files decoded per split when ``quick``.
    """
    if dataset not in DATA_ENV:
        raise ValueError(f"dataset must be 'voc', 'cityscapes' or 'coco', got {dataset!r}.")
    start = time.perf_counter()
    root = Path(root).expanduser()
    report = CheckReport(dataset=dataset, root=root, quick=quick)
    if isinstance(splits, str):
        splits = [splits]
    splits = None if splits is None else list(dict.fromkeys(splits))
    if not root.is_dir():
        report.problems.append(Problem(
            str(root), "dataset root does not exist.",
            f"pass the {'Cityscapes' if dataset == 'cityscapes' else 'VOCdevkit/VOC2012'} "
            "folder as "
            f"--data-root / --root (or set ${DATA_ENV[dataset]}).", "layout"))
        return report
    synthetic = _synthetic_counts(root)
    report.synthetic = synthetic is not None
    expected = synthetic if synthetic is not None else (
        VOC_SIZES if dataset == "voc" else CITYSCAPES_SIZES)
    if dataset == "coco":
        if synthetic is None:
            expected = _coco_expected(root, report)
        jobs = _voc(root, ["coco"], {"coco": VOC_LABELS["coco"]}, expected, report)
    elif dataset == "voc":
        jobs = _voc(root, splits, labels or {}, expected, report)
    else:
        jobs = _cityscapes(root, splits, expected, report)

    unique: dict[_Job, None] = {}
    for split_jobs in jobs.values():
        if quick and len(split_jobs) > sample:
            split_jobs = random.Random(0).sample(split_jobs, sample)
        unique.update(dict.fromkeys(split_jobs))
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    if workers > 1 and len(unique) > 1:
        with ThreadPoolExecutor(workers) as pool:
            found = list(pool.map(_check_job, unique, chunksize=8))
    else:
        found = [_check_job(j) for j in unique]
    report.problems += [p for ps in found for p in ps]
    report.files_checked = len(unique)
    report.problems.sort(key=lambda p: (KINDS.index(p.kind), p.path))
    report.seconds = time.perf_counter() - start
    return report


def _coco_expected(root: Path, report: CheckReport) -> dict[str, int]:
    """The count of the split ``coco`` recorded by its preparation (none if not recorded)."""
    import json

    path = root / "ImageSets" / "Segmentation" / COCO_MANIFEST
    if not path.is_file():
        report.notes.append(f"no {COCO_MANIFEST} (written by `repro data prepare coco`): the "
                            "count of coco.txt is not checked")
        return {}
    try:
        return {"coco": int(json.loads(path.read_text())["count"])}
    except (OSError, ValueError, KeyError, TypeError) as e:
        report.problems.append(Problem(
            str(path), f"cannot be read ({type(e).__name__}: {e}).",
            "rerun `repro data prepare coco --coco COCO_DIR --voc VOC2012`.", "unreadable"))
        return {}


_VALID: set[tuple] = set()


def require_valid_data(
    dataset: str,
    root: str | os.PathLike,
    splits: Iterable[str],
    labels: Mapping[str, str | None] | None = None,
    quick: bool = True,
) -> CheckReport:
    """:func:`check_dataset` for a run about to train: raises :class:`DataCheckError` (its
    message is the formatted report) when a problem is found. A passing check is remembered for
    the process, so the rows of a table that share data are checked once."""
    key = (dataset, str(Path(root).expanduser().resolve()), tuple(splits),
           tuple(sorted((labels or {}).items(), key=str)), quick)
    if key in _VALID:
        return CheckReport(dataset=dataset, root=Path(root), quick=quick, splits=list(splits),
                           notes=["checked earlier in this process"])
    report = check_dataset(dataset, root, splits, quick=quick, labels=labels)
    if not report.ok:
        raise DataCheckError(report)
    _VALID.add(key)
    return report


def add_check_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``repro data check`` options (the names :func:`main_check` reads)."""
    parser.add_argument("dataset", choices=["voc", "cityscapes", "coco"])
    parser.add_argument("--root", default=None,
                        help="VOCdevkit/VOC2012 (voc, and coco: the split prepared into it) or "
                             "the Cityscapes root (default $REPRO_VOC_ROOT / "
                             "$REPRO_CITYSCAPES_ROOT)")
    parser.add_argument("--split", nargs="+", default=None,
                        help="splits to check (default: every split present; coco: its one)")
    parser.add_argument("--quick", action="store_true",
                        help=f"decode at most {QUICK_SAMPLE} files per split")
    parser.add_argument("--limit", type=int, default=50,
                        help="problems listed one by one (0: all; default 50)")
    parser.add_argument("--workers", type=int, default=None, help="reader threads")
    return parser


def main_check(args: argparse.Namespace) -> int:
    """Entry of ``repro data check``: prints the report; 0 if the data is fine, else 2."""
    root = args.root or os.environ.get(DATA_ENV[args.dataset])
    if not root:
        print(f"error: give the dataset with --root or ${DATA_ENV[args.dataset]}.",
              file=sys.stderr)
        return 2
    report = check_dataset(args.dataset, root, args.split, quick=args.quick,
                           workers=args.workers)
    limit = args.limit if args.limit > 0 else len(report.problems)
    print(report.format(limit=limit), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 2
