"""Object boxes for DeconvNet (Noh, Hong & Han, ICCV 2015): ground-truth instances, object
proposals, and the two-stage training crops (Sec. 4.2 and Sec. 6.1 "Training Data Construction").

Boxes are ``(x1, y1, x2, y2)`` in pixels of the image, x2/y2 exclusive, as float or int arrays.

Instances. VOC's SegmentationObject is not required: an instance is a connected component
(8-connectivity) of one class in the label map, at least ``min_area`` pixels. Touching objects of
one class merge into one instance (VOC's void band usually separates them; SBD's labels have no
band), and an object cut in two by an occluder gives two instances.

Proposals (``build_proposal_source``), recorded as ``proposal_source`` in each prediction's
metainfo:
- ``dict(type='file', root=DIR, format='xyxy'|'xywh')``: boxes the user computed (the paper uses
  EdgeBoxes, Zitnick & Dollar 2014, about 2000 per image ranked by objectness): one text file
  ``DIR/<image stem>.txt`` per image, one box per line, best first, ``x1 y1 x2 y2 [score]``
  ('xyxy', 0-based, x2/y2 exclusive) or ``x y w h [score]`` ('xywh', 0-based; MATLAB EdgeBoxes
  writes 1-based x, y: subtract 1). Coordinates are in the original image; they are scaled when
  the test pipeline resizes.
- ``dict(type='edgeboxes', model=FILE, max_boxes=2000)``: the paper's proposals (Sec. 6.1: "We
  employ edge-box [26] to generate object proposals ... approximately 2000 object proposals, and
  select top 50 proposals based on their objectness scores"), computed by OpenCV's contrib
  implementation (``cv2.ximgproc``: structured-edge detection with the model ``FILE``, Dollar &
  Zitnick's forest as OpenCV ships it, ``model.yml.gz``; orientation, edge NMS, then EdgeBoxes
  with its default alpha 0.65 / beta 0.75, ranked by objectness). Needs the contrib build of
  OpenCV (``pip install 'repro[edgeboxes]'``, see the README) and the model file (``repro
  weights``: entry ``structured_edges``); :func:`check_edgeboxes` says what is missing. The
  paper profile's DeconvNet configs use it at test time and for stage-2 training crops.
- ``dict(type='selective_search', scales=(100, 300), sigma=0.8)``: a built-in generator that
  needs no model file, after selective search (Uijlings et al., IJCV 2013): Felzenszwalb-
  Huttenlocher regions (scikit-image) at each scale, greedy hierarchical grouping of adjacent
  regions by colour-histogram, size and fill similarity (no texture term), every region of the
  hierarchy a box, ranked as selective search does (hierarchy level from the top times a seeded
  random number), duplicates removed. It is a stand-in for EdgeBoxes (fewer and coarser boxes)
  for the smoke profile, which has no structured-edge model.

Training crops (``DeconvNetObjectCrop``, an mmcv transform): stage 1 crops a ground-truth
instance; its box is enlarged 1.2 times around its centre, the crop is resized to 250x250 and
a random 224x224 window taken (flip: mmseg's ``RandomFlip`` after it); only the centred object
keeps its class, every other pixel is background (void stays void). Stage 2 crops a proposal
overlapping a ground-truth instance (IoU >= ``min_overlap``, 0.5 here; the paper says
"sufficiently overlapped") with every class label kept, same enlargement and augmentation.
Parts of an enlarged box outside the image are black (label void), as the released inference
pads images with zeros. ``DeconvNetStageHook`` switches every such transform of the training set
from stage 1 to stage 2 after ``stage1_ratio`` of the iterations (1/3: 20K of the paper's 20K +
40K); the switch lives in shared memory, so dataloader workers see it.

Deviations: the paper balances classes over the whole training set "by adding redundant
examples"; here each sample picks a class uniformly among those present in its image, then an
instance of it. Stage 2 uses the proposals of the configured source, not EdgeBoxes unless given.
"""

from __future__ import annotations

