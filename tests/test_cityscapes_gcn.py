"""Cityscapes end to end for GCN Tables 9/10 (Large Kernel Matters Sec. 4.3): the four-crop test
covers the image, fine + coarse training data load as trainIds, multi-scale + flip views."""

from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, TRANSFORMS

from repro import paths
from repro.data.synth import ensure_synthetic
from repro.paths import cache_dir
from repro.plan import Planner, Settings
from repro.profiles import PROFILES, apply_test_mode
from repro.tables.registry import get_table

W, H = 256, 128  # synthetic Cityscapes of the smoke profile


def slide_windows(h, w, crop, stride):
    """The windows of mmseg's EncoderDecoder.slide_inference, as (y1, y2, x1, x2)."""
    (h_crop, w_crop), (h_stride, w_stride) = crop, stride
    out = []
    for hi in range(max(h - h_crop + h_stride - 1, 0) // h_stride + 1):
        for wi in range(max(w - w_crop + w_stride - 1, 0) // w_stride + 1):
            y2, x2 = min(hi * h_stride + h_crop, h), min(wi * w_stride + w_crop, w)
            out.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return out


def smoke_config(exp, root):
    """The row's config under the smoke profile, as the planner resolves it."""
    planner = Planner(Settings(profile=PROFILES["smoke"], results_dir=Path("unused"),
                               work_root=Path("unused"), data_root=str(root)))
    cfg, _, _ = planner.config(get_table("gcn/table9"), exp, seed=0)
    return cfg


def table9_config():
    exp = get_table("gcn/table9").experiment("stage1")
    return exp, Config.fromfile(str(paths.config_path(exp.config)))


@pytest.mark.parametrize("width", [2048, W])
def test_crop4_is_four_full_height_crops_covering_the_image(width):
    exp, cfg = table9_config()
    if width != 2048:  # what the runner does for the smoke profile's smaller images
        apply_test_mode(cfg, exp.protocol, width)
    test_cfg = cfg.model.test_cfg
    h = width // 2
    windows = slide_windows(h, width, test_cfg.crop_size, test_cfg.stride)
    covered = np.zeros((h, width), bool)
    for y1, y2, x1, x2 in windows:
        covered[y1:y2, x1:x2] = True
    assert test_cfg.mode == "slide" and len(windows) == 4 and covered.all(), (
        f"crop4 at {h}x{width} gives windows {windows} (test_cfg {test_cfg}): the paper's test "
        "is four square crops of the full image height whose scores are fused (Sec. 4.3)."
    )
    assert all(y2 - y1 == h and x2 - x1 == h for y1, y2, x1, x2 in windows), (
        f"Every crop must be {h}x{h} (1024x1024 at full size), got {windows}."
    )


@pytest.fixture(scope="module")
def cityscapes_root():
    params = dict(seed=0, size=(W, H), num_train=2, num_val=1, num_test=1, num_coarse=2)
    return ensure_synthetic("cityscapes", cache_dir() / "synthetic", **params), params


def test_stage1_trains_on_fine_and_coarse_train_ids(cityscapes_root):
    root, params = cityscapes_root
    exp = get_table("gcn/table9").experiment("stage1")
    cfg = smoke_config(exp, root)
    init_default_scope("mmseg")
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == params["num_train"] + params["num_coarse"], (
        f"Stage-1 must concatenate gtFine/train and gtCoarse/train_extra; got {len(dataset)} "
        "images: the runner builds one CityscapesDataset per '+'-joined split."
    )
    coarse = dataset[len(dataset) - 1]
    seg_path = coarse["data_samples"].seg_map_path
    assert seg_path.endswith("_gtCoarse_labelTrainIds.png"), (
        f"train_extra labels must be gtCoarse trainIds, got {seg_path}: set seg_map_path to "
        "gtCoarse/train_extra and seg_map_suffix to _gtCoarse_labelTrainIds.png."
    )
    labels = np.unique(coarse["data_samples"].gt_sem_seg.data.numpy())
    assert set(labels) <= set(range(19)) | {255} and 255 in labels, (
        f"Coarse labels must be trainIds 0..18 with 255 in the unlabelled gaps, got {labels}."
    )
    assert cfg.test_evaluator.type == "ConfusionMatrixMetric" and (
        cfg.test_evaluator.dataset == "cityscapes"), (
        "Cityscapes rows are scored by the official metrics (ConfusionMatrixMetric "
        "dataset='cityscapes': class IoU, iIoU, category scores).")


def test_multi_scale_flip_views_keep_full_size_labels(cityscapes_root):
    root, _ = cityscapes_root
    _, cfg = table9_config()
    init_default_scope("mmseg")
    tta = [TRANSFORMS.build(t) for t in cfg.tta_pipeline]
    img = next((root / "leftImg8bit" / "val").glob("*/*_leftImg8bit.png"))
    seg = str(img).replace("leftImg8bit/", "gtFine/").replace(
        "_leftImg8bit.png", "_gtFine_labelTrainIds.png")
    results = dict(img_path=str(img), seg_map_path=seg, reduce_zero_label=False,
                   seg_fields=[])
    for t in tta:
        results = t(results)
    inputs = results["inputs"]
    widths = sorted({x.shape[-1] for x in inputs})
    assert len(inputs) == 12 and widths == [round(W * r) for r in cfg.img_ratios], (
        f"MS test: 6 scales x (with, without flip) of the image, got {len(inputs)} views of "
        f"widths {widths}."
    )
    shapes = {tuple(s.gt_sem_seg.shape) for s in results["data_samples"]}
    assert shapes == {(H, W)}, (
        f"Labels must stay at full size in every view (loaded after the resize), got {shapes}."
    )


def test_smoke_variant_profile_keeps_the_paper_test(cityscapes_root):
    root, _ = cityscapes_root
    exp = get_table("gcn/table9").experiment("stage2-ms")
    cfg = smoke_config(exp, root)
    assert cfg.model.decode_head.k == 25 and cfg.model.decode_head.num_classes == 19, (
        "The smoke variant must keep k = 25 and the 19 Cityscapes classes; only widths shrink."
    )
    assert cfg.model.test_cfg.crop_size == (H, H), (
        f"Smoke crop4 must use {H}x{H} crops of the {W}x{H} synthetic images, got "
        f"{cfg.model.test_cfg}."
    )
