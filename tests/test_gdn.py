"""Global Deconvolutional Networks (repro.models.gdn) and its tables (repro.tables.gdn)."""

import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.structures import PixelData
from mmseg.datasets import PascalVOCDataset
from mmseg.structures import SegDataSample

from repro import paths
from repro.models.build import build_model
from repro.models.gdn import (
    GlobalInterpolation,
    MultiLabelBranch,
    SPPRefine,
    multilabel_targets,
)
from repro.smoke import apply_smoke_variant
from repro.tables.registry import get_table

GDN_CONFIGS = sorted(
    str(p.relative_to(paths.config_root())) for p in (paths.config_root() / "gdn").glob("*.py"))


def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("in_size,expected", [((16, 16), 16_000), ((64, 64), 64_000)])
def test_global_deconvolution_has_fewer_than_70k_parameters(in_size, expected):
    block = GlobalInterpolation(out_size=(500, 500), in_size=in_size)
    assert n_params(block) == expected < 70_000, (
        f"Global interpolation 500x{in_size[0]} has {n_params(block)} parameters; GDN Sec. 4.4 "
        "says less than 70K: K_h and K_w must be the only parameters, shared over channels.")


def test_global_interpolation_is_eq1_per_channel():
    block = GlobalInterpolation(out_size=(20, 24), in_size=(4, 5))
    x = torch.randn(2, 3, 4, 5)
    expected = torch.einsum("Hh,nchw,Ww->ncHW", block.k_h, x, block.k_w)
    assert torch.allclose(block(x, (20, 24)), expected, atol=1e-5), (
        "Global interpolation must compute y_c = K_h x_c K_w^T for every channel (GDN Eq. 1).")


def test_smaller_inputs_use_the_leading_rows_and_columns():
    block = GlobalInterpolation(out_size=(50, 60), in_size=(8, 9))
    small = torch.randn(1, 2, 5, 6)
    padded = F.pad(small, (0, 3, 0, 3))  # the image anchored top-left in the training canvas
    full = block(padded, (50, 60))
    assert torch.allclose(block(small, (31, 40)), full[..., :31, :40], atol=1e-5), (
        "A smaller input must use the first H, W rows and h, w columns of K (GDN Sec. 4.3), "
        "which equals the top-left of the output for the zero-padded training-size input.")


def test_larger_inputs_are_refused():
    block = GlobalInterpolation(out_size=(50, 60), in_size=(8, 9))
    with pytest.raises(ValueError, match="out_size"):
        block(torch.randn(1, 1, 8, 9), (51, 60))


def test_init_bound_of_released_code():
    block = GlobalInterpolation(out_size=(500, 500), in_size=(64, 64))
    bound = 2 * math.sqrt(6 / (500 + 64))
    assert block.k_h.abs().max() <= bound and block.k_h.abs().max() > 0.9 * bound, (
        "K must be initialised uniform in +-2*sqrt(6/(fan_in+fan_out)) as DrSleep/GDN.")


def test_label_targets_ignore_background_and_void():
    seg = torch.zeros(2, 1, 4, 4, dtype=torch.long)
    seg[0, 0, 0, :2] = torch.tensor([3, 15])
    seg[0, 0, 1, 1] = 255
    seg[1, 0, 2, 2] = 20
    target = multilabel_targets(seg, 21)
    assert target.shape == (2, 20), "One target per object class (background excluded)."
    assert target[0].nonzero().flatten().tolist() == [2, 14], (
        "Classes 3 and 15 present -> indices 2 and 14; background (0) and void (255) ignored.")
    assert target[1].nonzero().flatten().tolist() == [19]


def test_label_loss_is_mean_binary_cross_entropy():
    torch.manual_seed(0)
    branch = MultiLabelBranch(21, in_size=(4, 4), hidden=(8, 8), loss_weight=0.5).eval()
    coarse = torch.randn(2, 21, 4, 4)
    seg = torch.randint(0, 21, (2, 1, 16, 16))
    p = branch(coarse).sigmoid()
    t = multilabel_targets(seg, 21)
    eq3 = -(t * p.log() + (1 - t) * (1 - p).log()).mean()
    assert torch.allclose(branch.loss(coarse, seg), 0.5 * eq3, atol=1e-5), (
        "The label loss must be GDN Eq. 3's L_c (mean over the 20 classes) times its weight.")
    assert len([m for m in branch.fc if isinstance(m, torch.nn.Linear)]) == 3, (
        "The label branch has 3 fully connected layers (GDN Sec. 3.3).")


def test_spp_fc_starts_as_identity_and_uses_leading_cells():
    spp = SPPRefine(21, out_size=(16, 16))
    coarse = torch.randn(1, 21, 12, 16)
    assert torch.equal(spp(coarse), coarse), "SPP-FC is zero-initialised: it starts as FCN-32s."
    assert spp.fc.in_features == 21 * (1 + 4 + 9 + 16 + 25), "5-level pyramid 1x1 .. 5x5."