import heapq
from pathlib import Path

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.hooks import Hook
from mmseg.registry import HOOKS, TRANSFORMS
from scipy.ndimage import find_objects

IGNORE = 255


# ---------------------------------------------------------------------------------------------
# Boxes.


def instance_boxes(label: np.ndarray, min_area: int = 32, ignore: int = IGNORE) -> list[dict]:
    """Connected components of every class (not background 0, not void) as instances:
    ``[{'cls': c, 'box': (x1, y1, x2, y2), 'mask': bool array}, ...]``."""
    out = []
    for cls in np.unique(label):
        if cls in (0, ignore):
            continue
        n, comp, stats, _ = cv2.connectedComponentsWithStats(
            (label == cls).astype(np.uint8), connectivity=8
        )
        for i in range(1, n):
            x, y, w, h, area = stats[i]
            if area >= min_area:
                out.append(dict(cls=int(cls), box=(x, y, x + w, y + h), mask=comp == i))
    return out


def enlarge(box, factor: float) -> tuple[int, int, int, int]:
    """The box scaled by ``factor`` about its centre, rounded to integer pixels (may leave the
    image)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = max(1.0, (x2 - x1) * factor), max(1.0, (y2 - y1) * factor)
    nx1, ny1 = round(cx - w / 2), round(cy - h / 2)
    return nx1, ny1, nx1 + max(1, round(w)), ny1 + max(1, round(h))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def crop_padded(arr: np.ndarray, box, fill) -> np.ndarray:
    """``arr[y1:y2, x1:x2]`` where the parts outside ``arr`` are ``fill``."""
    x1, y1, x2, y2 = box
    h, w = arr.shape[:2]
    out = np.full((y2 - y1, x2 - x1, *arr.shape[2:]), fill, dtype=arr.dtype)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = arr[sy1:sy2, sx1:sx2]
    return out


# ---------------------------------------------------------------------------------------------
# Proposal sources.


class BoxFileProposals:
    """Boxes from ``root/<image stem>.txt`` (module docstring)."""

    def __init__(self, root: str, format: str = "xyxy"):
        if format not in ("xyxy", "xywh"):
            raise ValueError(f"Box file format must be 'xyxy' or 'xywh', got {format!r}.")
        self.root, self.format = Path(root).expanduser(), format

    def describe(self) -> str:
        return f"file:{self.root} ({self.format})"

    def __call__(self, image: np.ndarray, meta: dict) -> np.ndarray:
        """Boxes of the image ``meta['img_path']`` in ``image``'s pixels (scaled from the
        original image when ``meta`` has both ``ori_shape`` and ``img_shape``)."""
        path = self.root / f"{Path(meta['img_path']).stem}.txt"
        if not path.is_file():
            raise FileNotFoundError(
                f"No proposal file {path} for image {meta['img_path']}: write one box per line, "
                f"best first ('{self.format}', see repro.models.proposals), or use the built-in "
                "generator: proposals=dict(type='selective_search')."
            )
        rows = np.loadtxt(path, ndmin=2, usecols=range(4))
        if self.format == "xywh":
            rows[:, 2:] += rows[:, :2]
        if "ori_shape" in meta and "img_shape" in meta:
            (oh, ow), (h, w) = meta["ori_shape"][:2], meta["img_shape"][:2]
            rows *= [w / ow, h / oh, w / ow, h / oh]
        return rows


class EdgeBoxesUnavailableError(FileNotFoundError):
    """EdgeBoxes proposals cannot run: OpenCV's contrib build or the structured-edge model file
    is missing (the message names the fix)."""


CONTRIB_FIX = (
    "install OpenCV's contrib build over opencv-python (same version, one cv2 package): "
    "pip install --force-reinstall --no-deps \"opencv-contrib-python=={version}\" "
    "(README: DeconvNet's EdgeBoxes)"
)


def check_edgeboxes(model: str | Path | None) -> Path:
    """The structured-edge model file, after checking that EdgeBoxes can run here: OpenCV's
    contrib functions are present (``cv2.ximgproc.createEdgeBoxes``: a ``cv2.ximgproc``
    attribute alone is no proof, an overwritten contrib install leaves the package folder) and
    the file exists. Raises :class:`EdgeBoxesUnavailableError` naming what to do."""
    from importlib import metadata

    ximgproc = getattr(cv2, "ximgproc", None)
    if not all(hasattr(ximgproc, f) for f in ("createEdgeBoxes",
                                               "createStructuredEdgeDetection")):
        try:
            version = metadata.version("opencv-python")
        except metadata.PackageNotFoundError:
            version = cv2.__version__
        raise EdgeBoxesUnavailableError(
            f"DeconvNet's EdgeBoxes proposals need OpenCV's contrib build (cv2 {cv2.__version__} "
            f"at {Path(cv2.__file__).parent} has no cv2.ximgproc.createEdgeBoxes): "
            + CONTRIB_FIX.format(version=version) + "."
        )
    if model is None or not Path(model).expanduser().is_file():
        raise EdgeBoxesUnavailableError(
            f"DeconvNet's EdgeBoxes proposals need the structured-edge model file "
            f"{model or '(none given)'}: OpenCV's model.yml.gz (opencv_extra "
            "testdata/cv/ximgproc/model.yml.gz), put where `repro weights` says (entry "
            "structured_edges), or give boxes files: proposals=dict(type='file', root=DIR)."
        )
    return Path(model).expanduser()


class EdgeBoxesProposals:
    """EdgeBoxes (Zitnick & Dollar, ECCV 2014) from OpenCV contrib (module docstring)."""

    def __init__(self, model: str | None = None, max_boxes: int = 2000, alpha: float = 0.65,
                 beta: float = 0.75, min_score: float = 0.01):
        self.model = check_edgeboxes(model)
        self.max_boxes, self.alpha, self.beta, self.min_score = max_boxes, alpha, beta, min_score
        self._sed = None

    def describe(self) -> str:
        return f"edgeboxes(model={self.model.name}, max_boxes={self.max_boxes})"

    def __call__(self, image: np.ndarray, meta: dict | None = None) -> np.ndarray:
        """Boxes of the RGB uint8 ``image``, x1 y1 x2 y2 (x2/y2 exclusive), best first."""
        if self._sed is None:  # one forest per process (workers build their own)
            self._sed = cv2.ximgproc.createStructuredEdgeDetection(str(self.model))
        rgb = np.ascontiguousarray(image, dtype=np.float32) / 255.0
        edges = self._sed.detectEdges(rgb)
        orientation = self._sed.computeOrientation(edges)
        edges = self._sed.edgesNms(edges, orientation)
        return edge_boxes(edges, orientation, self.max_boxes, self.alpha, self.beta,
                          self.min_score)


def edge_boxes(edges: np.ndarray, orientation: np.ndarray, max_boxes: int = 2000,
               alpha: float = 0.65, beta: float = 0.75, min_score: float = 0.01) -> np.ndarray:
    """OpenCV's EdgeBoxes on an edge map and its orientation map (float32, HxW): boxes as
    ``(x1, y1, x2, y2)``, x2/y2 exclusive, ranked by objectness, at most ``max_boxes``."""
    eb = cv2.ximgproc.createEdgeBoxes(alpha=alpha, beta=beta, minScore=min_score,
                                      maxBoxes=max_boxes)
    boxes, scores = eb.getBoundingBoxes(edges.astype(np.float32),
                                        orientation.astype(np.float32))
    if len(boxes) == 0:
        return np.zeros((0, 4), float)
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, float).ravel(), kind="stable")
    boxes = boxes[order]
    boxes[:, 2:] += boxes[:, :2]  # x y w h -> x1 y1 x2 y2
    return boxes


class SelectiveSearchProposals:
    """Selective-search-like boxes from Felzenszwalb regions (module docstring)."""

    def __init__(self, scales=(100, 300), sigma: float = 0.8, bins: int = 25, seed: int = 0):
        self.scales, self.sigma, self.bins, self.seed = tuple(scales), sigma, bins, seed

    def describe(self) -> str:
        return f"selective_search(scales={self.scales}, sigma={self.sigma})"

    def __call__(self, image: np.ndarray, meta: dict | None = None) -> np.ndarray:
        """Ranked boxes of the RGB ``image`` (``meta`` is not used)."""
        from skimage.segmentation import felzenszwalb

        rng = np.random.default_rng(self.seed)
        ranked = []
        for scale in self.scales:
            seg = felzenszwalb(image, scale=scale, sigma=self.sigma, min_size=scale)
            for level, box in self._hierarchy(image, seg):
                ranked.append((level * rng.random(), box))
        ranked.sort(key=lambda t: t[0])
        boxes, seen = [], set()
        for _, box in ranked:
            if box not in seen:
                seen.add(box)
                boxes.append(box)
        return np.asarray(boxes, dtype=float).reshape(-1, 4)

    def _hierarchy(self, image: np.ndarray, seg: np.ndarray):
        """Greedy grouping; yields (level from the top of the hierarchy, 1 = last merge, box)."""
        h, w = seg.shape
        n = int(seg.max()) + 1
        flat = seg.ravel()
        size = np.bincount(flat, minlength=n).astype(float)
        quant = np.minimum(image.reshape(-1, 3).astype(int) * self.bins // 256, self.bins - 1)
        hist = np.concatenate([
            np.bincount(flat * self.bins + quant[:, c], minlength=n * self.bins).reshape(n, -1)
            for c in range(3)
        ], 1).astype(float)
        hist /= np.maximum(hist.sum(1, keepdims=True), 1)
        box = np.array([(s[1].start, s[0].start, s[1].stop, s[0].stop)
                        for s in find_objects(seg + 1)])
        regions = {i: (size[i], hist[i], tuple(int(v) for v in box[i])) for i in range(n)}
        boxes = {i: r[2] for i, r in regions.items()}  # every region ever made
        pairs = np.concatenate([
            np.stack([seg[:, :-1].ravel(), seg[:, 1:].ravel()], 1),
            np.stack([seg[:-1].ravel(), seg[1:].ravel()], 1),
        ])
        pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], 1), axis=0)
        nbrs: dict[int, set] = {i: set() for i in regions}
        for a, b in pairs.tolist():
            nbrs[a].add(b)
            nbrs[b].add(a)
        im_area = float(h * w)

        def sim(a: int, b: int) -> float:
            (sa, ha, ba), (sb, hb, bb) = regions[a], regions[b]
            bw = max(ba[2], bb[2]) - min(ba[0], bb[0])
            bh = max(ba[3], bb[3]) - min(ba[1], bb[1])
            colour = np.minimum(ha, hb).sum() / 3
            return colour + 1 - (sa + sb) / im_area + 1 - (bw * bh - sa - sb) / im_area

        heap = [(-sim(a, b), a, b) for a, b in pairs.tolist()]
        heapq.heapify(heap)
        while heap:
            _, a, b = heapq.heappop(heap)
            if a not in regions or b not in regions:
                continue  # a stale pair: one side was merged already
            (sa, ha, ba), (sb, hb, bb) = regions.pop(a), regions.pop(b)
            new = len(boxes)
            boxes[new] = (min(ba[0], bb[0]), min(ba[1], bb[1]), max(ba[2], bb[2]),
                          max(ba[3], bb[3]))
            regions[new] = (sa + sb, (sa * ha + sb * hb) / (sa + sb), boxes[new])
            nbrs[new] = (nbrs.pop(a) | nbrs.pop(b)) - {a, b}
            for c in nbrs[new]:
                nbrs[c] -= {a, b}
                nbrs[c].add(new)
                heapq.heappush(heap, (-sim(new, c), new, c))
        # Regions made later sit higher in the hierarchy: level 1 is the last merge.
        for level, r in enumerate(reversed(list(boxes)), start=1):
            yield level, boxes[r]


def build_proposal_source(cfg: dict | None):
    """``dict(type='file', ...)`` or ``dict(type='selective_search', ...)`` (module docstring);
    None gives the built-in generator with its defaults."""
    cfg = dict(cfg or dict(type="selective_search"))
    kind = cfg.pop("type")
    if kind == "file":
        return BoxFileProposals(**cfg)
    if kind == "edgeboxes":
        return EdgeBoxesProposals(**cfg)
    if kind == "selective_search":
        return SelectiveSearchProposals(**cfg)
    raise ValueError(
        f"Unknown proposal source {kind!r}: use dict(type='edgeboxes', model=FILE) (the paper's), "
        "dict(type='file', root=DIR, format='xyxy') for boxes you computed, or "
        "dict(type='selective_search')."
    )


def object_crop_transforms(node) -> list:
    """The ``DeconvNetObjectCrop`` transform dicts anywhere in ``node`` (a config or any part
    of it: ``train_dataloader``'s datasets, ``train_pipeline``, a config's helper variables), to
    be read or set in place: stage 2 crops its examples from their ``proposals`` (Sec. 6.1:
    EdgeBoxes [26])."""
    found, stack = [], [node]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("type") == "DeconvNetObjectCrop":
                found.append(node)
            else:
                stack.extend(node.values())
        elif hasattr(node, "keys"):  # an mmengine Config: its values are ConfigDicts
            stack.extend(node[k] for k in node.keys())
    return found


def edgeboxes_sources(cfg) -> list:
    """The proposal sources of ``cfg`` that are EdgeBoxes (``type='edgeboxes'``), to be read
    or set in place: proposal-wise testing's (``model.test_cfg.proposals``) and every stage-2
    training crop's (:func:`object_crop_transforms`). Empty: the config needs no
    structured-edge model."""
    test_cfg = cfg["model"].get("test_cfg") or {}
    sources = [test_cfg.get("proposals")] if test_cfg.get("mode") == "proposals" else []
    sources += [t.get("proposals") for t in object_crop_transforms(cfg)]
    return [p for p in sources if p and p.get("type") == "edgeboxes"]


# ---------------------------------------------------------------------------------------------
# Two-stage training crops.


@TRANSFORMS.register_module()
class DeconvNetObjectCrop(BaseTransform):
    """Stage 1 (ground-truth instance) or stage 2 (proposal) training crop (module docstring).

    Args:
        stage: 1 or 2 at start; ``DeconvNetStageHook`` switches it during training.
        context: box enlargement (1.2).
        resize: side of the square the crop is resized to (250).
        crop: side of the random window taken from it (224), the network input.
        proposals: proposal source of stage 2 (``build_proposal_source``).
        min_overlap: IoU with a ground-truth instance box for a stage-2 proposal.
        min_area: smallest connected component, in pixels, that counts as an instance.

    Adds ``object_box`` (the enlarged box in the image, x2/y2 exclusive) to the results.
    """

    def __init__(self, stage: int = 1, context: float = 1.2, resize: int = 250, crop: int = 224,
                 proposals: dict | None = None, min_overlap: float = 0.5, min_area: int = 32):
        if stage not in (1, 2):
            raise ValueError(f"DeconvNet trains in stage 1 or 2, got stage={stage}.")
        if crop > resize:
            raise ValueError(f"The random window ({crop}) must fit the resized crop ({resize}).")
        # Shared memory: the stage hook writes it in the main process, dataloader workers read
        # it. Where shared memory cannot be had (a sandbox without /dev/shm), a plain tensor
        # serves loading in the main process (num_workers=0, the smoke profile); workers need
        # shared memory for their batches anyway, and their DataLoader says so.
        self.stage = torch.full((1,), stage, dtype=torch.int32)
        try:
            self.stage.share_memory_()
        except (RuntimeError, OSError):
            pass
        self.context, self.resize, self.crop = context, resize, crop
        self.proposals_cfg, self.min_overlap, self.min_area = proposals, min_overlap, min_area
        self._source = None
        self._cache: dict[str, np.ndarray] = {}

    def _proposals(self, img_bgr: np.ndarray, path: str) -> np.ndarray:
        if path not in self._cache:
            if self._source is None:
                self._source = build_proposal_source(self.proposals_cfg)
            self._cache[path] = self._source(np.ascontiguousarray(img_bgr[..., ::-1]),
                                             dict(img_path=path))
        return self._cache[path]

    def _choose(self, results: dict, instances: list[dict]):
        """(box, label map) of the training example."""
        label = results["gt_seg_map"]
        classes = sorted({inst["cls"] for inst in instances})
        cls = classes[np.random.randint(len(classes))]
        of_cls = [inst for inst in instances if inst["cls"] == cls]
        inst = of_cls[np.random.randint(len(of_cls))]
        if int(self.stage[0]) == 1:
            # Only the centred object keeps its class; other pixels are background, void stays.
            keep = np.where(label == IGNORE, IGNORE, 0).astype(label.dtype)
            keep[inst["mask"]] = inst["cls"]
            return inst["box"], keep
        boxes = self._proposals(results["img"], results.get("img_path", ""))
        gt = np.array([i["box"] for i in instances], float)
        good = boxes[box_iou(boxes, gt).max(1) >= self.min_overlap] if len(boxes) else boxes
        if len(good) == 0:  # no proposal overlaps enough: fall back to the instance's box
            return inst["box"], label
        return tuple(int(round(v)) for v in good[np.random.randint(len(good))]), label

    def transform(self, results: dict) -> dict:
        img, label = results["img"], results["gt_seg_map"]
        instances = instance_boxes(label, self.min_area)
        if instances:
            box, label = self._choose(results, instances)
        else:  # background-only image: the whole image
            box = (0, 0, img.shape[1], img.shape[0])
        box = enlarge(box, self.context)
        size = (self.resize, self.resize)
        img = cv2.resize(crop_padded(img, box, 0), size, interpolation=cv2.INTER_LINEAR)
        label = cv2.resize(crop_padded(label, box, IGNORE), size, interpolation=cv2.INTER_NEAREST)
        y, x = np.random.randint(self.resize - self.crop + 1, size=2)
        results["img"] = img[y : y + self.crop, x : x + self.crop]
        results["gt_seg_map"] = label[y : y + self.crop, x : x + self.crop]
        results["img_shape"] = results["img"].shape[:2]
        results["object_box"] = box
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(stage={int(self.stage[0])}, context={self.context}, "
                f"resize={self.resize}, crop={self.crop})")


@HOOKS.register_module()
class DeconvNetStageHook(Hook):
    """Stage 1 crops for the first ``stage1_ratio`` of the iterations, stage 2 afterwards
    (Sec. 4.2; 20K + 40K iterations in Sec. 6.1). ``restart_lr``: stage 2 starts again from the
    initial learning rate, as the released stage-2 solver does (the config's scheduler steps it
    down from there). Resuming picks the right stage (the optimizer state holds the learning
    rate)."""

    priority = "NORMAL"

    def __init__(self, stage1_ratio: float = 1 / 3, restart_lr: bool = True):
        self.stage1_ratio, self.restart_lr = stage1_ratio, restart_lr

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        switch = round(self.stage1_ratio * runner.max_iters)
        stage = 1 if runner.iter < switch else 2
        dataset = runner.train_dataloader.dataset
        for part in getattr(dataset, "datasets", [dataset]):  # ConcatDataset of several splits
            for t in getattr(part.pipeline, "transforms", []):
                if isinstance(t, DeconvNetObjectCrop) and int(t.stage[0]) != stage:
                    t.stage.fill_(stage)
        if self.restart_lr and runner.iter == switch:
            for group in runner.optim_wrapper.optimizer.param_groups:
                group["lr"] = group.get("initial_lr", group["lr"])
