"""CRF-RNN (Zheng et al. 2015): equivalence at initialisation, gradients, mmseg segmentor."""

import numpy as np
import torch

import repro.crf  # noqa: F401  (registers CRFRNNEncoderDecoder)
from repro.crf.dense import CRFParams, crf_inference
from repro.crf.meanfield import CRFRNN
from repro.crf.synthetic import make_scene, network_probs

PRM = dict(w1=5.0, sigma_alpha=40.0, sigma_beta=5.0, w2=3.0, sigma_gamma=3.0)


def _scene(h=48, w=64, C=5, seed=0):
    rng = np.random.default_rng(seed)
    image, label = make_scene(rng, h, w, num_classes=C, void_band=0)
    probs = network_probs(rng, label, C, scale=4.0, noise=1.5)
    return image, probs


def test_crfrnn_at_init_equals_pydensecrf():
    image, probs = _scene()
    crf = CRFRNN(probs.shape[0], iterations=5, test_iterations=10, **PRM).eval()
    logits = torch.log(torch.from_numpy(probs))[None]
    img = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        q = torch.softmax(crf(logits, img), 1)[0].numpy()
    ref = crf_inference(probs, image, CRFParams(**PRM, iterations=10))
    assert np.abs(q - ref).max() < 1e-3, (
        "With its initial (Potts) parameters and test_iterations=10, CRFRNN must reproduce "
        f"pydensecrf's marginals; max difference {np.abs(q - ref).max():.3g}. Check the kernel "
        "weights (w2 I, w1 I), the compatibility (1 - I) and the sign of the update."
    )


def _tiny_model():
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS

    norm = dict(type="BN", requires_grad=True)
    cfg = dict(
        type="CRFRNNEncoderDecoder",
        data_preprocessor=dict(
            type="SegDataPreProcessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(40, 48),
        ),
        backbone=dict(
            type="ResNetV1c", depth=18, stem_channels=8, base_channels=8, num_stages=2,
            strides=(1, 2), dilations=(1, 1), out_indices=(1,), norm_cfg=norm,
        ),
        decode_head=dict(
            type="FCNHead", in_channels=16, in_index=0, channels=8, num_convs=1,
            concat_input=False, num_classes=4, norm_cfg=norm, align_corners=False,
            loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
        ),
        crf_rnn=dict(iterations=2, test_iterations=3, **PRM),
        train_cfg=dict(),
        test_cfg=ConfigDict(mode="whole"),
    )
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmseg"):  # mmseg's data preprocessor, heads...
        return MODELS.build(cfg)


def _batch(n=2, h=40, w=48):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    rng = np.random.default_rng(0)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8)))
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        s.gt_sem_seg = PixelData(data=torch.from_numpy(rng.integers(0, 4, (1, h, w))))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_segmentor_trains_end_to_end_and_predicts():
    from mmseg.registry import MODELS

    from repro.crf import CRFRNNEncoderDecoder

    assert MODELS.get("CRFRNNEncoderDecoder") is CRFRNNEncoderDecoder, (
        "import repro.crf must register CRFRNNEncoderDecoder in mmseg.registry.MODELS."
    )
    torch.manual_seed(0)
    model = _tiny_model().train()
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode="loss")
    loss = sum(v for k, v in losses.items() if "loss" in k)
    loss.backward()
    crf = model.crf_rnn
    for name in ("spatial_weights", "bilateral_weights", "compatibility"):
        g = getattr(crf, name).grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, (
            f"The CRF-RNN parameter {name} got no gradient: the CRF must run inside the loss "
            "graph (CRFRNNEncoderDecoder.loss) and the lattice filter must be differentiable."
        )
    head_grad = model.decode_head.conv_seg.weight.grad
    assert head_grad is not None and head_grad.abs().sum() > 0, (
        "Gradients must flow through the CRF-RNN back into the decode head (end-to-end training)."
    )
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(_batch(), False), mode="predict")
    assert out[0].pred_sem_seg.data.shape == (1, 40, 48), (
        "predict() must return a full-size label map after the CRF-RNN."
    )
