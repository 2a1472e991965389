"""The smoke profile's model variants and pretrained backbones (repro.smoke, repro.pretrain)."""

import copy

import pytest
import torch
from mmengine.config import Config

from repro import paths, smoke
from repro.models.build import build_model
from repro.models.proposals import object_crop_transforms
from repro.tables.registry import all_tables


def _configs() -> list[str]:
    return sorted({e.config for t in all_tables().values() for e in t.runnable})


def _load(config: str) -> Config:
    return Config.fromfile(str(paths.config_path(config)))


def _smoke(config: str) -> Config:
    cfg = _load(config)
    smoke.apply_smoke_variant(cfg)
    return cfg


@pytest.mark.parametrize("config", _configs())
def test_every_table_config_has_a_smoke_variant_that_builds(config):
    cfg = _smoke(config)
    with torch.device("meta"):
        model = build_model(cfg)
    n = sum(p.numel() for p in model.parameters())
    assert n < 10_000_000, f"The smoke variant of {config} has {n} parameters: not tiny."


def test_smoke_variant_reads_the_model_not_the_file_name(tmp_path):
    """Configs are renamed: a family is recognised from its model, whatever the file name."""
    src = paths.config_path("fcn/fcn-8s-atonce_vgg16_1xb1-100k_voc12sbd-500x500.py")
    renamed = tmp_path / "my_model.py"
    renamed.write_text(src.read_text().replace("./fcn-32s", str(src.parent / "fcn-32s")))
    assert smoke.smoke_variant(Config.fromfile(str(renamed))) == smoke.smoke_variant(
        Config.fromfile(str(src))), "The smoke variant must not depend on the config's name."


def test_smoke_multi_scale_test_uses_the_smoke_scales():
    cfg = _smoke("gcn/gcn-k15-br_r152_1xb1-100k_voc12-512x512.py")
    tta = next(t for t in cfg.tta_pipeline if t["type"] == "TestTimeAug")
    scales = [t["scale_factor"] for t in tta["transforms"][0]]
    assert scales == list(smoke.TTA_RATIOS) and len(tta["transforms"][1]) == 2, (
        "Smoke multi-scale testing must keep the flips and use TTA_RATIOS.")


def test_smoke_variant_does_not_change_the_config():
    cfg = _load("gdn/deeplab-largefov-gdn_vgg16_1xb20-20k_voc12aug-500x500.py")
    before = copy.deepcopy(cfg.to_dict())
    smoke.smoke_variant(cfg)
    assert cfg.to_dict() == before, "smoke_variant must only read the config."


def test_configs_carry_no_smoke_settings():
    """One place for smoke settings: repro/smoke.py, not the configs (they train as named)."""
    offenders = [c for c in _configs() if "smoke" in _load(c)]
    assert not offenders, f"These configs still carry a `smoke` block: {offenders}."


