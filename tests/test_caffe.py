"""repro.caffe and repro.released: ``.caffemodel`` files in the real protobuf schema, every released
model's mapping, and the import command's refusals.

Each mapping is checked the same way: random blobs in the published file's Caffe layouts and
format, serialised through the schema, imported, loaded with ``strict=True``; its logits must
equal those of a second model whose tensors the test sets itself, straight from the blobs, with
the layer names written out below from the authors' prototxts (an independent path: a swapped or
misnamed layer changes the logits, a tensor the test does not set stays NaN). The fast tests run
each mapping at its config's smoke width (same names and layouts, small tensors); the same test
at the paper's full widths is marked slow (FCN / Dilation 134M parameters, DeconvNet 252M: the
protobuf writer alone takes about a minute on a loaded core).
"""

import argparse
import copy
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config

from repro import paths
from repro.caffe import CaffeFormatError, messages, read_caffemodel, read_layers, write_caffemodel
from repro.models.build import build_model
from repro.released import (
    RELEASED,
    CaffeMappingError,
    import_caffe,
    load_released,
    random_blobs,
    random_caffemodel,
    require_released,
)
from repro.weights_cli import add_weights_arguments, main_weights

VGG = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1",
       "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3", "fc6", "fc7"]
#: FCN: (score layer, the deconvolutions in network order, score_pool4 / score_pool3 names).
FCN_NAMES = {
    "fcn32s-cvpr2015": ("score-fr", ["upsample"], []),
    "fcn8s-cvpr2015": ("score-fr", ["score2", "score4", "upsample"], ["score-pool4",
                                                                      "score-pool3"]),
    "fcn32s-heavy": ("score_fr", ["upscore"], []),
    "fcn16s-heavy": ("score_fr", ["upscore2", "upscore16"], ["score_pool4"]),
    "fcn8s-heavy": ("score_fr", ["upscore2", "upscore_pool4", "upscore8"],
                    ["score_pool4", "score_pool3"]),
    "fcn8s-atonce": ("score_fr", ["upscore2", "upscore_pool4", "upscore8"],
                     ["score_pool4", "score_pool3"]),
}
DILATION_CONTEXT = ["ct_conv1_1", "ct_conv1_2", "ct_conv2_1", "ct_conv3_1", "ct_conv4_1",
                    "ct_conv5_1", "ct_fc1", "ct_final"]
SIZES = {"deconvnet": 224}  # fc6 is a 7x7 convolution on pool5: 224x224 crops
DEEPLAB = "deeplab/deeplab-largefov_vgg16_1xb20-6k_voc12aug-321x321.py"


def config(spec, smoke: bool) -> Config:
    """The released model's config; ``smoke``: its smoke profile's widths (``repro.smoke``),
    with the paper's layers otherwise (no BatchNorm added to a network released without)."""
    cfg = Config.fromfile(str(paths.config_path(spec.config)))
    if smoke:
        from repro.smoke import apply_smoke_variant

        with_bn = cfg.model.backbone.get("with_bn")
        apply_smoke_variant(cfg)
        cfg.model.backbone.with_bn = with_bn
    return cfg


def build(spec, cfg):
    """The model a mapping fills, on the meta device (materialised by loading with assign)."""
    with torch.device("meta"):
        if spec.output == "vgg16":
            from repro.models.vgg import VGG16

            return VGG16(variant="fcn", width_mult=cfg.model.backbone.get("width_mult", 1.0))
        return build_model(cfg)


def tensor(array) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


def set_layer(module, blobs):
    module.weight.copy_(tensor(blobs[0]).reshape(module.weight.shape))
    if len(blobs) > 1:
        module.bias.copy_(tensor(blobs[1]).reshape(-1))


def set_bn_inference(bn, blobs):
    """DeconvNet's BN in inference form is y = scale * x + shift: a BatchNorm with mean 0,
    variance 1 and no epsilon computes exactly that."""
    bn.weight.copy_(tensor(blobs[0]).reshape(-1))
    bn.bias.copy_(tensor(blobs[1]).reshape(-1))
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0)
    bn.eps = 0.0


