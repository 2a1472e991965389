"""Dilation (Yu & Koltun, ICLR 2016): context module (Table 1, eqs. 4-5), head, table specs."""

import pytest
import torch

from repro.models.dilation import ContextModule, ContextModuleHead
from repro.models.vgg import VGG16
from repro.tables.registry import get_table


@pytest.fixture(scope="module")
def basic():
    torch.manual_seed(0)
    return ContextModule(21, "basic").eval()


def test_fresh_basic_module_passes_its_input_through(basic):
    x = torch.rand(2, 21, 33, 40) * 5  # non-negative, like truncated class scores
    with torch.no_grad():
        y = basic(x)
    assert torch.equal(y, x), (
        "A freshly initialised basic context module must be the identity on non-negative maps "
        "(eq. 4: centre tap 1 for a = b, all other weights and biases 0); check block_identity_."
    )


def test_basic_module_truncates_negative_inputs(basic):
    x = torch.randn(1, 21, 16, 16)
    with torch.no_grad():
        y = basic(x)
    assert torch.equal(y, x.clamp_min(0)), (
        "Layer 1 is followed by the truncation max(., 0) (Table 1): a fresh module computes "
        "relu(x); check ContextModule.truncate."
    )


def test_fresh_large_module_is_a_noisy_identity():
    torch.manual_seed(0)
    large = ContextModule(21, "large").eval()
    x = torch.rand(1, 21, 24, 24)
    with torch.no_grad():
        y = large(x)
    err = (y - x).abs().mean().item()
    assert err < 2e-2, (
        f"The large module's eq. (5) initialisation (C/c_(i+1) on the block diagonal, small "
        f"noise elsewhere) must pass the input through up to the noise; mean error {err:.2e}. "
        "Check block_identity_ and noise_ratio."
    )
    w = large.layers[0].weight
    assert w.std() > 0, "Eq. (5) adds noise eps ~ N(0, sigma^2) off the block diagonal."


@pytest.mark.parametrize("key", ["basic", "large"])
def test_table1_cells_match_the_paper(key):
    exp = get_table("dilation/table1").experiment(key)
    got = {c.metric: c.static(exp, c.metric) for c in exp.cells}
    wrong = {c.metric: (got[c.metric], c.paper) for c in exp.cells if got[c.metric] != c.paper}
    assert not wrong, (
        f"Table 1 computed from the built {key} context module differs from the paper "
        f"(metric: (ours, paper)): {wrong}. Fix DILATIONS/PLANS in repro.models.dilation."
    )


def test_basic_module_has_about_64_c_squared_parameters(basic):
    n = sum(p.numel() for p in basic.parameters())
    assert abs(n / (64 * 21**2) - 1) < 0.01, (
        f"Sec. 3: the basic module has ~64 C^2 parameters; got {n} for C=21."
    )


def test_front_end_output_matches_a_multiple_of_8_input():
    backbone = VGG16(variant="dilation", width_mult=1 / 32, pad_input=186).eval()
    head = ContextModuleHead(
        context="basic", in_channels=backbone.out_channels["fc7"], num_classes=21
    ).eval()
    with torch.no_grad():
        out = head(backbone(torch.randn(1, 3, 48, 64)))
    assert out.shape == (1, 21, 48, 64), (
        f"Front end + head on a 48x64 input gave {tuple(out.shape)}: with the 186-px reflection "
        "padding and unpadded convolutions the scores are 1/8 of the input, upsampled x8 "
        "(kernel 16, stride 8, pad 4)."
    )


@pytest.mark.parametrize("number", [2, 3, 4])
def test_per_class_tables_have_twenty_classes_and_the_mean(number):
    spec = get_table(f"dilation/table{number}")
    for exp in spec.experiments:
        metrics = [c.metric for c in exp.cells]
        assert len(metrics) == 21 and metrics[-1] == "mIoU", (
            f"{spec.name}/{exp.key}: the paper prints 20 class IoUs (no background) and the mean."
        )
        assert "IoU.background" not in metrics


