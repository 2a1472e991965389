"""Boundary / internal split (GCN Table 5) and trimap: hand cases, EDT equivalence, plot."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from repro.metrics.boundary import (
    BoundaryAccuracy,
    Trimap,
    boundary_distance,
    boundary_region,
    label_edges,
    plot_trimap,
)

V = 255


def test_two_halves_hand_case():
    # Columns 1 and 2 touch the 0|1 change: they are the boundary pixels.
    label = np.array([[0, 0, 1, 1]] * 4, np.uint8)
    edges = label_edges(label)
    assert edges[:, 1:3].all() and not edges[:, [0, 3]].any(), (
        "Pixels with a 4-neighbour of another label (and only those) should be boundary pixels."
    )
    b, i = boundary_region(label, width=0)
    assert (b == edges).all() and (i == ~edges).all(), "Width 0 should be the boundary pixels."
    b, i = boundary_region(label, width=1)
    assert b.all() and not i.any(), "Every pixel is within distance 1 of columns 1-2."


def test_void_counts_as_a_different_label_and_is_never_scored():
    # A void blob inside background: its 4-neighbours are boundary pixels (our definition).
    label = np.zeros((4, 4), np.uint8)
    label[1, 1:3] = V
    pred = np.zeros((4, 4), np.uint8)
    pred[0, 1] = 1  # wrong, on the boundary
    pred[3, 3] = 1  # wrong, internal for w = 0 and w = 1
    touching = {(0, 1), (0, 2), (1, 0), (1, 3), (2, 1), (2, 2)}
    b, i = boundary_region(label, width=0)
    assert {tuple(x) for x in np.argwhere(b)} == touching, (
        "The non-void pixels touching void should form the width-0 boundary region."
    )
    assert not (b | i)[1, 1:3].any(), "Void pixels must be in neither region."
    acc = BoundaryAccuracy(width=0)
    acc.update(pred, label)
    assert acc.counts.tolist() == [5, 6, 7, 8], "Expected 5/6 boundary and 7/8 internal."
    # Width 1 adds the 4-neighbours of those pixels; (3,0) and (3,3) are sqrt(2) away.
    acc = BoundaryAccuracy(width=1)
    acc.update(pred, label)
    assert acc.counts.tolist() == [11, 12, 1, 2], "Expected 11/12 boundary and 1/2 internal."
    assert acc.summary() == pytest.approx({"boundary_acc": 100 * 11 / 12, "internal_acc": 50.0})


def test_image_border_is_not_a_boundary_and_uniform_maps_are_internal():
    label = np.full((5, 6), 3, np.uint8)
    assert not label_edges(label).any(), "The image border must not create boundary pixels."
    b, i = boundary_region(label, 7)
    assert not b.any() and i.all(), "A one-label map is entirely internal."
    assert np.isinf(boundary_distance(label)).all()


@pytest.mark.parametrize("seed", range(6))
def test_region_equals_exact_euclidean_distance_band(seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 4, (6, 8)).astype(np.uint8)
    label = np.kron(small, np.ones((5, 7), np.uint8))  # blocky map, 30 x 56
    label[rng.random(label.shape) < 0.03] = V
    edges = label_edges(label)
    dist = ndimage.distance_transform_edt(~edges)  # reference: scipy's exact EDT
    valid = label != V
    for w in (0, 1, 2, 3, 7):
        b, i = boundary_region(label, w)
        assert (b == ((dist <= w) & valid)).all(), f"Width {w}: band must be EDT <= w."
        assert (i == ((dist > w) & valid)).all(), f"Width {w}: internal must be EDT > w."
    np.testing.assert_allclose(boundary_distance(label), dist, atol=1e-4)


def test_wide_labels_take_the_numpy_path_with_the_same_edges():
    label = np.kron(np.array([[0, 1], [2, 0]]), np.ones((3, 3), np.int64))
    wide = label + 1000
    assert (label_edges(label) == label_edges(wide)).all()


def test_trimap_matches_band_confusion_and_plot(tmp_path):
    rng = np.random.default_rng(4)
    label = np.kron(rng.integers(0, 3, (4, 5)), np.ones((6, 6), np.int64)).astype(np.uint8)
    label[rng.random(label.shape) < 0.05] = V
    pred = np.where(rng.random(label.shape) < 0.8, label, rng.integers(0, 3, label.shape))
    pred = np.where(pred == V, 0, pred).astype(np.uint8)
    tri = Trimap(3, widths=[0, 1, 3, 100])
    tri.update(pred, label)
    edges = label_edges(label)
    dist = ndimage.distance_transform_edt(~edges)
    for w, acc in zip(tri.widths, tri.accuracy()):
        m = (dist <= w) & (label != V)
        assert acc == pytest.approx(np.mean(pred[m] == label[m])), f"Trimap accuracy at w={w}."
    b = BoundaryAccuracy(3)
    b.update(pred, label)
    assert tri.summary()["trimap_acc.3"] == pytest.approx(b.summary()["boundary_acc"])
    out = plot_trimap(tri.widths, {"model": 100 * tri.accuracy()}, tmp_path / "t" / "tri.png")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 100, "The trimap plot should be a PNG."
    with pytest.raises(ValueError, match="one value per width"):
        plot_trimap([1, 2], {"x": [1.0]}, tmp_path / "bad.png")


def test_merge_and_errors():
    label = np.array([[0, 0, 1, 1]] * 4, np.uint8)
    a, b = BoundaryAccuracy(1), BoundaryAccuracy(1)
    a.update(label, label)
    b.update(label, label)
    assert a.merge(b).counts.tolist() == [32, 32, 0, 0]
    with pytest.raises(ValueError, match="widths"):
        a.merge(BoundaryAccuracy(2))
    with pytest.raises(ValueError, match="'im1'.*differ in shape"):
        a.update(label[:3], label, name="im1")
    with pytest.raises(ValueError, match="non-negative integer"):
        boundary_region(label, -1)
