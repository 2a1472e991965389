"""Evaluation protocols of the harness: every reported number is computed here.

- ``confusion``: streaming int64 confusion matrix, FCN score.py metrics (IoU, mIoU, aAcc, mAcc,
  fwIoU).
- ``boundary``: boundary / internal accuracy (GCN Table 5) and trimap curves (DeepLab v1).
- ``cityscapes``: the official Cityscapes scores (class / category IoU and iIoU), id
  conversion, evaluation-server export.
- ``metric``: ``ConfusionMatrixMetric``, the mmengine metric registered in mmseg's ``METRICS``
  (importing this package registers it).
- ``score``: scoring a folder of prediction PNGs (``repro score``).
- ``per_image``: the per-image confusion matrices of one evaluation and their file.
- ``bootstrap``: bootstrap intervals of mIoU over images, paired differences
  (``repro compare``).
"""

from .bootstrap import bootstrap_miou, paired_bootstrap, paired_difference
from .boundary import BoundaryAccuracy, Trimap, boundary_region, label_edges, plot_trimap
from .cityscapes import CityscapesEvaluator
from .confusion import ConfusionMatrix, confusion_matrix, summarize
from .metric import ConfusionMatrixMetric  # registers in mmseg.registry.METRICS
from .per_image import PerImageConfusion
from .score import main_score, score_folder

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
