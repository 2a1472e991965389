"""Synthetic PASCAL VOC 2012 and Cityscapes, written in the real datasets' on-disk layouts.

Neither dataset can be downloaded on the development and CI machines, yet every pipeline of the
harness (mmseg datasets, training, scoring, the simulated evaluation servers) has to run end to
end. This module draws small random scenes and writes them exactly where and how the real
datasets keep their files, so that mmseg's stock ``PascalVOCDataset`` / ``CityscapesDataset`` and
the official ``cityscapesscripts`` read them unchanged. Numbers measured on these data say
nothing about the papers; every generated dataset carries a ``SYNTHETIC.json`` marker (see
``is_synthetic``) so that results on it can be flagged.

VOC (``make_voc``) -> ``out/VOCdevkit/VOC2012/``:

- ``JPEGImages/<id>.jpg`` with real-looking ids (``2011_000123``), JPEG quality 90.
- ``SegmentationClass/<id>.png``: palette PNGs with the standard 256-entry VOC colour map, values
  0..20 plus 255 = void. As in VOC, void is a band around every object outline (also where two
  objects touch) and the whole of a few small "difficult" objects. The band is
  ``void_band_width(W, H)`` px wide: 5 px at VOC's 500x375, scaled with the square root of the
  short side (3 px at 160x120, at least 1 px).
- ``SegmentationClassAug/<id>.png``: grayscale index PNGs, values 0..20, no void, like the SBD
  conversions; for every train, val and SBD-only id.
- ``ImageSets/Segmentation/``: ``train``, ``val``, ``trainval``; ``train_aug`` = train plus
  SBD-only ids (which have only ``SegmentationClassAug`` labels), disjoint from val; ``aug`` = the
  same list under the name mmseg's ``voc_aug`` converter and its stock config use; ``sbd_train`` =
  a subset of train_aug (FCN's SBD training list); ``seg11valid`` = a subset of val (FCN's reduced
  val, disjoint from sbd_train); ``test`` = ids with a JPEG and no label in the dataset.
- The test labels (both kinds) go to ``out/VOCdevkit/_synthetic_server_gt/`` for a simulated
  evaluation server. Real VOC has no such folder.

COCO (``make_voc(num_coco=N)``) -> ``out/coco/``, Microsoft COCO's own layout, then prepared into
the VOC root by ``repro.data.prepare.prepare_coco``, the code real COCO goes through:

- ``train2014/COCO_train2014_<id:012d>.jpg`` (about two thirds) and ``val2014/...``, at the VOC
  size (``COCO_PORTRAIT_SHARE`` of them turned to portrait), with
  ``annotations/instances_{train,val}2014.json`` (``images``, ``annotations``, ``categories``
  as COCO writes them): the 20 VOC categories under their COCO ids plus ``COCO_OTHER_CATEGORIES``
  (truck, umbrella, cup, teddy bear: background for the VOC protocols). Scenes are VOC-like;
  each visible object is one annotation, non-crowd ones as polygons (``cv2.findContours`` of the
  visible mask, pixel centres), a cluster of small same-class objects in some images as one crowd
  annotation (``iscrowd`` 1, uncompressed RLE, ids from 900100000000 as in COCO). Some images
  hold no VOC category and are dropped by the preparation; one val image is greyscale, as a few
  of COCO's are.
- ``out/coco/_synthetic_truth/<stem>.png``: the VOC label each kept image should get (crowd
  regions 255, other categories 0); the polygons make the prepared labels differ from it along
  object outlines only. Real COCO has no such folder.

Cityscapes (``make_cityscapes``) -> ``out/cityscapes/``:

- ``leftImg8bit/{train,val,test}/<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png`` with the
  real cities of each split, and ``gtFine/<split>/<city>/<stem>_gtFine_{labelIds,instanceIds,
  labelTrainIds,color}.png`` built from ``cityscapesscripts.helpers.labels`` as its
  ``json2labelImg`` / ``json2instanceImg`` / ``createTrainIdLabelImgs`` would: labelIds 0..33 (the
  ignored ones included: ego vehicle, out of roi, rectification border, static, dynamic, ground,
  parking, rail track, guard rail, bridge, tunnel, polegroup, caravan, trailer), trainIds with 255
  for ignored labels, instanceIds = labelId * 1000 + index for ``hasInstances`` classes (labelId
  alone for a few far "groups"), RGBA colour images. No ``_gtFine_polygons.json``.
- ``gtFine/test`` holds dummy labels as in the real download (labelIds all 0); the true test
  labels go to ``out/cityscapes/_synthetic_server_gt/gtFine/test/...``.
- Optional ``leftImg8bit/train_extra`` with ``gtCoarse/train_extra`` labels: the fine labels with
  every region eroded and the smallest regions dropped; the gaps are 0 (labelIds) / 255 (trainIds).

Appearance is learnable but not trivial: each class has its own colour distribution and a
texture (stripes, checks, dots or waves of a class-specific period, 3.5 to 10.5 px whatever the
image size, and orientation); VOC classes come in pairs that share a hue, half of them in both of
their colours, so colour alone does not always separate them. Every instance gets a
colour shift and a shading gradient, every image a lighting gradient, a colour cast, sensor
noise and a slight blur; VOC backgrounds are smooth colour fields with clutter shapes. Object
areas range from about 2 % of the image to image-filling; objects are ellipses, polygons, stars,
blobs and rounded boxes, painted large-to-small (VOC) or far-to-near (Cityscapes), so they
occlude each other. The class appearance table is fixed (independent of ``seed``): datasets made
with different seeds show the same world. Output is deterministic: the same arguments give the
same bytes (every image has its own ``numpy.random.Generator`` seeded by ``seed`` and its id).

Each maker writes ``SYNTHETIC.json`` (parameters, counts, a note) into the dataset root last, and
refuses to overwrite an existing dataset folder that lacks it (it may be a real one).
``ensure_synthetic`` caches generated datasets under a hash of their parameters and of
``GENERATOR_VERSION`` (bump it whenever the output of a given set of parameters changes).
``benchmarks/learnability.py`` checks that a small CNN learns the default synthetic VOC on CPU.
"""

from __future__ import annotations

import colorsys
import hashlib
import inspect
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from cityscapesscripts.helpers.labels import labels
from PIL import Image

from repro.data.check import MARKER, voc_colormap

__all__ = [
    "GENERATOR_VERSION",
    "COCO_OTHER_CATEGORIES",
    "MARKER",
    "SERVER_GT_DIR",
    "VOC_CLASSES",
    "coco_rle",
    "ensure_synthetic",
    "is_synthetic",
    "main_synth",
    "make_cityscapes",
    "make_voc",
    "parse_size",
    "void_band_width",
    "voc_colormap",
]

GENERATOR_VERSION = 4  # 3: COCO in COCO's layout, prepared by repro.data.prepare; 4: portraits
SERVER_GT_DIR = "_synthetic_server_gt"
JPEG_QUALITY = 90

VOC_CLASSES = tuple(
    "background aeroplane bicycle bird boat bottle bus car cat chair cow diningtable dog horse "
    "motorbike person pottedplant sheep sofa train tvmonitor".split()
)

# Real city names per split (train_extra: the coarse-only cities).
CITIES = {
    split: tuple(names.split())
    for split, names in {
        "train": "aachen bochum bremen cologne darmstadt dusseldorf erfurt hamburg hanover jena "
        "krefeld monchengladbach strasbourg stuttgart tubingen ulm weimar zurich",
        "val": "frankfurt lindau munster",
        "test": "berlin bielefeld bonn leverkusen mainz munich",
        "train_extra": "augsburg bad-honnef bamberg bayreuth dortmund dresden duisburg erlangen "
        "freiburg heidelberg heilbronn karlsruhe",
    }.items()
}

SYNTHETIC_NOTE = (
    "Synthetic data generated by repro.data.synth in the real dataset's layout; scores measured "
    "on it say nothing about the published results."
)


# --------------------------------------------------------------------------------------------
# Small public helpers


