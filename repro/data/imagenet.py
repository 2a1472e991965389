"""ImageNet (ILSVRC-2012 classification) in mmpretrain's layout: the check that runs before
pretraining, and a small synthetic stand-in written in the same layout.

The layout is the one mmpretrain's ``ImageNet`` dataset reads (``data_root`` = the folder given
to ``repro pretrain --imagenet``), the same as the PyTorch / torchvision ImageNet examples use:

    train/<wnid>/<wnid>_<n>.JPEG        one folder per class (1000 WordNet ids, n01440764 ...)
    val/ILSVRC2012_val_<8 digits>.JPEG  flat, with meta/val.txt, or val/<wnid>/*.JPEG folders
    meta/train.txt, meta/val.txt        optional: "<path relative to the split folder> <label>"

With ``meta/<split>.txt`` mmpretrain reads the labels from that file (labels are the indices of
the sorted wnids, as in mmpretrain's and the LMDB-era Caffe lists); without it, the split folder
must hold one sub-folder per class, in which case the class of an image is its folder's sorted
index. ILSVRC-2012 has 1,281,167 training and 50,000 validation images of 1000 classes
(``IMAGENET_SIZES``; "ImageNet 2015" of GCN Sec. 4.1.2 is the same classification data, the
ILSVRC 2015 CLS-LOC task reused the 2012 images). Counts that differ are reported, not refused
(a user may pretrain on a subset), and recorded with the result.

:func:`check_imagenet` lists folders and reads the annotation files; it decodes no image.

Synthetic data (:func:`make_synthetic_imagenet`, cached by :func:`ensure_synthetic_imagenet`):
a synthetic VOC of ``repro.data.synth`` is generated (through its public
``ensure_synthetic``), and every object of its segmentation labels (``SegmentationClassAug``:
each connected region of one class, at least ``MIN_AREA`` of the image) is cropped with a
margin and labelled by its class: 20 classes, training crops from ``train_aug`` images,
validation crops from ``val`` images (disjoint). The files are written in the layout above
(wnids ``n00000001`` .. ``n00000020``, ``meta/*.txt``) with a ``SYNTHETIC.json`` marker, so results
on them are flagged synthetic; they say nothing about ImageNet.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "IMAGENET_SIZES",
    "ImageNetDataError",
    "ImageNetLayout",
    "check_imagenet",
    "ensure_synthetic_imagenet",
    "make_synthetic_imagenet",
]

#: ILSVRC-2012 classification: images per split and classes.
IMAGENET_SIZES = {"train": 1_281_167, "val": 50_000, "classes": 1000}
#: Image extensions mmpretrain's ImageNet dataset accepts (lower case).
EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif")
#: Bump when the synthetic output of given parameters changes.
SYNTH_VERSION = 1
#: Smallest object cropped into the synthetic set, as a fraction of the VOC image.
MIN_AREA = 0.01
LAYOUT_HELP = (
    "mmpretrain's ImageNet layout: DIR/train/<wnid>/*.JPEG and DIR/val/ (flat, with "
    "DIR/meta/val.txt, or one folder per wnid), optionally DIR/meta/train.txt"
)


class ImageNetDataError(FileNotFoundError):
    """The ImageNet folder is missing or not in mmpretrain's layout."""


@dataclass(frozen=True)
class ImageNetLayout:
    """What :func:`check_imagenet` found."""

    root: str
    num_classes: int
    classes: tuple[str, ...]  # the wnids (train folders), sorted: label i is classes[i]
    num_train: int
    num_val: int
    train_ann: bool  # meta/train.txt is used
    val_ann: bool  # meta/val.txt is used
    synthetic: bool

    @property
    def full(self) -> bool:
        """The whole of ILSVRC-2012 (published counts)."""
        return (self.num_train, self.num_val, self.num_classes) == (
            IMAGENET_SIZES["train"], IMAGENET_SIZES["val"], IMAGENET_SIZES["classes"])

    def summary(self) -> dict:
        out = asdict(self)
        out.pop("classes")
        out["full_ilsvrc2012"] = self.full
        return out


def _class_folders(split_dir: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir())


def _count_images(folder: Path) -> int:
    return sum(1 for e in os.scandir(folder) if e.is_file()
               and e.name.lower().endswith(EXTENSIONS))


