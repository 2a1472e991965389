"""Where a row's data is, what it is (a fingerprint), and whether it is sound (a full check,
paid once per fingerprint).

- :func:`resolve_data`: the user's dataset root (``--data-root`` or ``$REPRO_VOC_ROOT`` /
  ``$REPRO_CITYSCAPES_ROOT``), else, in the smoke profile, synthetic data generated once into
  the cache (``repro.data.synth.ensure_synthetic``).
- :func:`fingerprint`: identifies the data a row reads without naming where it lives: the
  dataset, real or synthetic, and per split the content hash of its id list (VOC
  ``ImageSets/Segmentation/<split>.txt``; Cityscapes: the sorted file names of
  ``leftImg8bit/<split>``) and its count; for synthetic data the generator's parameters and
  version (``SYNTHETIC.json``). Moving ``$REPRO_CACHE`` or the dataset folder changes nothing.
- :func:`require_checked`: ``repro.data.check.check_dataset`` over every file of the row's
  splits (not a sample), remembered under ``$REPRO_CACHE/datacheck/`` by fingerprint and folder
  so that it is paid once; a failing check raises :class:`~repro.data.check.DataCheckError` (the CLI
  prints the report and exits 2) before any training.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from repro import paths

DATA_ENV = {"voc": "REPRO_VOC_ROOT", "cityscapes": "REPRO_CITYSCAPES_ROOT"}
#: Splits that are optional: a row training on one that is absent is skipped (and said so),
#: not an error: COCO (GCN Table 7 stage 1, Dilation's VOC+COCO schedule) and Cityscapes'
#: coarse set (GCN Table 9 stage 1).
OPTIONAL_SPLITS = frozenset({"coco", "train_extra"})


class DataNotFoundError(FileNotFoundError):
    """The dataset root does not exist, or a real dataset is needed and none is configured."""


class SplitMissingError(FileNotFoundError):
    """A split a row reads is absent; for :data:`OPTIONAL_SPLITS` the row is skipped."""

    def __init__(self, message: str, split: str):
        super().__init__(message)
        self.split = split

    @property
    def optional(self) -> bool:
        return self.split in OPTIONAL_SPLITS


@dataclass(frozen=True)
class DataSource:
    dataset: str  # "voc" or "cityscapes"
    root: Path
    kind: str  # "synthetic" or "real"


def resolve_data(dataset: str, profile, data_root: str | None = None) -> DataSource:
    """The dataset root for a row (module docstring)."""
    from repro.data.synth import ensure_synthetic, is_synthetic

    given = data_root or os.environ.get(DATA_ENV[dataset])
    if given:
        root = Path(given).expanduser()
        if not root.is_dir():
            raise DataNotFoundError(
                f"Data root {root} for {dataset} does not exist. Point --data-root (or "
                f"${DATA_ENV[dataset]}) at the dataset folder "
                f"({'VOCdevkit/VOC2012' if dataset == 'voc' else 'cityscapes'}), or prepare it "
                f"with `repro data prepare {dataset} ...`."
            )
        return DataSource(dataset, root, "synthetic" if is_synthetic(root) else "real")
    if profile.name != "smoke":
        raise DataNotFoundError(
            f"The {profile.name} profile needs the real {dataset} dataset: pass --data-root or set "
            f"${DATA_ENV[dataset]}; or use --profile smoke to run on synthetic data."
        )
    root = ensure_synthetic(dataset, paths.cache_dir() / "synthetic", **profile.synthetic[dataset])
    return DataSource(dataset, root, "synthetic")


def split_files(data: DataSource, split: str, labels: str | None) -> None:
    """Raise :class:`SplitMissingError` when ``split`` is absent (its list or folder, and for
    labelled VOC splits the label folder)."""
    root = data.root
    if data.dataset == "voc":
        ann = root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not ann.is_file():
            hint = ("run `repro data prepare coco --coco DIR --voc ROOT` to add COCO (optional: "
                    "without it the rows that train on COCO are skipped)." if split == "coco"
                    else f"run `repro data prepare voc` to write {split}.txt.")
            raise SplitMissingError(f"Split list {ann} does not exist: {hint}", split)
        if labels and not (root / labels).is_dir():
            raise SplitMissingError(
                f"Label folder {root / labels} for split {split} does not exist: run `repro "
                f"data prepare voc` (SegmentationClassAug comes from SBD).", split)
        return
    coarse = split == "train_extra"
    folder = root / "leftImg8bit" / split
    if not folder.is_dir():
        raise SplitMissingError(
            f"Cityscapes split folder {folder} does not exist"
            + (" (the coarse set leftImg8bit_trainextra.zip + gtCoarse.zip: optional, GCN Table "
               "9 stage 1)." if coarse else ": unpack leftImg8bit_trainvaltest.zip there."),
            split)
    if labels:
        gt = root / ("gtCoarse" if coarse else "gtFine") / split
        if not gt.is_dir():
            raise SplitMissingError(
                f"Cityscapes label folder {gt} does not exist: unpack "
                f"{'gtCoarse.zip' if coarse else 'gtFine_trainvaltest.zip'} and run `repro data "
                "prepare cityscapes` (labelTrainIds).", split)


def _split_digest(data: DataSource, split: str) -> tuple[str, int]:
    where = (data.root / "ImageSets" / "Segmentation" / f"{split}.txt" if data.dataset == "voc"
             else data.root / "leftImg8bit" / split)
    return _digest(data.dataset, where, where.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest(dataset: str, where: Path, mtime_ns: int) -> tuple[str, int]:
    """Content hash and count of a split's ids (cached while the list's mtime holds)."""
    if dataset == "voc":
        ids = where.read_text().split()
    else:
        ids = sorted(str(p.relative_to(where)) for p in where.glob("*/*.png"))
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16], len(ids)


def _synthetic_params(root: Path) -> dict | None:
    from repro.data.synth import MARKER

    for p in (root, root.parent, root.parent.parent):
        if (p / MARKER).is_file():
            info = json.loads((p / MARKER).read_text())
            return {k: info.get(k) for k in ("generator_version", "params", "counts")}
    return None


def fingerprint(data: DataSource, splits: Sequence[str]) -> str:
    """16 hex digits identifying the data of ``splits`` (module docstring)."""
    parts: dict = {"dataset": data.dataset, "kind": data.kind,
                   "splits": {s: _split_digest(data, s) for s in sorted(set(splits))}}
    if data.kind == "synthetic":
        parts["synthetic"] = _synthetic_params(data.root)
    return paths.stable_hash(parts)


def require_checked(data: DataSource, labels: Mapping[str, str | None]) -> str:
    """Check every file of the splits in ``labels`` (split -> label folder or None for images
    only) once per fingerprint; raises DataCheckError naming the bad files. Returns how the
    data was checked (for the result's provenance)."""
    from repro.data.check import DataCheckError, check_dataset

    splits = sorted(labels)
    # The stamp is about this folder: another copy of the same data (or a damaged one) is
    # checked on its own.
    key = paths.stable_hash([fingerprint(data, splits), str(data.root.resolve()),
                             sorted(labels.items(), key=str)])
    stamp = paths.cache_dir() / "datacheck" / f"{key}.json"
    if stamp.is_file():
        return f"full check passed earlier ({stamp.name})"
    report = check_dataset(data.dataset, data.root, splits, quick=False, labels=dict(labels))
    if not report.ok:
        raise DataCheckError(report)
    from repro.results import atomic_write_json

    atomic_write_json(stamp, {"root": str(data.root), "splits": splits,
                              "files_checked": report.files_checked,
                              "seconds": round(report.seconds, 1)})
    return f"full check passed ({report.files_checked} files, {report.seconds:.1f} s)"