def set_directly(name, model, blobs):
    """The independent path: every tensor from the blobs, by the prototxts' names."""
    backbone = model if name == "vgg16" else model.backbone
    bn_names = {n: (f"bn{n}" if n.startswith("fc") else n.replace("conv", "bn")) for n in VGG}
    for layer in VGG:
        set_layer(getattr(backbone, layer).conv, blobs[layer])
        if name == "deconvnet":
            set_bn_inference(getattr(backbone, layer).bn, blobs[bn_names[layer]])
    if name == "vgg16":
        return
    head = model.decode_head
    if name in FCN_NAMES:
        score, ups, skips = FCN_NAMES[name]
        set_layer(head.conv_seg, blobs[score])
        for module, layer in zip(head.upsamples, ups):
            module.weight.copy_(tensor(blobs[layer][0]))
            if len(blobs[layer]) > 1:  # CVPR score2: a deconvolution with a bias, as Caffe runs it
                bias = tensor(blobs[layer][1]).reshape(1, -1, 1, 1)
                module.register_forward_hook(lambda m, i, o, b=bias: o + b)
        for key, layer in zip(("score_pool4", "score_pool3"), skips):
            set_layer(head.score_skips[key], blobs[layer])
        if name == "fcn8s-atonce":
            assert np.all(blobs["scale_pool4"][0] == np.float32(0.01))
            assert np.all(blobs["scale_pool3"][0] == np.float32(0.0001))
    elif name == "deeplab-largefov":
        set_layer(head.conv_seg, blobs["fc8_voc12"])
    elif name == "deconvnet":
        set_layer(head.deconv_fc6[0], blobs["fc6-deconv"])
        set_bn_inference(head.deconv_fc6[1], blobs["fc6-deconv-bn"])
        for layer in ("deconv5_1", "deconv5_2", "deconv5_3", "deconv4_1", "deconv4_2",
                      "deconv4_3", "deconv3_1", "deconv3_2", "deconv3_3", "deconv2_1",
                      "deconv2_2", "deconv1_1", "deconv1_2"):
            set_layer(getattr(head, layer)[0], blobs[layer])
            set_bn_inference(getattr(head, layer)[1], blobs[layer.replace("deconv", "debn")])
        set_layer(head.conv_seg, blobs["seg-score-voc"])
    elif name.startswith("dilation8"):
        set_layer(head.conv_seg, blobs["fc-final"])
        if head.context is not None:
            for module, layer in zip(head.context.layers, DILATION_CONTEXT):
                set_layer(module, blobs[layer])
    else:
        raise AssertionError(f"The test has no independent path for {name}: add one.")


def outputs(name, model, size):
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)) * 50
    with torch.no_grad():
        if name == "vgg16":
            return torch.cat([f.flatten() for f in model.eval()(x)])
        meta = dict(img_shape=(size, size), pad_shape=(size, size), ori_shape=(size, size))
        return model.eval().encode_decode(x, [meta])


def round_trip(name, tmp_path, smoke: bool):
    spec = RELEASED[name]
    cfg = config(spec, smoke)
    source_spec = RELEASED[spec.same_file_as] if spec.same_file_as else spec
    shapes_model = build(source_spec, config(source_spec, smoke))
    blobs, types = random_blobs(source_spec, shapes_model, seed=1,
                                drop=("fc8",) if smoke else ())
    path = write_caffemodel(tmp_path / spec.files[0], blobs, types=types, legacy=spec.legacy)
    assert (read_layers(path)[0].type == "CONVOLUTION") == spec.legacy, (
        f"The fixture of {name} should be in the published file's format (legacy={spec.legacy})."
    )
    result = import_caffe(path, tmp_path / "converted.pth", config=cfg)
    assert result.model == name, (
        f"Without --model, the {name} file for {spec.config} was read with the {result.model} "
        "mapping: the layer names should pick the entry."
    )
    blobs = read_caffemodel(path)  # what the file holds, as the reader returns it
    model = build(spec, cfg)
    if name == "vgg16":
        state = torch.load(result.out, weights_only=True)
        assert "conv1_1.weight" in state and "fc8.weight" not in state, (
            "The ImageNet VGG16 import writes the Caffe-named state dict the `vgg16` weights "
            "entry reads (conv1_1.weight .. fc7.bias), without the ImageNet classifier."
        )
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        renamed = {k.replace(".", ".conv.", 1): v for k, v in state.items()}
        model.load_state_dict({k: v.reshape(shapes[k]) for k, v in renamed.items()},
                              strict=True, assign=True)
        if not smoke:
            from repro.weights import check_weights

            assert check_weights(result.out, spec.config).ok
    else:
        model.to_empty(device="cpu")
        meta = load_released(model, result.out)  # strict=True
        assert meta["released"] == name and meta["source"] == path.name
    direct = copy.deepcopy(model)
    with torch.no_grad():
        for t in [*direct.parameters(), *direct.buffers()]:
            if t.is_floating_point():
                t.fill_(float("nan"))
        set_directly(name, direct, blobs)
    size = SIZES.get(name, 40)
    ours, theirs = outputs(name, model, size), outputs(name, direct, size)
    assert torch.isfinite(theirs).all(), (
        f"{name}: the independent path left tensors unset (NaN logits): the test's names miss a "
        "layer of the model, or the model has a tensor no released layer fills."
    )
    scale = theirs.abs().max().clamp_min(1e-6)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4 * scale), (
        f"{name}: the imported model's logits differ from those of the model set directly from "
        f"the same blobs (max |diff| {(ours - theirs).abs().max():.3g}, max |logit| "
        f"{scale:.3g}): the mapping sends a blob to the wrong tensor or converts it wrongly."
    )
    return result


