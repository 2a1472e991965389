"""Streaming confusion matrix and the FCN ``score.py`` metrics.

Every number of the harness is computed from one confusion matrix accumulated over the whole
evaluation set (never a mean of per-image scores), as in FCN's ``score.py``
(shelhamer/fcn.berkeleyvision.org, ``fast_hist`` / ``do_seg_tests``):

- ``M[i, j]`` (int64) counts the pixels whose ground truth is class ``i`` and whose prediction
  is class ``j`` (rows = ground truth, columns = prediction), ``0 <= i, j < C``.
- Pixels whose label equals ``ignore_index`` (255, VOC "void") are not counted.
- per-class IoU ``IoU_c = M[c, c] / (sum_j M[c, j] + sum_i M[i, c] - M[c, c])``; a class absent
  from both the ground truth and the prediction has IoU NaN (0 / 0); a class absent from the
  ground truth but predicted somewhere has IoU 0.
- mean IoU ``mIoU = nanmean_c IoU_c`` (NaN classes are skipped, as ``np.nanmean`` in score.py).
- pixel accuracy ``aAcc = trace(M) / sum(M)``.
- per-class accuracy ``Acc_c = M[c, c] / sum_j M[c, j]`` (NaN if class c is absent from the
  ground truth); mean class accuracy ``mAcc = nanmean_c Acc_c``.
- frequency-weighted IoU ``fwIoU = sum_{c: f_c > 0} f_c * IoU_c`` with
  ``f_c = sum_j M[c, j] / sum(M)`` (score.py's ``fwavacc``).

These are also the numbers of mmseg's ``IoUMetric`` (``aAcc``, ``mIoU``, ``mAcc``), which sums
per-image ``torch.histc`` areas in float32; this module counts in int64, so it stays exact past
2**24 pixels per class.

Unlike score.py, which silently drops labels outside ``0..C-1``, a label value that is neither a
class nor ``ignore_index``, and a prediction outside ``0..C-1``, raise ``ValueError``: such values
mean a wrong file or a wrong label encoding, and dropping them would change the score silently.

Speed: one image costs one joint histogram of (label, prediction) with ``cv2.calcHist`` over
the two uint8 arrays (``C <= 256``), a ``256 x C`` table in which the label value 255 (or any
non-class value) lands in its own row, so void pixels need no masking pass and no index array
is built (~1 Gpix/s on one core; ``np.bincount(label * C + pred)`` reaches ~450 Mpix/s; see
``benchmarks/bench_metrics.py``). Other inputs (signed or wide labels, more classes) take a
masked ``np.bincount``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "ConfusionMatrix",
    "confusion_matrix",
    "per_class_iou",
    "per_class_accuracy",
    "mean_iou",
    "pixel_accuracy",
    "mean_accuracy",
    "fw_iou",
    "summarize",
    "nanmean",
    "to_numpy",
]


def to_numpy(x) -> np.ndarray:
    """Return ``x`` (numpy array, torch tensor on any device, or array-like) as a numpy array."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _unsigned(a: np.ndarray) -> np.ndarray:
    """``a`` viewed as the unsigned type of the same width (no copy)."""
    if a.dtype == np.bool_ or np.issubdtype(a.dtype, np.unsignedinteger):
        return a
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))


def _describe(name: str | None) -> str:
    return f"image '{name}'" if name is not None else "an image (pass name= to identify it)"


def _values(a: np.ndarray, bad: np.ndarray, limit: int = 8) -> str:
    vals = np.unique(a[bad])
    text = ", ".join(str(v) for v in vals[:limit].tolist())
    return text + (", ..." if vals.size > limit else "")


