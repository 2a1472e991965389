"""``ConfusionMatrixMetric``: the mmengine metric used by every config of the project.

Registered in ``mmseg.registry.METRICS``; use it as

    val_evaluator = dict(type='ConfusionMatrixMetric', dataset='voc')          # VOC, 21 classes
    val_evaluator = dict(type='ConfusionMatrixMetric', dataset='cityscapes')   # + iIoU, category
    val_evaluator = dict(type='ConfusionMatrixMetric', boundary_width=7)       # GCN Table 5
    test_evaluator = dict(type='ConfusionMatrixMetric', dataset='cityscapes',
                          output_dir='work_dirs/test_png', format_only=True)  # server files

What it computes (definitions in ``confusion.py``, ``boundary.py``, ``cityscapes.py``):
one confusion matrix per process, accumulated from ``pred_sem_seg`` and ``gt_sem_seg`` of every
data sample (memory independent of the number of images), summed over ranks with one
all-reduce in ``evaluate()`` (no per-image results are pickled). Returned keys, floats in
percent (0-100, not rounded):

- always: ``aAcc``, ``mIoU``, ``mAcc``, ``fwIoU``, ``IoU.<class name>`` per class;
- ``dataset='cityscapes'``: the official scores, ``mIoU`` = "IoU class", plus ``cat_IoU`` and,
  when every ground truth has its ``*_gtFine_instanceIds.png`` next to the
  ``*_gtFine_labelTrainIds.png`` (``seg_map_path``), ``iIoU`` and ``cat_iIoU``;
- ``boundary_width=w``: ``boundary_acc``, ``internal_acc``;
- ``trimap_widths=[...]``: ``trimap_acc.<w>``, ``trimap_mIoU.<w>`` per width.

The raw matrices of the last ``evaluate()`` stay on the metric for the harness:
``last_confusion`` (C x C, rows = ground truth, in ``dataset_meta['classes']`` order; for
Cityscapes the 19 evaluated classes), ``last_label_id_confusion`` (Cityscapes: the official
34 x 34 labelId matrix) and ``last_metrics``.

Distributed evaluation: mmengine's ``DefaultSampler`` pads the dataset to a multiple of the
world size by repeating samples; ``collect_results`` drops them by position (the sample at
position ``k`` of rank ``r`` is number ``k * world_size + r``). The metric applies the same rule:
each rank remembers the statistics of its last sample and removes them when that sample is
padding, so the distributed result equals the single-process one.

Per-image matrices (for the bootstrap confidence intervals of ``bootstrap.py``): with
``per_image=True`` or ``per_image_out='path.npz'`` the metric also keeps the C x C matrix of
every image (int64; Cityscapes: the 19 evaluated classes, as ``last_confusion``), sums them
into the same total, and after ``evaluate()`` holds them, keyed by image name (file stem of
``img_path``) in dataset order, as ``last_per_image`` (a ``PerImageConfusion``) on every rank;
the main process writes ``per_image_out`` (compressed, atomic; format in ``per_image.py``).
Memory grows with the number of images (C * C * 8 bytes each: 3.5 kB for VOC); across ranks
the matrices are gathered once with ``all_gather_object`` after the padding is dropped, and put
back in dataset order by the sampler's rule below.

Post-processing (dense CRF): with ``postprocess=dict(...)``, ``repro.crf.build_postprocessor``
builds a post-processor once; for every batch it gets ``(softmax(seg_logits) float32 (C, H, W),
RGB image uint8 (H, W, 3), name)`` per sample in ``pp.process_many(items)`` and returns the
label maps that are scored (and written) instead of ``pred_sem_seg``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from mmengine.dist import all_gather_object, get_dist_info, is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS

from .boundary import BoundaryAccuracy, Trimap, boundary_counts
from .cityscapes import (
    CLASS_NAMES as CITYSCAPES_CLASSES,
)
from .cityscapes import (
    EVAL_LABEL_IDS,
    CityscapesEvaluator,
    export_label_id_png,
    instance_path_for,
)
from .confusion import ConfusionMatrix, all_reduce_array, to_numpy
from .io import read_label_png, read_rgb, write_index_png
from .per_image import PerImageConfusion

__all__ = ["ConfusionMatrixMetric"]


def _field(sample, key):
    if isinstance(sample, dict):
        return sample.get(key)
    return getattr(sample, key, None)


def _pixel_data(sample, key):
    """``sample[key]['data']`` for dict samples, ``sample.key.data`` for SegDataSample."""
    v = _field(sample, key)
    if v is None:
        return None
    return v["data"] if isinstance(v, dict) else v.data


@METRICS.register_module()
class ConfusionMatrixMetric(BaseMetric):
    """Streaming confusion-matrix metric (FCN score.py / official Cityscapes semantics).

    Args:
        ignore_index: label value excluded from every score (void). Default 255.
        dataset: ``'voc'`` (any index-label dataset) or ``'cityscapes'`` (trainId labels and
            predictions; official scores incl. iIoU and category scores).
        boundary_width: also report ``boundary_acc`` / ``internal_acc`` for this band width.
        trimap_widths: also report accuracy and mIoU within these band widths.
        postprocess: config dict for ``repro.crf.build_postprocessor`` (e.g. dense CRF).
        output_dir: write one prediction PNG per image, named after the image
            (VOC: palette index PNG ``<stem>.png``; Cityscapes: labelId PNG ``<stem>.png``).
        format_only: only write the outputs (test sets without labels); returns ``{}``.
        per_image: keep every image's confusion matrix (``last_per_image`` after evaluate).
        per_image_out: also write them to this ``.npz`` file (implies ``per_image``).
        collect_device, prefix, collect_dir: as mmengine's ``BaseMetric``.
    """

    # Keys are the harness's metric names as they are ("mIoU", "IoU.cat"): no prefix (an empty
    # one, not None, which mmengine warns about at every evaluation).
    default_prefix: str | None = ""

    def __init__(
        self,
        ignore_index: int = 255,
        dataset: str = "voc",
        boundary_width: int | None = None,
        trimap_widths: Sequence[int] | None = None,
        postprocess: dict | None = None,
        output_dir: str | None = None,
        format_only: bool = False,
        per_image: bool = False,
        per_image_out: str | None = None,
        collect_device: str = "cpu",
        prefix: str | None = None,
        collect_dir: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if dataset not in ("voc", "cityscapes"):
            raise ValueError(f"dataset must be 'voc' or 'cityscapes', got {dataset!r}.")
        if format_only and output_dir is None:
            raise ValueError("format_only=True writes predictions only: also set output_dir.")
        if boundary_width is not None and (
            int(boundary_width) != boundary_width or boundary_width < 0
        ):
            raise ValueError(f"boundary_width must be a non-negative int, got {boundary_width}.")
        self.ignore_index = ignore_index
        self.dataset = dataset
        self.boundary_width = None if boundary_width is None else int(boundary_width)
        self.trimap_widths = None if not trimap_widths else [int(w) for w in trimap_widths]
        self.postprocess = postprocess
        self.output_dir = output_dir
        self.format_only = format_only
        self.per_image_out = None if per_image_out is None else str(per_image_out)
        self.per_image = bool(per_image) or per_image_out is not None
        self._pp = None
        self._warned_instances = False
        self.last_confusion: np.ndarray | None = None
        self.last_label_id_confusion: np.ndarray | None = None
        self.last_metrics: dict[str, float] | None = None
        self.last_per_image: PerImageConfusion | None = None
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        self._cm: ConfusionMatrix | None = None
        self._cs: CityscapesEvaluator | None = None
        self._boundary: BoundaryAccuracy | None = None
        self._trimap: Trimap | None = None
        self._count = 0
        self._last: dict = {}
        self._per_image: list[tuple[str, np.ndarray]] = []

    @property
    def class_names(self) -> list[str]:
        meta = self.dataset_meta or {}
        if "classes" in meta:
            return list(meta["classes"])
        if self.dataset == "cityscapes":
            return list(CITYSCAPES_CLASSES)
        raise RuntimeError(
            "ConfusionMatrixMetric needs dataset_meta['classes'] (set by mmengine from the "
            "dataset); set metric.dataset_meta = dict(classes=[...]) when using it by hand."
        )

    def _init_state(self) -> None:
        if self._cm is not None or self._cs is not None:
            return
        C = len(self.class_names)
        if self.dataset == "cityscapes":
            if C != 19:
                raise ValueError(
                    f"dataset='cityscapes' expects the 19 Cityscapes trainId classes, the "
                    f"dataset has {C}; use dataset='voc' for other index-label datasets."
                )
            self._cs = CityscapesEvaluator(pred_ids="train", gt_ids="train")
        else:
            self._cm = ConfusionMatrix(C, self.ignore_index)
        if self.boundary_width is not None:
            self._boundary = BoundaryAccuracy(self.boundary_width, self.ignore_index)
        if self.trimap_widths:
            self._trimap = Trimap(C, self.trimap_widths, self.ignore_index)

    # ---------------------------------------------------------------- process
    def _postprocessed(self, data_samples: Sequence) -> list[np.ndarray]:
        if self._pp is None:
            from repro.crf import build_postprocessor

            self._pp = build_postprocessor(self.postprocess)
        import torch

        items = []
        for ds in data_samples:
            img_path = _field(ds, "img_path")
            name = Path(img_path).stem
            logits = _pixel_data(ds, "seg_logits")
            if logits is None:
                raise ValueError(
                    f"Post-processing needs the class scores, but the data sample of '{name}' "
                    "has no seg_logits; use an mmseg segmentor (it stores them in predict)."
                )
            logits = torch.as_tensor(logits).detach().float().cpu()
            probs = torch.softmax(logits, dim=0).numpy().astype(np.float32, copy=False)
            img = read_rgb(img_path)
            if img.shape[:2] != probs.shape[1:]:
                raise ValueError(
                    f"Image '{img_path}' is {img.shape[:2]} but its scores are "
                    f"{probs.shape[1:]}; the scores must be at the original image size."
                )
            items.append((probs, img, name))
        labels = self._pp.process_many(items)
        if len(labels) != len(items):
            raise ValueError(
                f"The post-processor returned {len(labels)} label maps for {len(items)} images; "
                "process_many must return one (H, W) label map per item."
            )
        out = []
        for (probs, _, name), lab in zip(items, labels):
            lab = np.asarray(lab)
            if lab.shape != probs.shape[1:]:
                raise ValueError(
                    f"The post-processor returned shape {lab.shape} for '{name}', expected "
                    f"{probs.shape[1:]}."
                )
            out.append(lab)
        return out

    def _write(self, pred: np.ndarray, ds) -> None:
        img_path = _field(ds, "img_path")
        if self.dataset == "cityscapes":
            export_label_id_png(pred, self.output_dir, img_path, pred_ids="train")
        else:
            write_index_png(pred, Path(self.output_dir) / (Path(img_path).stem + ".png"))

    def _instances(self, ds, name: str):
        seg_map_path = _field(ds, "seg_map_path")
        path = instance_path_for(seg_map_path) if seg_map_path else None
        if path is not None and path.is_file():
            return read_label_png(path)
        if not self._warned_instances:
            print_log(
                f"No instanceIds PNG for '{name}' (looked for {path}, derived from "
                f"seg_map_path={seg_map_path}): iIoU and cat_iIoU are not reported. Generate "
                "the *_gtFine_instanceIds.png files next to the labelTrainIds ones.",
                logger="current",
                level=logging.WARNING,
            )
            self._warned_instances = True
        return None

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Add one batch of data samples (dicts or ``SegDataSample``) to this rank's matrix."""
        self._init_state()
        if self.postprocess is not None:
            preds = self._postprocessed(data_samples)
        else:
            preds = [to_numpy(_pixel_data(ds, "pred_sem_seg")) for ds in data_samples]
        for ds, pred in zip(data_samples, preds):
            pred = np.asarray(pred)
            if pred.ndim == 3 and pred.shape[0] == 1:
                pred = pred[0]
            img_path = _field(ds, "img_path")
            name = Path(img_path).name if img_path else f"<sample {self._count}>"
            ori_shape = _field(ds, "ori_shape")
            if ori_shape is not None and tuple(pred.shape) != tuple(ori_shape[:2]):
                raise ValueError(
                    f"Prediction of '{name}' has shape {pred.shape}, the image is "
                    f"{tuple(ori_shape[:2])}; the protocol scores at the original size "
                    "(mmseg resizes seg_logits to ori_shape in postprocess_result)."
                )
            if self.output_dir is not None:
                self._write(pred, ds)
            if self.format_only:
                continue
            gt = _pixel_data(ds, "gt_sem_seg")
            if gt is None:
                raise ValueError(
                    f"Data sample of '{name}' has no gt_sem_seg; add LoadAnnotations to the "
                    "test pipeline, or set format_only=True for a test set without labels."
                )
            gt = to_numpy(gt)
            if gt.ndim == 3 and gt.shape[0] == 1:
                gt = gt[0]
            last = {}
            if self._cs is not None:
                inst = self._instances(ds, name)
                last["cs"] = self._cs.update(pred, gt, inst, name)
                d = last["cs"][0][np.ix_(EVAL_LABEL_IDS, EVAL_LABEL_IDS)]
            else:
                d = self._cm.update(pred, gt, name)  # _cm has this metric's ignore_index
                last["cm"] = d
            if self.per_image:
                key = Path(img_path).stem if img_path else f"<sample {self._count}>"
                self._per_image.append((key, d))
                last["per_image"] = True
            if self._boundary is not None:
                c = boundary_counts(pred, gt, self.boundary_width, self.ignore_index, name)
                self._boundary.counts += c
                last["boundary"] = c
            if self._trimap is not None:
                last["trimap"] = self._trimap.update(pred, gt, name)
            self._count += 1
            self._last = last

    # --------------------------------------------------------------- evaluate
    def _drop_padding(self, size: int) -> None:
        """Remove this rank's last sample if it is sampler padding (see module docstring)."""
        rank, world = get_dist_info()
        if world == 1:
            return
        n = all_reduce_array(np.array([self._count], np.int64))[0]
        if n <= size or self._count == 0:
            return
        if (self._count - 1) * world + rank < size:
            return
        last = self._last
        if "cm" in last:
            self._cm.mat -= last["cm"]
            self._cm.num_images -= 1
        if "cs" in last:
            d_mat, d_inst = last["cs"]
            self._cs.cm.mat -= d_mat
            self._cs.cm.num_images -= 1
            if d_inst is None:
                self._cs.images_without_instances -= 1
            else:
                self._cs.inst -= d_inst
        if "boundary" in last:
            self._boundary.counts -= last["boundary"]
        if "trimap" in last:
            self._trimap.hist -= last["trimap"]
        if "per_image" in last:
            self._per_image.pop()
        self._count -= 1

    def _gather_per_image(self) -> PerImageConfusion:
        """Every rank's per-image matrices (padding already dropped), in dataset order."""
        _, world = get_dist_info()
        names, mats = [n for n, _ in self._per_image], [m for _, m in self._per_image]
        if world > 1:
            parts = all_gather_object((names, mats))
            # DefaultSampler: the sample at position k of rank r is number k * world + r.
            order = [k * world + r for r, (ns, _) in enumerate(parts) for k in range(len(ns))]
            flat_n = [n for ns, _ in parts for n in ns]
            flat_m = [m for _, ms in parts for m in ms]
            if sorted(order) == list(range(len(order))):
                names, mats = [None] * len(order), [None] * len(order)
                for pos, n, m in zip(order, flat_n, flat_m):
                    names[pos], mats[pos] = n, m
            else:  # not DefaultSampler's layout: keep rank order, and say so
                names, mats = flat_n, flat_m
                print_log(
                    "ConfusionMatrixMetric: the per-image matrices do not follow mmengine's "
                    "DefaultSampler layout; they are kept in rank order, not dataset order.",
                    logger="current",
                    level=logging.WARNING,
                )
        return PerImageConfusion.stack(names, self.class_names, mats)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Metrics of this rank's accumulated state (``evaluate`` reduces across ranks first)."""
        self._init_state()
        names = self.class_names
        if self._cs is not None:
            out = self._cs.summary(names)
            M = self._cs.cm.mat
            self.last_label_id_confusion = M.copy()
            self.last_confusion = M[np.ix_(EVAL_LABEL_IDS, EVAL_LABEL_IDS)].copy()
        else:
            out = self._cm.summary(names)
            self.last_confusion = self._cm.mat.copy()
        if self._boundary is not None:
            out.update(self._boundary.summary())
        if self._trimap is not None:
            out.update(self._trimap.summary())
        return out

    def _close_postprocessor(self) -> None:
        if self._pp is not None and hasattr(self._pp, "close"):
            self._pp.close()  # e.g. DenseCRF's process pool; rebuilt at the next evaluation
        self._pp = None

    def evaluate(self, size: int) -> dict:
        """All-reduce the per-rank matrices and return the metrics on every rank."""
        self._close_postprocessor()
        if self.format_only:
            print_log(f"Predictions written to {self.output_dir}.", logger="current")
            self._reset()
            return {}
        self._init_state()
        self._drop_padding(size)
        n_images = int(all_reduce_array(np.array([self._count], np.int64))[0])
        per_image = self._gather_per_image() if self.per_image else None
        if self._cs is not None:
            self._cs.all_reduce()
        else:
            self._cm.all_reduce()
        if self._boundary is not None:
            self._boundary.all_reduce()
        if self._trimap is not None:
            self._trimap.all_reduce()
        if n_images != size:
            print_log(
                f"ConfusionMatrixMetric scored {n_images} images but the dataset has {size}; "
                "with a custom sampler the padding rule of mmengine's DefaultSampler may not "
                "apply.",
                logger="current",
                level=logging.WARNING,
            )
        metrics = self.compute_metrics([])
        self.last_metrics = dict(metrics)
        self.last_per_image = per_image
        if per_image is not None and self.per_image_out and is_main_process():
            per_image.save(self.per_image_out)
        if is_main_process():
            self._log_table(metrics, n_images)
        if self.prefix:
            metrics = {f"{self.prefix}/{k}": v for k, v in metrics.items()}
        self._reset()
        return metrics

    def _log_table(self, metrics: dict[str, float], n_images: int) -> None:
        from tabulate import tabulate

        rows = [(k[4:], f"{v:.2f}") for k, v in metrics.items() if k.startswith("IoU.")]
        summary = [(k, f"{v:.2f}") for k, v in metrics.items() if not k.startswith("IoU.")]
        print_log(
            f"ConfusionMatrixMetric over {n_images} images:\n"
            + tabulate(rows, headers=["class", "IoU"])
            + "\n"
            + tabulate(summary, headers=["metric", "%"]),
            logger="current",
        )