def _preprocessor(margin: int, **kwargs):
    from repro.models.dilation import ReflectPadDataPreProcessor

    return ReflectPadDataPreProcessor(margin=margin, mean=[0, 0, 0], std=[1, 1, 1], seg_pad_val=255,
                                      **kwargs)


@pytest.mark.parametrize("margin", [5, 186])
def test_padded_buffer_is_the_image_reflected_about_each_edge(margin):
    """Sec. 4: "the buffer zone is filled by reflecting the image about each edge", at training
    (padding to the crop) and at test (padding to a multiple of 8) alike: the network input is
    cv2.copyMakeBorder(image, BORDER_REFLECT_101), no zeros."""
    import cv2
    import numpy as np
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    rng = np.random.default_rng(0)
    images = [rng.integers(1, 255, (3, h, w)).astype(np.uint8) for h, w in ((13, 21), (9, 24))]
    pre = _preprocessor(margin, size=(16, 24), test_cfg=dict(size_divisor=8))
    samples = []
    for img in images:
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.zeros(1, *img.shape[1:], dtype=torch.long))
        samples.append(s)
    batch = dict(inputs=[torch.from_numpy(i) for i in images], data_samples=samples)
    train = pre(batch, training=True)
    test = pre(dict(inputs=[torch.from_numpy(images[0])], data_samples=[SegDataSample()]))
    for out, img, size in ((train["inputs"][0], images[0], (16, 24)),
                           (train["inputs"][1], images[1], (16, 24)),
                           (test["inputs"][0], images[0], (16, 24))):
        h, w = img.shape[1:]
        want = cv2.copyMakeBorder(img.transpose(1, 2, 0), margin, margin + size[0] - h, margin,
                                  margin + size[1] - w, cv2.BORDER_REFLECT_101)
        assert np.array_equal(out.numpy().transpose(1, 2, 0), want.astype(np.float32)), (
            f"The {margin}-px buffer around a {h}x{w} image must be the image reflected about "
            "each edge (BORDER_REFLECT_101), also where the batch pads it; check "
            "ReflectPadDataPreProcessor.")
    label = train["data_samples"][0].gt_sem_seg.data
    assert label.shape[-2:] == (16, 24) and (label[0, 13:] == 255).all(), (
        "Labels are padded with 255 to the crop, without the margin (the network's output size).")


def test_front_end_on_the_preprocessed_batch_gives_scores_at_label_size():
    pre = _preprocessor(186, size=(48, 64))
    backbone = VGG16(variant="dilation", width_mult=1 / 32).eval()
    head = ContextModuleHead(in_channels=backbone.out_channels["fc7"], num_classes=21).eval()
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    s = SegDataSample()
    s.gt_sem_seg = PixelData(data=torch.zeros(1, 40, 60, dtype=torch.long))
    out = pre(dict(inputs=[torch.zeros(3, 40, 60, dtype=torch.uint8)], data_samples=[s]), True)
    with torch.no_grad():
        scores = head(backbone(out["inputs"]))
    assert tuple(out["inputs"].shape[-2:]) == (48 + 372, 64 + 372)
    assert tuple(scores.shape[-2:]) == (48, 64), (
        "The unpadded front end removes exactly the 186-px margin: scores at the label size.")


TRAINING_FIELDS = ("dataset", "train_split", "train_labels", "crop_size", "batch_size", "iters")


def _training(exp):
    """What decides a row's trained weights in its spec: config, options, start, data, schedule."""
    return (exp.config, exp.options, exp.init_from,
            tuple(getattr(exp.protocol, f) for f in TRAINING_FIELDS))


def _merged(exp):
    from mmengine.config import Config

    from repro import paths
    from repro.profiles import unknown_option_keys

    cfg = Config.fromfile(str(paths.config_path(exp.config)))
    assert not unknown_option_keys(cfg, exp.options), (
        f"{exp.key}: options {exp.options} must name keys its config takes.")
    cfg.merge_from_dict(exp.options)
    return cfg