def void_band_width(width: int, height: int) -> int:
    """Width in px of the void band around VOC object outlines: 5 at 500x375, ~sqrt(short side)."""
    return max(1, round(5 * math.sqrt(min(width, height) / 375)))


def parse_size(size: str | Sequence[int]) -> tuple[int, int]:
    """``"WxH"`` or ``(W, H)`` -> ``(W, H)`` as ints, both positive."""
    if isinstance(size, str):
        parts = size.lower().split("x")
        if len(parts) != 2:
            raise ValueError(f"size {size!r} is not of the form WxH, e.g. 160x120")
        size = parts
    w, h = (int(v) for v in size)
    if w < 8 or h < 8:
        raise ValueError(f"size {w}x{h} is too small: both sides must be at least 8 px")
    return w, h


# --------------------------------------------------------------------------------------------
# Appearance: one _Look per class, a texture renderer and a painting canvas


@dataclass(frozen=True)
class _Look:
    color: np.ndarray  # mean RGB in 0..1
    color2: np.ndarray  # second colour of the pattern
    kind: str  # stripes | checker | dots | waves | grain | smooth
    period: float  # pattern period in px
    angle: float  # pattern orientation in radians
    jitter: float  # std of the per-instance colour shift
    noise: float  # std of the per-pixel noise


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h, s, v))


_PATTERNS = ("stripes", "checker", "dots", "waves")


def _voc_looks() -> list[_Look]:
    # Fixed seed: the class appearance is the same for every dataset seed.
    rng = np.random.default_rng(20121)
    looks = []
    for c in range(len(VOC_CLASSES)):
        # Classes 2k-1 and 2k share their main colour; in even pairs they share the pattern's
        # second colour too and differ in texture only, so colour alone is not always enough.
        # Ten hues, evenly spaced and visited out of order; saturation and value vary too.
        group, member = (c + 1) // 2, (c + 1) % 2
        if member == 0 or c == 0:
            hue = (group * 3 % 10) / 10
            color = _hsv(hue, (0.85, 0.55)[group % 2], (0.6, 0.75, 0.9)[group % 3])
            color = np.clip(color + rng.normal(0, 0.02, 3), 0.05, 0.95)
        if member == 0 or c == 0 or group % 2 == 1:
            delta = rng.normal(0, 1, 3)
            color2 = np.clip(color + 0.4 * delta / np.linalg.norm(delta), 0.0, 1.0)
        # The pair's first member has a fine pattern, the second a coarse one.
        if member == 0:
            kind, period = ("stripes", "checker")[group % 2], 3.5 + 0.75 * (group % 3)
        else:
            kind, period = ("dots", "waves")[group % 2], 7.5 + 1.5 * (group % 3)
        looks.append(
            _Look(
                color=color,
                color2=color2,
                kind=kind,
                period=period,
                angle=math.pi / 8 * (c % 8),
                jitter=0.05,
                noise=0.035,
            )
        )
    return looks


# Cityscapes textures by label name: (kind, period px, angle degrees); others get "grain".
_CITY_TEXTURES = {
    "ego vehicle": ("smooth", 0, 90),
    "rectification border": ("smooth", 0, 0),
    "out of roi": ("smooth", 0, 0),
    "static": ("checker", 5, 20),
    "dynamic": ("dots", 5, 0),
    "road": ("grain", 3, 0),
    "sidewalk": ("checker", 7, 0),
    "parking": ("stripes", 6, 30),
    "rail track": ("stripes", 3, 0),
    "building": ("dots", 6, 0),
    "wall": ("stripes", 8, 90),
    "fence": ("stripes", 3, 0),
    "guard rail": ("stripes", 4, 90),
    "bridge": ("checker", 9, 0),
    "tunnel": ("waves", 10, 90),
    "pole": ("smooth", 0, 0),
    "polegroup": ("smooth", 0, 0),
    "traffic light": ("dots", 3, 90),
    "traffic sign": ("smooth", 0, 45),
    "vegetation": ("grain", 4, 0),
    "terrain": ("grain", 6, 0),
    "sky": ("smooth", 0, 90),
    "person": ("stripes", 5, 90),
    "rider": ("stripes", 4, 45),
    "car": ("smooth", 0, 90),
    "truck": ("checker", 8, 0),
    "bus": ("stripes", 10, 90),
    "caravan": ("waves", 8, 0),
    "trailer": ("stripes", 6, 0),
    "train": ("dots", 8, 0),
    "motorcycle": ("waves", 4, 45),
    "bicycle": ("smooth", 0, 0),
}
_CITY_JITTER = {
    "person": 0.2,
    "rider": 0.2,
    "car": 0.18,
    "truck": 0.12,
    "bus": 0.1,
    "caravan": 0.1,
    "trailer": 0.1,
    "motorcycle": 0.12,
    "bicycle": 0.12,
}


def _city_looks() -> dict[int, _Look]:
    rng = np.random.default_rng(20162)
    looks = {}
    for lab in labels:
        if lab.id < 0:
            continue
        # The label colour (kept away from 0 and 1) plus a fixed per-class offset, so that the
        # black void labels and the pole / polegroup pair do not look identical.
        color = np.clip(0.12 + 0.76 * np.array(lab.color) / 255 + rng.normal(0, 0.04, 3), 0, 1)
        kind, period, angle = _CITY_TEXTURES.get(lab.name, ("grain", 5, 0))
        delta = rng.normal(0, 1, 3)
        looks[lab.id] = _Look(
            color=color,
            color2=np.clip(color + 0.22 * delta / np.linalg.norm(delta), 0, 1),
            kind=kind,
            period=float(period),
            angle=math.radians(angle),
            jitter=_CITY_JITTER.get(lab.name, 0.05),
            noise=0.03,
        )
    return looks


_VOC_LOOKS = _voc_looks()
_CITY_LOOKS = _city_looks()