def _read_ann(path: Path, split_dir: Path) -> list[tuple[str, int]]:
    """``meta/<split>.txt`` lines as (file, label); checks the format and a few files."""
    samples = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().rsplit(" ", 1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise ImageNetDataError(
                f"{path}, line {n}: expected '<image path> <integer label>', got {line!r}: "
                f"fix the file (format of {LAYOUT_HELP}).")
        samples.append((parts[0], int(parts[1])))
    if not samples:
        raise ImageNetDataError(f"{path} lists no image: fix the file or remove it to read the "
                                "classes from the folders.")
    for name, _ in (samples[0], samples[-1]):  # cheap: two stats, not one per image
        if not (split_dir / name).is_file():
            raise ImageNetDataError(
                f"{path} lists {name} but {split_dir / name} does not exist: the paths in "
                f"meta/*.txt are relative to the split folder ({LAYOUT_HELP}).")
    return samples


def check_imagenet(root: str | os.PathLike) -> ImageNetLayout:
    """Checks that ``root`` is an ImageNet in mmpretrain's layout (module docstring) and
    returns its classes and counts; raises :class:`ImageNetDataError` naming what is wrong."""
    from repro.data.synth import is_synthetic

    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise ImageNetDataError(f"ImageNet folder {root} does not exist: pass --imagenet DIR "
                                f"with {LAYOUT_HELP}.")
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise ImageNetDataError(f"{root / split} is missing: --imagenet must be the folder "
                                    f"holding train/ and val/ ({LAYOUT_HELP}).")
    classes = _class_folders(root / "train")
    if not classes:
        raise ImageNetDataError(f"{root / 'train'} has no class folders: the training images "
                                f"go to train/<wnid>/ ({LAYOUT_HELP}).")
    counts, uses_ann = {}, {}
    for split in ("train", "val"):
        ann = root / "meta" / f"{split}.txt"
        uses_ann[split] = ann.is_file()
        if uses_ann[split]:
            samples = _read_ann(ann, root / split)
            bad = sorted({lab for _, lab in samples if not 0 <= lab < len(classes)})
            if bad:
                raise ImageNetDataError(
                    f"{ann} has labels {bad[:5]} outside 0..{len(classes) - 1} (one per class "
                    f"folder of {root / 'train'}): fix the file or the class folders.")
            counts[split] = len(samples)
        else:
            folders = _class_folders(root / split)
            if folders != classes:
                missing = sorted(set(classes) - set(folders))[:5]
                extra = sorted(set(folders) - set(classes))[:5]
                raise ImageNetDataError(
                    f"{root / split} has no meta/{split}.txt and its class folders differ from "
                    f"train/'s (missing {missing}, extra {extra}): add {ann} "
                    f"('<file> <label>' lines) or one folder per wnid ({LAYOUT_HELP}).")
            counts[split] = sum(_count_images(root / split / c) for c in classes)
        if counts[split] == 0:
            raise ImageNetDataError(f"{root / split} holds no image ({', '.join(EXTENSIONS)}): "
                                    f"{LAYOUT_HELP}.")
    return ImageNetLayout(
        root=str(root), num_classes=len(classes), classes=tuple(classes),
        num_train=counts["train"], num_val=counts["val"], train_ann=uses_ann["train"],
        val_ann=uses_ann["val"], synthetic=is_synthetic(root),
    )


# ---------------------------------------------------------------------------------------------
# Synthetic ImageNet-layout classification data


def _objects(label, min_area: float):
    """(class, x0, y0, x1, y1) of every connected region of one class covering ``min_area``."""
    import cv2
    import numpy as np

    h, w = label.shape
    out = []
    for cls in np.unique(label):
        if cls == 0 or cls == 255:
            continue
        n, _, stats, _ = cv2.connectedComponentsWithStats((label == cls).astype(np.uint8), 8)
        for x, y, bw, bh, area in stats[1:]:
            if area >= min_area * h * w:
                out.append((int(cls), int(x), int(y), int(x + bw), int(y + bh)))
    return out


def _crop(img, box, rng, margin: float = 0.15):
    h, w = img.shape[:2]
    cls, x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0) * rng.uniform(0.5, 1.5), margin * (y1 - y0) * rng.uniform(0.5, 1.5)
    x0, y0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
    x1, y1 = min(w, int(x1 + mx + 1)), min(h, int(y1 + my + 1))
    return img[y0:y1, x0:x1]


