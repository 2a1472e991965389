"""Cityscapes pixel-level semantic labelling scores, identical to the official evaluation.

Source: ``cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling`` (cityscapesscripts
2.3.0, ``evaluatePair`` / ``getIouScoreForLabel`` / ``getInstanceIouScoreForLabel`` /
``getIouScoreForCategory`` / ``getInstanceIouScoreForCategory``); label tables from
``cityscapesscripts.helpers.labels``; the instance weights ``avgClassSize`` are read from the
official module itself.

Definitions (``M`` = 34 x 34 int64 confusion matrix over labelIds 0..33, rows = ground truth,
columns = prediction, every labelId counted, as the official ``generateMatrix``; ``E`` = the 19
labelIds with ``ignoreInEval == False``, in trainId order):

- class IoU of l in E: ``TP / (TP + FP + FN)``, ``TP = M[l, l]``, ``FN = sum_j M[l, j] - TP``
  (a prediction of an ignored labelId, e.g. 0 "unlabeled", is a false negative),
  ``FP = sum_{i in E, i != l} M[i, l]`` (ground-truth pixels of ignored labels never count);
  NaN when the denominator is 0. ``mIoU`` ("IoU class") = nanmean over the 19 classes.
- instance-weighted iIoU of the 8 instance classes (person, rider, car, truck, bus, train,
  motorcycle, bicycle): every ground-truth instance (instanceIds value > 1000, labelId =
  value // 1000, ignored labels such as caravan / trailer skipped) of size s contributes
  ``tp * w`` and ``(s - tp) * w`` with ``w = avgClassSize[class] / s`` and ``tp`` its pixels
  predicted as its labelId; ``iIoU_l = TPw / (TPw + FP + FNw)`` with the unweighted FP above;
  ``iIoU`` = nanmean over the 8 classes.
- category IoU for each of the 8 categories (flat, construction, object, nature, sky, human,
  vehicle; void has no evaluated label and is NaN): the same with the label set L = evaluated
  labelIds of the category, ``TP = sum M[L, L]``, ``FN = sum M[L, :] - TP``,
  ``FP = sum M[E \\ L, L]``; ``cat_IoU`` = nanmean.
- category iIoU for human and vehicle (the categories whose labels all have instances): an
  instance's tp counts its pixels predicted as any labelId of the category, here including the
  ignored caravan / trailer, and FP sums the columns of all the category's labelIds
  (official quirk kept); ``cat_iIoU`` = nanmean.

Inputs may be labelIds (official) or trainIds (0..18, 255 = ignore; converted with the official
tables). A trainId ground truth has lost the labelId of its ignored pixels; they are skipped,
which leaves every score above unchanged (ignored rows never enter a score). For the
confusion-matrix summary shared with VOC (``aAcc``, ``mAcc``, ``fwIoU``) the 19 evaluated rows
are used, with predictions of ignored labelIds as an extra "other" column.

Differences from the official script: labelIds outside 0..33, shape mismatches and unknown
instance labels raise ``ValueError`` (the official script exits or raises IndexError), and the
instance statistics are vectorised (per-instance sums in a different order: results agree to
~1e-12). The official instance path calls ``np.in1d``, removed in numpy 2.4; this module does
not need it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from cityscapesscripts.helpers.labels import category2labels, id2label, labels
from PIL import Image

from .confusion import (
    ConfusionMatrix,
    all_reduce_array,
    confusion_matrix,
    nanmean,
    to_numpy,
)

__all__ = [
    "NUM_LABEL_IDS",
    "EVAL_LABEL_IDS",
    "CLASS_NAMES",
    "INSTANCE_LABEL_IDS",
    "CATEGORIES",
    "train_to_label_ids",
    "label_to_train_ids",
    "instance_stats",
    "CityscapesEvaluator",
    "scores_from_matrix",
    "export_label_id_png",
    "prediction_name",
    "instance_path_for",
    "avg_class_size",
]

NUM_LABEL_IDS = 1 + max(lab.id for lab in labels)  # 34: labelIds 0..33, as generateMatrix
EVAL_LABEL_IDS = [
    lab.id
    for lab in sorted(labels, key=lambda x: x.trainId)
    if lab.id >= 0 and not lab.ignoreInEval
]
CLASS_NAMES = [id2label[i].name for i in EVAL_LABEL_IDS]
INSTANCE_LABEL_IDS = [i for i in EVAL_LABEL_IDS if id2label[i].hasInstances]
CATEGORIES = list(category2labels.keys())
# Categories with instance scores: every labelId >= 0 of the category has instances.
INSTANCE_CATEGORIES = [
    c for c in CATEGORIES if all(lab.hasInstances for lab in category2labels[c] if lab.id >= 0)
]

assert len(EVAL_LABEL_IDS) == 19 and [id2label[i].trainId for i in EVAL_LABEL_IDS] == list(
    range(19)
)

_TRAIN_TO_LABEL = np.full(256, 254, np.uint8)  # 254: marks an invalid trainId
_TRAIN_TO_LABEL[255] = 255
for _i in EVAL_LABEL_IDS:
    _TRAIN_TO_LABEL[id2label[_i].trainId] = _i
_LABEL_TO_TRAIN = np.full(256, 254, np.uint8)
for _lab in labels:
    if 0 <= _lab.id:
        _LABEL_TO_TRAIN[_lab.id] = _lab.trainId if 0 <= _lab.trainId < 255 else 255
# category index of a predicted labelId, for the instance categories (-1 elsewhere)
_CAT_OF_LABEL = np.full(256, -1, np.int64)
for _k, _c in enumerate(INSTANCE_CATEGORIES):
    for _lab in category2labels[_c]:
        if _lab.id >= 0:
            _CAT_OF_LABEL[_lab.id] = _k
# column of an instance label in the instance statistics (-1: not an evaluated instance class)
_INST_COL = np.full(256, -1, np.int64)
_INST_COL[INSTANCE_LABEL_IDS] = np.arange(len(INSTANCE_LABEL_IDS))


@functools.cache
def avg_class_size() -> dict[str, float]:
    """The official instance-size normalisers (``args.avgClassSize`` of the official module)."""
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official

    return dict(official.args.avgClassSize)


def _lookup(arr, lut: np.ndarray, what: str, name: str | None) -> np.ndarray:
    a = to_numpy(arr)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{what} of image '{name}' has dtype {a.dtype}; pass integer id maps.")
    if a.dtype != np.uint8:
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(
                f"{what} of image '{name}' has values outside 0..255; pass Cityscapes ids."
            )
        a = a.astype(np.uint8)
    out = lut[a]
    if out.size and out.max() == 254 and (out == 254).any():
        bad = sorted(set(a[out == 254].tolist()))[:8]
        raise ValueError(
            f"{what} of image '{name}' contains ids {bad} that are not valid here; trainIds are "
            "0..18 (255 = ignore) and labelIds 0..33. Tell the scorer which encoding the files "
            "use (pred_ids='train' or 'label')."
        )
    return out


def train_to_label_ids(arr, name: str | None = None) -> np.ndarray:
    """Map trainIds (0..18, 255 = ignore) to labelIds (uint8; 255 stays 255)."""
    return _lookup(arr, _TRAIN_TO_LABEL, "trainId map", name)


def label_to_train_ids(arr, name: str | None = None) -> np.ndarray:
    """Map labelIds (0..33) to trainIds (uint8; labels ignored in evaluation become 255)."""
    return _lookup(arr, _LABEL_TO_TRAIN, "labelId map", name)


def instance_stats(pred_label_ids, instance_ids, name: str | None = None) -> np.ndarray:
    """Instance statistics of one image: float64 ``(4, 8 + 2)``.

    Rows: tp, fn, tpWeighted, fnWeighted; columns: the 8 instance classes (order of
    ``INSTANCE_LABEL_IDS``) then the instance categories human, vehicle.
    """
    p = to_numpy(pred_label_ids)
    inst = to_numpy(instance_ids)
    if p.shape != inst.shape:
        raise ValueError(
            f"Prediction and instanceIds map of image '{name}' differ in shape ({p.shape} vs "
            f"{inst.shape}); predictions must be at full resolution."
        )
    ncls, ncat = len(INSTANCE_LABEL_IDS), len(INSTANCE_CATEGORIES)
    out = np.zeros((4, ncls + ncat), np.float64)
    sel = inst > 1000
    if not sel.any():
        return out
    ids = inst[sel].astype(np.int64)
    pv = p[sel].astype(np.int64)
    uniq, inv = np.unique(ids, return_inverse=True)
    lab = uniq // 1000
    if lab.max() >= NUM_LABEL_IDS:
        raise ValueError(
            f"instanceIds map of image '{name}' has instance ids {uniq[lab >= NUM_LABEL_IDS][:5]} "
            "whose labelId (id // 1000) is not a Cityscapes label; pass the *_instanceIds.png."
        )
    col = _INST_COL[lab]
    size = np.bincount(inv, minlength=uniq.size).astype(np.float64)
    tp = np.bincount(inv, weights=(pv == lab[inv]), minlength=uniq.size)
    cat = _CAT_OF_LABEL[lab]
    cat_tp = np.bincount(
        inv, weights=(_CAT_OF_LABEL[pv] == cat[inv]) & (cat[inv] >= 0), minlength=uniq.size
    )
    keep = col >= 0  # evaluated instance classes only (caravan, trailer are ignored)
    sizes = avg_class_size()
    w = np.array([sizes[id2label[int(i)].name] if k else 0.0 for i, k in zip(lab, keep)])
    w = np.divide(w, size)
    for row, vals in enumerate((tp, size - tp, tp * w, (size - tp) * w)):
        out[row, :ncls] = np.bincount(col[keep], weights=vals[keep], minlength=ncls)
    ck = keep & (cat >= 0)
    for row, vals in enumerate((cat_tp, size - cat_tp, cat_tp * w, (size - cat_tp) * w)):
        out[row, ncls:] = np.bincount(cat[ck], weights=vals[ck], minlength=ncat)
    return out


def _ratio(tp, fp, fn) -> float:
    denom = tp + fp + fn
    return float(tp) / denom if denom != 0 else float("nan")


def scores_from_matrix(mat: np.ndarray, inst: np.ndarray | None = None) -> dict:
    """Official scores (fractions 0-1) from the 34 x 34 labelId matrix and instance statistics.

    Returns ``classScores``, ``categoryScores``, ``averageScoreClasses``,
    ``averageScoreCategories`` and, when ``inst`` is given, ``classInstScores``,
    ``categoryInstScores``, ``averageScoreInstClasses``, ``averageScoreInstCategories`` (names
    of the official ``createResultDict``; only evaluated classes / categories are listed).
    """
    M = np.asarray(mat, dtype=np.int64)
    E = EVAL_LABEL_IDS
    out: dict = {}
    cls = {}
    for l in E:
        tp = M[l, l]
        cls[id2label[l].name] = _ratio(tp, M[E, l].sum() - tp, M[l, :].sum() - tp)
    out["classScores"] = cls
    cat = {}
    for c in CATEGORIES:
        L = [lab.id for lab in category2labels[c] if not lab.ignoreInEval and lab.id >= 0]
        if not L:
            cat[c] = float("nan")
            continue
        others = [i for i in E if id2label[i].category != c]
        tp = M[np.ix_(L, L)].sum()
        cat[c] = _ratio(tp, M[np.ix_(others, L)].sum(), M[L, :].sum() - tp)
    out["categoryScores"] = cat
    out["averageScoreClasses"] = nanmean(list(cls.values()))
    out["averageScoreCategories"] = nanmean(list(cat.values()))
    if inst is not None:
        ncls = len(INSTANCE_LABEL_IDS)
        icls = {}
        for k, l in enumerate(INSTANCE_LABEL_IDS):
            fp = M[E, l].sum() - M[l, l]
            icls[id2label[l].name] = _ratio(inst[2, k], fp, inst[3, k])
        icat = {}
        for k, c in enumerate(INSTANCE_CATEGORIES):
            L = [lab.id for lab in category2labels[c] if lab.id >= 0]
            others = [i for i in E if id2label[i].category != c]
            fp = M[np.ix_(others, L)].sum()
            icat[c] = _ratio(inst[2, ncls + k], fp, inst[3, ncls + k])
        out["classInstScores"] = icls
        out["categoryInstScores"] = icat
        out["averageScoreInstClasses"] = nanmean(list(icls.values()))
        out["averageScoreInstCategories"] = nanmean(list(icat.values()))
    return out


def eval_class_matrix(mat: np.ndarray) -> np.ndarray:
    """19 x 20 matrix of the evaluated rows: 19 trainId columns + "other" (ignored labelIds)."""
    M = np.asarray(mat, dtype=np.int64)
    sub = M[np.ix_(EVAL_LABEL_IDS, EVAL_LABEL_IDS)]
    other = M[EVAL_LABEL_IDS].sum(1) - sub.sum(1)
    return np.concatenate([sub, other[:, None]], axis=1)


class CityscapesEvaluator:
    """Streaming official Cityscapes evaluation (see the module docstring).

    ``pred_ids`` / ``gt_ids``: ``'label'`` (labelIds, the official files) or ``'train'``
    (trainIds, 255 = ignore; mmseg's ``*_gtFine_labelTrainIds.png``).
    """

    def __init__(self, pred_ids: str = "label", gt_ids: str = "label"):
        for arg, v in (("pred_ids", pred_ids), ("gt_ids", gt_ids)):
            if v not in ("label", "train"):
                raise ValueError(f"{arg} must be 'label' or 'train', got {v!r}.")
        self.pred_ids = pred_ids
        self.gt_ids = gt_ids
        self.cm = ConfusionMatrix(NUM_LABEL_IDS, ignore_index=255)
        self.inst = np.zeros((4, len(INSTANCE_LABEL_IDS) + len(INSTANCE_CATEGORIES)), np.float64)
        self.images_without_instances = 0

    def to_label_ids(self, arr, which: str, name: str | None = None) -> np.ndarray:
        enc = self.pred_ids if which == "pred" else self.gt_ids
        if enc == "train":
            return train_to_label_ids(arr, name)
        a = to_numpy(arr)
        return a

    def update(self, pred, gt, instance_ids=None, name: str | None = None):
        """Add one image; returns its ``(confusion 34x34, instance stats or None)``.

        ``instance_ids``: the ``*_gtFine_instanceIds.png`` map; without it the image is counted
        in ``images_without_instances`` and iIoU is not reported.
        """
        p = self.to_label_ids(pred, "pred", name)
        g = self.to_label_ids(gt, "gt", name)
        d_mat = confusion_matrix(p, g, NUM_LABEL_IDS, 255, name)
        self.cm.mat += d_mat
        self.cm.num_images += 1
        d_inst = None
        if instance_ids is None:
            self.images_without_instances += 1
        else:
            d_inst = instance_stats(p, instance_ids, name)
            self.inst += d_inst
        return d_mat, d_inst

    def merge(self, other: CityscapesEvaluator) -> CityscapesEvaluator:
        self.cm.merge(other.cm)
        self.inst += other.inst
        self.images_without_instances += other.images_without_instances
        return self

    __iadd__ = merge

    def all_reduce(self) -> CityscapesEvaluator:
        self.cm.all_reduce()
        all_reduce_array(self.inst)
        n = np.array([self.images_without_instances], np.int64)
        self.images_without_instances = int(all_reduce_array(n)[0])
        return self

    @property
    def has_instances(self) -> bool:
        return self.cm.num_images > 0 and self.images_without_instances == 0

    def official_scores(self) -> dict:
        """Scores with the official result-dict names (fractions; see ``scores_from_matrix``)."""
        return scores_from_matrix(self.cm.mat, self.inst if self.has_instances else None)

    def summary(self, class_names: Sequence[str] | None = None) -> dict[str, float]:
        """Percent (0-100, not rounded): ``aAcc``, ``mIoU``, ``mAcc``, ``fwIoU``,
        ``IoU.<class>`` (19), ``cat_IoU``, and with instance maps ``iIoU``, ``cat_iIoU``.

        ``mIoU`` is the official "IoU class" average, ``cat_IoU`` the "IoU category" average.
        """
        names = list(class_names) if class_names is not None else CLASS_NAMES
        if len(names) != len(CLASS_NAMES):
            raise ValueError(
                f"Cityscapes has 19 evaluated classes, got {len(names)} class names; check the "
                "dataset's metainfo."
            )
        off = self.official_scores()
        sub = eval_class_matrix(self.cm.mat)
        rows = sub.sum(1)
        total = rows.sum()
        diag = np.diag(sub[:, :19]).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = diag / rows
        iou = np.array([off["classScores"][n] for n in CLASS_NAMES])
        freq = rows / total if total else np.zeros(19)
        out = {
            "aAcc": 100.0 * (float(diag.sum() / total) if total else float("nan")),
            "mIoU": 100.0 * off["averageScoreClasses"],
            "mAcc": 100.0 * nanmean(acc),
            "fwIoU": 100.0 * (float((freq[freq > 0] * iou[freq > 0]).sum()) if total else np.nan),
        }
        for n, v in zip(names, iou):
            out[f"IoU.{n}"] = 100.0 * float(v)
        out["cat_IoU"] = 100.0 * off["averageScoreCategories"]
        if "averageScoreInstClasses" in off:
            out["iIoU"] = 100.0 * off["averageScoreInstClasses"]
            out["cat_iIoU"] = 100.0 * off["averageScoreInstCategories"]
        return out


def prediction_name(img_path: str | os.PathLike) -> str:
    """File name of the prediction PNG for an input image: ``<image stem>.png``.

    ``frankfurt_000000_000294_leftImg8bit.png`` -> ``frankfurt_000000_000294_leftImg8bit.png``:
    the official ``getPrediction`` matches ``<city>_<seq>_<frame>*.png`` anywhere under the
    results folder, so the image's own name is a valid, unambiguous submission name.
    """
    return Path(img_path).stem + ".png"


def export_label_id_png(
    pred,
    out_dir: str | os.PathLike,
    img_path: str | os.PathLike,
    pred_ids: str = "train",
    expected_shape: tuple[int, int] | None = None,
) -> Path:
    """Write ``pred`` as a labelId PNG (mode L) for the evaluation server; returns the path.

    All files go into one folder, ``out_dir / prediction_name(img_path)``. ``pred_ids`` is the
    encoding of ``pred`` (trainIds are converted). Pass ``expected_shape`` (``(1024, 2048)``
    for real Cityscapes) to refuse predictions that are not at full resolution.
    """
    p = to_numpy(pred).squeeze()
    if expected_shape is not None and p.shape != tuple(expected_shape):
        raise ValueError(
            f"Prediction for '{img_path}' has shape {p.shape}, the server needs full size "
            f"{tuple(expected_shape)}; resize the scores to the image size before the argmax."
        )
    if pred_ids == "train":
        p = train_to_label_ids(p, str(img_path))
        if (p == 255).any():
            raise ValueError(
                f"Prediction for '{img_path}' contains the ignore value 255; the server needs a "
                "labelId for every pixel."
            )
    elif p.dtype != np.uint8:
        p = p.astype(np.uint8)
    out = Path(out_dir) / prediction_name(img_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(p)).save(out)
    return out


def instance_path_for(seg_map_path: str | os.PathLike) -> Path | None:
    """``*_gtFine_labelTrainIds.png`` / ``*_gtFine_labelIds.png`` -> ``*_gtFine_instanceIds.png``.

    Returns None when the name has neither suffix.
    """
    s = str(seg_map_path)
    for suffix in ("_gtFine_labelTrainIds.png", "_gtFine_labelIds.png"):
        if s.endswith(suffix):
            return Path(s[: -len(suffix)] + "_gtFine_instanceIds.png")
    return None