def _texture(look: _Look, x0: int, y0: int, w: int, h: int, rng: np.random.Generator):
    """RGB float32 (h, w, 3) of one instance of ``look`` over the box at (x0, y0)."""
    xx = np.arange(x0, x0 + w, dtype=np.float32)[None, :]
    yy = np.arange(y0, y0 + h, dtype=np.float32)[:, None]
    angle = look.angle + rng.normal(0, 0.08)
    ca, sa = math.cos(angle), math.sin(angle)
    period = max(2.0, look.period * rng.uniform(0.88, 1.12))
    u = (xx * ca + yy * sa) * (2 * math.pi / period) + rng.uniform(0, 2 * math.pi)
    v = (yy * ca - xx * sa) * (2 * math.pi / period)
    if look.kind == "stripes":
        t = 0.5 + 0.5 * np.sin(u)
    elif look.kind == "checker":
        t = (np.sin(u) * np.sin(v) > 0).astype(np.float32)
    elif look.kind == "dots":
        t = (np.cos(u) + np.cos(v) > 1.0).astype(np.float32)
    elif look.kind == "waves":
        t = 0.5 + 0.5 * np.sin(u + 1.8 * np.sin(0.5 * v))
    elif look.kind == "grain":
        # Smooth random blotches about one period across.
        gh, gw = max(2, round(h / period) + 2), max(2, round(w / period) + 2)
        t = cv2.resize(
            rng.random((gh, gw), dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR
        )
    else:  # smooth: a gradient across the box
        t = (xx - x0) * ca / max(w, 1) + (yy - y0) * sa / max(h, 1)
        t = np.broadcast_to(t - t.min(), (h, w))
    shift = rng.normal(0, look.jitter, 3) + rng.normal(0, look.jitter)
    c1 = (look.color + shift).astype(np.float32)
    c2 = (look.color2 + shift).astype(np.float32)
    img = c1 + (c2 - c1) * t[..., None]
    # Shading: a linear brightness ramp across the instance.
    strength, direction = rng.uniform(0.0, 0.35), rng.uniform(0, 2 * math.pi)
    along = (xx - x0 - w / 2) * math.cos(direction) + (yy - y0 - h / 2) * math.sin(direction)
    img *= (1 + strength * along / max(w, h))[..., None]
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * look.noise
    return img


class _Canvas:
    """An image being painted together with its label, segment and instance maps."""

    def __init__(self, width: int, height: int, background_label: int = 0):
        self.w, self.h = width, height
        self.img = np.zeros((height, width, 3), np.float32)
        self.lab = np.full((height, width), background_label, np.uint8)
        self.seg = np.zeros((height, width), np.uint16)  # one id per painted region, 0 = none
        self.inst = np.full((height, width), background_label, np.int32)
        self.nseg = 0

    def mask(self) -> np.ndarray:
        return np.zeros((self.h, self.w), np.uint8)

    def paint(self, mask, look, rng, label=None, instance=None) -> int:
        """Paints ``look`` where ``mask``; ``label=None`` changes the image only (a detail).

        Returns the segment id given to the region (0 if nothing was painted).
        """
        x, y, w, h = cv2.boundingRect(mask)
        if w == 0 or h == 0:
            return 0
        sub = mask[y : y + h, x : x + w].astype(bool)
        self.img[y : y + h, x : x + w][sub] = _texture(look, x, y, w, h, rng)[sub]
        if label is None:
            return 0
        self.lab[y : y + h, x : x + w][sub] = label
        self.inst[y : y + h, x : x + w][sub] = label if instance is None else instance
        self.nseg += 1
        self.seg[y : y + h, x : x + w][sub] = self.nseg
        return self.nseg

    def finish(self, rng: np.random.Generator) -> np.ndarray:
        """Lighting gradient, colour cast, sensor noise and optics blur -> uint8 RGB."""
        xx = np.linspace(-0.5, 0.5, self.w, dtype=np.float32)[None, :]
        yy = np.linspace(-0.5, 0.5, self.h, dtype=np.float32)[:, None]
        light = rng.uniform(0.75, 1.2) * (
            1 + rng.uniform(-0.35, 0.35) * xx + rng.uniform(-0.35, 0.35) * yy
        )
        cast = (1 + rng.normal(0, 0.05, 3)).astype(np.float32)
        img = self.img * light[..., None] * cast
        img += rng.standard_normal(img.shape, dtype=np.float32) * 0.02
        img = cv2.GaussianBlur(img, (0, 0), 0.6)
        return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Shapes

_SHAPES = ("ellipse", "polygon", "star", "blob", "roundrect")


def _shape_points(kind, cx, cy, rx, ry, rot, rng) -> np.ndarray:
    """Outline of a random shape of the given kind, centre and radii, as int32 points (x16)."""
    n = 64
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if kind == "polygon":
        theta = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 9)))
        r = rng.uniform(0.75, 1.0, theta.size)
    elif kind == "star":
        k = int(rng.integers(4, 8))
        theta = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False) + rng.uniform(0, np.pi)
        r = np.where(np.arange(2 * k) % 2 == 0, 1.0, rng.uniform(0.4, 0.7))
    elif kind == "blob":
        r = np.ones(n)
        for k in range(2, 6):
            r += rng.uniform(0, 0.35 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    elif kind == "roundrect":  # superellipse |x|^4 + |y|^4 = 1
        r = (np.abs(np.cos(theta)) ** 4 + np.abs(np.sin(theta)) ** 4) ** -0.25
    else:
        r = np.ones(n)
    x, y = r * np.cos(theta) * rx, r * np.sin(theta) * ry
    cr, sr = math.cos(rot), math.sin(rot)
    pts = np.stack([cx + x * cr - y * sr, cy + x * sr + y * cr], axis=1)
    return np.round(pts * 16).astype(np.int32)


def _fill(mask: np.ndarray, pts: np.ndarray) -> np.ndarray:
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return mask


def _poly(canvas: _Canvas, pts: Sequence[Sequence[float]]) -> np.ndarray:
    return _fill(canvas.mask(), np.round(np.asarray(pts, np.float64) * 16).astype(np.int32))


def _box(canvas: _Canvas, x0, y0, x1, y1) -> np.ndarray:
    return _poly(canvas, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


# --------------------------------------------------------------------------------------------
# VOC scenes

# Per-class shape priors (fixed seed): a typical aspect ratio (rx / ry) and two shape kinds.
_prior_rng = np.random.default_rng(7)
_VOC_SHAPE_PRIOR = [
    (
        float(np.exp(_prior_rng.uniform(np.log(0.4), np.log(2.5)))),
        tuple(str(s) for s in _prior_rng.choice(_SHAPES, 2, replace=False)),
    )
    for _ in VOC_CLASSES
]
del _prior_rng


def _voc_background(canvas: _Canvas, rng: np.random.Generator) -> None:
    """A smooth random colour field plus clutter shapes of random colours (all label 0)."""
    gh, gw = rng.integers(2, 5, 2)
    field = rng.uniform(0.1, 0.9, (gh, gw, 3)).astype(np.float32)
    canvas.img[:] = cv2.resize(field, (canvas.w, canvas.h), interpolation=cv2.INTER_CUBIC)
    canvas.img += rng.standard_normal(canvas.img.shape, dtype=np.float32) * 0.03
    size = math.sqrt(canvas.w * canvas.h)
    for _ in range(rng.integers(2, 7)):
        color = rng.uniform(0.05, 0.95, 3)
        look = _Look(
            color=color,
            color2=np.clip(color + rng.normal(0, 0.15, 3), 0, 1),
            kind=str(rng.choice(["smooth", "grain"])),
            period=rng.uniform(8, 20),
            angle=rng.uniform(0, np.pi),
            jitter=0.0,
            noise=0.03,
        )
        r = size * rng.uniform(0.05, 0.3)
        pts = _shape_points(
            str(rng.choice(_SHAPES)),
            rng.uniform(0, canvas.w),
            rng.uniform(0, canvas.h),
            r * rng.uniform(0.4, 1.5),
            r * rng.uniform(0.4, 1.5),
            rng.uniform(0, np.pi),
            rng,
        )
        canvas.paint(_fill(canvas.mask(), pts), look, rng)


def _voc_scene(rng: np.random.Generator, width: int, height: int):
    """One VOC-like image: (RGB uint8, full labels 0..20, instance map, difficult instances)."""
    canvas = _Canvas(width, height)
    _voc_background(canvas, rng)
    n_classes = 1 + int(rng.random() < 0.45) + int(rng.random() < 0.15)
    classes = rng.choice(np.arange(1, len(VOC_CLASSES)), n_classes, replace=False)
    n_obj = min(6, max(n_classes, 1 + int(rng.poisson(1.3))))
    objects = []
    for i in range(n_obj):
        cls = int(classes[i] if i < n_classes else rng.choice(classes))
        # Area fraction log-uniform from 2 % of the image to image-filling.
        area = float(np.exp(rng.uniform(np.log(0.02), np.log(1.2))))
        objects.append((area, cls))
    objects.sort(key=lambda o: -o[0])  # large ones behind small ones
    difficult = []
    for area, cls in objects:
        aspect, kinds = _VOC_SHAPE_PRIOR[cls]
        aspect *= float(np.exp(rng.normal(0, 0.25)))
        ry = math.sqrt(area * width * height / (math.pi * aspect))
        rx = aspect * ry
        lo_x, hi_x = min(0.8 * rx, width / 2), max(width - 0.8 * rx, width / 2)
        lo_y, hi_y = min(0.8 * ry, height / 2), max(height - 0.8 * ry, height / 2)
        pts = _shape_points(
            str(rng.choice(kinds)),
            rng.uniform(lo_x, hi_x),
            rng.uniform(lo_y, hi_y),
            rx,
            ry,
            rng.normal(0, 0.3),
            rng,
        )
        seg = canvas.paint(_fill(canvas.mask(), pts), _VOC_LOOKS[cls], rng, label=cls)
        if seg and area < 0.06 and rng.random() < 0.05:
            difficult.append(seg)  # VOC marks "difficult" objects void as a whole
    return canvas.finish(rng), canvas.lab, canvas.seg, difficult


def _voc_void(lab: np.ndarray, seg: np.ndarray, difficult: list[int]) -> np.ndarray:
    """VOC's SegmentationClass labels: a void band on every instance outline, difficult = void."""
    h, w = seg.shape
    # Mark the pixel left of / above every change of instance, then widen it to the band width:
    # a band of void_band_width px straddling the outline, none along the image border.
    edge = np.zeros((h, w), np.uint8)
    edge[:, :-1] |= seg[:, :-1] != seg[:, 1:]
    edge[:-1, :] |= seg[:-1, :] != seg[1:, :]
    bw = void_band_width(w, h)
    band = cv2.dilate(edge, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (bw, bw)))
    out = lab.copy()
    out[band.astype(bool)] = 255
    if difficult:
        out[np.isin(seg, difficult)] = 255
    return out


def _voc_ids(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct VOC-style ids (``2007_000032``), in random order."""
    ids: set[str] = set()
    out = []
    while len(out) < n:
        vid = f"{rng.integers(2007, 2013)}_{rng.integers(1, 8000):06d}"
        if vid not in ids:
            ids.add(vid)
            out.append(vid)
    return out


def _prepare_target(path: Path) -> None:
    """Removes a previous synthetic dataset at ``path``; refuses to touch anything else."""
    if not path.exists():
        return
    if not (path / MARKER).is_file():
        raise FileExistsError(
            f"{path} exists and has no {MARKER}, so it may be a real dataset: refusing to "
            "overwrite it. Pass an output folder that does not hold a real dataset."
        )
    shutil.rmtree(path)


def _write_marker(root: Path, dataset: str, params: dict, counts: dict) -> None:
    info = {
        "synthetic": True,
        "note": SYNTHETIC_NOTE,
        "dataset": dataset,
        "generator": "repro.data.synth",
        "generator_version": GENERATOR_VERSION,
        "params": params,
        "counts": counts,
    }
    (root / MARKER).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def _save_index_png(arr: np.ndarray, path: Path, palette: np.ndarray | None = None) -> None:
    img = Image.fromarray(arr, "P" if palette is not None else "L")
    if palette is not None:
        img.putpalette(palette.tobytes())
    img.save(path)


def make_voc(
    out: str | Path,
    seed: int = 0,
    size: tuple[int, int] | str = (160, 120),
    num_train: int = 120,
    num_val: int = 40,
    num_test: int = 40,
    num_sbd_extra: int | None = None,
    num_coco: int = 0,
) -> Path:
    """Writes a synthetic VOC 2012 (+ SBD aug labels) under ``out/VOCdevkit/VOC2012``.

    ``size`` is (W, H). ``num_sbd_extra`` SBD-only ids (default: ``num_train``) make train_aug
    larger than train. ``num_coco`` images of a synthetic COCO 2014 in COCO's layout under
    ``out/coco`` (module docstring), then prepared into the VOC root as the split ``coco`` by
    ``repro.data.prepare.prepare_coco`` (GCN Tables 7-8 Stage-1, Dilation Tables 3-4). Returns
    the dataset root ``out/VOCdevkit/VOC2012``.
    """
    width, height = parse_size(size)
    n_extra = num_train if num_sbd_extra is None else num_sbd_extra
    if min(num_train, num_val, num_test, n_extra, num_coco) < 0:
        raise ValueError("image counts must not be negative")
    params = dict(
        seed=seed,
        size=[width, height],
        num_train=num_train,
        num_val=num_val,
        num_test=num_test,
        num_sbd_extra=n_extra,
        num_coco=num_coco,
    )
    out = Path(out)
    root = out / "VOCdevkit" / "VOC2012"
    server = out / "VOCdevkit" / SERVER_GT_DIR
    coco_dir = out / "coco"
    _prepare_target(root)
    if num_coco or (coco_dir / MARKER).is_file():
        _prepare_target(coco_dir)  # refuses a real COCO there
    if server.exists():
        shutil.rmtree(server)  # only ever written by this function

    # Split assignment.
    rng = np.random.default_rng([seed, 0])
    ids = _voc_ids(rng, num_train + num_val + n_extra + num_test)
    train = sorted(ids[:num_train])
    val = sorted(ids[num_train : num_train + num_val])
    extra = sorted(ids[num_train + num_val : num_train + num_val + n_extra])
    n_seen = num_train + num_val + n_extra
    test = sorted(ids[n_seen : n_seen + num_test])
    train_aug = sorted(train + extra)
    # FCN's SBD train list: most of train_aug (8498 of 10582 in reality).
    sbd_train = sorted(rng.choice(train_aug, round(0.8 * len(train_aug)), replace=False).tolist())
    # FCN's seg11valid: about half of val (736 of 1449), and val is disjoint from train_aug.
    seg11valid = sorted(rng.choice(val, (len(val) + 1) // 2, replace=False).tolist())
    lists = {
        "train": train,
        "val": val,
        "trainval": sorted(train + val),
        "train_aug": train_aug,
        "aug": train_aug,
        "sbd_train": sbd_train,
        "seg11valid": seg11valid,
        "test": test,
    }

    dirs = {
        name: root / name
        for name in (
            "JPEGImages",
            "SegmentationClass",
            "SegmentationClassAug",
            "ImageSets/Segmentation",
        )
    }
    dirs.update({f"server/{k}": server / k for k in ("SegmentationClass", "SegmentationClassAug")})
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    palette = voc_colormap()
    kinds = {
        **{i: "both" for i in train + val},
        **{i: "aug" for i in extra},
        **{i: "test" for i in test},
    }
    for vid in sorted(kinds):
        img, lab, seg, difficult = _voc_scene(
            np.random.default_rng([seed, 1, int(vid.replace("_", ""))]), width, height
        )
        Image.fromarray(img).save(dirs["JPEGImages"] / f"{vid}.jpg", quality=JPEG_QUALITY)
        prefix = "server/" if kinds[vid] == "test" else ""
        _save_index_png(lab, dirs[prefix + "SegmentationClassAug"] / f"{vid}.png")
        if kinds[vid] != "aug":
            _save_index_png(
                _voc_void(lab, seg, difficult),
                dirs[prefix + "SegmentationClass"] / f"{vid}.png",
                palette,
            )
    for name, ids_ in lists.items():
        (dirs["ImageSets/Segmentation"] / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids_))
    counts = {k: len(v) for k, v in lists.items()}
    if num_coco:
        counts["coco"] = _coco_into_voc(coco_dir, root, seed, (width, height), num_coco)
    _write_marker(root, "voc", params, counts)
    return root


def _coco_into_voc(coco_dir: Path, root: Path, seed: int, size: tuple[int, int], n: int) -> int:
    """The synthetic COCO, prepared into ``root`` as real COCO is; returns the split's size."""
    from repro.data.prepare import prepare_coco

    kept = _make_coco(coco_dir, seed, size, n)
    sets = {"train2014": round(n * 2 / 3), "val2014": n - round(n * 2 / 3)}
    _write_marker(coco_dir, "coco", dict(seed=seed, size=list(size), num_images=n), sets)
    report = prepare_coco(coco_dir, root, workers=0, progress=False)
    listed = (root / "ImageSets" / "Segmentation" / "coco.txt").read_text().split()
    if not report.ok or set(listed) != kept:
        raise RuntimeError(f"The synthetic COCO did not prepare into {len(kept)} images: "
                           + report.format())
    return len(listed)


# --------------------------------------------------------------------------------------------
# COCO scenes, in COCO's own layout

#: COCO categories drawn besides the 20 VOC ones: (id, name, supercategory), as in COCO.
COCO_OTHER_CATEGORIES = (
    (8, "truck", "vehicle"), (28, "umbrella", "accessory"), (47, "cup", "kitchen"),
    (88, "teddy bear", "indoor"),
)
COCO_TRUTH_DIR = "_synthetic_truth"
#: Share of portrait (H > W) images, as COCO has (the training crop reaches every part of a
#: concatenated dataset: ``repro.profiles.set_crop``).
COCO_PORTRAIT_SHARE = 0.25


def _coco_voc_categories() -> list[tuple[int, int, str, str]]:
    """(VOC index, COCO id, COCO name, supercategory) of the 20 VOC classes."""
    from repro.data.prepare import VOC_COCO_CATEGORIES

    supercategory = {"person": "person", "bird": "animal", "cat": "animal", "dog": "animal",
                     "horse": "animal", "sheep": "animal", "cow": "animal", "bottle": "kitchen",
                     "chair": "furniture", "couch": "furniture", "potted plant": "furniture",
                     "dining table": "furniture", "tv": "electronic"}
    return [(index, cid, name, supercategory.get(name, "vehicle"))
            for index, _, cid, name in VOC_COCO_CATEGORIES]


def _other_looks() -> list[_Look]:
    rng = np.random.default_rng(2014)
    return [_Look(color=rng.uniform(0.1, 0.9, 3), color2=rng.uniform(0.1, 0.9, 3),
                  kind=kind, period=float(period), angle=float(rng.uniform(0, np.pi)),
                  jitter=0.05, noise=0.035)
            for kind, period in zip(("grain", "smooth", "checker", "waves"), (6, 0, 5, 9))]


_OTHER_LOOKS = _other_looks()


def coco_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a binary mask (its crowd annotations): run lengths in column
    (Fortran) order, starting with a run of zeros. (pycocotools encodes compressed RLE only.)"""
    flat = np.asarray(mask, bool).ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.r_[0, edges, flat.size]).tolist()
    return {"counts": ([0] if flat.size and flat[0] else []) + counts,
            "size": [int(mask.shape[0]), int(mask.shape[1])]}


def _polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons of a mask's outer outlines: through the outline pixels' centres, out to
    the image edge where the mask touches it (as COCO's annotators drew)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    h, w = mask.shape
    out = []
    for c in contours:
        if len(c) < 3:
            continue
        xy = c.reshape(-1, 2).astype(np.float64) + 0.5
        for axis, size in ((0, w), (1, h)):
            xy[xy[:, axis] == 0.5, axis] = 0.0
            xy[xy[:, axis] == size - 0.5, axis] = float(size)
        out.append([round(float(v), 2) for v in xy.reshape(-1)])
    return out


def _coco_scene(rng: np.random.Generator, width: int, height: int):
    """One COCO-like image: (RGB uint8, segment map, objects); an object is (COCO category id,
    VOC index or 0, crowd, segment ids), in painting order."""
    canvas = _Canvas(width, height)
    _voc_background(canvas, rng)
    voc = _coco_voc_categories()
    n_voc = int(rng.choice(4, p=[0.15, 0.45, 0.3, 0.1]))
    n_other = max(int(n_voc == 0), int(rng.choice(3, p=[0.4, 0.4, 0.2])))
    items = [(float(np.exp(rng.uniform(np.log(0.02), np.log(0.8)))), "voc", int(c))
             for c in rng.choice(len(voc), n_voc, replace=False)]
    items += [(float(np.exp(rng.uniform(np.log(0.02), np.log(0.3)))), "other",
               int(rng.integers(len(COCO_OTHER_CATEGORIES)))) for _ in range(n_other)]
    items.sort(key=lambda o: -o[0])  # large ones behind small ones
    objects = []
    for area, kind, k in items:
        if kind == "voc":
            index, cid = voc[k][0], voc[k][1]
            aspect, kinds = _VOC_SHAPE_PRIOR[index]
            look = _VOC_LOOKS[index]
        else:
            index, cid = 0, COCO_OTHER_CATEGORIES[k][0]
            aspect, kinds = float(np.exp(rng.uniform(-0.7, 0.7))), _SHAPES
            look = _OTHER_LOOKS[k]
        ry = math.sqrt(area * width * height / (math.pi * aspect))
        rx = aspect * ry
        pts = _shape_points(str(rng.choice(kinds)), rng.uniform(0.2, 0.8) * width,
                            rng.uniform(0.2, 0.8) * height, rx, ry, rng.normal(0, 0.3), rng)
        seg = canvas.paint(_fill(canvas.mask(), pts), look, rng, label=index)
        objects.append((cid, index, 0, [seg]))
    if n_voc and rng.random() < 0.3:  # a crowd: small same-class objects close together
        index, cid = voc[int(rng.integers(len(voc)))][:2]
        cx, cy = rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height
        r = 0.06 * math.sqrt(width * height)
        segs = []
        for _ in range(int(rng.integers(3, 6))):
            pts = _shape_points("ellipse", cx + rng.normal(0, 1.2 * r), cy + rng.normal(0, r),
                                r * rng.uniform(0.5, 1), r * rng.uniform(0.5, 1), 0, rng)
            segs.append(canvas.paint(_fill(canvas.mask(), pts), _VOC_LOOKS[index], rng,
                                     label=index))
        objects.append((cid, index, 1, segs))
    return canvas.finish(rng), canvas.seg, objects


def _make_coco(out: Path, seed: int, size: tuple[int, int], n: int) -> set[str]:
    """COCO 2014 train/val in COCO's layout under ``out`` (module docstring). Returns the stems
    of the images holding a VOC category (those the preparation must keep)."""
    width, height = size
    rng = np.random.default_rng([seed, 2])
    ids = rng.choice(np.arange(1, 600000), n, replace=False).tolist()
    n_train = round(n * 2 / 3)
    categories = [dict(id=cid, name=name, supercategory=sup)
                  for _, cid, name, sup in _coco_voc_categories()]
    categories += [dict(id=cid, name=name, supercategory=sup)
                   for cid, name, sup in COCO_OTHER_CATEGORIES]
    categories.sort(key=lambda c: c["id"])
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    (out / COCO_TRUTH_DIR).mkdir(exist_ok=True)
    kept: set[str] = set()
    crowd_id = 900100000000
    ann_id = 1
    for set_name, set_ids in (("train2014", ids[:n_train]), ("val2014", ids[n_train:])):
        (out / set_name).mkdir(exist_ok=True)
        images, annotations = [], []
        for i, img_id in enumerate(sorted(set_ids)):
            img_rng = np.random.default_rng([seed, 3, img_id])
            w, h = (height, width) if img_rng.random() < COCO_PORTRAIT_SHARE else (width, height)
            img, seg, objects = _coco_scene(img_rng, w, h)
            name = f"COCO_{set_name}_{img_id:012d}.jpg"
            pil = Image.fromarray(img)
            if set_name == "val2014" and i == 0:
                pil = pil.convert("L")  # COCO has a few greyscale images
            pil.save(out / set_name / name, quality=JPEG_QUALITY)
            images.append(dict(id=img_id, file_name=name, width=w, height=h, license=1,
                               date_captured="2013-11-14 11:18:45"))
            truth = np.zeros((h, w), np.uint8)
            for cid, index, crowd, segs in objects:
                mask = np.isin(seg, segs)
                if mask.sum() < 6:
                    continue  # hidden behind later objects: COCO annotates what is visible
                polygons = [] if crowd else _polygons(mask)
                if not crowd and not polygons:
                    continue
                x, y, bw, bh = cv2.boundingRect(mask.astype(np.uint8))
                if crowd:
                    crowd_id += 1
                annotations.append(dict(
                    id=crowd_id if crowd else ann_id, image_id=img_id, category_id=cid,
                    iscrowd=crowd, area=float(mask.sum()), bbox=[x, y, bw, bh],
                    segmentation=coco_rle(mask) if crowd else polygons))
                ann_id += 0 if crowd else 1
                truth[mask] = 255 if crowd else index
                if index:
                    kept.add(Path(name).stem)
            if Path(name).stem in kept:
                _save_index_png(truth, out / COCO_TRUTH_DIR / f"{Path(name).stem}.png")
        info = dict(description="synthetic COCO 2014 (repro.data.synth)", note=SYNTHETIC_NOTE,
                    version="1.0", year=2014)
        doc = dict(info=info, licenses=[dict(id=1, name="synthetic", url="")], images=images,
                   annotations=annotations, categories=categories)
        (out / "annotations" / f"instances_{set_name}.json").write_text(json.dumps(doc))
    return kept


# --------------------------------------------------------------------------------------------
# Cityscapes scenes

_L = {lab.name: lab.id for lab in labels}

# name: (weight, pixel height per px of depth below the horizon, width / height range)
# A camera ~1.2 m above the road sees an object of height h metres standing at image row y as
# about h / 1.2 * (y - horizon) px tall.
_CITY_OBJECTS = {
    "car": (0.40, 1.25, (1.2, 2.4)),
    "person": (0.22, 1.4, (0.3, 0.45)),
    "rider": (0.06, 1.45, (0.35, 0.5)),
    "bicycle": (0.07, 0.85, (1.3, 1.8)),
    "motorcycle": (0.04, 0.9, (1.3, 1.7)),
    "truck": (0.06, 2.4, (1.0, 2.2)),
    "bus": (0.05, 2.6, (1.0, 2.8)),
    "train": (0.02, 3.0, (1.5, 4.0)),
    "caravan": (0.04, 2.0, (1.2, 2.2)),
    "trailer": (0.04, 1.6, (1.2, 2.4)),
}
_OBJ_NAMES = list(_CITY_OBJECTS)
_OBJ_P = np.array([v[0] for v in _CITY_OBJECTS.values()])
_OBJ_P /= _OBJ_P.sum()
# A glass / tyre look for details inside vehicles (image only, the label stays the vehicle's).
_DARK = _Look(
    color=np.array([0.12, 0.14, 0.17]),
    color2=np.array([0.3, 0.32, 0.36]),
    kind="smooth",
    period=0.0,
    angle=1.2,
    jitter=0.03,
    noise=0.02,
)


class _Street:
    """Perspective helpers for one street scene: horizon, vanishing point, road edges."""

    def __init__(self, rng, width, height):
        self.w, self.h = width, height
        self.yh = height * rng.uniform(0.36, 0.5)  # horizon row
        self.vx = width * rng.uniform(0.35, 0.65)  # vanishing point column
        self.road_l = self.vx - width * rng.uniform(0.55, 1.2)  # road edges at the bottom row
        self.road_r = self.vx + width * rng.uniform(0.55, 1.2)
        self.walk = width * rng.uniform(0.3, 0.8)  # sidewalk width at the bottom row

    def depth(self, y: float) -> float:
        """0 at the horizon, 1 at the bottom row."""
        return (y - self.yh) / (self.h - self.yh)

    def at(self, x_bottom: float, y: float) -> float:
        """Column at row ``y`` of the line from the vanishing point to (x_bottom, bottom row)."""
        return self.vx + (x_bottom - self.vx) * self.depth(y)


def _city_vehicle(canvas, name, x, y, h, w, rng):
    """Mask of a vehicle with its bottom centre at (x, y); dark details painted afterwards."""
    m = canvas.mask()
    body_top = y - h * rng.uniform(0.45, 0.65)
    if name in ("car", "caravan"):
        _fill(
            m, _shape_points("roundrect", x, (body_top + y) / 2, w / 2, (y - body_top) / 2, 0, rng)
        )
        cw = w * rng.uniform(0.55, 0.8)
        cx = x + rng.uniform(-0.1, 0.1) * w
        m |= _poly(
            canvas,
            [
                (cx - cw / 2, body_top + 1),
                (cx - cw / 2.6, y - h),
                (cx + cw / 2.6, y - h),
                (cx + cw / 2, body_top + 1),
            ],
        )
        details = [(cx - cw / 2.8, y - h * 0.92, cx + cw / 2.8, body_top - h * 0.02)]
    elif name == "truck":
        cab = rng.uniform(0.25, 0.4) * w
        m |= _box(canvas, x - w / 2, y - h, x - w / 2 + cab, y)
        m |= _box(canvas, x - w / 2 + cab, y - h * rng.uniform(0.85, 1.1), x + w / 2, y)
        details = [(x - w / 2 + cab * 0.15, y - h * 0.9, x - w / 2 + cab * 0.85, y - h * 0.6)]
    else:  # bus, train, trailer: long boxes with a window strip
        _fill(m, _shape_points("roundrect", x, y - h / 2, w / 2, h / 2, 0, rng))
        details = (
            [] if name == "trailer" else [(x - w * 0.45, y - h * 0.85, x + w * 0.45, y - h * 0.55)]
        )
    r = max(1.0, h * 0.14)
    for wx in (x - w * 0.32, x + w * 0.32):  # wheels
        details.append((wx - r, y - r * 1.6, wx + r, y))
    return m, details


def _city_person(canvas, x, y, h, w, rng):
    m = canvas.mask()
    head = h * 0.1
    _fill(m, _shape_points("ellipse", x, y - h + head, head * 0.8, head, 0, rng))
    _fill(m, _shape_points("blob", x, y - h * 0.58, w / 2, h * 0.27, 0, rng))
    step = w * rng.uniform(0.05, 0.35)
    for s in (-1, 1):  # legs
        m |= _poly(
            canvas,
            [
                (x + s * w * 0.05, y - h * 0.4),
                (x + s * w * 0.3, y - h * 0.4),
                (x + s * (step + w * 0.12), y),
                (x + s * step, y),
            ],
        )
    return m


def _city_bike(canvas, x, y, h, w, motor, rng):
    m = canvas.mask()
    r = h * 0.38
    t = max(1, round(h * (0.25 if motor else 0.07)))  # motorcycle wheels are nearly solid
    for wx in (x - w / 2 + r, x + w / 2 - r):
        cv2.circle(m, (round(wx), round(y - r)), max(1, round(r - t / 2)), 1, t)
    frame = [(x - w / 2 + r, y - r), (x - w * 0.05, y - h * 0.9), (x + w / 2 - r, y - r)]
    cv2.polylines(m, [np.round(np.array(frame)).astype(np.int32)], False, 1, max(1, t))
    if motor:
        _fill(m, _shape_points("blob", x, y - h * 0.6, w * 0.3, h * 0.22, 0, rng))
    return m


def _city_scene(rng: np.random.Generator, width: int, height: int):
    """One street scene: (RGB uint8, labelIds, instanceIds, segment map)."""
    cv = _Canvas(width, height, background_label=_L["unlabeled"])
    st = _Street(rng, width, height)
    W, H, yh, vx = width, height, st.yh, st.vx
    looks = _CITY_LOOKS

    def paint(mask, name, instance=None):
        return cv.paint(mask, looks[_L[name]], rng, label=_L[name], instance=instance)

    # Sky, then the skyline: buildings and trees standing on the horizon.
    paint(_box(cv, 0, 0, W, H), "sky")
    x = -rng.uniform(0, 0.1) * W
    while x < W:
        bw = W * rng.uniform(0.08, 0.3)
        top = rng.uniform(0.03, 0.85) * yh
        u = rng.random()
        if u < 0.6:
            roof = top - rng.uniform(0, 0.1) * H
            paint(
                _poly(
                    cv, [(x, top), (x + bw / 2, roof), (x + bw, top), (x + bw, yh + 2), (x, yh + 2)]
                ),
                "building",
            )
        elif u < 0.9:
            paint(
                _fill(
                    cv.mask(),
                    _shape_points(
                        "blob", x + bw / 2, (top + yh) / 2, bw * 0.7, (yh - top) / 2 + 2, 0, rng
                    ),
                ),
                "vegetation",
            )
        x += bw
    if rng.random() < 0.1:  # bridge: a deck with two piers
        d0 = rng.uniform(0.05, 0.3) * yh
        m = _box(cv, 0, d0, W, d0 + 0.07 * H)
        for px in rng.uniform(0, W, 2):
            m |= _box(cv, px, d0, px + 0.04 * W, yh + 2)
        paint(m, "bridge")
    if rng.random() < 0.05:  # tunnel: everything above the road but the portal
        m = _box(cv, 0, 0, W, yh + 0.05 * H)
        cv2.ellipse(m, (round(vx), round(yh)), (round(0.25 * W), round(0.3 * H)), 0, 0, 360, 0, -1)
        paint(m, "tunnel")

    # The ground plane: terrain or ground, road, sidewalks, parking, rail track.
    paint(_box(cv, 0, yh, W, H), "terrain" if rng.random() < 0.7 else "ground")
    road = [
        (st.at(st.road_l, yh + 1), yh),
        (st.at(st.road_r, yh + 1), yh),
        (st.road_r, H),
        (st.road_l, H),
    ]
    for side, edge in ((-1, st.road_l), (1, st.road_r)):
        if rng.random() < 0.85:
            outer = edge + side * st.walk
            paint(_poly(cv, [(vx, yh), (edge, H), (outer, H)]), "sidewalk")
        if rng.random() < 0.25:  # a wall, fence or guard rail along the street, in perspective
            name = str(rng.choice(["wall", "fence", "guard rail"]))
            base = edge + side * st.walk * rng.uniform(0.9, 1.5)
            hgt = {"wall": 0.5, "fence": 0.4, "guard rail": 0.12}[name] * (H - yh)
            d1 = rng.uniform(0.05, 0.2)
            paint(
                _poly(
                    cv,
                    [
                        (vx + (base - vx) * d1, yh + (H - yh) * d1 * (1 - hgt / (H - yh))),
                        (base, H - hgt),
                        (base, H),
                        (vx + (base - vx) * d1, yh + (H - yh) * d1),
                    ],
                ),
                name,
            )
    paint(_poly(cv, road), "road")
    if rng.random() < 0.2:
        side = rng.choice([-1, 1])
        edge = st.road_l if side < 0 else st.road_r
        inner = edge - side * st.walk * rng.uniform(0.3, 0.6)
        y0 = yh + (H - yh) * rng.uniform(0.3, 0.6)
        paint(
            _poly(cv, [(st.at(edge, y0), y0), (st.at(inner, y0), y0), (inner, H), (edge, H)]),
            "parking",
        )
    if rng.random() < 0.12:
        c = vx + rng.uniform(-0.3, 0.3) * W
        gauge = rng.uniform(0.1, 0.2) * W
        paint(_poly(cv, [(vx, yh + 1), (c - gauge, H), (c + gauge, H)]), "rail track")
    if rng.random() < 0.3:
        gx, gy = rng.uniform(0, W), rng.uniform(yh, H)
        paint(_fill(cv.mask(), _shape_points("blob", gx, gy, 0.08 * W, 0.05 * H, 0, rng)), "ground")

    # Street furniture on the sidewalks: poles with signs / lights, static and dynamic things.
    def on_sidewalk(y):
        side = rng.choice([-1, 1])
        edge = st.road_l if side < 0 else st.road_r
        return st.at(edge + side * st.walk * rng.uniform(0.1, 0.8), y)

    for _ in range(rng.integers(0, 5)):
        y = yh + (H - yh) * float(np.exp(rng.uniform(np.log(0.05), np.log(1.0))))
        d = st.depth(y)
        x, pw, top = on_sidewalk(y), max(1.0, 0.012 * W * d), y - 2.2 * (y - yh)
        group = rng.random() < 0.1
        m = _box(cv, x - pw / 2, top, x + pw / 2, y)
        if group:  # polegroup: poles too close to separate
            m |= _box(cv, x + pw, top + 0.1 * (y - top), x + 2 * pw, y)
        paint(m, "polegroup" if group else "pole")
        s = max(2.0, 5 * pw)
        if rng.random() < 0.5:
            paint(
                _fill(
                    cv.mask(),
                    _shape_points(
                        str(rng.choice(["ellipse", "polygon"])), x, top + s, s, s, 0, rng
                    ),
                ),
                "traffic sign",
            )
        elif rng.random() < 0.6:
            paint(_box(cv, x - s / 2, top, x + s / 2, top + 2.2 * s), "traffic light")
    for name in ("static", "dynamic"):
        if rng.random() < 0.35:
            y = rng.uniform(yh + 0.1 * (H - yh), H)
            s = max(2.0, 0.3 * (y - yh))
            pts = _shape_points(
                "roundrect" if name == "static" else "blob",
                on_sidewalk(y),
                y - s / 2,
                s * rng.uniform(0.4, 1.2),
                s / 2,
                0,
                rng,
            )
            paint(_fill(cv.mask(), pts), name)

    # Traffic: far to near, so that near objects occlude far ones.
    objects = []
    for _ in range(1 + int(rng.poisson(3))):
        name = str(rng.choice(_OBJ_NAMES, p=_OBJ_P))
        d = float(np.exp(rng.uniform(np.log(0.04), np.log(1.12))))
        y = yh + d * (H - yh)
        if name in ("person", "bicycle") and rng.random() < 0.7:
            x = on_sidewalk(y)
        else:
            x = st.at(rng.uniform(st.road_l, st.road_r), y)
        objects.append((y, name, x))
        if name == "rider":  # a rider sits on a bicycle or motorcycle
            objects.append((y - 1e-6, str(rng.choice(["bicycle", "motorcycle"])), x))
    objects.sort()
    count = {name: 0 for name in _OBJ_NAMES}
    for y, name, x in objects:
        _, k, (a0, a1) = _CITY_OBJECTS[name]
        h = k * (y - yh)
        w = h * rng.uniform(a0, a1)
        details = []
        if name in ("person", "rider"):
            if name == "rider":
                y -= 0.35 * h  # seated above the wheels
            m = _city_person(cv, x, y, h * (0.75 if name == "rider" else 1.0), w, rng)
        elif name in ("bicycle", "motorcycle"):
            m = _city_bike(cv, x, y, h, w, name == "motorcycle", rng)
        else:
            m, details = _city_vehicle(cv, name, x, y, h, w, rng)
        # Far cars and people are sometimes labelled as a group, without an instance index.
        if st.depth(y) < 0.25 and name in ("car", "person") and rng.random() < 0.3:
            instance = _L[name]
        else:
            instance = _L[name] * 1000 + count[name]
            count[name] += 1
        paint(m, name, instance=instance)
        for x0, y0, x1, y1 in details:
            cv.paint(_box(cv, x0, y0, x1, y1) & m, _DARK, rng)

    # The recording set-up: the ego vehicle's bonnet, out-of-roi border, rectification corners,
    # and a few regions the annotators left unlabelled.
    if rng.random() < 0.7:
        m = cv.mask()
        cv2.ellipse(
            m,
            (round(W / 2), round(H * 1.05)),
            (round(0.7 * W), round(H * rng.uniform(0.1, 0.2))),
            0,
            180,
            360,
            1,
            -1,
        )
        paint(m, "ego vehicle")
    if rng.random() < 0.6:
        b = max(1, round(0.012 * H))
        m = cv.mask()
        m[-b:, :] = 1
        m[:, :b] = 1
        m[:, -b:] = 1
        paint(m, "out of roi")
    if rng.random() < 0.4:
        c = max(2.0, 0.06 * H)
        m = _poly(cv, [(0, H), (0, H - c), (c * 2, H)]) | _poly(
            cv, [(W, H), (W, H - c), (W - 2 * c, H)]
        )
        paint(m, "rectification border")
    for _ in range(rng.integers(0, 3)):
        pts = _shape_points(
            "blob", rng.uniform(0, W), rng.uniform(0, H), 0.03 * W, 0.04 * H, 0, rng
        )
        paint(_fill(cv.mask(), pts), "unlabeled")
    return cv.finish(rng), cv.lab, cv.inst, cv.seg


_ID_TO_TRAIN = np.full(256, 255, np.uint8)
_ID_TO_COLOR = np.zeros((256, 4), np.uint8)
for _lab in labels:
    if _lab.id >= 0:
        _ID_TO_TRAIN[_lab.id] = _lab.trainId if 0 <= _lab.trainId < 255 else 255
        _ID_TO_COLOR[_lab.id] = (*_lab.color, 255)
del _lab


def _write_city_labels(stem_path: Path, kind: str, label_ids, instance_ids) -> None:
    """Writes ``<stem>_<kind>_{labelIds,instanceIds,labelTrainIds,color}.png``."""
    base = str(stem_path)
    Image.fromarray(label_ids, "L").save(f"{base}_{kind}_labelIds.png")
    Image.fromarray(instance_ids.astype(np.uint16)).save(f"{base}_{kind}_instanceIds.png")
    Image.fromarray(_ID_TO_TRAIN[label_ids], "L").save(f"{base}_{kind}_labelTrainIds.png")
    Image.fromarray(_ID_TO_COLOR[label_ids], "RGBA").save(f"{base}_{kind}_color.png")


def _coarse(label_ids: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Coarse labels: every region eroded by ~2 % of the height, regions under 0.2 % dropped."""
    h, w = seg.shape
    r = max(1, round(0.015 * h))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    keep = cv2.dilate(seg, k) == cv2.erode(seg, k)
    areas = np.bincount(seg.ravel(), minlength=int(seg.max()) + 1)
    keep &= areas[seg] >= 0.002 * h * w
    return np.where(keep, label_ids, _L["unlabeled"]).astype(np.uint8)


def _city_split(n: int, split: str) -> list[tuple[str, int]]:
    """(city, sequence number) of n images, spread over the split's first few cities."""
    cities = CITIES[split]
    k = min(len(cities), n, max(2, math.ceil(n / 20)))
    per_city: dict[str, int] = {}
    out = []
    for i in range(n):
        city = cities[i % k]
        out.append((city, per_city.get(city, 0)))
        per_city[city] = per_city.get(city, 0) + 1
    return out


def make_cityscapes(
    out: str | Path,
    seed: int = 0,
    size: tuple[int, int] | str = (256, 128),
    num_train: int = 60,
    num_val: int = 20,
    num_test: int = 6,
    num_coarse: int = 0,
) -> Path:
    """Writes a synthetic Cityscapes (gtFine, optional gtCoarse) under ``out/cityscapes``.

    ``size`` is (W, H). Returns the dataset root ``out/cityscapes``.
    """
    width, height = parse_size(size)
    if min(num_train, num_val, num_test, num_coarse) < 0:
        raise ValueError("image counts must not be negative")
    params = dict(
        seed=seed,
        size=[width, height],
        num_train=num_train,
        num_val=num_val,
        num_test=num_test,
        num_coarse=num_coarse,
    )
    root = Path(out) / "cityscapes"
    _prepare_target(root)
    counts = {}
    for split_no, (split, n) in enumerate(
        (("train", num_train), ("val", num_val), ("test", num_test), ("train_extra", num_coarse))
    ):
        counts[split] = n
        for city, seq in _city_split(n, split):
            # The annotated frame is the 20th of its 30-frame snippet (frame 19) for gtFine;
            # train_extra frames are spread over longer recordings.
            frame = 19 if split != "train_extra" else 19 + 30 * seq
            stem = f"{city}_{seq:06d}_{frame:06d}"
            rng = np.random.default_rng([seed, 2, split_no, CITIES[split].index(city), seq])
            img, lab, inst, seg = _city_scene(rng, width, height)
            img_dir = root / "leftImg8bit" / split / city
            img_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(img_dir / f"{stem}_leftImg8bit.png")
            if split == "train_extra":
                gt = root / "gtCoarse" / split / city
                gt.mkdir(parents=True, exist_ok=True)
                coarse = _coarse(lab, seg)
                inst = np.where(coarse == lab, inst, coarse)
                _write_city_labels(gt / stem, "gtCoarse", coarse, inst)
                continue
            gt = root / "gtFine" / split / city
            gt.mkdir(parents=True, exist_ok=True)
            if split == "test":
                # The public test labels are dummies; the true ones go to the simulated server.
                server = root / SERVER_GT_DIR / "gtFine" / split / city
                server.mkdir(parents=True, exist_ok=True)
                _write_city_labels(server / stem, "gtFine", lab, inst)
                lab, inst = np.zeros_like(lab), np.zeros_like(inst)
            _write_city_labels(gt / stem, "gtFine", lab, inst)
    _write_marker(root, "cityscapes", params, counts)
    return root


# --------------------------------------------------------------------------------------------
# Caching, detection and the CLI entry point

_MAKERS = {"voc": make_voc, "cityscapes": make_cityscapes}


def _normalised_params(dataset: str, params: dict) -> dict:
    """All maker arguments but ``out``, defaults filled in, JSON-friendly (size as [W, H])."""
    if dataset not in _MAKERS:
        raise ValueError(f"unknown synthetic dataset {dataset!r}; choose one of {list(_MAKERS)}")
    bound = inspect.signature(_MAKERS[dataset]).bind_partial(**params)  # TypeError if unknown
    bound.apply_defaults()
    args = dict(bound.arguments)
    args.pop("out", None)
    args["size"] = list(parse_size(args["size"]))
    return args


def _dataset_root(base: Path, dataset: str) -> Path:
    return base / "VOCdevkit" / "VOC2012" if dataset == "voc" else base / "cityscapes"


def ensure_synthetic(dataset: str, cache_root: str | Path, **params) -> Path:
    """Generates ``dataset`` ('voc' or 'cityscapes') once and returns its root.

    The dataset lives in ``cache_root/<dataset>-<hash>/`` where the hash covers the parameters
    (defaults filled in) and ``GENERATOR_VERSION``. Concurrent callers wait on a file lock;
    generation happens in a temporary sibling folder that is renamed into place when complete,
    so a killed generator never leaves a half-written dataset behind.
    """
    from filelock import FileLock

    args = _normalised_params(dataset, params)
    key = json.dumps(
        {"dataset": dataset, "params": args, "version": GENERATOR_VERSION}, sort_keys=True
    )
    name = f"{dataset}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    cache_root = Path(cache_root)
    final = cache_root / name
    root = _dataset_root(final, dataset)
    if (root / MARKER).is_file():
        return root
    cache_root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_root / f"{name}.lock")):
        if (root / MARKER).is_file():
            return root  # another process finished it while we waited
        # Leftovers of killed generators (we hold the lock, so nobody is writing them now).
        for stale in cache_root.glob(f".{name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if final.exists():
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=cache_root))
        try:
            _MAKERS[dataset](tmp, **args)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return root