@pytest.mark.parametrize("config", [
    "fcn/fcn-8s-atonce_vgg16_1xb1-100k_voc12sbd-500x500.py",
    "gdn/fcn-32s-gdn_vgg16_1xb20-20k_voc12sbd-500x500.py",
    "gdn/deeplab-largefov-gdn_vgg16_1xb20-20k_voc12aug-500x500.py",
    "gdn/fcn-32s-fc_vgg16_1xb20-20k_voc12sbd-500x500.py",
    "dilation/dilation-large_vgg16_1xb14-60k_voc12aug-504x504.py",
    "deconvnet/deconvnet_vgg16-bn_1xb64-60k_voc12augval-224x224.py",
    "gcn/gcn-stack-k7-m210_r152_1xb1-100k_voc12aug-512x512.py",
    "gcn/gcn-k15-br_r50gcn_1xb1-100k_voc12aug-512x512.py",
])
def test_smoke_variant_trains_at_the_smoke_crop(config):
    """One step of every head family at the smoke crop: widths and GDN sizes fit."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from repro.profiles import set_crop

    torch.manual_seed(0)
    cfg = _smoke(config)
    h, w = smoke.smoke_schedule(cfg).get("crop", smoke.CROP)  # the family reads the model
    set_crop(cfg, (h, w))
    model = build_model(cfg)
    model.init_weights()
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 19 if "cityscapes" in config else 21,
                                                    (1, h, w)))
        s.set_metainfo(dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w)))
        samples.append(s)
    # Through the model's data preprocessor, as in training (Dilation's adds the reflected
    # margin its valid convolutions consume).
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8) for _ in samples],
             data_samples=samples), training=True)
    losses = model.loss(data["inputs"], data["data_samples"])
    total = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total), f"{config}: the smoke variant's loss is {losses}."
    total.backward()
    if "deconvnet" in config:  # no resize in the loss hides a wrong size: the head gives it
        with torch.no_grad():
            out = model.decode_head(model.extract_feat(data["inputs"]))
        assert out.shape[-2:] == (h, w), (
            f"DeconvNet's smoke decoder must give back its {h}x{w} input's size (fc6 and "
            f"deconv-fc6 padded alike), got {tuple(out.shape[-2:])}.")


def test_deconvnet_smoke_variant_is_scaled_like_its_proposal_rule():
    """DeconvNet's smoke input, crops and proposal rule shrink by the same factor (synthetic
    width / VOC's 500 px) and its decoder is a multiple of the encoder's width."""
    cfg = _load("deconvnet/deconvnet_vgg16-bn_1xb64-60k_voc12augval-224x224.py")
    factor = smoke.SYNTHETIC["voc"]["size"][0] / 500
    changes = smoke.smoke_variant(cfg)
    crops = [t for t in object_crop_transforms(changes) if t.get("crop")]
    assert crops and all(abs(t["crop"] - 224 * factor) <= 1 and
                         abs(t["resize"] - 250 * factor) <= 1 for t in crops), crops
    test = changes["model"]["test_cfg"]
    assert test["input_size"] == crops[0]["crop"] and abs(test["min_size"] - 112 * factor) <= 1
    assert smoke.smoke_schedule(cfg)["crop"] == (crops[0]["crop"],) * 2
    head, backbone = changes["model"]["decode_head"], changes["model"]["backbone"]
    ratio = head["width_mult"] / backbone["width_mult"]
    assert ratio == int(ratio) >= 1, "Each switch map must serve a whole number of decoder maps."
    assert head["fc6_padding"] == backbone["fc6_padding"], (
        "deconv-fc6 must mirror fc6's padding, or the decoder's sizes miss the switches'.")


def test_family_settings_merge_from_general_to_specific(monkeypatch):
    crfrnn = _load("dilation/dilation-large-crfrnn_vgg16_1xb14-60k_voc12aug-504x504.py")
    assert smoke.family_of(crfrnn) == (
        "vgg16-dilation/ContextModuleHead+large/CRFRNNEncoderDecoder")
    gdn = _load("gdn/fcn-32s-gdn_vgg16_1xb20-20k_voc12sbd-500x500.py")
    assert smoke.family_of(gdn) == "vgg16-fcn/GDNHead"
    monkeypatch.setattr(smoke, "FAMILIES", {
        "vgg16": dict(lr=1.0, lr_mult={"backbone": 0.5}),
        "vgg16-dilation": dict(iters=7, batch_size=3, lr_mult={"decode_head.context": 0.1}),
        "CRFRNNEncoderDecoder": dict(iters=2),
        "vgg16-fcn/GDNHead": dict(iters=9)})
    assert smoke.smoke_schedule(crfrnn) == dict(iters=2, batch_size=3), (
        "The segmentor's entry must win over the backbone's, key by key.")
    assert smoke.family_settings(crfrnn)["lr_mult"] == {"backbone": 0.5,
                                                        "decode_head.context": 0.1}
    assert smoke.smoke_schedule(gdn) == dict(iters=9)
    assert smoke.family_settings(gdn)["lr_mult"] == {"backbone": 0.5}, (
        "The backbone type's entry (vgg16) must apply to every VGG16 layout.")
    optim = smoke.smoke_variant(gdn)["optim_wrapper"]
    assert optim["optimizer"]["lr"] == 1.0 and optim["paramwise_cfg"]["custom_keys"] == {
        "backbone": dict(lr_mult=0.5)}


def test_only_the_large_context_module_fine_tunes_at_a_hundredth():
    large = _load("dilation/dilation-large_vgg16_1xb14-50k_voc12aug-504x504.py")
    large_rnn = _load("dilation/dilation-large-crfrnn_vgg16_1xb14-60k_voc12aug-504x504.py")
    basic = _load("dilation/dilation-basic_vgg16_1xb14-50k_voc12aug-504x504.py")
    front = _load("dilation/dilation-frontend_vgg16_1xb14-50k_voc12aug-504x504.py")
    assert smoke.family_of(large) == "vgg16-dilation/ContextModuleHead+large"
    assert smoke.family_of(front) == "vgg16-dilation/ContextModuleHead"
    for cfg in (large, large_rnn):
        custom = smoke.smoke_variant(cfg)["optim_wrapper"]["paramwise_cfg"]["custom_keys"]
        assert {k: v["lr_mult"] for k, v in custom.items()} == {
            "backbone": 0.01, "decode_head.conv_seg": 0.01, "decode_head.context": 0.01}, (
            "A large-context row fine-tunes its trained front end at 1/100 of the head's rate.")
    for cfg in (basic, front):
        assert smoke.family_settings(cfg)["lr_mult"] == {
            "backbone": 0.1, "decode_head.context": 0.01}, (
            "The basic module and the front end keep the Dilation family's rates.")


# ---------------------------------------------------------------------------------------------
# Pretrained smoke backbones


@pytest.fixture
def quick_pretraining(monkeypatch):
    """A few pretraining iterations: tests the mechanics (cache, format, loaders), not quality."""
    monkeypatch.setattr(smoke, "PRETRAIN", dict(smoke.PRETRAIN, iters=2, batch=2, crop=64))
    monkeypatch.setattr(smoke, "PRETRAIN_DATA", dict(smoke.PRETRAIN_DATA, num_train=4))
    monkeypatch.setattr(smoke, "PRETRAIN_RESNET",
                        dict(smoke.PRETRAIN_RESNET, iters=2, batch=2, crop=64))


def test_pretraining_key_changes_with_every_parameter(monkeypatch):
    base = smoke.smoke_weights_key("vgg16")
    changes = [("PRETRAIN", dict(smoke.PRETRAIN, iters=smoke.PRETRAIN["iters"] + 1)),
               ("PRETRAIN", dict(smoke.PRETRAIN, lr=smoke.PRETRAIN["lr"] / 2)),
               ("PRETRAIN_DATA", dict(smoke.PRETRAIN_DATA, seed=smoke.PRETRAIN_DATA["seed"] + 1)),
               ("VGG_WIDTH", smoke.VGG_WIDTH / 2),
               ("PRETRAIN_VERSION", smoke.PRETRAIN_VERSION + 1)]
    for name, value in changes:
        with monkeypatch.context() as m:
            m.setattr(smoke, name, value)
            assert smoke.smoke_weights_key("vgg16") != base, (
                f"Changing {name} must change the smoke weights' cache key (else a stale "
                "pretrained file would be reused).")
    import repro.data.synth as synth

    monkeypatch.setattr(synth, "GENERATOR_VERSION", synth.GENERATOR_VERSION + 1)
    assert smoke.smoke_weights_key("vgg16") != base, "The generator version is in the key."


def test_smoke_weights_are_cached_and_written_atomically(tmp_path, quick_pretraining,
                                                         monkeypatch):
    def broken(entry, cache_dir):
        raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(smoke, "_pretrain", broken)
        with pytest.raises(RuntimeError):
            smoke.ensure_smoke_weights("vgg16", tmp_path)
    assert not list((tmp_path / "smoke_weights").glob("*/*.pth")), (
        "A failed pretraining must leave no weight file behind.")
    path = smoke.ensure_smoke_weights("vgg16", tmp_path)
    assert path.is_file() and (path.parent / "pretrain.json").is_file()
    monkeypatch.setattr(smoke, "_pretrain", broken)
    assert smoke.ensure_smoke_weights("vgg16", tmp_path) == path, (
        "A cached smoke backbone must be reused, not pretrained again.")


@pytest.mark.parametrize("config", [
    "fcn/fcn-32s_vgg16_1xb1-100k_voc12sbd-500x500.py",
    "deeplab/deeplab-largefov_vgg16_1xb20-6k_voc12aug-321x321.py",
    "dilation/dilation-frontend_vgg16_1xb14-60k_voc12aug-504x504.py",
    "deconvnet/deconvnet_vgg16-bn_1xb64-60k_voc12augval-224x224.py",
])
def test_smoke_weights_load_through_the_paper_loader(tmp_path, quick_pretraining, config):
    cfg = _smoke(config)
    info = smoke.apply_smoke_weights(cfg, tmp_path)
    assert info["pretrained"] == "vgg16" and cfg.model.backbone.init_cfg["type"] == "Pretrained"
    assert cfg.model.data_preprocessor["bgr_to_rgb"] is True, (
        "The smoke weights expect torchvision's input convention.")
    model = build_model(cfg)
    model.init_weights()
    state = torch.load(info["path"], weights_only=True)
    from repro.models.vgg import adapt_to_variant, canonical_vgg_weights

    expected = adapt_to_variant(canonical_vgg_weights(state), model.backbone.variant)
    own = model.backbone.state_dict()
    loaded = [k for k in own if k in expected]
    assert len(loaded) >= 30, f"Only {loaded} of the backbone came from the smoke weights."
    for k in loaded:
        assert torch.equal(own[k], expected[k]), f"{config}: {k} was not loaded from the file."


INPUTS = ("mean", "std", "bgr_to_rgb")


@pytest.mark.parametrize("row", ["gdn/table1/fcn32s", "gdn/table1/dl-largefov",
                                 "deconvnet/table1/deconvnet", "dilation/table3/frontend",
                                 "gcn/table1/k3", "deconvnet/table1/edeconvnet"])
def test_a_row_is_evaluated_with_the_inputs_it_was_trained_on(row, quick_pretraining, tmp_path,
                                                                tiny_smoke):
    """The smoke weights switch a Caffe-convention config (BGR, mean only) to torchvision's
    (RGB, mean and std) for training; evaluating with the config's own convention fed the
    trained FCN, DeepLab, GDN and DeconvNet models inputs 58x too large (every such smoke row
    sat at its trivial level)."""
    from repro.plan import Planner, Settings
    from repro.tables.registry import get_table

    table, key = row.rsplit("/", 1)
    spec = get_table(table)
    plan = Planner(Settings(profile=tiny_smoke, results_dir=tmp_path / "r",
                            work_root=tmp_path / "w")).row(spec, spec.experiment(key), 0)
    pairs = ([(plan.cfg["model"], plan.training)] if plan.training else
             [(m["model"], t) for m, t in zip(plan.cfg["model"]["members"], plan.members)])
    assert pairs, f"{row} must evaluate a model it trains."
    for model, training in pairs:
        trained = {k: training.cfg["model"]["data_preprocessor"].get(k) for k in INPUTS}
        evaluated = {k: model["data_preprocessor"].get(k) for k in INPUTS}
        assert evaluated == trained, (
            f"{row} is trained on inputs {trained} but evaluated on {evaluated}: the evaluation "
            "config must get the weights' input convention too.")


@pytest.mark.parametrize("entry", ["vgg16", "resnet50"])
def test_pretraining_gives_the_same_weights_whatever_the_process_drew_before(
        entry, quick_pretraining, tmp_path):
    """CI pretrains in its own cache: the file must equal the one the baseline's rows used."""
    from pathlib import Path

    files = []
    for i in range(2):
        torch.rand(1 + 7 * i)  # other work in the process moves the global random state
        files.append(smoke.ensure_smoke_weights(entry, Path(tmp_path / f"cache{i}")))
    a, b = (torch.load(f, weights_only=True) for f in files)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), (
        f"Two pretrainings of the smoke {entry} backbone differ: seed every random draw.")
