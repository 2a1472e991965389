"""FCN-32s/16s/8s and DeepLab-LargeFOV heads (repro.models.fcn, repro.models.deeplab)."""

import pytest
import torch
from mmengine.config import Config

from repro import paths
from repro.models.build import build_model
from repro.models.deeplab import caffe_interp
from repro.models.fcn import FCNVGGHead
from repro.smoke import apply_smoke_variant

FCN = {
    "32s": "fcn/fcn-32s_vgg16_1xb1-100k_voc12sbd-500x500.py",
    "16s": "fcn/fcn-16s_vgg16_1xb1-100k_voc12sbd-500x500.py",
    "8s": "fcn/fcn-8s_vgg16_1xb1-100k_voc12sbd-500x500.py",
    "8s-atonce": "fcn/fcn-8s-atonce_vgg16_1xb1-100k_voc12sbd-500x500.py",
}
DEEPLAB = "deeplab/deeplab-largefov_vgg16_1xb20-6k_voc12aug-321x321.py"


def load(config: str, smoke: bool = False) -> Config:
    cfg = Config.fromfile(str(paths.config_path(config)))
    if smoke:
        apply_smoke_variant(cfg)
    return cfg


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def paper_param_counts():
    """Parameters of the paper-width models, built once on the meta device (shapes only)."""
    with torch.device("meta"):
        return {name: n_params(build_model(load(cfg))) for name, cfg in
                (("fcn32s", FCN["32s"]), ("deeplab", DEEPLAB))}


def test_fcn32s_has_134m_parameters(paper_param_counts):
    got = paper_param_counts["fcn32s"] / 1e6
    assert round(got) == 134, (
        f"FCN-32s has {got:.2f}M parameters, FCN Table 1 prints 134M: fc6/fc7 must be 4096-wide "
        "convolutions and the fixed bilinear deconvolution must not count as a parameter."
    )


def test_deeplab_largefov_has_20_5m_parameters(paper_param_counts):
    got = paper_param_counts["deeplab"] / 1e6
    assert round(got, 1) == 20.5, (
        f"DeepLab-LargeFOV has {got:.2f}M parameters, DeepLab prints 20.5M: fc6 must be a 3x3 "
        "dilated conv with 1024 channels and fc7 1x1 1024."
    )


@pytest.fixture(scope="module")
def tiny_models():
    torch.manual_seed(0)
    models = {name: build_model(load(cfg, smoke=True)).eval() for name, cfg in FCN.items()}
    models["deeplab"] = build_model(load(DEEPLAB, smoke=True)).eval()
    return models


@pytest.mark.parametrize("name", [*FCN, "deeplab"])
@pytest.mark.parametrize("size", [(1, 1), (37, 64), (120, 160), (333, 500)])
def test_output_is_input_sized(tiny_models, name, size):
    model = tiny_models[name]
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, *size))
        out = model.decode_head(feats, size)
    assert tuple(out.shape[-2:]) == size, (
        f"{name} returns {tuple(out.shape[-2:])} for a {size} input: the Caffe crop offsets "
        "(FCN) or the Interp x8 + crop (DeepLab) must give scores of the input size."
    )


def test_fcn32s_crop_aligns_scores_with_the_input(tiny_models):
    # fc7 pixel j of FCN-32s is centred on input pixel 32 j + 12.5 (conv1_1 pad 100 shifts by
    # -99, pool5 k is centred at 32 k + 15.5, fc6 7x7 adds 3 cells). The 64/32 bilinear
    # deconvolution of an impulse at j peaks at 32 j + 31.5 of the uncropped map (argmax: the
    # first of the two equal taps), so crop 19 must put the peak at 32 j + 12.
    head = tiny_models["32s"].decode_head
    coarse = torch.zeros(1, 21, 4, 4)
    coarse[0, 3, 1, 2] = 1
    up = head.upsamples[-1](coarse)[..., 19:19 + 128, 19:19 + 128]
    peak = divmod(int(up[0, 3].argmax()), 128)
    assert peak == (32 + 12, 64 + 12), (
        f"The upsampled impulse of coarse cell (1, 2) peaks at {peak}, not on the centre of that "
        "cell's receptive field (32 j + 12.5): check the final crop offset (19 for FCN-32s).")


def test_fixed_upsampling_is_not_a_parameter():
    fixed = FCNVGGHead([8], mode="32s", num_classes=21)
    learnable = FCNVGGHead([8], mode="32s", num_classes=21, learnable_upsample=True)
    assert n_params(learnable) - n_params(fixed) == 21 * 21 * 64 * 64, (
        "learnable_upsample=True must make the 64x64 deconvolution a parameter; the released "
        "nets fix it (lr_mult 0), which the default reproduces with a buffer.")
    assert "upsamples.0.weight" in fixed.state_dict(), "The fixed kernel must be checkpointed."


def test_at_once_scales_pool4_and_pool3():
    torch.manual_seed(0)
    feats = [torch.randn(1, 4, 33, 33), torch.randn(1, 6, 17, 17), torch.randn(1, 8, 3, 3)]
    at_once = FCNVGGHead([4, 6, 8], mode="8s", at_once=True, num_classes=21)
    staged = FCNVGGHead([4, 6, 8], mode="8s", num_classes=21)
    staged.load_state_dict(at_once.state_dict())
    for conv in at_once.score_skips.values():
        torch.nn.init.normal_(conv.weight)
    with torch.no_grad():
        staged.score_skips.score_pool4.weight.copy_(at_once.score_skips.score_pool4.weight * 0.01)
        staged.score_skips.score_pool3.weight.copy_(at_once.score_skips.score_pool3.weight * 1e-4)
        a, b = at_once(feats, (64, 64)), staged(feats, (64, 64))
    assert torch.allclose(a, b, atol=1e-6), (
        "At-once FCN-8s must score 0.01 * pool4 and 0.0001 * pool3 (voc-fcn8s-atonce).")


def test_score_layers_start_at_zero(tiny_models):
    tiny = build_model(load(FCN["8s"], smoke=True))
    tiny.init_weights()
    head = tiny.decode_head
    for conv in [head.conv_seg, *head.score_skips.values()]:
        assert not conv.weight.any(), "FCN zero-initialises score_fr and the skip scores."


def test_staged_init_carries_fcn32s_over_to_fcn16s(tiny_models):
    from mmengine.runner.checkpoint import load_state_dict

    fcn32s = tiny_models["32s"]
    torch.nn.init.normal_(fcn32s.decode_head.conv_seg.weight)
    fcn16s = build_model(load(FCN["16s"], smoke=True))
    fcn16s.init_weights()
    load_state_dict(fcn16s, fcn32s.state_dict(), strict=False)  # the runner's init_from
    head = fcn16s.decode_head
    assert torch.equal(head.conv_seg.weight, fcn32s.decode_head.conv_seg.weight), (
        "Staged FCN-16s must start from FCN-32s's score_fr (and backbone).")
    assert not head.score_skips.score_pool4.weight.any(), "score_pool4 must stay zero."
    assert torch.equal(head.upsamples[0].weight, FCNVGGHead([8, 8], "16s", num_classes=21)
                       .upsamples[0].weight), "The 4/2 deconvolution must stay bilinear."


def test_caffe_interp_keeps_coarse_values_on_the_stride_grid():
    coarse = torch.randn(1, 2, 5, 7)
    up = caffe_interp(coarse, 8, (33, 49))
    assert torch.allclose(up[..., ::8, ::8], coarse, atol=1e-6), (
        "DeepLab's Interp (zoom 8) aligns corners: output pixel 8i must equal coarse pixel i.")