def is_synthetic(root: str | Path) -> bool:
    """True if ``root`` or one of its two parents holds a ``SYNTHETIC.json`` marker."""
    root = Path(root)
    return any((p / MARKER).is_file() for p in (root, root.parent, root.parent.parent))


def main_synth(
    dataset: str,
    out: str | Path,
    seed: int = 0,
    size: str | Sequence[int] | None = None,
    num_train: int | None = None,
    num_val: int | None = None,
    num_test: int | None = None,
    num_coco: int | None = None,
) -> Path:
    """``repro data synth {voc,cityscapes}``: writes the dataset, prints where and how many.

    Arguments left as None take the generator's defaults (``num_coco``: VOC only, the images of
    a synthetic COCO prepared into it as the split ``coco``).
    """
    given = dict(size=size, num_train=num_train, num_val=num_val, num_test=num_test,
                 num_coco=num_coco)
    args = _normalised_params(dataset, {k: v for k, v in given.items() if v is not None})
    args["seed"] = seed
    root = _MAKERS[dataset](out, **args)
    counts = json.loads((root / MARKER).read_text())["counts"]
    w, h = args["size"]
    print(f"wrote synthetic {dataset} ({w}x{h}, seed {seed}) to {root}")
    order = ("train", "val", "trainval", "train_aug", "aug", "sbd_train", "seg11valid", "test",
             "coco")
    ranked = sorted(counts, key=lambda k: order.index(k) if k in order else len(order))
    print("  " + ", ".join(f"{k}: {counts[k]}" for k in ranked))
    return root