def confusion_matrix(
    pred, label, num_classes: int, ignore_index: int | None = 255, name: str | None = None
) -> np.ndarray:
    """Confusion matrix (int64, ``num_classes x num_classes``, rows = label) of one image.

    ``pred`` and ``label`` are integer arrays or tensors of the same shape (any shape). Raises
    ``ValueError`` naming the image for a shape mismatch, a prediction outside
    ``0..num_classes-1`` and a label value that is neither a class nor ``ignore_index``.
    """
    C = int(num_classes)
    if ignore_index is not None and 0 <= ignore_index < C:
        raise ValueError(
            f"ignore_index={ignore_index} is also a class index (0..{C - 1}); choose an "
            "ignore index outside the classes (VOC and Cityscapes trainIds use 255)."
        )
    p = to_numpy(pred)
    lab = to_numpy(label)
    if p.shape != lab.shape:
        raise ValueError(
            f"Prediction and label of {_describe(name)} differ in shape: prediction "
            f"{tuple(p.shape)}, label {tuple(lab.shape)}. Score at the label's (original image) "
            "size: resize the prediction scores to the label size before the argmax, or resize "
            "the label map with nearest-neighbour interpolation."
        )
    if not (np.issubdtype(p.dtype, np.integer) or p.dtype == bool):
        raise ValueError(
            f"Prediction of {_describe(name)} has dtype {p.dtype}; pass integer class indices "
            "(the argmax over the class scores), not scores or probabilities."
        )
    p = p.ravel()
    lab = lab.ravel()
    if p.size == 0:
        return np.zeros((C, C), np.int64)

    # Range check in one pass: seen as unsigned, negative values become huge.
    if int(_unsigned(p).max()) >= C:
        bad = (p < 0) | (p >= C)
        raise ValueError(
            f"Prediction of {_describe(name)} contains values {{{_values(p, bad)}}} outside the "
            f"classes 0..{C - 1}. Predictions must be class indices of the {C} classes (e.g. "
            "argmax over the score channels); convert other encodings (label ids, colours, a "
            "void value) to class indices first."
        )

    fast = C <= 256 and lab.dtype in (np.uint8, np.bool_)
    if not fast and C <= 256 and np.issubdtype(lab.dtype, np.integer):
        if int(_unsigned(lab).max()) <= 255:
            lab = lab.astype(np.uint8)
            fast = True
    if fast:
        hist = _hist_u8(lab.view(np.uint8), p if p.dtype == np.uint8 else p.astype(np.uint8), C)
        rows = hist[C:].sum(axis=1)
        if ignore_index is not None and C <= ignore_index <= 255:
            rows[ignore_index - C] = 0
        if rows.any():
            bad_vals = np.flatnonzero(rows) + C
            raise _label_error(name, C, ignore_index, ", ".join(map(str, bad_vals[:8].tolist())))
        return np.ascontiguousarray(hist[:C])

    # General path (signed or wide label values, or more than 256 classes): explicit masks.
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(
            f"Label of {_describe(name)} has dtype {lab.dtype}; labels must be integer maps."
        )
    valid = (lab >= 0) & (lab < C)
    invalid = ~valid
    if ignore_index is not None:
        invalid &= lab != ignore_index
    if invalid.any():
        raise _label_error(name, C, ignore_index, _values(lab, invalid))
    idx = lab[valid].astype(np.int64) * C + p[valid]
    return np.bincount(idx, minlength=C * C).reshape(C, C).astype(np.int64)


# cv2.calcHist returns float32: exact while every bin of one call stays below 2**24.
_CHUNK = 1 << 24


def _hist_u8(lab: np.ndarray, pred: np.ndarray, C: int) -> np.ndarray:
    """int64 (256, C) joint histogram of uint8 label values (rows) and predictions (< C).

    One ``cv2.calcHist`` over the two uint8 arrays: no index array is built, ~2x faster than
    ``np.bincount(label * C + pred)`` (which needs an intp copy of the indices).
    """
    hist = np.zeros((256, C), np.int64)
    for s in range(0, lab.size, _CHUNK):
        part = cv2.calcHist(
            [lab[s : s + _CHUNK], pred[s : s + _CHUNK]], [0, 1], None, [256, C], [0, 256, 0, C]
        )
        hist += part.astype(np.int64)
    return hist


def _label_error(name, C, ignore_index, values: str) -> ValueError:
    return ValueError(
        f"Label of {_describe(name)} contains values {{{values}}} that are neither a class "
        f"(0..{C - 1}) nor the ignore index ({ignore_index}). Check that the label is an index "
        "map of this dataset (a palette PNG read with PIL, not a colour image read with cv2; "
        "Cityscapes trainIds, not labelIds, unless the scorer is told so), or set ignore_index."
    )


def nanmean(x) -> float:
    """Mean over the non-NaN entries (NaN if there are none), without numpy's warning."""
    x = np.asarray(x, dtype=np.float64)
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def _div(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / b


def per_class_iou(mat: np.ndarray) -> np.ndarray:
    """``diag / (row + col - diag)`` per class (NaN where the class is in neither map)."""
    mat = np.asarray(mat)
    d = np.diag(mat)
    return _div(d, mat.sum(1) + mat.sum(0) - d)


def per_class_accuracy(mat: np.ndarray) -> np.ndarray:
    """``diag / row`` per class: recall (NaN where the class is absent from the ground truth)."""
    mat = np.asarray(mat)
    return _div(np.diag(mat), mat.sum(1))


def mean_iou(mat: np.ndarray) -> float:
    return nanmean(per_class_iou(mat))


def trivial_miou(mat: np.ndarray) -> float:
    """mIoU of predicting the most frequent ground-truth class everywhere, from the same
    matrix: that class gets IoU = its pixels / all pixels, every other class present in the
    ground truth 0 (absent ones NaN, as in :func:`mean_iou`). The level a model that learned
    nothing but the class frequencies reaches: a smoke row must beat it."""
    mat = np.asarray(mat)
    gt = mat.sum(1).astype(np.float64)
    if gt.sum() == 0:
        return float("nan")
    trivial = np.zeros_like(mat)
    trivial[:, int(gt.argmax())] = gt
    return mean_iou(trivial)


def pixel_accuracy(mat: np.ndarray) -> float:
    mat = np.asarray(mat)
    return float(_div(np.trace(mat), mat.sum()))


def mean_accuracy(mat: np.ndarray) -> float:
    return nanmean(per_class_accuracy(mat))


def fw_iou(mat: np.ndarray) -> float:
    mat = np.asarray(mat)
    total = mat.sum()
    if total == 0:
        return float("nan")
    freq = mat.sum(1) / total
    iou = per_class_iou(mat)
    keep = freq > 0
    return float((freq[keep] * iou[keep]).sum())


def summarize(mat: np.ndarray, class_names: Sequence[str] | None = None) -> dict[str, float]:
    """The metric dict of the harness, in percent (0-100, not rounded).

    Keys: ``aAcc``, ``mIoU``, ``mAcc``, ``fwIoU`` and ``IoU.<class name>`` for every class
    (class names default to the class indices).
    """
    mat = np.asarray(mat)
    C = mat.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(C)]
    if len(names) != C:
        raise ValueError(
            f"Got {len(names)} class names for a {C}-class confusion matrix; pass one name per "
            "class (dataset_meta['classes'])."
        )
    out = {
        "aAcc": 100.0 * pixel_accuracy(mat),
        "mIoU": 100.0 * mean_iou(mat),
        "mAcc": 100.0 * mean_accuracy(mat),
        "fwIoU": 100.0 * fw_iou(mat),
    }
    for n, v in zip(names, per_class_iou(mat)):
        out[f"IoU.{n}"] = 100.0 * float(v)
    return out


