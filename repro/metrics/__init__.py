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
"""

from .boundary import BoundaryAccuracy, Trimap, boundary_region, label_edges, plot_trimap
from .cityscapes import CityscapesEvaluator
from .confusion import ConfusionMatrix, confusion_matrix, summarize
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
    "Trimap",
    "boundary_region",
    "confusion_matrix",
    "label_edges",
    "main_score",
    "plot_trimap",
    "score_folder",
    "summarize",
]
