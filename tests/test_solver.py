"""Caffe solver semantics of the Caffe-born models (FCN, DeepLab, GDN, DeconvNet, Dilation): the
per-parameter learning-rate and decay multipliers of the authors' prototxts, built from each
config with mmengine's ``build_optim_wrapper``, and the loss normalisation of each family."""

from __future__ import annotations

import functools

import pytest
import torch
from mmengine.config import Config

from repro import paths

FCN = "fcn/fcn-32s_vgg16_1xb1-100k_voc12sbd-500x500.py"
DEEPLAB = "deeplab/deeplab-largefov_vgg16_1xb20-6k_voc12aug-321x321.py"
GDN_FCN = "gdn/fcn-32s-gdn_vgg16_1xb20-20k_voc12sbd-500x500.py"
GDN_DL = "gdn/deeplab-largefov-gdn_vgg16_1xb20-20k_voc12aug-500x500.py"
DECONVNET = "deconvnet/deconvnet_vgg16-bn_1xb64-60k_voc12augval-224x224.py"
DILATION = "dilation/dilation-large_vgg16_1xb14-60k_voc12aug-504x504.py"
CAFFE_BORN = (FCN, "fcn/fcn-8s-atonce_vgg16_1xb1-100k_voc12sbd-500x500.py", DEEPLAB, GDN_FCN,
              GDN_DL, "gdn/fcn-32s-fc_vgg16_1xb20-20k_voc12sbd-500x500.py", DECONVNET, DILATION,
              "dilation/dilation-large-crfrnn_vgg16_1xb14-60k_voc12aug-504x504.py")


@functools.cache
def groups(config: str) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """(base lr, base weight decay, {parameter name: (lr, weight decay)}) of the optimizer that
    mmengine builds from the config (paper widths, meta device: no memory)."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from repro.models.build import build_model

    cfg = Config.fromfile(str(paths.config_path(config)))
    init_default_scope("mmseg")
    with torch.device("meta"):
        model = build_model(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    out = {names[id(g["params"][0])]: (g["lr"], g["weight_decay"])
           for g in wrapper.optimizer.param_groups}
    opt = cfg.optim_wrapper.optimizer
    return opt.lr, opt.weight_decay, out


def mults(config: str, name: str) -> tuple[float, float]:
    """(lr_mult, decay_mult) of a parameter, as a Caffe prototxt writes them."""
    lr, wd, params = groups(config)
    assert name in params, f"{config} has no trainable parameter {name}."
    plr, pwd = params[name]
    return round(plr / lr, 6), round(pwd / wd, 6)


@pytest.mark.parametrize("config", CAFFE_BORN)
def test_biases_get_twice_the_learning_rate_and_no_decay(config):
    assert mults(config, "backbone.conv1_1.conv.bias") == (2.0, 0.0), (
        f"{config}: Caffe's prototxts train every bias at lr_mult 2, decay_mult 0; set "
        "paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0).")
    assert mults(config, "backbone.conv1_1.conv.weight") == (1.0, 1.0), (
        f"{config}: weights train at the base learning rate and weight decay (1 / 1).")


def test_deeplab_fc8_multipliers():
    for config in (DEEPLAB, GDN_DL):
        assert mults(config, "decode_head.conv_seg.weight") == (10.0, 1.0), (
            f"{config}: DeepLab's fc8 weight trains at lr_mult 10, decay_mult 1.")
        assert mults(config, "decode_head.conv_seg.bias") == (20.0, 0.0), (
            f"{config}: DeepLab's fc8 bias trains at lr_mult 20, decay_mult 0.")


@pytest.mark.parametrize("config", (GDN_FCN, GDN_DL))
def test_gdn_matrices_as_the_released_layer(config):
    for name in ("decode_head.upsample.k_h", "decode_head.upsample.k_w"):
        assert mults(config, name) == (10.0, 100.0), (
            f"{config}: DrSleep/GDN's layer trains K_h and K_w at lr_mult 10, decay_mult 100.")


def test_gdn_takes_caffe_steps_on_the_mean_loss():
    """lr 1e-8 and decay 5e-4 on Caffe's summed loss = x250000 / /250000 on the per-pixel mean
    over the padded 500x500 input."""
    for config in (GDN_FCN, GDN_DL):
        lr, wd, _ = groups(config)
        assert lr == pytest.approx(1e-8 * 500 * 500) and lr * wd == pytest.approx(1e-8 * 5e-4), (
            f"{config}: the update lr x (grad + decay x w) must equal Caffe's with lr 1e-8 and "
            "weight decay 5e-4 on the summed loss (GDN Sec. 4.1).")


def test_deconvnet_batchnorm_keeps_the_default_multipliers():
    assert mults(DECONVNET, "backbone.conv1_1.bn.bias") == (1.0, 1.0), (
        "DeconvNet's BN layers set no blobs_lr / weight_decay: Caffe's defaults 1 / 1.")
    assert mults(DECONVNET, "decode_head.deconv5_1.0.bias") == (2.0, 0.0)


def test_dilation_context_module_biases():
    assert mults(DILATION, "decode_head.context.layers.3.bias") == (2.0, 0.0), (
        "fyu/dilation network.py: the context module's biases at lr_mult 2, decay_mult 0.")


def test_fixed_upsampling_is_not_trained():
    for config, name in ((FCN, "decode_head.upsample"), (DILATION, "decode_head.upsample")):
        _, _, params = groups(config)
        assert not [n for n in params if n.startswith(name)], (
            f"{config}: the bilinear upsampling is fixed (lr_mult 0) in the released nets.")


def _loss(config: str):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import repro.plugins  # noqa: F401

    init_default_scope("mmseg")
    cfg = Config.fromfile(str(paths.config_path(config)))
    return MODELS.build(cfg.model.decode_head.loss_decode)


@pytest.mark.parametrize("config,normalisation", [
    (FCN, "sum"), (DEEPLAB, "valid"), (DECONVNET, "valid"), (DILATION, "valid"),
    (GDN_FCN, "all"), (GDN_DL, "all"),
])
def test_pixel_loss_normalisation(config, normalisation):
    """Caffe: FCN's released nets sum over the pixels (normalize: false); SoftmaxWithLoss with
    normalize true / VALID averages over the non-void pixels; GDN's Eq. 3 averages over |I|, the
    pixels of the (padded) input."""
    torch.manual_seed(0)
    logits = torch.randn(2, 21, 4, 5)
    label = torch.randint(0, 21, (2, 4, 5))
    label[0, :2] = 255  # void
    per_pixel = torch.nn.functional.cross_entropy(logits, label, ignore_index=255,
                                                  reduction="none")
    valid = (label != 255).sum()
    want = {"sum": per_pixel.sum(), "valid": per_pixel.sum() / valid,
            "all": per_pixel.sum() / label.numel()}[normalisation]
    got = _loss(config)(logits, label, ignore_index=255)
    assert torch.allclose(got, want), (
        f"{config}: the pixel loss must be normalised as Caffe did ({normalisation}); got "
        f"{got.item():.4f}, expected {want.item():.4f}. Check loss_decode (reduction, "
        "avg_non_ignore).")