def all_reduce_array(arr: np.ndarray) -> np.ndarray:
    """Sum ``arr`` over the ranks of torch.distributed (in place); no-op when not initialised.

    Uses the process group's backend: CUDA tensors for NCCL, CPU tensors otherwise.
    """
    try:
        import torch
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a hard dependency of the project
        return arr
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return arr
    t = torch.from_numpy(np.ascontiguousarray(arr))
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    arr[...] = t.cpu().numpy()
    return arr


class ConfusionMatrix:
    """Streaming int64 confusion matrix over a whole evaluation set (FCN score.py semantics).

    ``update(pred, label, name=None)`` adds one image (numpy arrays or torch tensors, any
    shape); ``merge(other)`` / ``+`` combine partial matrices (e.g. from worker processes);
    ``all_reduce()`` sums over torch.distributed ranks. ``mat[i, j]``: ground truth i,
    prediction j. See the module docstring for the metric definitions.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255):
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.mat = np.zeros((self.num_classes, self.num_classes), np.int64)
        self.num_images = 0

    def update(self, pred, label, name: str | None = None) -> np.ndarray:
        """Add one image; returns its own C x C matrix (the per-image term just added)."""
        if name is None:
            name = f"<update #{self.num_images}>"
        d = confusion_matrix(pred, label, self.num_classes, self.ignore_index, name)
        self.mat += d
        self.num_images += 1
        return d

    def reset(self) -> None:
        self.mat[...] = 0
        self.num_images = 0

    def _check_compatible(self, other: ConfusionMatrix) -> None:
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"Can only merge a ConfusionMatrix, got {type(other).__name__}.")
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError(
                "Cannot merge confusion matrices of different protocols: "
                f"{self.num_classes} classes / ignore {self.ignore_index} vs "
                f"{other.num_classes} classes / ignore {other.ignore_index}; accumulate both "
                "with the same num_classes and ignore_index."
            )

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add ``other``'s counts to this matrix (in place) and return ``self``."""
        self._check_compatible(other)
        self.mat += other.mat
        self.num_images += other.num_images
        return self

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.merge(other)

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        out = self.copy()
        return out.merge(other)

    def copy(self) -> ConfusionMatrix:
        out = ConfusionMatrix(self.num_classes, self.ignore_index)
        out.mat = self.mat.copy()
        out.num_images = self.num_images
        return out

    def all_reduce(self) -> ConfusionMatrix:
        """Sum the matrix (and image count) over torch.distributed ranks; no-op if single."""
        buf = np.append(self.mat.ravel(), np.int64(self.num_images))
        all_reduce_array(buf)
        self.mat = buf[:-1].reshape(self.mat.shape).copy()
        self.num_images = int(buf[-1])
        return self

    @property
    def total(self) -> int:
        return int(self.mat.sum())

    def iou(self) -> np.ndarray:
        return per_class_iou(self.mat)

    def class_accuracy(self) -> np.ndarray:
        return per_class_accuracy(self.mat)

    def mean_iou(self) -> float:
        return mean_iou(self.mat)

    def pixel_accuracy(self) -> float:
        return pixel_accuracy(self.mat)

    def mean_accuracy(self) -> float:
        return mean_accuracy(self.mat)

    def fw_iou(self) -> float:
        return fw_iou(self.mat)

    def summary(self, class_names: Sequence[str] | None = None) -> dict[str, float]:
        """``aAcc``, ``mIoU``, ``mAcc``, ``fwIoU``, ``IoU.<class>`` in percent (not rounded)."""
        return summarize(self.mat, class_names)

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
            f"images={self.num_images}, pixels={self.total})"
        )
