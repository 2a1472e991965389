"""Dense CRF post-processor (pydensecrf, DeepLab parameterisation) and its factory."""

import numpy as np
import pytest

from repro.crf import CRFParams, DenseCRF, build_postprocessor
from repro.crf.synthetic import make_dataset
from repro.metrics.confusion import confusion_matrix, mean_iou

PARAMS = dict(w1=5, sigma_alpha=50, sigma_beta=5)


@pytest.fixture(scope="module")
def scenes():
    return make_dataset(4, 72, 96, seed=3, scale=4.0, noise=1.5)


def test_params_validate_and_round_trip():
    p = CRFParams(**PARAMS)
    assert (p.w2, p.sigma_gamma, p.iterations) == (3.0, 3.0, 10), (
        "CRFParams must default to DeepLab's fixed Gaussian kernel (w2=3, sigma_gamma=3) and 10 "
        "mean-field iterations."
    )
    assert CRFParams.from_dict(p.to_dict()) == p, "to_dict/from_dict must round-trip CRFParams."
    with pytest.raises(ValueError, match="positive"):
        CRFParams(w1=5, sigma_alpha=0, sigma_beta=5)
    with pytest.raises(ValueError, match="Unknown dense-CRF parameter"):
        CRFParams.from_dict(dict(PARAMS, bi_w=4))


def test_factory_builds_dense_crf_and_rejects_unknown_types():
    pp = build_postprocessor(dict(type="DenseCRF", **PARAMS, w2=3, sigma_gamma=3, iterations=10))
    assert isinstance(pp, DenseCRF) and pp.params == CRFParams(**PARAMS), (
        "build_postprocessor(dict(type='DenseCRF', ...)) must return a DenseCRF with those params."
    )
    with pytest.raises(ValueError, match="Unknown CRF post-processor"):
        build_postprocessor(dict(type="CRF++", **PARAMS))


def test_process_many_pool_equals_in_process_and_crf_helps(scenes):
    items = [(p, img, name) for name, p, img, _ in scenes]
    crf = DenseCRF(CRFParams(**PARAMS), workers=2, progress=False)
    try:
        pooled = crf.process_many(items)
        again = crf.process_many(items[:2])  # the pool is reused across calls
    finally:
        crf.close()
    single = DenseCRF(CRFParams(**PARAMS), workers=1, progress=False).process_many(items)
    for a, b, c in zip(pooled, single, again):
        assert a.dtype == np.uint8 and np.array_equal(a, b) and np.array_equal(a, c), (
            "process_many must return the same uint8 labels through the pool as in-process; "
            "check that the pool task calls crf_labels with the same parameters."
        )
    C = scenes[0][1].shape[0]
    before = sum(confusion_matrix(p.argmax(0), lab, C) for _, p, _, lab in scenes)
    after = sum(confusion_matrix(pred, lab, C) for pred, (_, _, _, lab) in zip(pooled, scenes))
    assert mean_iou(after) > mean_iou(before) + 0.02, (
        "The dense CRF should sharpen the blurred synthetic probabilities (mIoU up by > 2 points); "
        "check the unary (-log p) and that the image is RGB uint8 matching the probabilities."
    )


def test_torch_postprocessor_matches_pydensecrf(scenes):
    pp = build_postprocessor(dict(type="TorchDenseCRF", device="cpu", **PARAMS))
    ref = DenseCRF(CRFParams(**PARAMS), workers=1, progress=False)
    items = [(p, img, name) for name, p, img, _ in scenes[:2]]
    for a, b in zip(pp.process_many(items), ref.process_many(items)):
        assert (a != b).mean() < 0.01, (
            "type='TorchDenseCRF' must give pydensecrf's labels (< 1 % of pixels differ)."
        )


def test_inputs_are_checked(scenes):
    _, p, img, _ = scenes[0]
    crf = DenseCRF(CRFParams(**PARAMS), progress=False)
    with pytest.raises(ValueError, match="uint8"):
        crf(p, img.astype(np.float32))
    with pytest.raises(ValueError, match="differ in size"):
        crf(p[:, :-1], img)
