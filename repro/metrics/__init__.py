"""Evaluation protocols of the harness: every reported number is computed here.

- ``confusion``: streaming int64 confusion matrix, FCN score.py metrics (IoU, mIoU, aAcc, mAcc,
  fwIoU).
- ``boundary``: boundary / internal accuracy (GCN Table 5) and trimap curves (DeepLab v1).
- ``cityscapes``: the official Cityscapes scores (class / category IoU and iIoU), id
  conversion, evaluation-server export.
- ``metric``: ``ConfusionMatrixMetric``, the mmengine metric registered in mmseg's ``METRICS``
  (importing this package registers it).
- ``score``: scoring a folder of prediction PNGs (``repro score``).
"""

from .boundary import BoundaryAccuracy, Trimap, boundary_region, label_edges, plot_trimap
from .cityscapes import CityscapesEvaluator
from .confusion import ConfusionMatrix, confusion_matrix, summarize
from .metric import ConfusionMatrixMetric  # registers in mmseg.registry.METRICS
from .score import main_score, score_folder

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
