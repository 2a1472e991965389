"""Reading and writing label / prediction PNGs in the datasets' own encodings.

- VOC: 8-bit palette ("P") PNGs whose pixel values are class indices (0..20, 255 = void), with
  the VOC devkit colour map (``VOCdevkit/VOCcode/VOClabelcolormap.m``); reading one with PIL
  gives the indices directly. An 8-bit greyscale ("L") PNG of indices is accepted as well, and
  an RGB PNG painted with the VOC colour map is mapped back to indices (unknown colours raise).
- Cityscapes: 8-bit greyscale labelId / trainId PNGs and 16-bit (``I;16``/``I``) instanceIds.

The colour map is computed here (the devkit's bit-interleaving formula) because mmseg only
ships the 21 class colours, not the 256-entry palette with void (224, 224, 192).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["voc_palette", "read_label_png", "write_index_png", "read_rgb"]


@functools.cache
def voc_palette() -> np.ndarray:
    """The 256 x 3 uint8 VOC colour map (index 255, void, is (224, 224, 192));
    ``repro.data.check.voc_colormap``, computed once."""
    from repro.data.check import voc_colormap

    return voc_colormap(256)


def read_label_png(path: str | os.PathLike, palette: np.ndarray | None = None) -> np.ndarray:
    """Read an index map from a PNG: palette or greyscale as stored, RGB via ``palette``.

    ``palette`` defaults to the VOC colour map for RGB files. Raises ``FileNotFoundError`` /
    ``ValueError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Label/prediction file not found: {path}")
    with Image.open(path) as im:
        mode = im.mode
        if mode in ("P", "L", "I;16", "I;16B", "I;16L", "I", "1"):
            return np.asarray(im)
        if mode in ("RGB", "RGBA"):
            rgb = np.asarray(im.convert("RGB"))
        else:
            raise ValueError(
                f"{path} has PNG mode {mode}; write predictions as 8-bit index PNGs (mode L or P)."
            )
    pal = voc_palette() if palette is None else np.asarray(palette, np.uint8)
    code = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    keys = (pal[:, 0].astype(np.int32) << 16) | (pal[:, 1].astype(np.int32) << 8) | pal[:, 2]
    order = np.argsort(keys, kind="stable")
    pos = np.clip(np.searchsorted(keys[order], code), 0, len(keys) - 1)
    found = keys[order][pos] == code
    if not found.all():
        bad = np.unique(rgb[~found].reshape(-1, 3), axis=0)[:5].tolist()
        raise ValueError(
            f"{path} is an RGB image with colours {bad} that are not in the colour map; save "
            "predictions as index PNGs (mode L or P) instead of colour images."
        )
    return order[pos].astype(np.uint8)


def write_index_png(arr, path: str | os.PathLike, palette: np.ndarray | None | bool = True) -> Path:
    """Write a uint8 index map as PNG: palette PNG with ``palette`` (True: VOC), else mode L."""
    a = np.asarray(arr)
    if a.size and (a.min() < 0 or a.max() > 255):
        raise ValueError(f"Cannot write {path}: index values must be 0..255.")
    a = np.ascontiguousarray(a.astype(np.uint8))
    im = Image.fromarray(a)
    if palette is not None and palette is not False:
        pal = voc_palette() if palette is True else np.asarray(palette, np.uint8)
        im.putpalette(pal.reshape(-1).tolist())  # an L image becomes P, values kept
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"Cannot read image {path} (missing or not an image).")
    return np.ascontiguousarray(img[:, :, ::-1])
