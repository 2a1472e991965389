"""Smoke-backbone pretraining (repro.smoke_pretrain): export formats, BN folding, identity init."""

import pytest
import torch
from torch import nn

from repro.models.vgg import VGG16, load_vgg_weights
from repro.smoke_pretrain import TorchvisionVGG16BN, fold_bn, identity_init_, random_batch

W = 1 / 16


def _randomised_bn(net: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
    return net.eval()


def test_fold_bn_equals_conv_then_bn():
    conv, bn = nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5)
    _randomised_bn(bn)
    x = torch.randn(2, 3, 8, 8)
    w, b = fold_bn(conv, bn)
    assert torch.allclose(nn.functional.conv2d(x, w, b, padding=1), bn(conv(x)), atol=1e-5), (
        "A folded convolution must compute conv followed by BatchNorm in eval mode.")


@pytest.mark.parametrize("fmt,with_bn", [("repro", True), ("folded", False)])
def test_exports_load_strictly_into_repro_vgg16(tmp_path, fmt, with_bn):
    """Both smoke formats fill every parameter of the repro VGG16 and compute what the
    pretraining network computed (pool3, pool4 at the same geometry)."""
    net = _randomised_bn(TorchvisionVGG16BN(W))
    state = net.repro_state_dict() if fmt == "repro" else net.folded_state_dict()
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    model = VGG16(variant="deconvnet", with_bn=with_bn, width_mult=W, dropout=0,
                  out_indices=("pool3", "pool4"))
    loaded = load_vgg_weights(model, path)
    own = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    assert sorted(loaded) == sorted(own), (
        f"The {fmt} export must hold every tensor of the model: missing "
        f"{sorted(set(own) - set(loaded))[:4]}.")
    model.eval()
    x = torch.randn(1, 3, 224, 224)  # fc6 (7x7, unpadded here) needs a 7x7 pool5
    got = model(x)[:2]
    want = net(x)[:2]
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-4), f"The {fmt} export changes the features."


def test_identity_init_passes_the_input_through():
    conv = nn.Conv2d(4, 8, 3, padding=1)
    identity_init_(conv, noise=0.0)
    x = torch.randn(1, 4, 5, 5)
    y = conv(x)
    assert torch.allclose(y[:, :4], x) and torch.allclose(y[:, 4:], x), (
        "Output channel j must copy input channel j mod C_in at the centre tap.")


def test_random_batch_pads_small_images_with_void():
    images = torch.randint(0, 255, (3, 3, 20, 30), dtype=torch.uint8)
    labels = torch.randint(0, 21, (3, 20, 30), dtype=torch.uint8)
    x, y = random_batch(images, labels, 4, 24, torch.Generator().manual_seed(0))
    assert x.shape == (4, 3, 24, 24) and y.shape == (4, 24, 24)
    assert (y[:, 20:] == 255).all(), "Rows below a 20-px image must be void (255)."