def _sample(size, label=None):
    s = SegDataSample()
    lab = label if label is not None else torch.randint(0, 21, (1, *size))
    s.gt_sem_seg = PixelData(data=lab)
    s.set_metainfo(dict(img_shape=size, pad_shape=size, ori_shape=size))
    return s


def _tiny(config: str):
    cfg = Config.fromfile(str(paths.config_path(config)))
    apply_smoke_variant(cfg)
    return build_model(cfg)


@pytest.mark.parametrize("config", GDN_CONFIGS)
def test_every_gdn_config_trains_and_predicts_at_smoke_width(config):
    torch.manual_seed(0)
    model = _tiny(config)
    model.init_weights()
    size = (96, 128)
    x = torch.randn(2, 3, *size)
    losses = model.loss(x, [_sample(size), _sample(size)])
    total = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total), f"{config}: the loss is not finite ({losses})."
    if "labelloss" in config or config.endswith(("gdn_vgg16_1xb20-20k_voc12sbd-500x500.py",
                                                 "gdn_vgg16_1xb20-20k_voc12aug-500x500.py")):
        assert any(k.endswith("loss_label") for k in losses), f"{config} has no label loss."
    model.eval()
    with torch.no_grad():
        out = model.predict(x, [_sample(size), _sample(size)])
    assert out[0].pred_sem_seg.shape == size, f"{config} does not predict at the input size."


def test_gdn_members_work_in_the_harness_ensemble():
    """The ensemble rows average GDN models with repro.models.inference.EnsembleSegmentor."""
    from repro.models.inference import EnsembleSegmentor

    members = []
    for config in ("gdn/fcn-32s-gdn_vgg16_1xb20-20k_voc12sbd-500x500.py",
                   "gdn/fcn-32s-fc_vgg16_1xb20-20k_voc12sbd-500x500.py"):
        cfg = Config.fromfile(str(paths.config_path(config)))
        apply_smoke_variant(cfg)
        members.append(dict(model=ConfigDict(cfg.model.to_dict())))
    ens = EnsembleSegmentor(members)
    for m in ens.members:  # non-zero scores so that the members disagree
        torch.nn.init.normal_(m.decode_head.conv_seg.weight, std=0.1)
    ens.eval()
    img = torch.randint(0, 255, (3, 64, 80), dtype=torch.uint8)
    sample = _sample((64, 80))
    sample.set_metainfo(dict(ori_shape=(64, 80), img_shape=(64, 80)))
    data = dict(inputs=[img], data_samples=[sample])
    probs = [m.test_step(dict(inputs=[img], data_samples=[_copy(sample)]))[0]
             .seg_logits.data.softmax(0) for m in ens.members]
    got = ens.test_step(data)[0].seg_logits.data.softmax(0)
    assert got.shape == (21, 64, 80)
    assert torch.allclose(got, (probs[0] + probs[1]) / 2, atol=1e-5), (
        "The FCN-32s + GDN + FC row must average the members' probabilities (GDN Sec. 4.3).")


def _copy(sample):
    return sample.clone()


def test_table1_rows_and_values():
    spec = get_table("gdn/table1")
    printed = [e for e in spec.experiments if e.key != "fcn32s-fc"]
    assert [(e.title, e.cells[0].paper) for e in printed] == [
        ("FCN-32s [31]", 59.4), ("FCN-32s + Label Loss", 59.8),
        ("FCN-32s + Global Interp.", 60.9), ("FCN-32s + GDN", 61.2),
        ("FCN-32s + GDN + FC", 62.5), ("DL-LargeFOV [4]", 73.3),
        ("DL-LargeFOV + Label Loss", 73.9), ("DL-LargeFOV + Global Interp.", 74.2),
        ("DL-LargeFOV + GDN", 75.1),
    ], "GDN Table 1 must list the paper's nine rows with their printed mean IoU."
    fcn_rows = [e for e in spec.experiments if e.key.startswith("fcn")]
    assert {(e.protocol.train_split, e.protocol.eval_split) for e in fcn_rows} == {
        ("sbd_train", "seg11valid")}, "FCN rows train on SBD train and evaluate on seg11valid."
    assert spec.experiment("fcn32s-gdn-fc").members == ("fcn32s-gdn", "fcn32s-fc"), (
        "FCN-32s + GDN + FC is the ensemble of FCN-32s + GDN and FCN-32s + FC (Sec. 4.3).")
    assert spec.experiment("fcn32s-fc").cells[0].paper is None, "Not printed in Table 1."
    for e in spec.experiments:
        assert paths.config_path(e.config).is_file()


