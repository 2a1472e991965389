"""VGG16 backbone (repro.models.vgg): layouts, output strides, weight files."""

import pytest
import torch

from repro.models.vgg import CONV_NAMES, VGG16, load_vgg_weights

W = 1 / 16  # tiny widths: the layouts and sizes do not depend on the width


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "variant,size,pad,expected",
    [
        # FCN: (H + 198) ceil-pooled 5 times, minus 6 (fc6 7x7 unpadded); 500 -> 16 (GDN Sec 4.3)
        ("fcn", 500, 0, {"pool3": 88, "pool4": 44, "fc7": 16}),
        ("fcn", 64, 0, {"pool3": 33, "pool4": 17, "fc7": 3}),
        # DeepLab-LargeFOV: 3x3/2 pad 1 ceil pools: 321 -> 41, 500 -> 64 (GDN's 64x500 matrices)
        ("deeplab_largefov", 321, 0, {"fc7": 41}),
        ("deeplab_largefov", 500, 0, {"fc7": 64}),
        # Dilation front end: unpadded convs on the 186-px reflection-padded input, stride 8.
        ("dilation", 500, 186, {"fc7": 63}),
        # DeconvNet: 224 -> 7x7 pool5 -> 1x1 fc6/fc7.
        ("deconvnet", 224, 0, {"pool5": 7, "fc7": 1}),
    ],
)
def test_variant_output_sizes(variant, size, pad, expected):
    model = VGG16(variant=variant, width_mult=W, pad_input=pad, out_indices=tuple(expected))
    model.eval()
    out = model(torch.randn(1, 3, size, size))
    feats = out[:-1] if variant == "deconvnet" else out
    got = {name: f.shape[-1] for name, f in zip(expected, feats)}
    assert got == expected, (
        f"VGG16 {variant!r} on a {size}x{size} input gives sizes {got}, the authors' prototxt "
        f"gives {expected}: check the padding, pooling (ceil mode) and dilations of the layout."
    )
    for name, f in zip(expected, feats):
        assert f.shape[1] == model.out_channels[name], f"out_channels[{name!r}] is wrong."


def test_deconvnet_returns_switches_for_unpooling():
    model = VGG16(variant="deconvnet", width_mult=W, out_indices=("pool5",)).eval()
    x = torch.randn(1, 3, 224, 224)
    pool5, switches = model(x)
    assert len(switches) == 5, "DeconvNet needs the switches of all five pools."
    idx, size = switches[-1]
    up = torch.nn.functional.max_unpool2d(pool5, idx, 2, 2, output_size=size)
    assert up.shape[-2:] == (14, 14), "pool5 switches must unpool 7x7 back to 14x14."
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), (
        "The deconvnet variant must have BatchNorm after every conv (Noh et al. Sec. 3.1).")


@pytest.mark.parametrize("variant,millions", [("fcn", 134.26), ("deeplab_largefov", 20.48)])
def test_full_width_parameter_counts(variant, millions):
    with torch.device("meta"):  # shapes only: no memory, no init time
        got = n_params(VGG16(variant=variant)) / 1e6
    assert abs(got - millions) < 0.01, (
        f"VGG16 {variant!r} has {got:.2f}M parameters, expected {millions}M (fc6/fc7 4096 for "
        "FCN, 1024 with a 3x3 fc6 for DeepLab-LargeFOV)."
    )


def test_unknown_out_index_is_explained():
    with pytest.raises(ValueError, match="pool4"):
        VGG16(variant="dilation", width_mult=W, out_indices=("pool4",))


def test_frozen_stages_freeze_parameters():
    model = VGG16(variant="deconvnet", width_mult=W, frozen_stages=2).train()
    assert not model.conv2_2.conv.weight.requires_grad and model.conv3_1.conv.weight.requires_grad
    assert not model.conv1_1.bn.training and model.conv3_1.bn.training, (
        "Frozen stages must keep their BatchNorm in eval mode after model.train().")


