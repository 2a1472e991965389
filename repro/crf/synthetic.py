"""Synthetic scenes and network-like probabilities on which a dense CRF helps.

For the CRF tests and benchmarks only (``repro.data.synth`` writes whole datasets to disk; here we
need a few arrays in memory). A scene is a smooth colour background with textured objects
(ellipses, polygons, boxes) of random classes; the label map has VOC's void (255) band around
object outlines. The "network" output is what a stride-8 FCN/DeepLab produces: one-hot ground
truth average-pooled to 1/8 resolution, corrupted with logit noise and confusions between
classes, upsampled bilinearly and passed through a softmax. The CRF recovers the boundaries from
the colour edges, as on real data (DeepLab: +1..4 mIoU points).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["make_scene", "network_probs", "make_dataset"]


def make_scene(rng: np.random.Generator, height: int = 120, width: int = 160,
               num_classes: int = 21, max_objects: int = 4, void_band: int = 1,
               sensor_noise: float = 14.0, colour_jitter: float = 30.0, clutter: int = 6,
               low_contrast: float = 0.4, contrast: float = 25.0):
    """(image (H, W, 3) uint8 RGB, label (H, W) uint8 with 255 = void band)."""
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(40, 215, size=(2, 3))
    t = (xx / w * rng.uniform(-1, 1) + yy / h * rng.uniform(-1, 1)) * 0.5 + 0.5
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    # Background clutter: blobs of other colours that are still background (label 0).
    for _ in range(int(rng.integers(0, clutter + 1))):
        r = int(rng.uniform(0.03, 0.12) * min(h, w))
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        cv2.circle(img, centre, r, rng.uniform(30, 225, 3).tolist(), -1)
    label = np.zeros((h, w), np.uint8)
    edges = np.zeros((h, w), np.uint8)
    palette = rng.uniform(20, 235, size=(num_classes, 3))
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(1, num_classes))
        mask = np.zeros((h, w), np.uint8)
        cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
        ry, rx = rng.uniform(0.08, 0.35) * h, rng.uniform(0.08, 0.35) * w
        kind = rng.integers(3)
        if kind == 0:
            cv2.ellipse(mask, (int(cx), int(cy)), (int(rx), int(ry)), float(rng.uniform(0, 180)),
                        0, 360, 1, -1)
        elif kind == 1:
            ang = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
            rad = rng.uniform(0.5, 1.0, ang.size)
            pts = np.stack([cx + rx * rad * np.cos(ang), cy + ry * rad * np.sin(ang)], 1)
            cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
        else:
            cv2.rectangle(mask, (int(cx - rx), int(cy - ry)), (int(cx + rx), int(cy + ry)), 1, -1)
        m = mask.astype(bool)
        if not m.any():
            continue
        colour = palette[cls] + rng.normal(0, colour_jitter, 3)
        if rng.random() < low_contrast:  # camouflaged: close to the colours around it
            colour = img[m].mean(0) + rng.normal(0, contrast, 3)
        shade = 1.0 + 0.15 * (yy - cy) / max(ry, 1.0)
        period, phase = rng.uniform(4, 12), rng.uniform(0, 2 * np.pi)
        stripes = 1.0 + 0.12 * np.sin(2 * np.pi * (xx + yy) / period + phase)  # texture
        img[m] = np.clip(colour[None] * (shade * stripes)[m][:, None], 0, 255)
        label[m] = cls
        edges |= cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    img = img + rng.normal(0, sensor_noise, img.shape)  # sensor noise
    img = cv2.GaussianBlur(np.clip(img, 0, 255).astype(np.float32), (3, 3), 0.7)
    image = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if void_band > 0:
        band = cv2.dilate(edges, np.ones((2 * void_band - 1, 2 * void_band - 1), np.uint8))
        label = np.where(band > 0, 255, label).astype(np.uint8)
    return image, label


def network_probs(rng: np.random.Generator, label: np.ndarray, num_classes: int = 21,
                  stride: int = 8, noise: float = 1.0, confusion: float = 0.3,
                  scale: float = 5.0, noise_stride: int = 32) -> np.ndarray:
    """Coarse, noisy softmax (C, H, W) float32 of a stride-``stride`` network for ``label``."""
    h, w = label.shape
    # Void pixels take the class of their nearest labelled neighbour (what the network "sees").
    lab = label.copy()
    void = lab == 255
    if void.any():
        _, idx = cv2.distanceTransformWithLabels(
            void.astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
        )
        src = np.zeros(idx.max() + 1, np.uint8)
        src[idx[~void]] = lab[~void]
        lab[void] = src[idx[void]]
    onehot = np.eye(num_classes, dtype=np.float32)[lab]  # (H, W, C)
    hs, ws = max(1, h // stride), max(1, w // stride)
    # Area averaging, 4 channels per call (OpenCV's general INTER_AREA takes at most 4).
    coarse = np.concatenate(
        [cv2.resize(onehot[..., k : k + 4], (ws, hs), interpolation=cv2.INTER_AREA)
         .reshape(hs, ws, -1) for k in range(0, num_classes, 4)], axis=-1,
    )
    # Spatially coherent logit noise on the classes of the image (network errors come in
    # regions, and mostly between the classes that are there), plus a few confusions of an
    # object's score with another class.
    present = np.unique(lab)
    hn, wn = max(1, h // noise_stride), max(1, w // noise_stride)
    low = rng.normal(size=(hn, wn, present.size)).astype(np.float32)
    low = cv2.resize(low, (ws, hs), interpolation=cv2.INTER_CUBIC).reshape(hs, ws, -1)
    logits = scale * coarse
    logits[..., present] += noise * low
    for c in present:
        if c > 0 and rng.random() < confusion:
            other = int(rng.integers(1, num_classes))
            logits[..., other] += 0.7 * scale * coarse[..., c] * (low[..., 0] > 0)
    up = cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    up = up - up.max(-1, keepdims=True)
    p = np.exp(up)
    p /= p.sum(-1, keepdims=True)
    return np.ascontiguousarray(p.transpose(2, 0, 1)).astype(np.float32)


def make_dataset(n: int, height: int = 120, width: int = 160, num_classes: int = 21,
                 seed: int = 0, **probs_kw):
    """List of (name, probs (C, H, W), image (H, W, 3), label (H, W)) for ``n`` scenes."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        image, label = make_scene(rng, height, width, num_classes)
        probs = network_probs(rng, label, num_classes, **probs_kw)
        out.append((f"synth_{i:04d}", probs, image, label))
    return out
