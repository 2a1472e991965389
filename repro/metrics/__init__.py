"""Evaluation protocols of the harness: every reported number is computed here.

- ``confusion``: streaming int64 confusion matrix, FCN score.py metrics (IoU, mIoU, aAcc, mAcc,
  fwIoU).
- ``boundary``: boundary / internal accuracy (GCN Table 5) and trimap curves (DeepLab v1).
- ``cityscapes``: the official Cityscapes scores (class / category IoU and iIoU), id
  conversion, evaluation-server export.
- ``metric``: ``ConfusionMatrixMetric``, the mmengine metric registered in mmseg's ``METRICS``
  (importing ``repro.metrics.metric`` registers it; this package imports it only when the name
  is used, so that scoring folders needs neither torch nor mmseg).
- ``score``: scoring a folder of prediction PNGs (``repro score``).
- ``per_image``: the per-image confusion matrices of one evaluation and their file.
- ``bootstrap``: bootstrap intervals of mIoU over images, paired differences
  (``repro compare``).
"""

from .bootstrap import bootstrap_miou, paired_bootstrap, paired_difference
from .boundary import BoundaryAccuracy, Trimap, boundary_region, label_edges, plot_trimap
from .cityscapes import CityscapesEvaluator
from .confusion import ConfusionMatrix, confusion_matrix, summarize
from .per_image import PerImageConfusion
from .score import main_score, score_folder


def __getattr__(name: str):
    if name == "ConfusionMatrixMetric":  # imports mmengine / mmseg / torch: only on demand
        from .metric import ConfusionMatrixMetric

        return ConfusionMatrixMetric
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BoundaryAccuracy",
    "CityscapesEvaluator",
    "ConfusionMatrix",
    "ConfusionMatrixMetric",
    "PerImageConfusion",
    "Trimap",
    "bootstrap_miou",
    "boundary_region",
    "confusion_matrix",
    "label_edges",
    "main_score",
    "paired_bootstrap",
    "paired_difference",
    "plot_trimap",
    "score_folder",
    "summarize",
]