@pytest.mark.parametrize("name", list(RELEASED))
def test_every_mapping_round_trips_at_smoke_width(name, tmp_path):
    round_trip(name, tmp_path, smoke=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RELEASED))
def test_every_mapping_round_trips_at_full_width(name, tmp_path):
    round_trip(name, tmp_path, smoke=False)


# ---------------------------------------------------------------------------------------------
# The schema itself


def test_both_formats_and_legacy_shapes_read_back(tmp_path):
    rng = np.random.default_rng(0)
    layers = {"conv": [rng.standard_normal((4, 3, 3, 3), dtype=np.float32),
                       rng.standard_normal(4, dtype=np.float32)],
              "ip": [rng.standard_normal((5, 36), dtype=np.float32)]}
    for legacy, bias_shape, ip_shape in ((False, (4,), (5, 36)), (True, (1, 1, 1, 4),
                                                                   (1, 1, 5, 36))):
        path = write_caffemodel(tmp_path / f"{legacy}.caffemodel", layers,
                                types={"ip": "InnerProduct"}, legacy=legacy)
        back = read_caffemodel(path)
        assert [b.shape for b in back["conv"]] == [(4, 3, 3, 3), bias_shape]
        assert back["ip"][0].shape == ip_shape
        assert np.array_equal(back["ip"][0].reshape(5, 36), layers["ip"][0])
        assert [layer.type for layer in read_layers(path)] == (
            ["CONVOLUTION", "INNER_PRODUCT"] if legacy else ["Convolution", "InnerProduct"])