@pytest.mark.parametrize("key,title,name", [
    ("frontend", "Front end", "frontend"), ("basic", "Front + Basic", "basic"),
    ("large", "Front + Large", "large")])
def test_sec5_schedule_is_coarse_voc_coco_then_fine_voc(key, title, name):
    t3 = get_table("dilation/table3")
    coarse = t3.experiment(f"{key}-coarse")
    p = coarse.protocol
    assert (p.train_split.split("+"), p.iters, p.batch_size) == (
        ["coco", "train_aug"], 140000, 14), (
        "Coarse tuning: VOC-2012 (train_aug) + COCO, 100K + 40K iterations, mini-batch 14.")
    assert coarse.init_from == (None if key == "frontend" else "frontend-coarse"), (
        "Coarse tuning starts from ImageNet (the front end) or from the coarse-tuned front end "
        "(a context module is trained on the trained front end, Sec. 5).")
    cfg = _merged(coarse)
    sched = [s for s in cfg.param_scheduler if s.get("type") == "MultiStepLR"]
    assert cfg.optim_wrapper.optimizer.lr == 1e-3 and len(sched) == 1 and (
        sched[0].milestones, sched[0].gamma, sched[0].by_epoch) == ([100000], 0.1, False), (
        "Coarse tuning: 1e-3 for 100K iterations, then 1e-4 (x0.1) for the last 40K.")
    for row in (key, f"{key}-crf"):
        fine = t3.experiment(row)
        assert fine.init_from == coarse.key and (
            _merged(fine).model == _merged(coarse).model), (
            f"dilation/table3/{row} must fine-tune its own model's coarse row.")
        assert (fine.protocol.train_split, fine.protocol.iters) == ("train_aug", 50000)
        cfg = _merged(fine)
        assert cfg.optim_wrapper.optimizer.lr == 1e-5 and not cfg.param_scheduler, (
            "Fine tuning: VOC-2012 only, 50K iterations at a constant 1e-5.")
    assert _training(t3.experiment(key)) == _training(t3.experiment(f"{key}-crf")), (
        "The + CRF row differs from its row at test time only (one training).")
    voc = t3.experiment(f"{key}-voc")
    assert (voc.protocol.train_split, voc.protocol.iters, voc.init_from, voc.options) == (
        "train_aug", 60000, None if key == "frontend" else "frontend-voc", {}) and (
        _merged(voc).optim_wrapper.optimizer.lr == 1e-3), (
        "The VOC-only variant keeps Sec. 4's schedule (train_aug, 60K at 1e-3), its context "
        "module on its own trained front end.")
    assert all(c.paper is None for c in coarse.cells + voc.cells), (
        "The paper prints no coarse-tuning or VOC-only row: their paper cells stay empty.")


def test_table4_rows_share_table3_trainings():
    t3, t4 = get_table("dilation/table3"), get_table("dilation/table4")
    for key4, key3 in (("frontend", "frontend"), ("context", "large"), ("context-crf", "large")):
        e3, e4 = t3.experiment(key3), t4.experiment(key4)
        assert e4.init_from == f"dilation/table3/{e3.init_from}", (
            f"dilation/table4/{key4} must fine-tune Table 3's coarse row {e3.init_from}.")
        assert _training(e4)[:2] + _training(e4)[3:] == _training(e3)[:2] + _training(e3)[3:], (
            f"dilation/table4/{key4} must train exactly as dilation/table3/{key3} (one training).")
    rnn3, rnn4 = t3.experiment("large-rnn"), t4.experiment("context-crf-rnn")
    assert (rnn3.init_from, rnn4.init_from) == ("large", "context") and (
        _training(rnn3)[:2] + _training(rnn3)[3:] == _training(rnn4)[:2] + _training(rnn4)[3:])
    for spec in (t3, t4):  # every init_from names a row that exists
        for exp in spec.runnable:
            if exp.init_from:
                table, _, row = exp.init_from.rpartition("/")
                (get_table(table) if table else spec).experiment(row)