def test_table2_uses_mmseg_class_names():
    spec = get_table("gdn/table2")
    classes = PascalVOCDataset.METAINFO["classes"]
    keys = {e.key for e in spec.experiments}
    for e in spec.experiments:
        assert set(e.members) <= keys, f"Row {e.key}: ensemble members must be rows of the table."
        metrics = [c.metric for c in e.cells]
        assert metrics == [f"IoU.{c}" for c in classes[1:]] + ["mIoU"], (
            f"Row {e.key}: per-class keys must be IoU.<mmseg PascalVOCDataset class name>.")
        if not e.reference:
            assert e.protocol.eval_split == "test", "Table 2 rows are VOC12 test-set rows."
    crf = {e.key for e in spec.experiments if e.protocol.crf}
    assert crf == {"dl-largefov-crf-gdn", "dl-largefov-crf-gdn-ens"}
    ens = spec.experiment("dl-largefov-crf-gdn-ens")
    assert [c.paper for c in ens.cells][:2] == [88.6, 48.6] and ens.cells[-1].paper == 74.02


def test_gdn_rows_start_from_the_released_baseline_in_two_phases(tmp_path, monkeypatch):
    """GDN Sec. 4.1/4.3 in the paper profile: a GDN row starts from its baseline's released
    model (not a training of the baseline), trains the added layers with the rest fixed, then
    the whole network at a tenth of the learning rate; the result records both phases and the
    released file (path, digest) that phase 1 started from."""
    from mmengine.optim import build_optim_wrapper

    import repro.weights
    from repro.data.synth import make_voc
    from repro.plan import Settings, plan_rows
    from repro.profiles import PROFILES
    from repro.results import read_file
    from repro.runner import Executor
    from repro.tables.gdn import ADDED

    weights = tmp_path / "weights"
    (weights / "released").mkdir(parents=True)
    released = weights / "released" / "fcn32s-cvpr2015.pth"  # converted file: no Caffe import
    released.write_bytes(b"a stand-in for the converted FCN-32s")
    monkeypatch.setenv("REPRO_WEIGHTS", str(weights))
    # The ImageNet VGG16 (500 MB) is not here; the released baseline replaces it anyway.
    monkeypatch.setattr(repro.weights, "require_weights", lambda cfg, **kw: {"pretrained": None})
    voc = make_voc(tmp_path / "voc", size=(64, 48), num_train=4, num_val=4, num_test=1)
    settings = Settings(profile=PROFILES["paper"], results_dir=tmp_path / "res",
                        work_root=tmp_path / "work", data_root=str(voc))
    spec = get_table("gdn/table1")
    plan = plan_rows([(spec, spec.experiment("fcn32s-gdn"), False)], settings)
    row = plan.rows[0]
    phase1, phase2 = row.training.chain()
    assert phase1.upstream is None and phase1.init_weights is not None, (
        "In the paper profile phase 1 starts from the released baseline, not a trained one.")
    digest = repro.weights._digest(str(released), released.stat().st_size,
                                   released.stat().st_mtime)
    assert (phase1.init_weights["name"], phase1.init_weights["path"],
            phase1.init_weights["sha256"]) == ("fcn32s-cvpr2015", str(released), digest)
    assert phase2.upstream is phase1 and phase2.init_weights is None, (
        "Phase 2 starts from phase 1's checkpoint.")
    assert [t.label for t in (phase1, phase2)] == [
        "gdn/table1/fcn32s-gdn@seed0 phase 1 (added layers)",
        "gdn/table1/fcn32s-gdn@seed0 phase 2 (whole network)"]

    def learning_rates(training) -> tuple[float, dict[str, float]]:
        """The optimizer's base lr and each parameter's lr, as mmengine builds them from the
        phase's optimizer settings (for the model at smoke width: same parameter names)."""
        cfg, smoke = Config(training.cfg), Config(training.cfg)
        apply_smoke_variant(smoke)
        cfg.model = smoke.model
        model = build_model(cfg)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        names = {id(p): n for n, p in model.named_parameters()}
        return cfg.optim_wrapper.optimizer.lr, {
            names[id(p)]: g["lr"] for g in wrapper.optimizer.param_groups for p in g["params"]}

    base1, lrs1 = learning_rates(phase1)
    trained = {n for n, lr in lrs1.items() if lr > 0}
    assert trained and trained == {n for n in lrs1 if n.startswith(ADDED)}, (
        f"Phase 1 trains the added block alone; it trains {sorted(trained)}.")
    base2, lrs2 = learning_rates(phase2)
    assert all(lr > 0 for lr in lrs2.values()), "Phase 2 trains the whole network."
    assert math.isclose(base2, base1 / 10), "Phase 2 runs at a tenth of the learning rate."

    executor = Executor(plan, settings)
    executor._record(row, "ok", dict(values={"mIoU": 61.0}, extra={}))
    extra = read_file(row.result_path)[0].extra
    assert extra["stages"] == [phase1.label, phase2.label], "Both phases are in the provenance."
    assert extra["init_weights"] == dict(name="fcn32s-cvpr2015", path=str(released),
                                         sha256=digest), (
        "The result names the released file (and its digest) that phase 1 started from.")
