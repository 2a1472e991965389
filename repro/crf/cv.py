"""Cross-validation of the dense-CRF parameters, DeepLab protocol, exhaustive and fast.

Protocol (DeepLab v1, Chen et al. ICLR 2015, Sec. 4.1, and v2, TPAMI 2017, Sec. 4.1; the
deeplab-public ``SetupEnv.m`` draws 100 val images with a fixed seed): w2 = 3 and sigma_gamma = 3
are fixed; (w1, sigma_alpha, sigma_beta) are chosen by the mIoU of the CRF output on 100 held-out
val images, searching coarse to fine over

- v1 grid: w1 in [5, 10], sigma_alpha in 50:10:100, sigma_beta in 3:1:10 (96 points),
- v2 grid: w1 in 3:6, sigma_alpha in 30:10:100, sigma_beta in 3:6 (128 points).

The mIoU of a grid point is computed from one confusion matrix accumulated over the images (FCN
``score.py`` semantics: labels 0..C-1, 255 ignored), with ``repro.metrics.confusion``.

Data: ``save_probabilities`` stores the network's softmax of each selected image once, as a
compressed float16 ``.npz`` (``probs`` (C, H, W)), with a ``manifest.json`` recording the image and
label paths. The search reloads them from there (workers read the files themselves).

Strategies
----------
``exhaustive``: every grid point on every image, one pydensecrf call each, in this process, one
after the other: the reference (128 points x 100 VOC images x 0.5-1.4 s = 2-4 hours on a core).

``fast`` (default): opportunistic pattern search on the grid with exact scores. Start at the
grid centre (v2: w1=5, sigma_alpha=70, sigma_beta=5); poll its neighbours (+-1 step along each
axis, or the whole 3^k box with ``neighbourhood='box'``) one at a time, each scored on all
images, and move to the first one that beats the current point; stop at a point none of whose
neighbours is better. DeepLab searched coarse to fine because the mIoU surface over (w1,
sigma_alpha, sigma_beta) is smooth; this walks that surface without scoring the far side of the
grid. The CRF cost depends strongly on the bilateral kernel widths (small sigma_alpha /
sigma_beta give more permutohedral-lattice vertices: 30/3 costs ~2.7x what 100/6 does at
500x375), so the polls go cheapest first (after the direction of the last successful move), and
the pool's tasks are queued longest first (by the measured time per point once known, by
1 / (sigma_alpha sigma_beta) before), which keeps the pool's tail short. Every score is the exact
pydensecrf mIoU on all images: nothing is downsampled or subsampled. The polling order depends on
the grid only, never on timings, so runs and ranks are reproducible. Measured
(benchmarks/bench_crf.py, ``results/bench/crf.json``): ~6 % of the exhaustive CRF time on the v2
grid, the exhaustive optimum or a point within 0.1 mIoU of it on the synthetic benchmark sets;
on bootstrap resamples of a 100-image set (bumpier landscapes) within 0.1 in ~85-95 % of them.
A local search cannot promise the global optimum of a multi-modal surface: the exhaustive
strategy stays available, and ``coarse_to_fine`` is the more thorough middle ground.

``coarse_to_fine``: DeepLab's scheme: every other value of each axis (plus the last), then the
3^k neighbourhood of the best point, repeatedly, on all images (~45 % of the exhaustive time).

``halving``: successive halving over nested random image subsets (Jamieson & Talwalkar 2016):
all points on ``first_images`` images, the best 1/``reduction`` (at least ``min_keep``) on
``eta`` times more, and so on. Cheap, but measured unreliable for this problem: on a few images
mIoU is decided by the few classes present, and the best smoothing for those objects can be the
opposite corner of the grid (within 0.1 of the optimum for 63 of 100 image orders). Kept for
comparison and for very large grids.

Distributed: when ``torch.distributed`` is initialised (torchrun; gloo on CPU), each rank scores
its shard of every image subset and the per-point confusion matrices (integers) are summed with
an all-reduce, so every rank ranks the same numbers and returns the same result as one process.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from repro.crf.dense import CRFParams, available_cpus, crf_labels

__all__ = [
    "GRIDS",
    "protocol_grid",
    "select_images",
    "save_probabilities",
    "load_manifest",
    "parse_grid",
    "grid_points",
    "search",
    "main_crf_cv",
    "plot_heatmap",
    "replay",
]

#: DeepLab's grids (MATLAB ranges expanded). Axes not given keep CRFParams' defaults.
GRIDS: dict[str, dict[str, list[float]]] = {
    "v1": {
        "w1": [5, 10],
        "sigma_alpha": list(range(50, 101, 10)),
        "sigma_beta": list(range(3, 11)),
    },
    "v2": {
        "w1": list(range(3, 7)),
        "sigma_alpha": list(range(30, 101, 10)),
        "sigma_beta": list(range(3, 7)),
    },
}
_AXES = ("w1", "sigma_alpha", "sigma_beta", "w2", "sigma_gamma", "iterations")


def protocol_grid(crf) -> str | None:
    """The grid a table row's ``Protocol.crf`` cross-validates on: ``"v1"`` (DeepLab ICLR 2015,
    for the rows that follow it: GDN Sec. 4.4, Dilation Tables 3-4), ``"v2"`` (DeepLab TPAMI
    2017; ``True`` means v2); None when the row gives its parameters (a dict) or has no CRF."""
    if crf is True:
        return "v2"
    if isinstance(crf, str):
        if crf not in GRIDS:
            raise ValueError(f"Protocol.crf names the grid {crf!r}; known grids: {list(GRIDS)}.")
        return crf
    return None
MANIFEST = "manifest.json"


# --------------------------------------------------------------------------------------------
# Image selection and stored probabilities
# --------------------------------------------------------------------------------------------


def select_images(ids: Sequence[str], n: int = 100, seed: int = 0) -> list[str]:
    """``n`` ids drawn without replacement with a fixed seed, in their original order.

    (deeplab-public ``SetupEnv.m`` draws 100 val images with a fixed MATLAB seed; MATLAB's
    generator cannot be reproduced here, so the draw is numpy's ``default_rng(seed)``.)
    """
    ids = list(ids)
    if n >= len(ids):
        return ids
    idx = np.random.default_rng(seed).choice(len(ids), size=n, replace=False)
    return [ids[i] for i in sorted(idx.tolist())]


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name))


def save_probabilities(out_dir: str | os.PathLike, items: Iterable,
                       collective: bool = False) -> Path:
    """Store each ``(name, probs, image_path, label_path)`` of ``items``; returns the manifest.

    ``probs``: (C, H, W) softmax probabilities (numpy or torch) at the image's size; saved as
    float16 in ``out_dir/probs/<name>.npz`` (compressed). ``image_path`` / ``label_path``: the RGB
    image and the label PNG (VOC palette or grey indices, 255 = void) the search reads.
    Overwrites an existing manifest in ``out_dir``; the manifest lists the images sorted by name.

    ``collective=True`` under torch.distributed: every rank calls it with the images it
    predicted (e.g. its DistributedSampler shard); each writes its files and a partial list,
    rank 0 merges them (an image saved by two ranks, as the sampler's padding does, is kept
    once), and all ranks return after the merged manifest exists, ready for ``search``.
    Without it (or without an initialised process group) the call is purely local: call it on
    one rank with all items, then synchronise the ranks before searching.
    """
    out = Path(out_dir)
    (out / "probs").mkdir(parents=True, exist_ok=True)
    rank, world = _dist()
    collective = collective and world > 1
    entries, num_classes = [], None
    for name, probs, image_path, label_path in items:
        if hasattr(probs, "detach"):
            probs = probs.detach().float().cpu().numpy()
        probs = np.asarray(probs)
        if probs.ndim != 3:
            raise ValueError(
                f"Probabilities of '{name}' must be (C, H, W), got shape {probs.shape}; save the "
                "softmax of one image, upsampled to the image size."
            )
        if num_classes is None:
            num_classes = int(probs.shape[0])
        elif probs.shape[0] != num_classes:
            raise ValueError(
                f"Probabilities of '{name}' have {probs.shape[0]} classes, earlier ones "
                f"{num_classes}; save one model's outputs per directory."
            )
        rel = f"probs/{_safe_name(name)}.npz"
        np.savez_compressed(out / rel, probs=probs.astype(np.float16))
        entries.append(
            dict(name=str(name), probs=rel, image=str(image_path), label=str(label_path),
                 shape=[int(probs.shape[1]), int(probs.shape[2])])
        )
    path = out / MANIFEST
    if collective:
        import torch.distributed as dist

        part = out / f"manifest.rank{rank}.json"
        part.write_text(json.dumps(dict(num_classes=num_classes, items=entries)))
        if path.exists() and rank == 0:
            path.unlink()  # a stale manifest must not satisfy the other ranks' check below
        dist.barrier()
        error = None
        if rank == 0:
            try:  # always reach the second barrier, or the other ranks would wait forever
                parts = [json.loads((out / f"manifest.rank{r}.json").read_text())
                         for r in range(world)]
                entries = [e for p in parts for e in p["items"]]
                classes = {p["num_classes"] for p in parts if p["num_classes"] is not None}
                if len(classes) > 1:
                    raise ValueError(f"The ranks saved different class counts {sorted(classes)}.")
                _write_manifest(path, entries, classes.pop() if classes else None)
                for r in range(world):
                    (out / f"manifest.rank{r}.json").unlink()
            except Exception as e:  # re-raised after the barrier
                error = e
        dist.barrier()
        if error is not None:
            raise error
        if not path.exists():
            raise FileNotFoundError(f"Rank 0 did not write {path}; see its error.")
        return path
    _write_manifest(path, entries, num_classes)
    return path


def _write_manifest(path: Path, entries: list[dict], num_classes: int | None) -> None:
    unique = {e["name"]: e for e in reversed(entries)}  # first occurrence wins
    if not unique:
        raise ValueError(
            "save_probabilities got no items; pass (name, probs, image_path, label_path) tuples."
        )
    manifest = dict(
        version=1, num_classes=num_classes, dtype="float16",
        items=[unique[k] for k in sorted(unique)],
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    path.write_text(json.dumps(manifest, indent=1))


def load_manifest(probs_dir: str | os.PathLike) -> dict:
    path = Path(probs_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(
            f"No {MANIFEST} in {probs_dir}: run save_probabilities (``repro crf-cv`` does) on "
            "the held-out images first."
        )
    return json.loads(path.read_text())


def _read_rgb(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def _read_label(path: str) -> np.ndarray:
    from PIL import Image

    # PIL keeps palette indices of VOC's 'P' PNGs (OpenCV would return the palette colours).
    with Image.open(path) as im:
        if im.mode not in ("P", "L", "I", "I;16"):
            raise ValueError(
                f"Label {path} is a {im.mode} image; labels must be class-index PNGs (palette or "
                "grey, 255 = void), not colour renderings."
            )
        return np.asarray(im)


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 4


def _load(root: str, entry: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    key = (root, entry["name"])
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    with np.load(Path(root) / entry["probs"]) as z:
        probs = z["probs"].astype(np.float32)
    img_path, lab_path = Path(entry["image"]), Path(entry["label"])
    if not img_path.is_absolute():
        img_path, lab_path = Path(root) / img_path, Path(root) / lab_path
    image, label = _read_rgb(str(img_path)), _read_label(str(lab_path))
    if image.shape[:2] != probs.shape[1:] or label.shape != probs.shape[1:]:
        raise ValueError(
            f"Image '{entry['name']}': probabilities {probs.shape[1:]}, image {image.shape[:2]} "
            f"and label {label.shape} must have the same size; save the scores at the image size."
        )
    _CACHE[key] = (probs, image, label)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return _CACHE[key]


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


def _matlab_range(text: str) -> list[float]:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [float(v) for v in text[1:-1].replace(";", " ").replace(",", " ").split()]
    parts = [float(p) for p in text.split(":")]
    if len(parts) == 1:
        return parts
    if len(parts) == 2:
        lo, step, hi = parts[0], 1.0, parts[1]
    elif len(parts) == 3:
        lo, step, hi = parts
    else:
        raise ValueError(f"Bad range {text!r}: use a, a:b or a:step:b (MATLAB notation).")
    if step <= 0 or hi < lo:
        raise ValueError(f"Bad range {text!r}: need a positive step and a <= b.")
    n = int(math.floor((hi - lo) / step + 1e-9)) + 1
    return [round(lo + i * step, 10) for i in range(n)]


def parse_grid(spec) -> dict[str, list[float]]:
    """A grid from ``'v1'`` / ``'v2'``, a dict of lists, or ``'w1=3:6,sigma_alpha=30:10:100,...'``.

    Values use MATLAB notation: ``a``, ``a:b``, ``a:step:b`` or ``[a b c]``. Axes may be any of
    w1, sigma_alpha, sigma_beta, w2, sigma_gamma, iterations; a grid needs at least w1,
    sigma_alpha and sigma_beta (the others keep their defaults).
    """
    if isinstance(spec, str) and spec in GRIDS:
        grid = {k: list(v) for k, v in GRIDS[spec].items()}
    elif isinstance(spec, dict):
        grid = {k: [float(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
                for k, v in spec.items()}
    elif isinstance(spec, str):
        grid = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ValueError(
                    f"Bad grid item {part!r} in {spec!r}: write axis=range, e.g. "
                    "'w1=3:6,sigma_alpha=30:10:100,sigma_beta=3:6', or use 'v1' / 'v2'."
                )
            key, val = part.split("=", 1)
            grid[key.strip()] = _matlab_range(val)
    else:
        raise ValueError(
            f"Cannot read a CRF grid from {spec!r}; use 'v1', 'v2', a dict or a string."
        )
    unknown = sorted(set(grid) - set(_AXES))
    if unknown:
        raise ValueError(f"Unknown grid axes {unknown}; the axes are {list(_AXES)}.")
    missing = [k for k in ("w1", "sigma_alpha", "sigma_beta") if k not in grid]
    if missing:
        raise ValueError(f"The grid needs values for {missing} (DeepLab searches all three).")
    for k, v in grid.items():
        if not v:
            raise ValueError(f"Grid axis {k} is empty.")
    return {k: grid[k] for k in _AXES if k in grid}


def grid_points(grid: dict[str, list[float]]) -> list[dict]:
    """All points of the grid (product of the axes, last axis fastest) as CRFParams dicts."""
    axes = list(grid)
    pts = []
    for values in itertools.product(*(grid[a] for a in axes)):
        d = dict(zip(axes, values))
        if "iterations" in d:
            d["iterations"] = int(d["iterations"])
        pts.append(CRFParams(**d).to_dict())
    return pts


# --------------------------------------------------------------------------------------------
# Evaluation engine
# --------------------------------------------------------------------------------------------


def _confusion(pred, label, C):
    from repro.metrics.confusion import confusion_matrix

    return confusion_matrix(pred, label, C, ignore_index=255)


def _miou(mat) -> float:
    from repro.metrics.confusion import mean_iou

    return 100.0 * mean_iou(mat)


def _task(args):
    """Worker: score some grid points on one image. Returns (image, base cm, cms, seconds)."""
    root, entry, C, img_idx, point_ids, params, with_base = args
    probs, image, label = _load(root, entry)
    base = _confusion(probs.argmax(0).astype(np.uint8), label, C) if with_base else None
    cms, secs = [], []
    for prm in params:
        t = time.perf_counter()
        pred = crf_labels(probs, image, prm, entry["name"])
        secs.append(time.perf_counter() - t)
        cms.append(_confusion(pred, label, C))
    cms = np.stack(cms) if cms else np.zeros((0, C, C), np.int64)
    return img_idx, point_ids, base, cms, np.asarray(secs)


def _dist():
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_reduce(arr: np.ndarray) -> np.ndarray:
    from repro.metrics.confusion import all_reduce_array

    return all_reduce_array(arr)


class _Evaluator:
    """Per-point confusion matrices over growing image sets, shared by all ranks."""

    def __init__(self, root: str, manifest: dict, points: list[dict], workers: int,
                 progress: bool):
        self.root, self.items, self.points = root, manifest["items"], points
        self.C = int(manifest["num_classes"])
        P, N = len(points), len(self.items)
        self.cm = np.zeros((P, self.C, self.C), np.int64)
        self.done = np.zeros((P, N), bool)
        self.base = np.zeros((self.C, self.C), np.int64)
        self.base_done = np.zeros(N, bool)
        self.seconds = np.zeros(P)  # CRF seconds per point (all ranks), for scheduling
        self.calls = np.zeros(P)
        self.workers, self.progress = workers, progress
        self.rank, self.world = _dist()
        self.pairs = None  # optional (P, N, C, C) per-image matrices (analysis only, one rank)
        self._pool = None

    def close(self):
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def _prior(self, p: int) -> float:
        return _prior_cost(self.points[p])

    def _cost(self, p: int) -> float:
        """Expected seconds of one call of point p: measured mean once known, else the prior
        scaled to the measured points (so that both kinds sort together)."""
        if self.calls[p] > 0:
            return self.seconds[p] / self.calls[p]
        seen = np.flatnonzero(self.calls)
        if seen.size == 0:
            return self._prior(p)
        scale = (self.seconds[seen] / self.calls[seen]).sum() / sum(self._prior(q) for q in seen)
        return self._prior(p) * scale

    @property
    def evaluations(self) -> int:
        return int(self.done.sum())

    def miou(self, p: int) -> float:
        return _miou(self.cm[p])

    def run(self, point_ids: Sequence[int], image_ids: Sequence[int]) -> None:
        """Score ``point_ids`` on ``image_ids`` (skipping pairs already scored)."""
        from tqdm import tqdm

        point_ids = sorted(set(int(p) for p in point_ids))
        image_ids = sorted(set(int(i) for i in image_ids))
        mine = image_ids[self.rank :: self.world]
        tasks = []
        n_pairs = 0
        per_image = max(1, math.ceil(2 * self.workers / max(1, len(mine))))
        for i in mine:
            todo = [p for p in point_ids if not self.done[p, i]]
            with_base = not self.base_done[i]
            if not todo and not with_base:
                continue
            todo.sort(key=self._cost, reverse=True)
            n_chunks = min(per_image, max(1, len(todo)))
            chunks = [todo[k::n_chunks] for k in range(n_chunks)] if todo else [[]]
            for k, ch in enumerate(chunks):
                cost = sum(self._cost(p) for p in ch)
                prm = [CRFParams(**self.points[p]) for p in ch]
                tasks.append((cost, (self.root, self.items[i], self.C, i, ch, prm,
                                     with_base and k == 0)))
                n_pairs += len(ch)
        tasks.sort(key=lambda t: t[0], reverse=True)  # longest first
        tasks = [t for _, t in tasks]
        delta = np.zeros_like(self.cm)
        dbase = np.zeros_like(self.base)
        dsec = np.zeros_like(self.seconds)
        dcalls = np.zeros_like(self.calls)
        bar = tqdm(total=n_pairs, desc=f"CRF cv ({len(point_ids)} pts x {len(image_ids)} imgs)",
                   disable=not (self.progress and self.rank == 0), leave=False)
        if self.workers > 1 and len(tasks) > 1:
            if self._pool is None:
                from repro.crf.dense import _mp_context

                self._pool = _mp_context().Pool(self.workers)
            results = self._pool.imap_unordered(_task, tasks, chunksize=1)
        else:
            results = map(_task, tasks)
        for _i, pts, base, cms, secs in results:
            if base is not None:
                dbase += base
            if len(pts):
                if self.pairs is not None:
                    self.pairs[pts, _i] = cms
                delta[pts] += cms
                dsec[pts] += secs
                dcalls[pts] += 1
            bar.update(len(pts))
        bar.close()
        if self.world > 1:  # sum the new counts of all ranks (every rank gets the same totals)
            for arr in (delta, dbase, dsec, dcalls):
                _all_reduce(arr)
        self.cm += delta
        self.base += dbase
        self.seconds += dsec
        self.calls += dcalls
        self.done[np.ix_(point_ids, image_ids)] = True
        self.base_done[image_ids] = True


STRATEGIES = ("exhaustive", "fast", "coarse_to_fine", "halving")
#: Defaults of the fast search (module docstring): compass steps, final 3^k-box poll.
FAST_STEPS: tuple[int, ...] = (1,)
FAST_FINAL_BOX = False


def _rank(ev, ids: Iterable[int]) -> list[int]:
    """Points by decreasing mIoU, ties by grid order (deterministic on every rank)."""
    return sorted(ids, key=lambda p: (-ev.miou(p), p))


def _directions(k: int, box: bool) -> list[tuple[int, ...]]:
    """Unit steps on a k-dimensional grid: +-1 along each axis, or every direction of the 3^k
    box."""
    if box:
        return [d for d in itertools.product((-1, 0, 1), repeat=k) if any(d)]
    return [tuple(s if a == ax else 0 for a in range(k)) for ax in range(k) for s in (-1, 1)]


def _neighbours(idx: int, shape: tuple[int, ...], box: bool) -> list[int]:
    """Grid neighbours of point ``idx``: +-1 along each axis, or the whole 3^k box."""
    multi = np.unravel_index(idx, shape)
    out = []
    for delta in _directions(len(shape), box):
        m = [a + b for a, b in zip(multi, delta)]
        if all(0 <= v < s for v, s in zip(m, shape)):
            out.append(int(np.ravel_multi_index(m, shape)))
    return out


def _hill_climb(ev, shape: tuple[int, ...], start: int, image_ids: Sequence[int],
                box: bool) -> list[int]:
    """Pattern search on the grid: score the neighbours of the current point, move to the best
    if it beats the current point, stop when none does. Returns the evaluated points."""
    cur, evaluated = start, {start}
    ev.run([start], image_ids)
    while True:
        nbs = set(_neighbours(cur, shape, box))
        ev.run(nbs - evaluated, image_ids)
        evaluated |= nbs
        best = _rank(ev, nbs | {cur})[0]
        if best == cur:  # (-mIoU, index) strictly decreases along the path: no cycles
            return sorted(evaluated)
        cur = best


def _prior_cost(point: dict) -> float:
    """Relative cost of a pydensecrf call: narrower bilateral kernels (small sigma_alpha,
    sigma_beta) give more permutohedral-lattice vertices to splat, blur and slice."""
    return 1.0 / (point["sigma_alpha"] * point["sigma_beta"])


def _moves(idx: int, shape: tuple[int, ...], step: int, box: bool) -> list[int]:
    """Poll points of ``idx`` at distance ``step``: +-step along each axis (or every direction
    of the 3^k box), clipped to the grid, so that a long step from near an edge still polls the
    edge; the point itself and duplicates are dropped."""
    multi = np.unravel_index(idx, shape)
    out = []
    for delta in _directions(len(shape), box):
        m = [min(max(a + step * b, 0), n - 1) for a, b, n in zip(multi, delta, shape)]
        q = int(np.ravel_multi_index(m, shape))
        if q != idx and q not in out:
            out.append(q)
    return out


def _pattern_search(ev, shape: tuple[int, ...], start: int, image_ids: Sequence[int],
                    box: bool, points: list[dict], steps: Sequence[int] = (1,),
                    final_box: bool = False) -> list[int]:
    """Opportunistic pattern (compass) search: poll the points at distance ``steps[0]`` from the
    current point one at a time (scored on all images) and move to the first that beats it;
    when none does, go on with the next, shorter step; stop when no point at the last step is
    better. ``final_box``: then also poll the whole 3^k box (diagonal neighbours), resuming the
    axis search after every improvement, until the point is a local optimum of its box.

    Polling order: the direction of the last successful move first (the surface is smooth, so
    it often improves again), then the cheapest points (widest kernels) first, then grid
    order. The order depends only on the grid, never on timings, so every run and every rank
    takes the same path. Returns the evaluated points."""
    cur, evaluated, last = start, {start}, None
    ev.run([start], image_ids)

    def direction(q: int) -> tuple:
        d = np.subtract(np.unravel_index(q, shape), np.unravel_index(cur, shape))
        return tuple(np.sign(d).tolist())

    def poll(candidates: list[int]) -> bool:
        nonlocal cur, last
        for q in sorted(candidates,
                        key=lambda q: (direction(q) != last, _prior_cost(points[q]), q)):
            if q not in evaluated:
                ev.run([q], image_ids)
                evaluated.add(q)
            if (-ev.miou(q), q) < (-ev.miou(cur), cur):  # strictly better: no cycles
                last, cur = direction(q), q
                return True
        return False

    for step in steps:
        while poll(_moves(cur, shape, int(step), box)):
            pass
    if final_box and not box:
        while poll(_moves(cur, shape, 1, True)):
            while poll(_moves(cur, shape, 1, False)):
                pass
    return sorted(evaluated)


def _coarse_to_fine(ev, shape: tuple[int, ...], image_ids: Sequence[int]) -> list[int]:
    """DeepLab-style: every other value per axis, then refine around the best until it is a
    local optimum of its 3^k neighbourhood. Returns the evaluated points."""
    axes = [sorted(set(list(range(0, s, 2)) + [s - 1])) for s in shape]
    evaluated = {int(np.ravel_multi_index(m, shape)) for m in itertools.product(*axes)}
    ev.run(evaluated, image_ids)
    best = _rank(ev, evaluated)[0]
    return _hill_climb(ev, shape, best, image_ids, box=True) + sorted(evaluated)


def _rung_sizes(n: int, first: int, eta: float) -> list[int]:
    if n <= first:
        return [n]
    rungs = 1 + math.ceil(math.log(n / first) / math.log(eta) - 1e-9)
    sizes = [max(first, math.ceil(n / eta ** (rungs - 1 - r))) for r in range(rungs)]
    return sorted(set(min(s, n) for s in sizes))


def _check_options(strategy: str, opts: dict) -> dict:
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; use one of {STRATEGIES}.")
    full = dict(neighbourhood="axis", start=None, steps=FAST_STEPS, final_box=FAST_FINAL_BOX,
                first_images=8, eta=4.0, reduction=8, min_keep=4)
    unknown = sorted(set(opts) - set(full))
    if unknown:
        raise ValueError(f"Unknown search option(s) {unknown}; the options are {sorted(full)}.")
    full.update({k: v for k, v in opts.items() if v is not None or k == "start"})
    if full["neighbourhood"] not in ("axis", "box"):
        raise ValueError("neighbourhood must be 'axis' (+-1 along each axis) or 'box' (3^k).")
    steps = full["steps"]
    steps = [steps] if isinstance(steps, (int, np.integer)) else list(steps)
    if not steps or any(int(v) != v or v < 1 for v in steps):
        raise ValueError(f"steps must be positive integers (grid steps, e.g. (2, 1)), got {steps}.")
    full["steps"] = tuple(int(v) for v in steps)
    if full["first_images"] < 1 or full["eta"] <= 1 or full["reduction"] < 1 \
            or full["min_keep"] < 1:
        raise ValueError(
            "Halving knobs need first_images >= 1, eta > 1, reduction >= 1, min_keep >= 1."
        )
    return full


def _run_strategy(ev, strategy: str, shape: tuple[int, ...], seed: int, opts: dict,
                  points: list[dict]):
    """The search itself, on an evaluator (``_Evaluator`` or a replay of stored matrices).

    Returns (best point index, rungs)."""
    n_points, n = ev.done.shape
    all_images = list(range(n))
    rungs = []
    if strategy == "exhaustive":
        ev.run(range(n_points), all_images)
        finalists = list(range(n_points))
    elif strategy == "fast":
        start = opts["start"]
        if start is None:  # the grid centre
            start = int(np.ravel_multi_index([s // 2 for s in shape], shape))
        finalists = _pattern_search(ev, shape, int(start), all_images,
                                    opts["neighbourhood"] == "box", points, opts["steps"],
                                    bool(opts["final_box"]))
    elif strategy == "coarse_to_fine":
        finalists = _coarse_to_fine(ev, shape, all_images)
    else:  # successive halving over nested image subsets
        order = np.random.default_rng(seed).permutation(n).tolist()
        sizes = _rung_sizes(n, opts["first_images"], opts["eta"])
        alive = list(range(n_points))
        for r, size in enumerate(sizes):
            ev.run(alive, order[:size])
            rungs.append(dict(n_images=size, n_points=len(alive)))
            if r < len(sizes) - 1:
                keep = max(opts["min_keep"], math.ceil(len(alive) / opts["reduction"]))
                alive = _rank(ev, alive)[:keep]
        finalists = alive
    if not rungs:
        rungs.append(dict(n_images=n, n_points=int(ev.done.any(1).sum())))
    return _rank(ev, finalists)[0], rungs


class _Replay:
    """Evaluator over stored per-(point, image) matrices (P, N, C, C): replays a search in
    milliseconds, e.g. to measure how often a strategy lands within 0.1 of the optimum over
    many image orders (benchmarks/bench_crf.py)."""

    def __init__(self, pairs: np.ndarray, seconds: np.ndarray | None = None):
        self.pairs = pairs
        P, N = pairs.shape[:2]
        self.cm = np.zeros((P,) + pairs.shape[2:], np.int64)
        self.done = np.zeros((P, N), bool)
        self.point_seconds = seconds  # mean CRF seconds per point, for cost accounting

    def run(self, point_ids, image_ids) -> None:
        for p in set(int(q) for q in point_ids):
            new = [i for i in set(int(j) for j in image_ids) if not self.done[p, i]]
            if new:
                self.cm[p] += self.pairs[p, new].sum(0)
                self.done[p, new] = True

    def miou(self, p: int) -> float:
        return _miou(self.cm[p])

    @property
    def evaluations(self) -> int:
        return int(self.done.sum())

    @property
    def cost(self) -> float:
        """CRF seconds the evaluated pairs cost (needs ``seconds``: per point, or per pair)."""
        sec = np.asarray(self.point_seconds)
        if sec.ndim == 2:
            return float((self.done * sec).sum())
        return float((self.done.sum(1) * sec).sum())


def replay(pairs: np.ndarray, grid, strategy: str = "fast", seed: int = 0,
           seconds: np.ndarray | None = None, bootstrap: bool = False, **options) -> dict:
    """Run a search strategy on stored per-pair confusion matrices (``search(keep_pairs=True)``).

    The images are first permuted with ``seed`` (a different order for 'halving'), or, with
    ``bootstrap=True``, drawn with replacement (a different held-out set, hence a different
    mIoU landscape). Returns ``best`` (point index), ``miou`` (its mIoU on the replayed images),
    ``optimum`` (the exhaustive optimum there), ``gap``, ``evaluations`` and, given ``seconds``
    (CRF seconds: (P,) mean per point, or (P, N) per pair), ``cost``: the seconds of the calls
    the search made.
    """
    grid = parse_grid(grid)
    shape = tuple(len(v) for v in grid.values())
    opts = _check_options(strategy, options)
    rng = np.random.default_rng(seed + 1_000_003)
    n = pairs.shape[1]
    idx = rng.choice(n, n, replace=True) if bootstrap else rng.permutation(n)
    data = pairs[:, idx]
    if seconds is not None and np.ndim(seconds) == 2:
        seconds = np.asarray(seconds)[:, idx]
    ev = _Replay(data, seconds)
    best, rungs = _run_strategy(ev, strategy, shape, seed, opts, grid_points(grid))
    totals = data.sum(1)
    scores = np.array([_miou(m) for m in totals])
    out = dict(best=best, miou=float(scores[best]), optimum=float(scores.max()),
               gap=float(scores.max() - scores[best]), evaluations=ev.evaluations, rungs=rungs)
    if seconds is not None:
        out["cost"] = ev.cost
    return out


def search(
    probs_dir: str | os.PathLike, grid="v2", strategy: str = "fast", workers: int | None = None,
    seed: int = 0, progress: bool = True, keep_pairs: bool = False, **options,
) -> dict:
    """Cross-validate the CRF parameters on the probabilities saved in ``probs_dir``.

    ``strategy``: 'exhaustive' | 'fast' | 'coarse_to_fine' | 'halving' (module docstring).
    ``workers``: process-pool size (default: 1 for 'exhaustive', the reference sequential loop;
    otherwise the CPUs of the affinity mask divided by the ranks on this node). ``options``:
    'fast': ``neighbourhood`` ('axis' or 'box'), ``start`` (grid index, default the centre),
    ``steps`` (compass step sizes, longest first, default ``FAST_STEPS``), ``final_box``
    (poll the 3^k box at the end, default ``FAST_FINAL_BOX``); 'halving': ``first_images``
    (8), ``eta`` (4, subset growth), ``reduction`` (8), ``min_keep`` (4), with ``seed``
    ordering the images. ``keep_pairs``: also return
    ``pair_confusions`` (P, N, C, C), every scored (point, image) matrix, for ``replay``
    analyses (one process only). Returns the result dict that ``main_crf_cv`` writes as JSON.
    """
    opts = _check_options(strategy, options)
    t0 = time.perf_counter()
    root = str(Path(probs_dir).resolve())
    manifest = load_manifest(root)
    grid_name = grid if isinstance(grid, str) and grid in GRIDS else None
    grid = parse_grid(grid)
    points = grid_points(grid)
    shape = tuple(len(v) for v in grid.values())
    rank, world = _dist()
    if workers is None:
        if strategy == "exhaustive":
            workers = 1
        else:
            local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
            workers = max(1, available_cpus() // max(1, local))
    n = len(manifest["items"])
    ev = _Evaluator(root, manifest, points, int(workers), progress)
    if keep_pairs:
        if world > 1:
            raise ValueError("keep_pairs is for single-process analyses; run without torchrun.")
        ev.pairs = np.zeros((len(points), n, ev.C, ev.C), np.int64)
    try:
        best, rungs = _run_strategy(ev, strategy, shape, seed, opts, points)
        if not ev.base_done.all():  # the no-CRF score on every image, for reference
            ev.run([], range(n))
    finally:
        ev.close()
    wall = time.perf_counter() - t0
    names = list(grid)
    pts_out = []
    for p, prm in enumerate(points):
        k = int(ev.done[p].sum())
        if k:
            sec = ev.seconds[p] / ev.calls[p] if ev.calls[p] else None
            pts_out.append(dict({a: prm[a] for a in names}, miou=ev.miou(p), n_images=k,
                                seconds_per_image=sec))
    extra = dict(pair_confusions=ev.pairs) if keep_pairs else {}
    return dict(
        **extra,
        strategy=strategy,
        grid_name=grid_name,
        grid=grid,
        probs_dir=root,
        n_images=n,
        images=[it["name"] for it in manifest["items"]],
        num_classes=ev.C,
        best=points[best],
        best_miou=ev.miou(best),
        no_crf_miou=_miou(ev.base),
        points=pts_out,
        rungs=rungs,
        evaluations=ev.evaluations,
        exhaustive_evaluations=len(points) * n,
        crf_seconds=float(ev.seconds.sum()),
        wall_time_s=wall,
        workers=int(workers),
        world_size=world,
        seed=seed,
        options={k: v for k, v in opts.items() if v is not None},
        date=datetime.now(UTC).isoformat(timespec="seconds"),
    )


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def plot_heatmap(result: dict, path: str | os.PathLike) -> Path:
    """mIoU over sigma_alpha x sigma_beta at the best w1 (PNG, matplotlib Agg).

    Left: points scored on all images (NaN = not scored: the fast searches skip most of the
    grid). For 'halving' a second panel shows every point on the largest subset it reached.
    Drawn on a bare ``Figure`` (Agg canvas), so pyplot's global backend is left alone.
    """
    from matplotlib.figure import Figure

    grid, best = result["grid"], result["best"]
    sa, sb = grid["sigma_alpha"], grid["sigma_beta"]
    others = {k: best[k] for k in grid if k not in ("sigma_alpha", "sigma_beta")}
    n = result["n_images"]
    panels = [(f"all {n} images", n)]
    first = min(p["n_images"] for p in result["points"])
    if first < n:
        panels.append((f"points' largest subset (>= {first} images)", None))
    fig = Figure(figsize=(5.2 * len(panels), 4.2))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, need) in zip(axes[0], panels):
        mat = np.full((len(sb), len(sa)), np.nan)
        for p in result["points"]:
            if any(p[k] != v for k, v in others.items()):
                continue
            if need is not None and p["n_images"] < need:
                continue
            mat[sb.index(p["sigma_beta"]), sa.index(p["sigma_alpha"])] = p["miou"]
        im = ax.imshow(mat, origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(sa)), [f"{v:g}" for v in sa])
        ax.set_yticks(range(len(sb)), [f"{v:g}" for v in sb])
        ax.set_xlabel("sigma_alpha")
        ax.set_ylabel("sigma_beta")
        for (r, c), v in np.ndenumerate(mat):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w")
        bi, bj = sb.index(best["sigma_beta"]), sa.index(best["sigma_alpha"])
        ax.plot(bj, bi, marker="o", mfc="none", mec="r", ms=14)
        fixed = ", ".join(f"{k}={v:g}" for k, v in others.items())
        ax.set_title(f"mIoU, {title}\n{fixed}", fontsize=9)
        fig.colorbar(im, ax=ax)
    fig.suptitle(
        f"dense CRF cross-validation ({result['strategy']}): best {result['best_miou']:.2f} "
        f"(no CRF {result['no_crf_miou']:.2f})", fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def main_crf_cv(
    probs_dir: str | os.PathLike, grid="v2", strategy: str = "fast",
    out: str | os.PathLike | None = None, workers: int | None = None, seed: int = 0,
    progress: bool = True, **kwargs,
) -> dict:
    """Run ``search`` and write ``out`` (JSON, default ``<probs_dir>/crf_cv_<strategy>.json``)
    and the heat map next to it (same name, ``.png``); only rank 0 writes. Returns the result,
    with ``json`` and ``heatmap`` paths added."""
    result = search(probs_dir, grid=grid, strategy=strategy, workers=workers, seed=seed,
                    progress=progress, **kwargs)
    out = Path(out) if out is not None else Path(probs_dir) / f"crf_cv_{strategy}.json"
    png = out.with_suffix(".png")
    result["json"], result["heatmap"] = str(out), str(png)
    if _dist()[0] == 0:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
        plot_heatmap(result, png)
    return result