def _fake_torchvision(scale: float = 1.0) -> dict:
    """A torchvision vgg16 state dict at tiny widths (shapes of VGG16(width_mult=W))."""
    model = VGG16(variant="fcn", width_mult=W)
    sd, idx = {}, (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
    for name, i in zip(CONV_NAMES, idx):
        conv = getattr(model, name).conv
        sd[f"features.{i}.weight"] = torch.full_like(conv.weight, scale * i)
        sd[f"features.{i}.bias"] = torch.full_like(conv.bias, scale * i)
    for name, key in (("fc6", "classifier.0"), ("fc7", "classifier.3")):
        w = getattr(model, name).conv.weight
        sd[f"{key}.weight"] = torch.randn(w.shape[0], w[0].numel())  # flat, as torchvision
        sd[f"{key}.bias"] = torch.randn(w.shape[0])
    sd["classifier.6.weight"] = torch.randn(1000, 256)  # ImageNet classifier: ignored
    return sd


def _tiny_fcn():
    # The loader checks shapes against the model: width_mult=W gives fc6 256x32x7x7, so the
    # fake file's "4096" is 256 here; the reshape rule is the same.
    return VGG16(variant="fcn", width_mult=W)


def test_load_torchvision_state_dict(tmp_path):
    model = _tiny_fcn()
    sd = _fake_torchvision()
    path = tmp_path / "vgg16.pth"
    torch.save(sd, path)
    # Tiny widths: fc6 is read as (C6, conv5_3 width, 7, 7) of the file (ImageNet: 4096x512x7x7).
    loaded = load_vgg_weights(model, path)
    assert "conv3_2.conv.weight" in loaded and "fc6.conv.weight" in loaded
    assert torch.all(model.conv3_2.conv.weight == 12), "features.12 must load into conv3_2."
    assert torch.equal(model.fc6.conv.weight, sd["classifier.0.weight"].reshape(256, 32, 7, 7)), (
        "classifier.0 (flat 4096x25088) must be reshaped row-major into fc6 (4096x512x7x7).")


def test_load_caffe_state_dict_into_deeplab_subsamples_fc6(tmp_path):
    ref = _tiny_fcn()
    sd = {f"{n}.{k}": getattr(ref, n).conv.state_dict()[k].normal_()
          for n in CONV_NAMES + ("fc6", "fc7") for k in ("weight", "bias")}
    path = tmp_path / "vgg16_caffe.pth"
    torch.save(sd, path)
    # DeepLab at width W has fc6 64 = 256 / 4 filters and 3x3 = every 3rd tap of 7x7.
    model = VGG16(variant="deeplab_largefov", width_mult=W)
    load_vgg_weights(model, path)
    assert torch.equal(model.fc6.conv.weight, sd["fc6.weight"][::4, :, ::3, ::3]), (
        "DeepLab's fc6 must keep every 4th filter and every 3rd spatial tap of VGG's fc6.")
    assert torch.equal(model.fc7.conv.weight, sd["fc7.weight"][::4, ::4])


def test_missing_weight_file_names_the_file(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_vgg_weights(_tiny_fcn(), path)


def test_bad_weight_file_names_expected_keys(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"layer.weight": torch.zeros(1)}, path)
    with pytest.raises(KeyError, match=r"bad\.pth.*features\.0\.weight"):
        load_vgg_weights(_tiny_fcn(), path)


def test_fc_shape_mismatch_is_explained(tmp_path):
    path = tmp_path / "vgg16.pth"
    sd = _fake_torchvision()
    sd["classifier.0.weight"] = torch.randn(256, 100)  # not (C6, conv5_3 width x 7 x 7)
    torch.save(sd, path)
    with pytest.raises(ValueError, match=r"vgg16\.pth.*classifier\.0\.weight"):
        load_vgg_weights(_tiny_fcn(), path)


def test_width_mismatch_is_explained(tmp_path):
    path = tmp_path / "vgg16.pth"
    torch.save(_fake_torchvision(), path)
    with pytest.raises(ValueError, match=r"vgg16\.pth.*width_mult=1"):
        load_vgg_weights(VGG16(variant="fcn", width_mult=W * 2), path)


def test_pretrained_init_cfg_loads_file(tmp_path):
    path = tmp_path / "vgg16.pth"
    torch.save(_fake_torchvision(), path)
    model = VGG16(variant="fcn", width_mult=W, init_cfg=dict(type="Pretrained",
                                                              checkpoint=str(path)))
    model.init_weights()
    assert torch.all(model.conv5_3.conv.bias == 28), "init_cfg Pretrained must load the file."
