"""DeconvNet (Noh et al., ICCV 2015): Table 2 sizes, parameters, unpooling, proposal pasting,
proposals, two-stage training crops."""

import copy
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from repro import paths
from repro.models.build import build_model
from repro.models.deconvnet import MaxUnpool, ProposalSegmentor, paste, table2_output_sizes
from repro.models.proposals import (
    DeconvNetObjectCrop,
    SelectiveSearchProposals,
    box_iou,
    enlarge,
    instance_boxes,
)
from repro.tables.registry import get_table

CONFIG = "deconvnet/deconvnet_vgg16-bn_1xb64-60k_voc12augval-224x224.py"


@pytest.fixture(scope="module")
def meta_model():
    """The paper-width network on the meta device: shapes and parameter counts, no memory."""
    with torch.device("meta"):
        return build_model(Config.fromfile(str(paths.config_path(CONFIG))))


def test_table2_output_sizes_match_the_paper(meta_model):
    got = table2_output_sizes(meta_model)
    exp = get_table("deconvnet/table2").experiment("deconvnet")
    printed = {c.metric.split("@")[1]: c.paper for c in exp.cells if c.metric.startswith("out")}
    wrong = {k: (got[k], v) for k, v in printed.items() if got[k] != v}
    assert not wrong, (
        f"Layer output sizes (ours, Table 2) differ: {wrong}. Check DECONV_STAGES in "
        "repro.models.deconvnet and the 'deconvnet' layout of repro.models.vgg."
    )
    assert list(got) == list(printed), "Table 2's rows must come in the network's order."


def test_about_252m_parameters(meta_model):
    n = sum(p.numel() for p in meta_model.parameters())
    assert abs(n / 252e6 - 1) < 0.005, (
        f"Sec. 6.1: the network has approximately 252M parameters; ours has {n / 1e6:.1f}M. "
        "Check fc6/fc7 (4096) and the deconvolution widths of Table 2."
    )


def test_unpooling_puts_values_back_at_the_pooling_switches():
    x = torch.randn(2, 3, 8, 10)
    pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    up = MaxUnpool()(pooled, idx, x.shape[-2:])
    expected = torch.where(x == F.interpolate(pooled, scale_factor=2, mode="nearest"), x, 0.0)
    assert torch.equal(up, expected), (
        "Unpooling must place each pooled maximum at the location its switch recorded and zeros "
        "elsewhere (Sec. 3.2.1); check MaxUnpool and the switches returned by VGG16."
    )