def test_v0_layers_nested_in_v1_are_read(tmp_path):
    msgs = messages()
    net = msgs["NetParameter"]()
    v1 = net.layers.add()
    v1.layer.name, v1.layer.type = "conv1", "conv"
    blob = v1.layer.blobs.add(num=2, channels=1, height=1, width=3)
    blob.data.extend([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    (tmp_path / "v0.caffemodel").write_bytes(net.SerializeToString())
    back = read_caffemodel(tmp_path / "v0.caffemodel")
    assert list(back) == ["conv1"] and back["conv1"][0].shape == (2, 1, 1, 3)


@pytest.mark.parametrize("content", [b"name: 'FCN'\nlayer { name: 'conv1_1' }\n", b"\x00" * 3,
                                     b"PK\x03\x04 not a caffe model"])
def test_a_file_that_is_not_a_caffe_model_is_refused(tmp_path, content):
    path = tmp_path / "bad.caffemodel"
    path.write_bytes(content)
    with pytest.raises(CaffeFormatError, match="bad.caffemodel"):
        read_caffemodel(path)


def test_a_blob_with_the_wrong_count_is_refused(tmp_path):
    net = messages()["NetParameter"]()
    layer = net.layer.add(name="conv1", type="Convolution")
    blob = layer.blobs.add()
    blob.shape.dim.extend([2, 3])
    blob.data.extend([1.0] * 5)
    (tmp_path / "short.caffemodel").write_bytes(net.SerializeToString())
    with pytest.raises(CaffeFormatError, match="conv1"):
        read_caffemodel(tmp_path / "short.caffemodel")


# ---------------------------------------------------------------------------------------------
# Refusals, through the command line


@pytest.fixture
def deeplab_small(tmp_path):
    """A DeepLab-LargeFOV config at 1/16 width (a file, as --config accepts) and its blobs."""
    base = paths.config_path(DEEPLAB)
    cfg_file = tmp_path / "deeplab_small.py"
    cfg_file.write_text(f"_base_ = {str(base)!r}\nmodel = dict(backbone=dict(width_mult=1 / 16), "
                        "decode_head=dict(in_channels=64))\n")
    spec = RELEASED["deeplab-largefov"]
    blobs, types = random_blobs(spec, build(spec, Config.fromfile(str(cfg_file))), seed=0)
    return cfg_file, blobs, types


def run_cli(args, capsys):
    parser = add_weights_arguments(argparse.ArgumentParser())
    code = main_weights(parser.parse_args(args))
    return code, capsys.readouterr()


def test_cli_imports_a_fitting_file(tmp_path, deeplab_small, capsys):
    cfg_file, blobs, types = deeplab_small
    src = write_caffemodel(tmp_path / "ok.caffemodel", blobs, types=types, legacy=True)
    code, out = run_cli(["import-caffe", str(src), "--config", str(cfg_file), "--out",
                         str(tmp_path / "ok.pth")], capsys)
    assert code == 0, f"A fitting file was refused: {out.err}"
    assert "deeplab-largefov" in out.out and (tmp_path / "ok.pth").is_file()
    assert not list(tmp_path.glob(".ok.pth*")), "The checkpoint is written through a temporary."


@pytest.mark.parametrize("case", ["missing", "extra", "misshaped", "no-bias"])
def test_cli_refuses_a_file_that_does_not_fit_naming_the_layer(tmp_path, deeplab_small, capsys,
                                                              case):
    cfg_file, blobs, types = deeplab_small
    blobs = dict(blobs)
    layer = {"missing": "fc7", "extra": "fc8_coco", "misshaped": "conv3_2",
             "no-bias": "fc8_voc12"}[case]
    if case == "missing":
        del blobs[layer]
    elif case == "extra":
        blobs[layer] = [np.zeros((91, 64, 1, 1), np.float32), np.zeros(91, np.float32)]
    elif case == "misshaped":
        blobs[layer] = [blobs[layer][0][:, :8], blobs[layer][1]]
    else:  # a bias where the model has none is as wrong as a missing one: drop fc8's bias
        blobs[layer] = blobs[layer][:1]
    src = write_caffemodel(tmp_path / "bad.caffemodel", blobs, types=types, legacy=True)
    out_file = tmp_path / "bad.pth"
    code, out = run_cli(["import-caffe", str(src), "--config", str(cfg_file), "--model",
                         "deeplab-largefov", "--out", str(out_file)], capsys)
    assert code == 2, f"A file with a {case} layer was accepted."
    assert out.err.count("\n") == 1 and f"'{layer}'" in out.err, (
        f"The refusal should be one line naming layer {layer!r}; got: {out.err!r}"
    )
    assert not out_file.exists(), "Nothing is written for a refused file."


def test_atonce_scale_layers_must_hold_the_constants_the_model_hard_codes(tmp_path):
    spec = RELEASED["fcn8s-atonce"]
    cfg = config(spec, smoke=True)
    blobs, types = random_blobs(spec, build(spec, cfg), seed=0)
    blobs["scale_pool4"] = [np.full_like(blobs["scale_pool4"][0], 0.02)]
    src = write_caffemodel(tmp_path / "a.caffemodel", blobs, types=types)
    with pytest.raises(CaffeMappingError, match="scale_pool4"):
        import_caffe(src, tmp_path / "a.pth", config=cfg, model="fcn8s-atonce")


def test_the_listing_shows_released_files_their_source_rows_and_status(tmp_path, monkeypatch):
    from repro.weights_cli import released_listing

    monkeypatch.setenv("REPRO_WEIGHTS", str(tmp_path))
    rows = {r[0]: r for r in released_listing()}
    name, file, status, used, url = rows["fcn32s-cvpr2015"]
    assert (file, status, used) == ("fcn-32s-pascal.caffemodel", "MISSING", "gdn/table1/fcn32s")
    assert url.startswith("http://dl.caffe.berkeleyvision.org/fcn-32s-pascal.caffemodel")
    (tmp_path / "fcn-32s-pascal.caffemodel").write_bytes(b"")
    assert released_listing()[0][2].startswith("found"), "A file in the weights folder is found."
    (tmp_path / "released").mkdir()
    (tmp_path / "released" / "fcn32s-cvpr2015.pth").write_bytes(b"")
    assert released_listing()[0][2] == "converted"
    assert "dilation/table4/context" in rows["dilation8-voc"][3]


# ---------------------------------------------------------------------------------------------
# The released architectures' details


def test_pool5a_averages_as_caffe_does():
    """Caffe's AVE pooling (pad 1, kernel 3, stride 1) divides by the window clipped to the
    padded map, i.e. by 9 everywhere for this geometry: border windows count the padding."""
    from repro.models.vgg import VGG16

    pool = VGG16(variant="deeplab_largefov", width_mult=1 / 64, pool5a=True).pool5a
    x = torch.arange(20.0).reshape(1, 1, 4, 5)
    padded = np.pad(x[0, 0].numpy(), 1)
    expected = np.array([[padded[i:i + 3, j:j + 3].sum() / 9 for j in range(5)]
                         for i in range(4)])
    assert np.allclose(pool(x)[0, 0].numpy(), expected)


def test_dilation8_context_pads_once_and_interpolates_probabilities():
    from repro.models.dilation import ContextModule, ContextModuleHead

    module = ContextModule(21, "large", pad_mode="first")
    assert [c.padding[0] for c in module.layers] == [33, 0, 0, 0, 0, 0, 0, 0], (
        "The released dilation8 context module pads ct_conv1_1 by 33 and nothing else."
    )
    assert module(torch.randn(1, 21, 9, 7)).shape == (1, 21, 9, 7)
    head = ContextModuleHead(in_channels=8, channels=8, num_classes=21, upsample="interp").eval()
    scores = torch.randn(1, 21, 5, 6)
    head.forward = lambda inputs: scores
    logp = head.predict([None], [dict(img_shape=(33, 41))], None)
    prob = torch.softmax(scores, 1)[0].numpy()

    def interp_map(y, x):  # fyu/dilation util.interp_map, one pixel
        r0, c0 = y // 8, x // 8
        rt, ct = y / 8 - r0, x / 8 - c0
        v0 = rt * prob[:, r0 + 1, c0] + (1 - rt) * prob[:, r0, c0]
        v1 = rt * prob[:, r0 + 1, c0 + 1] + (1 - rt) * prob[:, r0, c0 + 1]
        return (1 - ct) * v0 + ct * v1

    for y, x in ((0, 0), (7, 13), (20, 30), (31, 39)):
        assert np.allclose(logp[0, :, y, x].exp().numpy(), interp_map(y, x), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The released mode's files: full width, found in the weights folder, converted on first use


def test_require_released_converts_the_published_file_once(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_WEIGHTS", str(tmp_path))
    from repro.weights import WeightsNotFoundError

    with pytest.raises(WeightsNotFoundError, match="train2_iter_8000.caffemodel"):
        require_released("deeplab-largefov")
    random_caffemodel("deeplab-largefov", tmp_path / "train2_iter_8000.caffemodel", seed=3)
    out = require_released("deeplab-largefov")
    assert out == tmp_path / "released" / "deeplab-largefov.pth"
    stamp = out.stat().st_mtime_ns
    assert require_released("deeplab-largefov") == out and out.stat().st_mtime_ns == stamp, (
        "A converted file newer than its source is reused, not converted again."
    )
    cfg = Config.fromfile(str(paths.config_path(DEEPLAB)))
    model = build(RELEASED["deeplab-largefov"], cfg)
    model.to_empty(device="cpu")
    assert load_released(model, out)["released"] == "deeplab-largefov"


@pytest.mark.slow
def test_released_row_end_to_end_on_synthetic_data(tmp_path, monkeypatch):
    """`repro run gdn/table1/fcn32s --released --profile smoke`: a random-weight file in the real
    Caffe schema, converted on first use, evaluated at full width under the row's protocol; the
    report marks the cell as released weights (about a minute: 134M floats through protobuf)."""
    import shutil

    from repro.cli import main
    from repro.data.synth import make_voc
    from repro.released import RELEASED, random_caffemodel_cached
    from repro.results import read_file, result_path

    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(random_caffemodel_cached("fcn32s-cvpr2015"),
                weights / RELEASED["fcn32s-cvpr2015"].files[0])
    monkeypatch.setenv("REPRO_WEIGHTS", str(weights))
    voc = make_voc(tmp_path / "voc", size=(64, 48), num_train=4, num_val=4, num_test=1)
    code = main(["run", "gdn/table1/fcn32s", "--released", "--profile", "smoke", "--data-root",
                 str(voc), "--results-dir", str(tmp_path / "res"), "--reports-dir",
                 str(tmp_path / "rep"), "--work-dir", str(tmp_path / "work")])
    assert code == 0
    rows = read_file(result_path(tmp_path / "res", "smoke", "gdn/table1", "fcn32s", 0))
    miou = next(r for r in rows if r.metric == "mIoU")
    assert miou.weights == "released" and miou.extra["weights"]["name"] == "fcn32s-cvpr2015"
    assert (weights / "released" / "fcn32s-cvpr2015.pth").is_file(), "Converted on first use."
    assert "‡" in (tmp_path / "rep" / "gdn" / "table1.md").read_text(), (
        "The report must mark a cell from released weights.")


def test_table_rows_and_the_released_registry_agree():
    """A row declares its released model (Experiment.released) and the registry lists the row
    (ReleasedModel.rows, shown by `repro weights`): the two must not drift apart."""
    from repro.released import RELEASED
    from repro.tables.registry import all_tables

    declared = {f"{t.name}/{e.key}": e.released for t in all_tables().values()
                for e in t.experiments if e.released}
    for row, name in declared.items():
        assert row in RELEASED[name].rows, f"{row} declares {name}, whose registry entry does " \
            "not list it."
    for name, spec in RELEASED.items():
        for row in spec.rows:
            table, _, key = row.rpartition("/")
            exp = next(e for e in all_tables()[table].experiments if e.key == key)
            if exp.reference or exp.members:  # published rows; ensembles use their members'
                continue
            assert declared.get(row) == name, f"{name} lists {row}, which does not declare it."


def test_repro_list_names_the_rows_with_a_released_mode(capsys, tmp_path):
    """`repro list` names every row that `--released` runs, by the planner's rule: DeconvNet
    Table 1's EDeconvNet ensembles run with their members' released models."""
    from repro.cli import main
    from repro.plan import PlanError, Planner, Settings
    from repro.profiles import PROFILES
    from repro.tables.registry import get_table
    from repro.tables.rows import RELEASED_HEADING

    assert main(["list", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    entries = re.split(r"\n  (?=\S)", out.split(RELEASED_HEADING, 1)[1])  # a table each
    line = " ".join(next(e for e in entries if e.startswith("deconvnet/table1:")).split())
    for row in ("fcn8s (fcn8s-cvpr2015)", "deconvnet (deconvnet)", "deconvnet-crf (deconvnet)",
                "edeconvnet (deconvnet + fcn8s-cvpr2015)",
                "edeconvnet-crf (deconvnet + fcn8s-cvpr2015)"):
        assert row in line, f"`repro list` must name deconvnet/table1's {row} as released: {line}"
    header = next(x for x in out.splitlines() if x.startswith("deconvnet/table1 "))
    assert header.split()[3] == "5", f"All five released rows are counted: {header}"
    spec = get_table("gdn/table1")
    planner = Planner(Settings(profile=PROFILES["paper"], results_dir=tmp_path,
                               work_root=tmp_path, released=True))
    with pytest.raises(PlanError, match=f"under '{RELEASED_HEADING}'"):
        planner._released(spec, spec.experiment("fcn32s-gdn"))


def test_repro_weights_says_where_every_released_file_was_published(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.setenv("REPRO_WEIGHTS", str(tmp_path))
    (tmp_path / "released").mkdir()
    (tmp_path / "released" / "fcn32s-cvpr2015.pth").write_bytes(b"")
    parser = add_weights_arguments(argparse.ArgumentParser())
    assert main_weights(parser.parse_args([])) == 0
    out = capsys.readouterr().out
    for name, spec in RELEASED.items():
        assert f"{name}: {spec.url}" in out, (
            f"`repro weights` must say where {name} was published, found or not.")
