"""Score a folder of prediction PNGs (ours or another project's) with the harness's protocol.

``score_folder('voc', pred_dir, gt_dir)``: VOC 2012 segmentation, 21 classes, void 255 ignored,
one confusion matrix over the split (FCN score.py semantics, see ``confusion.py``).
Predictions are ``<pred_dir>/<id>.png``, palette or greyscale index PNGs (RGB images painted
with the VOC colour map are mapped back); ground truth ``SegmentationClass/<id>.png`` under
``gt_dir``, which may be the VOC2012 folder, the VOCdevkit folder, or the label folder itself.
The ids are the ``split`` (default ``val``: the dataset's ``ImageSets/Segmentation/val.txt``,
else the 1449 VOC12 val ids shipped in ``repro/data/splits``).

``score_folder('cityscapes', pred_dir, gt_dir)``: the official Cityscapes evaluation (see
``cityscapes.py``) over every ``*_gtFine_labelIds.png`` of the split (default ``val`` when
``gt_dir`` is the dataset root or ``gtFine``), predictions found like the official
``getPrediction``: one ``<city>_<seq>_<frame>*.png`` anywhere under ``pred_dir``, labelIds
(or trainIds with ``pred_ids='train'``). iIoU needs ``*_gtFine_instanceIds.png`` next to the
labels; without them it is skipped with a warning.

``boundary=w`` adds ``boundary_acc`` / ``internal_acc`` (``boundary.py``) and
``trimap_widths`` the trimap curve. Returned dict: the keys of ``ConfusionMatrixMetric``
(percent, not rounded). ``json_out`` writes them with the confusion matrix and the settings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .boundary import BoundaryAccuracy, Trimap, plot_trimap
from .cityscapes import CLASS_NAMES as CITYSCAPES_CLASSES
from .cityscapes import (
    EVAL_LABEL_IDS,
    CityscapesEvaluator,
    label_to_train_ids,
    scores_from_matrix,
)
from .confusion import ConfusionMatrix
from .io import read_label_png
from .per_image import PerImageConfusion

__all__ = ["score_folder", "main_score", "add_score_arguments", "voc_pairs", "cityscapes_pairs"]

SPLITS_DIR = Path(__file__).resolve().parents[1] / "data" / "splits"


def _voc_classes() -> list[str]:
    """mmseg's PascalVOCDataset class names (the same tuple; importing mmseg for it would cost
    400 MB and seconds)."""
    from repro.data.synth import VOC_CLASSES

    return list(VOC_CLASSES)


def _read_ids(split, voc_root: Path | None = None) -> tuple[list[str], str]:
    """Ids of ``split``: a list, an id-list file, ``<VOC2012>/ImageSets/Segmentation/<name>.txt``
    of the dataset scored, or a list shipped in ``repro/data/splits`` (in this order)."""
    if isinstance(split, (list, tuple)):
        return [str(s) for s in split], f"{len(split)} ids given"
    candidates = [Path(str(split))]
    if voc_root is not None:
        candidates.append(voc_root / "ImageSets" / "Segmentation" / f"{split}.txt")
    candidates.append(SPLITS_DIR / f"{split}.txt")
    p = next((c for c in candidates if c.is_file()), None)
    if p is None:
        known = sorted(x.stem for x in SPLITS_DIR.glob("*.txt"))
        raise FileNotFoundError(
            f"Unknown split {split!r}: pass an id-list file, a list in the dataset's "
            f"ImageSets/Segmentation, one of {known}, or 'all'."
        )
    ids = [line.split()[0] for line in p.read_text().splitlines() if line.strip()]
    return ids, str(p)


def voc_pairs(pred_dir, gt_dir, split="val") -> tuple[list[tuple], str]:
    """``[(pred_path, gt_path, None, id)]`` for VOC and a description of the split."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for cand in (gt_dir / "SegmentationClass", gt_dir / "VOC2012" / "SegmentationClass"):
        if cand.is_dir():
            gt_dir = cand
            break
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"VOC ground-truth folder not found: {gt_dir}")
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"Prediction folder not found: {pred_dir}")
    if split in (None, "all"):
        ids, desc = sorted(p.stem for p in pred_dir.glob("*.png")), f"all PNGs in {pred_dir}"
        if not ids:
            raise FileNotFoundError(f"No prediction PNGs in {pred_dir}.")
    else:
        ids, desc = _read_ids(split, gt_dir.parent)
    missing = [i for i in ids if not (pred_dir / f"{i}.png").is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(ids)} predictions of split {desc} are missing, e.g. "
            f"{pred_dir / (missing[0] + '.png')}"
            + (f" (and {missing[1:4]}...)" if len(missing) > 1 else "")
            + ". Write one <id>.png per image of the split, or choose the split the "
            "predictions were made for (split='seg11valid', a list file, or 'all')."
        )
    missing_gt = [i for i in ids if not (gt_dir / f"{i}.png").is_file()]
    if missing_gt:
        raise FileNotFoundError(
            f"{len(missing_gt)} ground-truth labels are missing, e.g. "
            f"{gt_dir / (missing_gt[0] + '.png')}; point gt_dir at VOC2012 or its "
            "SegmentationClass folder."
        )
    return [(pred_dir / f"{i}.png", gt_dir / f"{i}.png", None, i) for i in ids], desc