def test_a_wider_decoder_shares_each_switch_among_its_maps():
    """Smoke profile: a decoder r times wider than the pool unpools each group of r maps
    with the same switch map, and refuses a width that is no multiple."""
    x = torch.randn(2, 3, 8, 10)
    pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    wide = torch.randn(2, 6, 4, 5)
    up = MaxUnpool()(wide, idx, x.shape[-2:])
    for c in range(6):
        expected = MaxUnpool()(wide[:, c : c + 1], idx[:, c // 2 : c // 2 + 1], x.shape[-2:])
        assert torch.equal(up[:, c : c + 1], expected), (
            f"Decoder map {c} must be unpooled with switch map {c // 2}.")
    with pytest.raises(ValueError, match="multiple"):
        MaxUnpool()(torch.randn(2, 4, 4, 5), idx, x.shape[-2:])


def test_paste_max_and_sum_on_a_hand_made_case():
    a = torch.full((2, 2, 3), 1.0)  # C=2, 2x3 proposal at x 0..3, y 0..2
    a[1] = -1.0
    b = torch.full((2, 3, 3), 2.0)  # 3x3 proposal at x 2..5, y 1..4, partly outside
    b[1] = 0.5
    canvas_max, canvas_sum = torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    for box, s in (((0, 0, 3, 2), a), ((2, 1, 5, 4), b)):
        paste(canvas_max, s, box, "max")
        paste(canvas_sum, s, box, "sum")
    exp_max = torch.tensor([
        [[1, 1, 1, 0], [1, 1, 2, 2], [0, 0, 2, 2]],
        [[0, 0, 0, 0], [0, 0, .5, .5], [0, 0, .5, .5]],
    ])
    exp_sum = torch.tensor([
        [[1, 1, 1, 0], [1, 1, 3, 2], [0, 0, 2, 2]],
        [[-1, -1, -1, 0], [-1, -1, -.5, .5], [0, 0, .5, .5]],
    ])
    assert torch.equal(canvas_max, exp_max), (
        "Eq. (1): P = max_i G_i with G_i the proposal's scores and zeros outside it (so negative "
        "scores never beat an uncovered zero); check paste(mode='max')."
    )
    assert torch.equal(canvas_sum, exp_sum), "Eq. (2): P = sum_i G_i; check paste(mode='sum')."


def _tiny_segmentor(**test_cfg):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    init_default_scope("mmseg")
    cfg = Config.fromfile(str(paths.config_path(CONFIG)))
    cfg.model.backbone.width_mult = 1 / 32
    cfg.model.decode_head.update(width_mult=1 / 32, in_channels=128)
    proposals = test_cfg.pop("proposals", None)
    cfg.model.test_cfg.update(test_cfg)
    if proposals:
        cfg.model.test_cfg.proposals = proposals  # replaced, not merged
    return MODELS.build(cfg.model).eval()


def test_proposal_inference_gives_probabilities_at_image_size():
    # The home-made generator: the test has no structured-edge model for EdgeBoxes.
    model = _tiny_segmentor(max_proposals=3, min_size=20, input_size=224,
                            proposals=dict(type="selective_search", scales=(100,)))
    assert isinstance(model, ProposalSegmentor)
    img = torch.randn(1, 3, 48, 64)
    meta = dict(img_shape=(48, 64), ori_shape=(48, 64), img_path="x.jpg")
    with torch.no_grad():
        logp = model.inference(img, [meta])
    assert logp.shape == (1, 21, 48, 64)
    assert torch.allclose(logp.exp().sum(1), torch.ones(1, 48, 64), atol=1e-4), (
        "ProposalSegmentor returns log-probabilities: softmax over classes of the aggregate."
    )


def test_select_boxes_enlarges_and_applies_the_min_size_rule():
    model = _tiny_segmentor(max_proposals=2, min_size=112, context=1.2)
    boxes = model.select_boxes(np.array([[0, 0, 50, 50], [0, 0, 100, 100], [10, 10, 200, 150],
                                         [0, 0, 300, 300]], float))
    assert boxes == [enlarge((0, 0, 100, 100), 1.2), enlarge((10, 10, 200, 150), 1.2)], (
        "Boxes are enlarged 1.2x, those with a side below min_size skipped (released inference: "
        "112 px), and the first max_proposals of the rest kept."
    )


@pytest.fixture(scope="module")
def scene():
    """A 120x160 image with a car (class 7) and a person (15) on background, void band."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (120, 160, 3), dtype=np.uint8)
    label = np.zeros((120, 160), np.uint8)
    label[30:70, 20:80] = 7
    img[30:70, 20:80] = (200, 30, 30)
    label[60:110, 110:140] = 15
    img[60:110, 110:140] = (30, 200, 30)
    label[29, 20:80] = 255
    return img, label


def test_instances_are_connected_components(scene):
    _, label = scene
    boxes = {i["cls"]: tuple(int(v) for v in i["box"]) for i in instance_boxes(label)}
    assert boxes == {7: (20, 30, 80, 70), 15: (110, 60, 140, 110)}


@pytest.mark.parametrize("stage", [1, 2])
def test_training_crops_contain_the_object(scene, stage):
    img, label = scene
    crop = DeconvNetObjectCrop(stage=stage, resize=250, crop=224,
                               proposals=dict(type="selective_search", scales=(100,)))
    np.random.seed(0)
    for _ in range(4):
        out = crop.transform(dict(img=img.copy(), gt_seg_map=label.copy(), img_path="s.jpg"))
        x1, y1, x2, y2 = out["object_box"]
        covered = label[max(y1, 0):y2, max(x1, 0):x2]
        assert out["img"].shape == (224, 224, 3) and out["gt_seg_map"].shape == (224, 224)
        if stage == 1:
            cls = int(np.setdiff1d(np.unique(out["gt_seg_map"]), [0, 255])[0])
            inst = next(i for i in instance_boxes(label) if i["cls"] == cls)
            bx1, by1, bx2, by2 = inst["box"]
            assert x1 <= bx1 and y1 <= by1 and x2 >= bx2 and y2 >= by2, (
                "Stage 1 crops the 1.2x enlarged box of a ground-truth instance: it must contain "
                "the whole object."
            )
            assert set(np.unique(out["gt_seg_map"])) <= {0, cls, 255}, (
                "Stage 1 keeps only the centred object's class; other pixels are background."
            )
        else:
            assert (np.isin(covered, [7, 15])).any(), (
                "Stage 2 crops a proposal overlapping a ground-truth object (IoU >= 0.5)."
            )


def test_selective_search_returns_ranked_unique_boxes(scene):
    img, _ = scene
    boxes = SelectiveSearchProposals(scales=(100,))(img)
    assert len(boxes) > 3 and len({tuple(b) for b in boxes.tolist()}) == len(boxes)
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert [0, 0, 160, 120] in boxes.tolist(), "The top of the hierarchy is the whole image."


def test_stage_hook_switches_crops_and_restarts_the_learning_rate():
    from types import SimpleNamespace

    from repro.models.proposals import DeconvNetStageHook

    crops = [DeconvNetObjectCrop(stage=1), DeconvNetObjectCrop(stage=1)]
    parts = [SimpleNamespace(pipeline=SimpleNamespace(transforms=[c])) for c in crops]
    group = dict(lr=1e-4, initial_lr=0.01)
    runner = SimpleNamespace(
        iter=0, max_iters=60, train_dataloader=SimpleNamespace(
            dataset=SimpleNamespace(datasets=parts)),
        optim_wrapper=SimpleNamespace(optimizer=SimpleNamespace(param_groups=[group])))
    hook = DeconvNetStageHook(stage1_ratio=1 / 3)
    stages = []
    for it in (0, 19, 20, 21):
        runner.iter = it
        hook.before_train_iter(runner, it)
        stages.append([int(c.stage[0]) for c in crops])
        if it == 20:
            assert group["lr"] == 0.01, "Stage 2 restarts at the initial learning rate."
            group["lr"] = 1e-3
    assert stages == [[1, 1], [1, 1], [2, 2], [2, 2]], (
        "Stage 1 for the first third of the iterations (20K of 60K), stage 2 after, in every "
        "dataset of a ConcatDataset."
    )
    assert group["lr"] == 1e-3, "The learning rate restarts once, at the switch."


def test_box_files_are_read_and_scaled_to_the_image(tmp_path):
    from repro.models.proposals import build_proposal_source

    (tmp_path / "2008_000001.txt").write_text("10 20 30 40 0.9\n0 0 100 50 0.5\n")
    source = build_proposal_source(dict(type="file", root=str(tmp_path), format="xywh"))
    meta = dict(img_path="/x/JPEGImages/2008_000001.jpg", ori_shape=(200, 400),
                img_shape=(100, 200))
    boxes = source(np.zeros((100, 200, 3), np.uint8), meta)
    assert boxes.tolist() == [[5, 10, 20, 30], [0, 0, 50, 25]], (
        "'xywh' lines become (x1, y1, x2, y2), in the order of the file, scaled from the "
        "original image to the network's image."
    )
    with pytest.raises(FileNotFoundError, match="selective_search"):
        source(None, dict(img_path="missing.jpg"))


# ---------------------------------------------------------------------------------------------
# EdgeBoxes (Sec. 6.1), OpenCV contrib: tests that need it skip where the plain build is installed.

def _has_contrib() -> bool:
    import cv2

    return hasattr(getattr(cv2, "ximgproc", None), "createEdgeBoxes")


needs_contrib = pytest.mark.skipif(not _has_contrib(), reason="OpenCV contrib (cv2.ximgproc) "
                                   "not installed: pip install 'repro[edgeboxes]' (README)")


def test_the_edgeboxes_environment_has_the_contrib_build():
    """`tox -e edgeboxes` sets REPRO_EXPECT_EDGEBOXES: there the EdgeBoxes tests must run, not
    skip (the README's install command must leave a cv2 with ximgproc)."""
    if not os.environ.get("REPRO_EXPECT_EDGEBOXES"):
        pytest.skip("only in `tox -e edgeboxes`")
    assert _has_contrib(), "The README's install of the edgeboxes extra left no cv2.ximgproc."


@needs_contrib
def test_edge_boxes_find_the_object_outlined_in_the_edge_map():
    import cv2

    from repro.models.proposals import edge_boxes

    edges = np.zeros((120, 160), np.float32)
    cv2.rectangle(edges, (40, 30), (119, 89), 1.0, 1)  # an object's outline, x 40..119, y 30..89
    orientation = np.zeros_like(edges)
    orientation[30:90, [40, 119]] = np.pi / 2  # vertical sides
    boxes = edge_boxes(edges, orientation, max_boxes=50)
    assert boxes.ndim == 2 and boxes.shape[1] == 4 and 0 < len(boxes) <= 50
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all(), (
        "EdgeBoxes' x, y, w, h must come back as x1, y1, x2, y2.")
    iou = box_iou(boxes[:5], [[40, 30, 120, 90]]).max()
    assert iou > 0.7, f"One of the 5 best boxes must enclose the outlined object (IoU {iou:.2f})."


def _sed_model(path):
    """A structured-edge forest in OpenCV's model format (cv::FileStorage YAML), made here: one
    tree whose root splits on a gradient-magnitude feature; the right leaf draws the patch
    centre. Not the trained BSDS forest (not redistributable here): it tests the loading path."""
    centre = ", ".join(str(y * 16 + x) for y in range(6, 10) for x in range(6, 10))
    path.write_text(
        "%YAML:1.0\noptions:\n"
        + "".join(f"   {k}: {v}\n" for k, v in dict(
            stride=2, shrinkNumber=2, patchSize=32, patchInnerSize=16,
            numberOfGradientOrientations=4, gradientSmoothingRadius=0,
            regFeatureSmoothingRadius=2, ssFeatureSmoothingRadius=8,
            gradientNormalizationRadius=4, selfsimilarityGridSize=5, numberOfTrees=1,
            numberOfTreesToEvaluate=1).items())
        + "childs:\n   - [ 2, 0, 0 ]\nfeatureIds:\n   - [ 904, 0, 0 ]\n"
        + "thresholds:\n   - [ 0.05, 0., 0. ]\nedgeBoundaries:\n   - [ 0, 0, 0, 16 ]\n"
        + f"edgeBins:\n   - [ {centre} ]\n")
    return path


@needs_contrib
def test_edgeboxes_source_loads_a_structured_edge_model(tmp_path):
    from repro.models.proposals import build_proposal_source

    src = build_proposal_source(dict(type="edgeboxes", model=str(_sed_model(tmp_path / "m.yml")),
                                     max_boxes=100))
    img = np.zeros((120, 160, 3), np.uint8)
    img[30:90, 40:120] = 255
    boxes = src(img)
    assert boxes.shape[1:] == (4,) and len(boxes) <= 100
    assert "edgeboxes" in src.describe()


def test_edgeboxes_without_contrib_or_model_file_name_the_fix(monkeypatch, tmp_path):
    import cv2

    from repro.models import proposals

    monkeypatch.delattr(cv2, "ximgproc", raising=False)
    with pytest.raises(proposals.EdgeBoxesUnavailableError, match="opencv-contrib-python=="):
        proposals.check_edgeboxes(tmp_path / "model.yml.gz")
    if _has_contrib():
        return
    monkeypatch.setattr(cv2, "ximgproc", type("X", (), {"createEdgeBoxes": 1,
                                                         "createStructuredEdgeDetection": 1}),
                        raising=False)
    with pytest.raises(proposals.EdgeBoxesUnavailableError, match="model.yml.gz"):
        proposals.check_edgeboxes(tmp_path / "model.yml.gz")


def test_paper_config_stops_before_training_without_the_structured_edge_file(
        monkeypatch, tmp_path):
    from mmengine.config import Config

    from repro import paths
    from repro.models import proposals
    from repro.models.proposals import EdgeBoxesUnavailableError, object_crop_transforms
    from repro.smoke import apply_smoke_variant
    from repro.weights import require_proposals

    monkeypatch.setenv("REPRO_WEIGHTS", str(tmp_path))
    cfg = Config.fromfile(str(paths.config_path(CONFIG)))
    assert cfg.model.test_cfg.proposals.type == "edgeboxes", (
        "The paper profile's DeconvNet uses EdgeBoxes (Sec. 6.1).")
    with pytest.raises(EdgeBoxesUnavailableError, match="structured_edges.yml.gz"):
        require_proposals(cfg)
    crops = object_crop_transforms(cfg)
    assert crops and all(c["proposals"]["type"] == "edgeboxes" for c in crops), (
        "Stage 2 trains on crops of EdgeBoxes proposals too (Sec. 6.1, [26]).")
    smoke = copy.deepcopy(cfg)
    apply_smoke_variant(smoke)
    assert smoke.model.test_cfg.proposals.type == "selective_search"
    assert all(c["proposals"]["type"] == "selective_search"
               for c in object_crop_transforms(smoke)), "Smoke trains on selective search."
    assert require_proposals(smoke) == {}, "The smoke profile keeps the home-made generator."
    (tmp_path / "structured_edges.yml.gz").write_bytes(b"stand-in")
    monkeypatch.setattr(proposals, "check_edgeboxes", lambda path: Path(path))
    info = require_proposals(cfg)
    assert info["structured_edges"] == str(tmp_path / "structured_edges.yml.gz")
    assert cfg.model.test_cfg.proposals.model == info["structured_edges"] and all(
        c["proposals"]["model"] == info["structured_edges"] for c in object_crop_transforms(cfg)), (
        "The plan writes the structured-edge file into the test proposals and every training "
        "crop's.")
