"""PyTorch mean-field (permutohedral lattice port) against pydensecrf on VOC-size images."""

import cv2
import numpy as np
import pytest
import torch

from repro.crf.dense import CRFParams, crf_inference
from repro.crf.meanfield import PermutohedralLattice, bilateral_features, dense_crf_torch
from repro.crf.synthetic import make_scene, network_probs

H, W = 375, 500  # VOC size


def _photo():
    skdata = pytest.importorskip("skimage.data")
    img = skdata.chelsea()  # 300 x 451 RGB: scale to cover 500 x 375, then centre-crop
    s = max(W / img.shape[1], H / img.shape[0])
    img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                     interpolation=cv2.INTER_LINEAR)
    y0, x0 = (img.shape[0] - H) // 2, (img.shape[1] - W) // 2
    return np.ascontiguousarray(img[y0 : y0 + H, x0 : x0 + W])


def _smooth_probs(rng, C=21):
    """Synthetic unaries: low-frequency random logits (regions that cross image edges)."""
    low = rng.normal(size=(H // 40 + 1, W // 40 + 1, C)).astype(np.float32) * 2.5
    up = cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC).transpose(2, 0, 1)
    p = np.exp(up - up.max(0))
    return (p / p.sum(0)).astype(np.float32)


def _compare(probs, image, params):
    ref = crf_inference(probs, image, params)
    with torch.no_grad():
        ours = dense_crf_torch(
            torch.from_numpy(probs), torch.from_numpy(image).permute(2, 0, 1), params.w1,
            params.sigma_alpha, params.sigma_beta, params.w2, params.sigma_gamma,
            params.iterations,
        ).numpy()
    changed = (ref.argmax(0) != probs.argmax(0)).mean()
    disagree = (ref.argmax(0) != ours.argmax(0)).mean()
    return changed, disagree, np.abs(ref - ours).max()


@pytest.mark.parametrize("params", [CRFParams(10, 80, 13), CRFParams(5, 50, 4)])
def test_matches_pydensecrf_on_photo(params):
    torch.set_num_threads(1)
    changed, disagree, qdiff = _compare(_smooth_probs(np.random.default_rng(0)), _photo(), params)
    assert changed > 0.02, "The test unaries should let the CRF change > 2 % of the labels."
    assert disagree < 0.01, (
        f"PyTorch mean-field and pydensecrf disagree on {100 * disagree:.3f} % of the pixels "
        f"(max |dQ| = {qdiff:.2g}); the lattice port must follow permutohedral.cpp exactly "
        "(feature order x, y, r, g, b; scale factors; rank ties; alpha; symmetric normalisation)."
    )
    assert qdiff < 1e-2, f"Marginals differ by {qdiff:.3g}; expected float32 rounding only."


def test_matches_pydensecrf_on_synthetic_scene():
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    image, label = make_scene(rng, H, W, max_objects=6, void_band=3)
    probs = network_probs(rng, label, scale=4.0, noise=1.5)
    changed, disagree, qdiff = _compare(probs, image, CRFParams(4, 60, 5))
    assert changed > 0.005 and disagree < 0.01, (
        f"On a synthetic scene the CRF changed {100 * changed:.2f} % of the labels and the PyTorch "
        f"port disagrees with pydensecrf on {100 * disagree:.3f} % (must be < 1 %)."
    )


def test_gather_backend_and_adjoint():
    rng = np.random.default_rng(2)
    image = torch.from_numpy(rng.integers(0, 256, (3, 30, 40), dtype=np.uint8))
    f = bilateral_features(image, 7.0, 20.0)
    sparse, gather = PermutohedralLattice(f, "sparse"), PermutohedralLattice(f, "gather")
    x = torch.rand(f.shape[0], 5)
    y = torch.rand(f.shape[0], 5)
    kx = sparse.compute(x)
    assert torch.allclose(kx, gather.compute(x), rtol=1e-4, atol=1e-5), (
        "The 'gather' and 'sparse' lattice back-ends must compute the same filter."
    )
    lhs = (kx * y).sum()
    rhs = (x * sparse.compute(y, reverse=True)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-4), (
        "compute(reverse=True) must be the transpose of compute() (blur axes in reverse order); "
        "the custom autograd backward relies on it."
    )
    xr = x.clone().requires_grad_(True)
    (sparse(xr) * y).sum().backward()
    assert torch.allclose(xr.grad, sparse.compute(y, reverse=True), rtol=1e-4, atol=1e-6), (
        "The lattice filter's gradient must be the reverse-order filter of the output gradient."
    )