def make_synthetic_imagenet(out: str | os.PathLike, voc_root: str | os.PathLike,
                            seed: int = 0) -> Path:
    """Crops the objects of the synthetic VOC at ``voc_root`` into an ImageNet-layout dataset
    at ``out`` (module docstring); returns ``out``. ``out`` must not exist."""
    import numpy as np
    from PIL import Image

    from repro.data.synth import JPEG_QUALITY, MARKER, SYNTHETIC_NOTE, VOC_CLASSES

    out, voc = Path(out), Path(voc_root)
    if out.exists():
        raise FileExistsError(f"{out} exists: make_synthetic_imagenet writes a new folder only.")
    wnids = [f"n{c:08d}" for c in range(1, len(VOC_CLASSES))]
    lists = {"train": [], "val": []}
    sources = {"train": "train_aug", "val": "val"}
    for split, source in sources.items():
        (out / split).mkdir(parents=True)
        ids = (voc / "ImageSets" / "Segmentation" / f"{source}.txt").read_text().split()
        for vid in ids:
            label = np.asarray(Image.open(voc / "SegmentationClassAug" / f"{vid}.png"))
            img = np.asarray(Image.open(voc / "JPEGImages" / f"{vid}.jpg").convert("RGB"))
            rng = np.random.default_rng([seed, int(vid.replace("_", ""))])
            for k, box in enumerate(_objects(label, MIN_AREA)):
                cls = box[0]
                if split == "train":
                    name = f"{wnids[cls - 1]}/{wnids[cls - 1]}_{vid.replace('_', '')}{k:02d}.JPEG"
                else:
                    name = f"ILSVRC2012_val_{len(lists['val']) + 1:08d}.JPEG"
                (out / split / name).parent.mkdir(exist_ok=True)
                Image.fromarray(_crop(img, box, rng)).save(out / split / name,
                                                           quality=JPEG_QUALITY)
                lists[split].append((name, cls - 1))
    for wnid in wnids:  # every class keeps its train folder, even if no object was cropped
        (out / "train" / wnid).mkdir(exist_ok=True)
    (out / "meta").mkdir()
    for split, items in lists.items():
        (out / "meta" / f"{split}.txt").write_text("".join(f"{n} {c}\n" for n, c in items))
    info = {
        "synthetic": True, "note": SYNTHETIC_NOTE, "dataset": "imagenet",
        "generator": "repro.data.imagenet", "generator_version": SYNTH_VERSION,
        "source": str(voc), "classes": dict(zip(wnids, VOC_CLASSES[1:])),
        "counts": {k: len(v) for k, v in lists.items()},
    }
    (out / MARKER).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return out


#: The synthetic VOC the crops come from (160x120 scenes; about 1.6 objects per image).
SYNTH_VOC = dict(seed=0, size=(160, 120), num_train=200, num_val=60, num_test=1)


def ensure_synthetic_imagenet(cache_root: str | os.PathLike, seed: int = 0) -> Path:
    """The synthetic ImageNet-layout dataset, generated once under ``cache_root`` (keyed by its
    parameters and both generators' versions); concurrent callers wait on a file lock, and a
    killed generation leaves no half-written folder."""
    from filelock import FileLock

    from repro.data.synth import GENERATOR_VERSION, MARKER, ensure_synthetic

    cache_root = Path(cache_root)
    voc = ensure_synthetic("voc", cache_root, **SYNTH_VOC)
    key = json.dumps({"voc": SYNTH_VOC, "seed": seed, "version": SYNTH_VERSION,
                      "voc_version": GENERATOR_VERSION}, sort_keys=True)
    name = f"imagenet-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    final = cache_root / name
    if (final / MARKER).is_file():
        return final
    with FileLock(str(cache_root / f"{name}.lock")):
        if (final / MARKER).is_file():
            return final
        for stale in cache_root.glob(f".{name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if final.exists():
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=cache_root))
        try:
            make_synthetic_imagenet(tmp / "data", voc, seed=seed)
            os.rename(tmp / "data", final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
