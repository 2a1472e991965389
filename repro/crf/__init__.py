"""Dense CRF (Kraehenbuehl & Koltun 2011) for the DeepLab-protocol rows, and CRF-RNN.

- ``build_postprocessor(cfg)``: test-time dense CRF, ``cfg = dict(type='DenseCRF', w1=...,
  sigma_alpha=..., sigma_beta=..., w2=3, sigma_gamma=3, iterations=10)`` (pydensecrf over a
  process pool, ``repro.crf.dense``) or ``type='TorchDenseCRF'`` (the same CRF in PyTorch on a
  GPU, ``repro.crf.meanfield``). The object has ``process_many([(probs, image, name), ...])``.
- ``repro.crf.cv``: DeepLab's cross-validation of (w1, sigma_alpha, sigma_beta) on 100 val
  images (exhaustive and fast searches).
- ``repro.crf.meanfield``: differentiable mean-field in PyTorch and ``CRFRNN`` (Zheng et al. 2015).
- ``repro.crf.segmentor``: ``CRFRNNEncoderDecoder``, registered in ``mmseg.registry.MODELS`` when
  this package is imported.
- ``repro.crf.synthetic``: small in-memory scenes and stride-8 network-like probabilities on which
  the CRF helps (tests and benchmarks/bench_crf.py).

Importing this package creates no processes; pools start on the first ``process_many``.
"""

from __future__ import annotations

from repro.crf.dense import CRFParams, DenseCRF
from repro.crf.meanfield import CRFRNN, TorchDenseCRF, dense_crf_torch
from repro.crf.segmentor import CRFRNNEncoderDecoder

__all__ = [
    "CRFParams",
    "DenseCRF",
    "TorchDenseCRF",
    "CRFRNN",
    "CRFRNNEncoderDecoder",
    "dense_crf_torch",
    "build_postprocessor",
]

_POSTPROCESSORS = ("DenseCRF", "TorchDenseCRF")


def build_postprocessor(cfg: dict):
    """Build a test-time CRF post-processor from a config dict (see the module docstring).

    Keys besides ``type`` are the ``CRFParams`` fields plus, optionally, ``workers`` and
    ``progress`` (DenseCRF) or ``device`` and ``progress`` (TorchDenseCRF).
    """
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ValueError(
            f"A CRF post-processor config must be a dict with a 'type' key, got {cfg!r}; e.g. "
            "dict(type='DenseCRF', w1=4, sigma_alpha=121, sigma_beta=5)."
        )
    cfg = dict(cfg)
    kind = cfg.pop("type")
    if kind not in _POSTPROCESSORS:
        raise ValueError(f"Unknown CRF post-processor type {kind!r}; known: {_POSTPROCESSORS}.")
    opts = {k: cfg.pop(k) for k in ("workers", "progress", "device") if k in cfg}
    params = CRFParams.from_dict(cfg)
    if kind == "DenseCRF":
        if "device" in opts:
            raise ValueError("'device' applies to type='TorchDenseCRF', not 'DenseCRF' (CPU only).")
        return DenseCRF(params, **opts)
    if "workers" in opts:
        raise ValueError("'workers' applies to type='DenseCRF'; TorchDenseCRF runs on one device.")
    return TorchDenseCRF(params, **opts)
