"""repro.weights: the registry, where files are expected, and key/shape checks of weight files in
the torchvision / Caffe formats against the configs' backbones. Fake files hold stride-0
tensors of the full shapes (a few KB on disk)."""

import argparse

import pytest
import torch
from mmengine.config import Config

from repro import paths
from repro.weights import (
    CAFFE_INPUT,
    TORCHVISION_INPUT,
    WeightsError,
    WeightsNotFoundError,
    check_weights,
    require_weights,
    weights_for_config,
)
from repro.weights_cli import add_weights_arguments, main_weights

GCN = "gcn/gcn-k15_r152_1xb1-100k_voc12aug-512x512.py"
FCN = "fcn/fcn-32s_vgg16_1xb1-100k_voc12sbd-500x500.py"
DEEPLAB = "deeplab/deeplab-largefov_vgg16_1xb20-6k_voc12aug-321x321.py"


def config(rel):
    return Config.fromfile(str(paths.config_path(rel)))


def fake(shapes: dict) -> dict:
    return {k: torch.zeros(()).expand(s) for k, s in shapes.items()}


def torchvision_resnet(blocks=(3, 8, 36, 3)) -> dict:
    """Key names and shapes of torchvision's resnet50/101/152 state dicts (Bottleneck, v1)."""
    shapes = {"conv1.weight": (64, 3, 7, 7)}

    def bn(name, c):
        shapes.update({f"{name}.{k}": (c,) for k in ("weight", "bias", "running_mean",
                                                      "running_var")})

    bn("bn1", 64)
    cin = 64
    for layer, (n, planes) in enumerate(zip(blocks, (64, 128, 256, 512)), 1):
        for i in range(n):
            p = f"layer{layer}.{i}"
            shapes[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            shapes[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            for j, c in ((1, planes), (2, planes), (3, planes * 4)):
                bn(f"{p}.bn{j}", c)
            if i == 0:
                shapes[f"{p}.downsample.0.weight"] = (planes * 4, cin, 1, 1)
                bn(f"{p}.downsample.1", planes * 4)
            cin = planes * 4
    shapes.update({"fc.weight": (1000, 2048), "fc.bias": (1000,)})
    return fake(shapes)


def torchvision_vgg16() -> dict:
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    shapes, cin = {}, 3
    for idx, cout in zip((0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), widths):
        shapes |= {f"features.{idx}.weight": (cout, cin, 3, 3), f"features.{idx}.bias": (cout,)}
        cin = cout
    for idx, (cout, cin) in {0: (4096, 25088), 3: (4096, 4096), 6: (1000, 4096)}.items():
        shapes |= {f"classifier.{idx}.weight": (cout, cin), f"classifier.{idx}.bias": (cout,)}
    return fake(shapes)


def caffe_vgg16() -> dict:
    tv = torchvision_vgg16()
    names = [f"conv{s}_{i}" for s, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
             for i in range(1, n + 1)]
    convs = sorted({int(k.split(".")[1]) for k in tv if k.startswith("features")})
    out = {}
    for name, idx in zip(names, convs):
        out |= {f"{name}.weight": tv[f"features.{idx}.weight"],
                f"{name}.bias": tv[f"features.{idx}.bias"]}
    for name, idx in (("fc6", 0), ("fc7", 3)):
        out |= {f"{name}.weight": tv[f"classifier.{idx}.weight"],
                f"{name}.bias": tv[f"classifier.{idx}.bias"]}
    return out


@pytest.fixture
def wdir(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_WEIGHTS", str(tmp_path))
    return tmp_path


def test_configs_name_their_entries():
    assert weights_for_config(GCN).name == "resnet152"
    assert weights_for_config(FCN).name == "vgg16"
    cfg = config(FCN)
    cfg.pretrained_weights = None
    assert weights_for_config(cfg) is None, "pretrained_weights = None declares 'from scratch'."
    cfg.pretrained_weights = "vgg19"
    with pytest.raises(WeightsError, match="vgg19"):
        weights_for_config(cfg)
    cfg = config(FCN)
    cfg.model = dict(type="EnsembleSegmentor", members=[])
    with pytest.raises(WeightsError, match="pretrained_weights"):
        weights_for_config(cfg)


def test_missing_file_names_the_expected_path_and_the_download(wdir):
    cfg = config(GCN)
    with pytest.raises(WeightsNotFoundError) as err:
        require_weights(cfg)
    message = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert str(wdir / "resnet152.pth") in message and "resnet152-394f9c45.pth" in message, (
        "The error must name the expected path and where to download the file.")
    assert cfg.model.backbone.init_cfg is None, "A failed lookup must leave the config alone."


def test_torchvision_resnet152_fits_and_is_wired(wdir):
    path = wdir / "resnet152-394f9c45.pth"
    torch.save(torchvision_resnet(), path)
    cfg = config(GCN)
    info = require_weights(cfg)
    assert cfg.model.backbone.init_cfg == dict(type="Pretrained", checkpoint=str(path))
    assert info["pretrained"] == "resnet152" and info["convention"] == "torchvision"
    assert info["preprocessing"] == "kept", "The GCN config already uses torchvision's input."


def test_wrong_depth_and_shape_are_listed(wdir, tmp_path):
    path = tmp_path / "resnet152.pth"
    state = torchvision_resnet(blocks=(3, 4, 6, 3))  # a ResNet-50
    state["conv1.weight"] = torch.zeros(()).expand(64, 3, 3, 3)
    torch.save(state, path)
    result = check_weights(path, GCN)
    assert not result.ok and "layer3.6.conv1.weight" in result.missing
    assert result.mismatched == ["conv1.weight: file (64, 3, 3, 3) vs model (64, 3, 7, 7)"]
    assert result.unexpected == ["fc.weight", "fc.bias"], "The classifier is reported, not fatal."
    with pytest.raises(WeightsError, match="DOES NOT FIT"):
        require_weights(config(GCN))


def test_vgg16_files_set_the_input_convention(wdir):
    torch.save(torchvision_vgg16(), wdir / "vgg16-397923af.pth")
    cfg = config(FCN)
    info = require_weights(cfg)
    assert info["convention"] == "torchvision" and "set to the torchvision" in info["preprocessing"]
    pre = cfg.model.data_preprocessor
    assert {k: pre[k] for k in TORCHVISION_INPUT} == TORCHVISION_INPUT, (
        "torchvision VGG16 weights need RGB input normalised by the ImageNet mean/std.")
    assert check_weights(wdir / "vgg16-397923af.pth", DEEPLAB).ok, (
        "DeepLab's decimated fc6/fc7 must be derivable from the ImageNet VGG16.")

    (wdir / "vgg16-397923af.pth").unlink()
    torch.save(caffe_vgg16(), wdir / "vgg16.pth")
    cfg = config(FCN)
    info = require_weights(cfg)
    assert info["convention"] == "caffe" and info["preprocessing"] == "kept"
    assert {k: cfg.model.data_preprocessor[k] for k in CAFFE_INPUT} == CAFFE_INPUT


def test_check_mirrors_mmengine_pretrained_loading(tmp_path):
    """What check_weights accepts, mmengine's Pretrained init loads: a whole-model checkpoint
    under 'state_dict' with 'backbone.' keys needs prefix='backbone.'."""
    from repro.models.build import build_model

    cfg = config(GCN)
    cfg.model.backbone.depth = 18
    cfg.model.backbone.init_cfg = None
    backbone = Config(dict(model=cfg.model.backbone.to_dict()))
    source = build_model(backbone)
    with torch.no_grad():
        source.conv1.weight.fill_(0.5)
    path = tmp_path / "whole_model.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}, path)
    result = check_weights(path, cfg)
    assert result.ok and result.prefix == "backbone.", result.format()
    backbone.model.init_cfg = dict(type="Pretrained", checkpoint=str(path), prefix=result.prefix)
    target = build_model(backbone)
    target.init_weights()
    assert torch.all(target.conv1.weight == 0.5), "mmengine did not load what the check matched."


def test_command_line(wdir, capsys):
    parser = add_weights_arguments(argparse.ArgumentParser())
    assert main_weights(parser.parse_args([])) == 0
    out = capsys.readouterr().out
    assert "resnet152" in out and "gcn/table1" in out and "MISSING" in out
    assert "fcn32s-cvpr2015" in out and "gdn/table1/fcn32s" in out, (
        "`repro weights` also lists the released models and the rows that use them."
    )
    torch.save(caffe_vgg16(), wdir / "vgg16.pth")
    args = ["--check", str(wdir / "vgg16.pth"), "--config", FCN]
    assert main_weights(parser.parse_args(args)) == 0 and "fits" in capsys.readouterr().out
    assert main_weights(parser.parse_args(["--check", str(wdir / "vgg16.pth"),
                                           "--config", GCN])) == 2
    assert "DOES NOT FIT" in capsys.readouterr().err
    assert main_weights(parser.parse_args(["--check", str(wdir / "vgg16.pth")])) == 2


def test_structured_edges_names_the_edgeboxes_rows(wdir, capsys):
    parser = add_weights_arguments(argparse.ArgumentParser())
    assert main_weights(parser.parse_args([])) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("structured_edges "))
    rows = {r.strip() for r in line.split("MISSING")[0].split(None, 1)[1].split(",")}
    assert rows == {f"deconvnet/table1/{r}" for r in (
        "deconvnet", "deconvnet-crf", "edeconvnet", "edeconvnet-crf")}, (
        f"The structured-edge model is needed by the rows that test with EdgeBoxes proposals "
        f"(DeconvNet and EDeconvNet, with and without CRF), got {line!r}."
    )
    assert "structured_edges: download model.yml.gz" in out, (
        "A missing file that rows need is listed with how to get it."
    )


def test_resnet50_gcn_names_the_pretraining_command():
    from repro.weights import REGISTRY

    assert "repro pretrain resnet50-gcn --imagenet DIR" in REGISTRY["resnet50_gcn"].how, (
        "The ResNet50-GCN weights have no public file: the entry must name the command that "
        "makes them."
    )
