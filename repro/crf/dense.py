"""Dense CRF post-processing with DeepLab's parameterisation, on pydensecrf.

Model (Kraehenbuehl & Koltun, NIPS 2011, as used by DeepLab v1, Chen et al. ICLR 2015, and
DeepLab v2, TPAMI 2017; also GDN, DeconvNet, Dilation Table 3 and GCN Table 7)::

    E(x) = sum_i -log P(x_i) + sum_{i<j} [x_i != x_j] (
               w1 exp(-|p_i - p_j|^2 / (2 sigma_alpha^2) - |I_i - I_j|^2 / (2 sigma_beta^2))
             + w2 exp(-|p_i - p_j|^2 / (2 sigma_gamma^2)) )

with P the network's softmax, p pixel positions and I RGB colours; w2 = 3 and sigma_gamma = 3 are
fixed, (w1, sigma_alpha, sigma_beta) cross-validated (see ``repro.crf.cv``), 10 mean-field
iterations.

Backend: pydensecrf2 (``import pydensecrf.densecrf``), the Cython wrapper of Kraehenbuehl's 2013
C++ densecrf: ``DenseCRF2D.addPairwiseGaussian(sxy=sigma_gamma, compat=w2)`` and
``addPairwiseBilateral(sxy=sigma_alpha, srgb=sigma_beta, rgbim, compat=w1)`` with its defaults
(DIAG_KERNEL, NORMALIZE_SYMMETRIC; a number as ``compat`` is a Potts model). We use it rather than
a re-implementation because it *is* the reference code of the papers' CRF (DeepLab's own C++ CRF
is the same 2011/2013 code with the same lattice), and it is fast (~0.5 s per 500x375 image).

``DenseCRF.process_many`` spreads images over a process pool sized to the CPUs this process may
use (``os.sched_getaffinity``); pydensecrf is single-threaded, so this is the only parallelism.
The pool is created on first use and kept for the next calls (the metric code calls
``process_many`` once per evaluation batch); ``close()`` or garbage collection ends it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import weakref
from dataclasses import asdict, dataclass, fields

import numpy as np

__all__ = ["CRFParams", "DenseCRF", "available_cpus", "crf_inference", "crf_labels", "PROB_EPS"]

#: Probabilities are clipped to [PROB_EPS, 1] before -log (float16-saved zeros stay finite).
PROB_EPS = 1e-8


@dataclass(frozen=True)
class CRFParams:
    """DeepLab's dense-CRF parameters (names as in the DeepLab papers).

    ``w1``, ``sigma_alpha``, ``sigma_beta``: bilateral (appearance) kernel weight, positional
    and colour standard deviations; ``w2``, ``sigma_gamma``: Gaussian (smoothness) kernel weight
    and positional standard deviation; ``iterations``: mean-field iterations.
    """

    w1: float
    sigma_alpha: float
    sigma_beta: float
    w2: float = 3.0
    sigma_gamma: float = 3.0
    iterations: int = 10

    def __post_init__(self):
        for name in ("sigma_alpha", "sigma_beta", "sigma_gamma"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(
                    f"CRF parameter {name}={getattr(self, name)} must be positive (it divides "
                    "the pixel features); DeepLab's grids use sigma_alpha 30..100, sigma_beta "
                    "3..10."
                )
        if int(self.iterations) < 0:
            raise ValueError(f"iterations={self.iterations} must be >= 0 (DeepLab uses 10).")

    @classmethod
    def from_dict(cls, cfg: dict) -> CRFParams:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - names)
        if unknown:
            raise ValueError(
                f"Unknown dense-CRF parameter(s) {unknown}; the parameters are {sorted(names)}."
            )
        return cls(**cfg)

    def to_dict(self) -> dict:
        return asdict(self)


def available_cpus() -> int:
    """CPUs this process may run on (affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _check(probs: np.ndarray, image: np.ndarray, name: str | None) -> tuple[np.ndarray, np.ndarray]:
    where = f" of image '{name}'" if name is not None else ""
    probs = np.asarray(probs)
    image = np.asarray(image)
    if probs.ndim != 3:
        raise ValueError(
            f"Probabilities{where} must be (C, H, W), got shape {probs.shape}; pass the softmax "
            "of one image with classes first."
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"Image{where} must be (H, W, 3) RGB, got shape {image.shape}; convert grayscale or "
            "BGR (OpenCV) images to RGB first."
        )
    if image.shape[:2] != probs.shape[1:]:
        raise ValueError(
            f"Probabilities{where} {probs.shape} and image {image.shape} differ in size; resize "
            "the scores to the image size (bilinear) before the CRF."
        )
    if image.dtype != np.uint8:
        raise ValueError(
            f"Image{where} has dtype {image.dtype}; pydensecrf takes uint8 RGB (0..255). Convert "
            "with np.clip(img, 0, 255).astype(np.uint8) (de-normalise network inputs first)."
        )
    # pydensecrf's typed memoryview needs a C-contiguous, writable buffer.
    return probs, np.require(image, requirements=["C", "W"])


def crf_inference(probs: np.ndarray, image: np.ndarray, params: CRFParams,
                  name: str | None = None) -> np.ndarray:
    """Mean-field marginals Q (C, H, W) float32 from pydensecrf."""
    import pydensecrf.densecrf as dcrf

    probs, image = _check(probs, image, name)
    c, h, w = probs.shape
    p = np.clip(probs.reshape(c, -1).astype(np.float32), PROB_EPS, 1.0)
    unary = np.ascontiguousarray(-np.log(p))
    crf = dcrf.DenseCRF2D(w, h, c)
    crf.setUnaryEnergy(unary)
    crf.addPairwiseGaussian(sxy=float(params.sigma_gamma), compat=float(params.w2))
    crf.addPairwiseBilateral(
        sxy=float(params.sigma_alpha), srgb=float(params.sigma_beta), rgbim=image,
        compat=float(params.w1),
    )
    q = np.asarray(crf.inference(int(params.iterations)), dtype=np.float32)
    return q.reshape(c, h, w)


def crf_labels(probs: np.ndarray, image: np.ndarray, params: CRFParams,
               name: str | None = None) -> np.ndarray:
    """Arg-max labels (H, W) of the CRF: uint8 for <= 256 classes, else int32."""
    q = crf_inference(probs, image, params, name)
    return q.argmax(0).astype(np.uint8 if q.shape[0] <= 256 else np.int32)


def _pool_task(args):
    params, probs, image, name = args
    return crf_labels(probs, image, params, name)


def _mp_context():
    """'fork' where available (workers start in milliseconds and need no re-import of the
    harness, which imports mmseg); override with REPRO_CRF_MP_CONTEXT=spawn|forkserver."""
    method = os.environ.get("REPRO_CRF_MP_CONTEXT")
    if method is None:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return mp.get_context(method)


def _close_pool(pool) -> None:
    pool.terminate()
    pool.join()


class DenseCRF:
    """Dense CRF post-processor: ``labels = crf(probs, image)`` or ``crf.process_many(items)``.

    ``probs``: (C, H, W) float32 (or float16) softmax probabilities; ``image``: (H, W, 3) uint8
    RGB of the same size. ``workers``: pool size for ``process_many`` (default: the CPUs of the
    affinity mask); ``progress``: tqdm bar in ``process_many``.
    """

    def __init__(self, params: CRFParams | dict, workers: int | None = None, progress: bool = True):
        self.params = params if isinstance(params, CRFParams) else CRFParams.from_dict(params)
        self.workers = workers
        self.progress = progress
        self._pool = None
        self._pool_size = 0
        self._finalizer = None

    def __repr__(self) -> str:
        return f"DenseCRF({self.params}, workers={self.workers})"

    def inference(self, probs: np.ndarray, image: np.ndarray) -> np.ndarray:
        """Marginals Q (C, H, W) float32."""
        return crf_inference(probs, image, self.params)

    def __call__(self, probs: np.ndarray, image: np.ndarray) -> np.ndarray:
        return crf_labels(probs, image, self.params)

    def _get_pool(self, n: int):
        if self._pool is not None and self._pool_size >= n:
            return self._pool
        self.close()
        self._pool = _mp_context().Pool(n)
        self._pool_size = n
        self._finalizer = weakref.finalize(self, _close_pool, self._pool)
        return self._pool

    def close(self) -> None:
        """End the worker pool (a later ``process_many`` starts a new one)."""
        if self._finalizer is not None:
            self._finalizer()
        self._pool, self._pool_size, self._finalizer = None, 0, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):  # picklable without the pool
        return {"params": self.params, "workers": self.workers, "progress": self.progress}

    def __setstate__(self, state):
        self.__init__(**state)

    def process_many(self, items) -> list[np.ndarray]:
        """Labels for each ``(probs, image, name)`` of ``items``, in order.

        Uses the process pool for more than one item when more than one CPU is available, else
        runs in this process.
        """
        from tqdm import tqdm

        items = list(items)
        n_workers = self.workers if self.workers is not None else available_cpus()
        n_workers = max(1, min(int(n_workers), len(items)))
        bar = dict(total=len(items), desc="dense CRF", disable=not self.progress, leave=False)
        if n_workers == 1:
            return [
                crf_labels(probs, image, self.params, name)
                for probs, image, name in tqdm(items, **bar)
            ]
        pool = self._get_pool(n_workers)
        tasks = ((self.params, probs, image, name) for probs, image, name in items)
        return list(tqdm(pool.imap(_pool_task, tasks, chunksize=1), **bar))