def cityscapes_pairs(pred_dir, gt_dir, split="val") -> tuple[list[tuple], str]:
    """``[(pred_path, gt_labelIds_path, instanceIds_path or None, name)]`` for Cityscapes."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    if (gt_dir / "gtFine").is_dir():
        gt_dir = gt_dir / "gtFine"
    if split not in (None, "all") and (gt_dir / str(split)).is_dir():
        gt_dir = gt_dir / str(split)
    gts = sorted(gt_dir.rglob("*_gtFine_labelIds.png"))
    if not gts:
        raise FileNotFoundError(
            f"No *_gtFine_labelIds.png under {gt_dir}; point gt_dir at the Cityscapes root, "
            "gtFine, or gtFine/<split> (create the labelIds with cityscapesscripts if needed)."
        )
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"Prediction folder not found: {pred_dir}")
    index: dict[str, list[Path]] = {}
    for root, _, files in os.walk(pred_dir):
        for f in files:
            if f.endswith(".png"):
                key = "_".join(f.split("_")[:3])
                index.setdefault(key, []).append(Path(root) / f)
    pairs = []
    missing = []
    for g in gts:
        key = "_".join(g.name.split("_")[:3])
        found = index.get(key, [])
        if len(found) > 1:
            raise ValueError(
                f"Found {len(found)} predictions for {g.name}: {[str(p) for p in found[:3]]}; "
                "keep exactly one <city>_<seq>_<frame>*.png per image under the folder."
            )
        if not found:
            missing.append(f"{key}*.png")
            continue
        inst = g.with_name(g.name.replace("_gtFine_labelIds.png", "_gtFine_instanceIds.png"))
        pairs.append((found[0], g, inst if inst.is_file() else None, g.name))
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(gts)} ground-truth images under {gt_dir} have no "
            f"prediction in {pred_dir}, e.g. {missing[:3]}. Write one labelId PNG per image, "
            "named after it (e.g. <city>_<seq>_<frame>_leftImg8bit.png)."
        )
    return pairs, str(gt_dir)


class _State:
    """Partial sums of one worker (merged in the parent)."""

    def __init__(self, dataset, num_classes, boundary, trimap_widths, pred_ids, per_image):
        self.dataset = dataset
        #: (name, C x C matrix) of every image, in order, when ``per_image`` (see score_folder)
        self.per_image: list[tuple[str, np.ndarray]] | None = [] if per_image else None
        if dataset == "voc":
            self.main = ConfusionMatrix(num_classes, 255)
        else:
            self.main = CityscapesEvaluator(pred_ids=pred_ids, gt_ids="label")
        self.boundary = BoundaryAccuracy(boundary) if boundary is not None else None
        self.trimap = Trimap(num_classes, trimap_widths) if trimap_widths else None

    def update(self, pred_path, gt_path, inst_path, name) -> None:
        pred = read_label_png(pred_path)
        gt = read_label_png(gt_path)
        if pred.shape != gt.shape:
            raise ValueError(
                f"Prediction {pred_path} is {pred.shape[1]}x{pred.shape[0]} but its ground "
                f"truth {gt_path} is {gt.shape[1]}x{gt.shape[0]}; predictions must be at the "
                "original image size."
            )
        if self.dataset == "voc":
            d = self.main.update(pred, gt, name=str(pred_path))
            pred_c, gt_c = pred, gt
        else:
            inst = read_label_png(inst_path) if inst_path is not None else None
            d = self.main.update(pred, gt, inst, name=str(pred_path))[0]
            d = d[np.ix_(EVAL_LABEL_IDS, EVAL_LABEL_IDS)]  # the 19 evaluated classes
            # boundary / trimap work in the 19-class trainId space (ignored labels = void)
            pred_c = self.main.to_label_ids(pred, "pred", str(pred_path))
            pred_c = label_to_train_ids(pred_c, str(pred_path))
            gt_c = label_to_train_ids(gt, str(gt_path))
        if self.per_image is not None:  # named as the harness's metric names images
            key = name if self.dataset == "voc" else (
                "_".join(str(name).split("_")[:3]) + "_leftImg8bit")
            self.per_image.append((key, d))
        if self.boundary is not None:
            self.boundary.update(pred_c, gt_c, str(pred_path))
        if self.trimap is not None:
            if self.dataset != "voc":
                pred_c = np.where(pred_c == 255, 0, pred_c)  # see score_folder docstring
            self.trimap.update(pred_c, gt_c, str(pred_path))

    def merge(self, other: _State) -> None:
        self.main.merge(other.main)
        if self.per_image is not None:
            self.per_image.extend(other.per_image)
        if self.boundary is not None:
            self.boundary.merge(other.boundary)
        if self.trimap is not None:
            self.trimap.merge(other.trimap)


class ScoreInputError(ValueError):
    """A prediction or label file that cannot be scored; the message names it (and crosses
    process boundaries intact: ``repro score`` prints it as one line, exit 2)."""


def _score_chunk(args) -> _State:
    settings, pairs = args
    state = _State(*settings)
    for pred_path, gt_path, inst_path, name in pairs:
        try:
            state.update(pred_path, gt_path, inst_path, name)
        except Exception as e:  # noqa: BLE001 - re-raised naming the files
            text = str(e)
            if str(pred_path) not in text and str(gt_path) not in text:
                text = (f"{pred_path} / {gt_path}: {type(e).__name__}: {e}. Replace the damaged "
                        "file (a truncated or non-PNG file cannot be scored).")
            raise ScoreInputError(text) from None
    return state


def _jsonable(x):
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def score_folder(
    dataset: str,
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    boundary: int | None = None,
    json_out: str | os.PathLike | None = None,
    num_workers: int | None = None,
    *,
    split: str | os.PathLike | Sequence[str] | None = "val",
    pred_ids: str = "label",
    trimap_widths: Sequence[int] | None = None,
    progress: bool = True,
    per_image_out: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Score every prediction PNG of ``pred_dir`` against ``gt_dir`` (see module docstring).

    Args:
        dataset: ``'voc'`` or ``'cityscapes'``.
        pred_dir: folder of prediction PNGs.
        gt_dir: VOC: VOC2012 / VOCdevkit / SegmentationClass folder; Cityscapes: dataset root,
            ``gtFine`` or ``gtFine/<split>``.
        boundary: band width for ``boundary_acc`` / ``internal_acc`` (GCN Table 5 uses 7).
        json_out: write the result (metrics, confusion matrix, settings) to this JSON file;
            with ``trimap_widths`` also ``<json_out stem>_trimap.png``.
        num_workers: processes reading PNGs (default ``min(4, cpu count)``; 0 = this process).
        split: VOC: a split name (``'val'``, ``'seg11valid'``: looked up in the dataset's
            ``ImageSets/Segmentation``, then in ``repro/data/splits``), an id-list file, a list
            of ids, or ``'all'`` (every PNG in ``pred_dir``); Cityscapes: the ``gtFine``
            sub-folder (default ``'val'``; ``'all'`` = everything under ``gt_dir``).
        pred_ids: Cityscapes prediction encoding, ``'label'`` (official) or ``'train'``.
        trimap_widths: band widths of the trimap curve (``trimap_acc.<w>``, ``trimap_mIoU.<w>``).
            For Cityscapes, boundary and trimap scores use trainIds; predictions of ignored
            labelIds count as wrong (boundary) or as class 0 (trimap mIoU).
        progress: show a tqdm progress bar.
        per_image_out: also write every image's confusion matrix to this ``.npz``
            (``PerImageConfusion``: the bootstrap intervals; VOC: C x C, Cityscapes: the 19
            evaluated classes), images named by their pair's name, in scoring order.

    Returns:
        Flat dict, percent (0-100, not rounded): ``aAcc``, ``mIoU``, ``mAcc``, ``fwIoU``,
        ``IoU.<class>``; Cityscapes also ``cat_IoU`` and (with instanceIds) ``iIoU``,
        ``cat_iIoU``; with ``boundary``: ``boundary_acc``, ``internal_acc``; with
        ``trimap_widths``: ``trimap_acc.<w>``, ``trimap_mIoU.<w>``.
    """
    from tqdm import tqdm

    if dataset not in ("voc", "cityscapes"):
        raise ValueError(f"dataset must be 'voc' or 'cityscapes', got {dataset!r}.")
    if pred_ids not in ("label", "train"):
        raise ValueError(f"pred_ids must be 'label' or 'train', got {pred_ids!r}.")
    if dataset == "voc":
        pairs, split_desc = voc_pairs(pred_dir, gt_dir, split)
        class_names = _voc_classes()
    else:
        pairs, split_desc = cityscapes_pairs(pred_dir, gt_dir, split)
        class_names = list(CITYSCAPES_CLASSES)
    trimap_widths = sorted({int(w) for w in trimap_widths}) if trimap_widths else None
    settings = (dataset, len(class_names), boundary, trimap_widths, pred_ids,
                per_image_out is not None)

    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)
    chunk = max(1, min(32, len(pairs) // max(1, 4 * max(num_workers, 1))))
    chunks = [pairs[i : i + chunk] for i in range(0, len(pairs), chunk)]
    total = _State(*settings)
    bar = tqdm(total=len(pairs), desc=f"scoring {dataset}", unit="img", disable=not progress)
    try:  # closed on an error too: the error line must not share the bar's line
        if num_workers <= 0 or len(chunks) == 1:
            for c in chunks:
                total.merge(_score_chunk((settings, c)))
                bar.update(len(c))
        else:
            import multiprocessing as mp

            with mp.Pool(num_workers) as pool:
                for c, part in zip(chunks, pool.imap(_score_chunk,
                                                     [(settings, c) for c in chunks])):
                    total.merge(part)
                    bar.update(len(c))
    finally:
        bar.close()

    if dataset == "voc":
        metrics = total.main.summary(class_names)
        confusion = total.main.mat
    else:
        if not total.main.has_instances:
            warnings.warn(
                f"{total.main.images_without_instances} of {len(pairs)} images have no "
                "*_gtFine_instanceIds.png next to their labelIds: iIoU and cat_iIoU are not "
                "reported.",
                stacklevel=2,
            )
        metrics = total.main.summary(class_names)
        confusion = total.main.cm.mat
    if per_image_out is not None:
        names, mats = zip(*total.per_image) if total.per_image else ((), ())
        PerImageConfusion.stack(names, class_names, mats).save(per_image_out)
    if total.boundary is not None:
        metrics.update(total.boundary.summary())
    if total.trimap is not None:
        metrics.update(total.trimap.summary())

    if json_out is not None:
        record = {
            "dataset": dataset,
            "pred_dir": str(pred_dir),
            "gt_dir": str(gt_dir),
            "split": split_desc,
            "num_images": len(pairs),
            "boundary_width": boundary,
            "trimap_widths": trimap_widths,
            "pred_ids": pred_ids if dataset == "cityscapes" else None,
            "class_names": class_names,
            "metrics": metrics,
            "confusion_rows_gt_cols_pred": confusion.tolist(),
        }
        if dataset == "cityscapes":
            record["confusion_is_label_ids_0_33"] = True
            record["official"] = scores_from_matrix(
                confusion, total.main.inst if total.main.has_instances else None
            )
        json_out = Path(json_out)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(_jsonable(record), indent=1) + "\n")
        if total.trimap is not None:
            plot_trimap(
                trimap_widths,
                {"pixel accuracy": [metrics[f"trimap_acc.{w}"] for w in trimap_widths]},
                json_out.with_name(json_out.stem + "_trimap.png"),
            )
    return metrics


def add_score_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``repro score`` options (the names ``main_score`` reads) to ``parser``."""
    parser.add_argument("--dataset", choices=["voc", "cityscapes"], required=True)
    parser.add_argument("--pred", required=True, help="folder of prediction PNGs")
    parser.add_argument("--gt", required=True, help="VOC2012 (or label) folder / Cityscapes root")
    parser.add_argument(
        "--boundary",
        type=int,
        default=None,
        metavar="W",
        help="also report boundary/internal accuracy for band width W (GCN: 7)",
    )
    parser.add_argument("--json", default=None, metavar="OUT", help="write the result as JSON")
    parser.add_argument(
        "--split",
        default="val",
        help="VOC: val | seg11valid | id-list file | all; Cityscapes: gtFine "
        "sub-folder or all (default: val)",
    )
    parser.add_argument(
        "--pred-trainids",
        action="store_true",
        help="Cityscapes predictions are trainIds (default: labelIds)",
    )
    parser.add_argument(
        "--trimap", type=int, nargs="+", default=None, metavar="W", help="trimap band widths"
    )
    parser.add_argument("--workers", type=int, default=None, help="reader processes")
    return parser


def main_score(args: argparse.Namespace) -> int:
    """Entry of ``repro score``: score, print a table, return the exit status (0).

    Reads ``args.dataset``, ``args.pred``, ``args.gt``, ``args.boundary``, ``args.json`` and,
    when present, ``args.split``, ``args.pred_trainids``, ``args.trimap``, ``args.workers``.
    """
    from tabulate import tabulate

    metrics = score_folder(
        args.dataset,
        args.pred,
        args.gt,
        boundary=getattr(args, "boundary", None),
        json_out=getattr(args, "json", None),
        num_workers=getattr(args, "workers", None),
        split=getattr(args, "split", "val"),
        pred_ids="train" if getattr(args, "pred_trainids", False) else "label",
        trimap_widths=getattr(args, "trimap", None),
    )
    per_class = [(k[4:], v) for k, v in metrics.items() if k.startswith("IoU.")]
    summary = [(k, v) for k, v in metrics.items() if not k.startswith("IoU.")]
    print(tabulate(per_class, headers=["class", "IoU %"], floatfmt=".2f"))
    print()
    print(tabulate(summary, headers=["metric", "%"], floatfmt=".2f"))
    if getattr(args, "json", None):
        print(f"\nwritten: {args.json}")
    return 0
