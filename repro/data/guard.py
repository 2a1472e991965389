"""``GuardedPipeline``: a dataset pipeline that names the file it failed on.

The runner wraps every dataset pipeline in it (never part of a config's hash). Without it a
truncated image, a label PNG that does not decode, or a label with a value outside the classes
surfaces mid-training as ``image file is truncated``, a shape error, or ``IndexError: Target
50 is out of bounds`` inside the loss, with no file named. Here:

- any exception raised by a transform becomes :class:`DataFileError` naming the image and
  label files of the sample and the fix;
- right after ``LoadAnnotations`` the label is checked: every value must be a class index
  (``0 .. num_classes-1``) or ``ignore_index`` (one vectorised comparison per sample), and its
  height x width must be the image's as loaded (``ori_shape``, which a ``Resize`` placed before
  ``LoadAnnotations`` in test pipelines leaves unchanged): a label of another size would
  otherwise be resized, cropped or padded along with the image and train silently on
  misaligned pixels, or fail later with a shape error that names no file.
"""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


class DataFileError(RuntimeError):
    """A dataset file failed to load or holds invalid values; the message names it."""


@TRANSFORMS.register_module()
class GuardedPipeline(BaseTransform):
    """Run ``transforms`` in order; name the sample's files on any failure (module docstring).

    Args:
        transforms: the dataset's own pipeline (transform configs or objects).
        num_classes: label values ``0 .. num_classes-1`` are classes.
        ignore_index: the void value (255).
    """

    def __init__(self, transforms: list, num_classes: int, ignore_index: int = 255):
        self.transforms = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in transforms]
        self.num_classes, self.ignore_index = num_classes, ignore_index

    def _files(self, results: dict) -> str:
        files = [str(results[k]) for k in ("img_path", "seg_map_path") if results.get(k)]
        return " / ".join(files) or "<unknown file>"

    def _check_label(self, results: dict) -> None:
        label = results.get("gt_seg_map")
        if not isinstance(label, np.ndarray):
            return
        image = results.get("ori_shape")
        if image is not None and tuple(label.shape[:2]) != tuple(image[:2]):
            raise DataFileError(
                f"{results.get('seg_map_path')}: label is {label.shape[0]}x{label.shape[1]} "
                f"(HxW) but its image {results.get('img_path')} is {image[0]}x{image[1]}. "
                "Replace the label with one of its image's size (or rerun `repro data prepare "
                "...`), then check the dataset with `repro data check`."
            )
        bad = (label >= self.num_classes) & (label != self.ignore_index)
        if bad.any():
            values = sorted(set(np.unique(label[bad]).tolist()))[:8]
            raise DataFileError(
                f"{results.get('seg_map_path')}: label values {values} are neither classes "
                f"(0..{self.num_classes - 1}) nor void ({self.ignore_index}). Fix or regenerate "
                "the label (`repro data prepare ...`), then check the dataset with `repro data "
                "check`."
            )

    def transform(self, results: dict):
        files = self._files(results)
        checked = False
        for t in self.transforms:
            try:
                results = t(results)
            except DataFileError:
                raise
            except Exception as e:  # noqa: BLE001 - re-raised with the file named
                raise DataFileError(
                    f"{files}: {type(t).__name__} failed ({type(e).__name__}: {e}). The file is "
                    "damaged or not what the dataset expects: replace it (or rerun `repro data "
                    "prepare ...`) and check the dataset with `repro data check`."
                ) from e
            if results is None:
                return None
            if not checked and "gt_seg_map" in results:
                self._check_label(results)
                checked = True
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transforms!r})"
