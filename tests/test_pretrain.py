"""`repro pretrain resnet50-gcn` (GCN Sec. 4.1.2, Table 6): ImageNet layout checks, the synthetic
stand-in, the mmpretrain config, and a smoke pretraining run end to end."""

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from repro import paths
from repro.data.imagenet import (
    ImageNetDataError,
    ImageNetLayout,
    check_imagenet,
    ensure_synthetic_imagenet,
    make_synthetic_imagenet,
)
from repro.data.synth import make_voc

needs_mmpretrain = pytest.mark.skipif(
    importlib.util.find_spec("mmpretrain") is None,
    reason="the pretrain extra is not installed (pip install -e .[pretrain])",
)


def _image(path: Path, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path)


def _imagenet(root: Path, classes=("n01", "n02", "n03"), per_class=2, val_ann=True):
    """A tiny ImageNet in mmpretrain's layout: train/<wnid>/ folders, val flat + meta/val.txt
    (or val/<wnid>/ folders)."""
    for c in classes:
        for i in range(per_class):
            _image(root / "train" / c / f"{c}_{i}.JPEG")
    lines = []
    for k, c in enumerate(classes):
        name = f"ILSVRC2012_val_{k + 1:08d}.JPEG"
        if val_ann:
            _image(root / "val" / name)
            lines.append(f"{name} {k}\n")
        else:
            _image(root / "val" / c / name)
    if val_ann:
        (root / "meta").mkdir(exist_ok=True)
        (root / "meta" / "val.txt").write_text("".join(lines))
    return root


def _layout(num_classes=1000, synthetic=False):
    return ImageNetLayout(root="/data/imagenet", num_classes=num_classes,
                          classes=tuple(f"n{i:08d}" for i in range(num_classes)),
                          num_train=1_281_167, num_val=50_000, train_ann=False, val_ann=True,
                          synthetic=synthetic)


# ---------------------------------------------------------------------------------------------
# The data


@pytest.mark.parametrize("val_ann", [True, False])
def test_check_reads_both_layouts(tmp_path, val_ann):
    layout = check_imagenet(_imagenet(tmp_path / "in", val_ann=val_ann))
    assert (layout.num_classes, layout.num_train, layout.num_val) == (3, 6, 3), (
        f"3 class folders with 2 training images each and 3 validation images, got {layout}."
    )
    assert layout.val_ann == val_ann and not layout.train_ann and not layout.synthetic
    assert not layout.full, "A 3-class folder is not the whole of ILSVRC-2012."


def _no_val(root):
    import shutil

    shutil.rmtree(root / "val")


def _bad_label(root):
    (root / "meta" / "val.txt").write_text("ILSVRC2012_val_00000001.JPEG 7\n")


def _bad_line(root):
    (root / "meta" / "val.txt").write_text("ILSVRC2012_val_00000001.JPEG\n")


def _missing_file(root):
    (root / "meta" / "val.txt").write_text("ILSVRC2012_val_00000009.JPEG 0\n")


@pytest.mark.parametrize("breaker, names", [
    (_no_val, "val"), (_bad_label, "val.txt"), (_bad_line, "val.txt"),
    (_missing_file, "ILSVRC2012_val_00000009.JPEG"),
])
def test_check_names_what_is_wrong(tmp_path, breaker, names):
    root = _imagenet(tmp_path / "in")
    breaker(root)
    with pytest.raises(ImageNetDataError, match=names):
        check_imagenet(root)


def test_check_folder_val_must_match_train_classes(tmp_path):
    root = _imagenet(tmp_path / "in", val_ann=False)
    _image(root / "val" / "n99" / "x.JPEG")
    with pytest.raises(ImageNetDataError, match="n99"):
        check_imagenet(root)


def test_synthetic_imagenet_is_labelled_by_voc_class(tmp_path):
    voc = make_voc(tmp_path / "voc", size=(96, 72), num_train=6, num_val=4, num_test=1)
    root = make_synthetic_imagenet(tmp_path / "in", voc)
    layout = check_imagenet(root)
    assert layout.synthetic and layout.num_classes == 20, (
        "The synthetic set has the 20 VOC object classes and a SYNTHETIC.json marker."
    )
    assert layout.train_ann and layout.val_ann and layout.num_train > 6 and layout.num_val > 0
    wnids = sorted(p.name for p in (root / "train").iterdir())
    for line in (root / "meta" / "train.txt").read_text().splitlines():
        name, label = line.rsplit(" ", 1)
        assert wnids.index(name.split("/")[0]) == int(label), (
            f"{line}: a training image's label must be its wnid folder's sorted index, as "
            "mmpretrain's folder mode would read it."
        )
    marker = json.loads((root / "SYNTHETIC.json").read_text())
    assert marker["counts"] == {"train": layout.num_train, "val": layout.num_val}


# ---------------------------------------------------------------------------------------------
# The mmpretrain config


@needs_mmpretrain
def test_config_is_mmpretrain_resnet50_recipe_with_the_papers_evaluation():
    from repro.pretrain import build_pretrain_config
    from repro.weights import TORCHVISION_INPUT

    cfg = build_pretrain_config(_layout(), work_dir="/tmp/w", gpus=8)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ("SGD", 0.1, 0.9, 1e-4), (
        f"mmpretrain's resnet50_8xb32_in1k optimiser: SGD lr 0.1 momentum 0.9 wd 1e-4, got {opt}."
    )
    assert cfg.optim_wrapper.get("type", "OptimWrapper") == "OptimWrapper", "fp32 unless --amp."
    sched = cfg.param_scheduler
    assert (sched.type, list(sched.milestones), sched.gamma, sched.by_epoch) == (
        "MultiStepLR", [30, 60, 90], 0.1, True), f"lr x0.1 at epochs 30/60/90, got {sched}."
    assert cfg.train_cfg.max_epochs == 100 and cfg.train_cfg.val_interval == 1
    assert cfg.train_dataloader.batch_size * 8 == 256, "Total batch 256 over 8 GPUs."
    assert build_pretrain_config(_layout(), work_dir="/tmp/w").train_dataloader.batch_size == 256

    train = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert train == ["LoadImageFromFile", "RandomResizedCrop", "RandomFlip", "PackInputs"], train
    crop, flip = cfg.train_dataloader.dataset.pipeline[1:3]
    assert crop.scale == 224 and (flip.prob, flip.direction) == (0.5, "horizontal")
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        test = [t.to_dict() for t in loader.dataset.pipeline]
        assert test[1:3] == [dict(type="Resize", scale=(256, 256), keep_ratio=False),
                             dict(type="CenterCrop", crop_size=224)], (
            f"Table 6: 'Top-5 error of 224x224 center-crop on 256x256 image', got {test}."
        )
        assert loader.dataset.type == "ImageNet" and loader.dataset.data_root == "/data/imagenet"
    assert cfg.test_evaluator.topk == (1, 5)

    pre = cfg.data_preprocessor
    assert (pre.mean, pre.std, pre.to_rgb) == (
        TORCHVISION_INPUT["mean"], TORCHVISION_INPUT["std"], True), (
        "The input convention must be the one the GCN mmseg configs fine-tune with."
    )
    bb = cfg.model.backbone
    assert (bb.type, bb.depth, tuple(bb.gcn_channels), tuple(bb.out_indices), bb.norm_eval) == (
        "mmseg.ResNetGCN", 50, (20, 37, 72, 153), (3,), False), bb
    assert (cfg.model.head.in_channels, cfg.model.head.num_classes) == (2048, 1000)


def _transcribed_recipe() -> dict:
    """The keys of mmpretrain's ``resnet/resnet50_8xb32_in1k.py`` that
    ``build_pretrain_config`` reads or changes, transcribed, so that the changes are checked
    without the pretrain extra (the installed recipe is checked where it is installed)."""
    test_pipeline = [dict(type="LoadImageFromFile"), dict(type="ResizeEdge", scale=256,
                                                          edge="short"),
                     dict(type="CenterCrop", crop_size=224), dict(type="PackInputs")]

    def loader(split, pipeline, shuffle):
        return dict(batch_size=32, num_workers=5, persistent_workers=True,
                    sampler=dict(type="DefaultSampler", shuffle=shuffle),
                    dataset=dict(type="ImageNet", data_root="data/imagenet", split=split,
                                 pipeline=pipeline))

    return dict(
        model=dict(type="ImageClassifier",
                   backbone=dict(type="ResNet", depth=50, num_stages=4, out_indices=(3,),
                                 style="pytorch"),
                   neck=dict(type="GlobalAveragePooling"),
                   head=dict(type="LinearClsHead", num_classes=1000, in_channels=2048,
                             loss=dict(type="CrossEntropyLoss", loss_weight=1.0), topk=(1, 5))),
        data_preprocessor=dict(num_classes=1000, mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True),
        train_dataloader=loader("train", [
            dict(type="LoadImageFromFile"), dict(type="RandomResizedCrop", scale=224),
            dict(type="RandomFlip", prob=0.5, direction="horizontal"),
            dict(type="PackInputs")], True),
        val_dataloader=loader("val", test_pipeline, False),
        test_dataloader=loader("val", test_pipeline, False),
        val_evaluator=dict(type="Accuracy", topk=(1, 5)),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4)),
        param_scheduler=dict(type="MultiStepLR", by_epoch=True, milestones=[30, 60, 90],
                             gamma=0.1),
        train_cfg=dict(by_epoch=True, max_epochs=100, val_interval=1),
        auto_scale_lr=dict(base_batch_size=256),
        default_hooks=dict(logger=dict(type="LoggerHook", interval=100),
                           checkpoint=dict(type="CheckpointHook", interval=1)),
    )


@pytest.mark.parametrize("recipe", [
    "transcribed", pytest.param("installed", marks=needs_mmpretrain)])
def test_smoke_config_scales_batch_lr_and_schedule(recipe):
    from repro import smoke
    from repro.pretrain import (
        SMOKE_EPOCHS,
        TABLE6_CONFIG,
        build_pretrain_config,
        seg_config,
    )

    given = _transcribed_recipe() if recipe == "transcribed" else None
    cfg = build_pretrain_config(_layout(20, synthetic=True), work_dir="/tmp/w", smoke=True,
                                gpus=2, recipe=given)
    if given is not None:
        assert given == _transcribed_recipe(), "The recipe passed in must be left unchanged."
    assert cfg.train_dataloader.batch_size == 16 and cfg.optim_wrapper.optimizer.lr == 0.0125, (
        "Smoke: total batch 32 over 2 processes, lr 0.1 x 32 / 256 (linear scaling rule)."
    )
    assert cfg.optim_wrapper.optimizer.type == "SGD", (
        "The pretraining keeps the recipe's optimiser: the smoke profile's AdamW belongs to "
        "the segmentation rows."
    )
    assert cfg.train_cfg.max_epochs == SMOKE_EPOCHS == cfg.train_cfg.val_interval
    assert list(cfg.param_scheduler.milestones) == [2, 5, 7], (
        f"The recipe's milestones 30/60/90 of 100 epochs scaled to {SMOKE_EPOCHS}, got "
        f"{cfg.param_scheduler.milestones}."
    )
    assert cfg.train_dataloader.dataset.pipeline[1].scale == 64
    assert [t.to_dict() for t in cfg.val_dataloader.dataset.pipeline[1:3]] == [
        dict(type="Resize", scale=(73, 73), keep_ratio=False),
        dict(type="CenterCrop", crop_size=64)], "Table 6's 224 / 256 ratio at the smoke crop."

    bb = cfg.model.backbone.to_dict()
    tiny = smoke.smoke_backbone("resnet50_gcn")
    for key in ("depth", "base_channels", "stem_channels", "gcn_channels"):
        assert bb[key] == tiny[key], (
            f"The smoke backbone's {key} must be repro.smoke's tiny ResNetGCN-50 ({tiny[key]}), "
            f"got {bb[key]}."
        )
    assert bb["base_channels"] == 8 and cfg.model.head.in_channels == 256
    seg = seg_config(TABLE6_CONFIG, smoke=True).model.backbone.to_dict()
    for key in ("out_indices", "norm_cfg", "norm_eval", "frozen_stages", "init_cfg", "type"):
        seg.pop(key, None), bb.pop(key, None)
    assert bb == seg, "The pretrained backbone must be the smoke rows' backbone, key for key."
    assert cfg.model.head.num_classes == 20
    assert len(cfg.train_dataloader.dataset.metainfo.classes) == 20


@needs_mmpretrain
def test_gpus_must_divide_the_batch():
    from repro.pretrain import PretrainError, build_pretrain_config

    with pytest.raises(PretrainError, match="--gpus 3"):
        build_pretrain_config(_layout(), work_dir="/tmp/w", gpus=3)


@needs_mmpretrain
def test_classifier_backbone_is_the_segmentation_backbone():
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import repro.plugins  # noqa: F401
    from repro.models.build import build_model
    from repro.pretrain import TABLE6_CONFIG, build_pretrain_config, seg_config

    cfg = build_pretrain_config(_layout(20), work_dir="/tmp/w", smoke=True)
    init_default_scope("mmpretrain")
    clf = MODELS.build(cfg.model)
    seg = build_model(seg_config(TABLE6_CONFIG, smoke=True))
    own, theirs = clf.backbone.state_dict(), seg.backbone.state_dict()
    assert {k: tuple(v.shape) for k, v in own.items()} == {
        k: tuple(v.shape) for k, v in theirs.items()}, (
        "The pretrained backbone must have exactly the tensors of Table 6's segmentation "
        "backbone (same names and shapes)."
    )
    clf.eval()
    with torch.no_grad():
        assert clf(torch.zeros(2, 3, 64, 64)).shape == (2, 20), "One score per class."
        assert clf.extract_feat(torch.zeros(2, 3, 64, 64))[-1].shape == (2, 256), (
            "The head reads res-5 (4 x 8 x base width 8), globally pooled.")


# ---------------------------------------------------------------------------------------------
# End to end


def _args(**kw):
    from repro.pretrain import add_pretrain_arguments

    argv = ["resnet50-gcn"] + [x for k, v in kw.items() for x in (
        [f"--{k.replace('_', '-')}"] if v is True else [f"--{k.replace('_', '-')}", str(v)])]
    return add_pretrain_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_bad_requests_exit_2_naming_the_fix(tmp_path, capsys, monkeypatch):
    from repro.pretrain import main_pretrain

    assert main_pretrain(_args(imagenet=tmp_path / "nowhere")) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main_pretrain(_args()) == 2
    assert "--imagenet DIR" in capsys.readouterr().err
    monkeypatch.setenv("REPRO_WEIGHTS", str(tmp_path / "w"))
    root = _imagenet(tmp_path / "in")
    assert main_pretrain(_args(imagenet=root, smoke=True,
                               out=tmp_path / "w" / "resnet50_gcn.pth")) == 2
    assert "real ResNet50-GCN weights" in capsys.readouterr().err
    assert not (tmp_path / "w").exists(), "A refused request writes nothing."


@pytest.mark.slow  # ~35 s of CPU: 8 epochs of the tiny ResNet50-GCN on ~740 crops
@needs_mmpretrain
def test_smoke_pretraining_end_to_end(tmp_path, capsys):
    from repro.models.resnet_gcn import ResNetGCN
    from repro.pretrain import TABLE6_CONFIG, main_pretrain, seg_config
    from repro.weights import check_weights

    torch.set_num_threads(1)
    data = ensure_synthetic_imagenet(paths.cache_dir() / "synthetic")
    out = tmp_path / "weights" / "resnet50_gcn.pth"
    args = _args(imagenet=data, smoke=True, work_dir=tmp_path / "work", out=out)
    assert main_pretrain(args) == 0, capsys.readouterr().err
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["data"] == "synthetic" and record["smoke"] and record["trained"] == "now"
    assert 0 <= record["imagenet_top5_err"] < 75, (
        f"Top-5 error {record['imagenet_top5_err']} %: 20 classes give 75 % by chance, the tiny "
        "model must learn something in 8 epochs."
    )
    assert len(record["checked_against"]) == 2

    bb = seg_config(TABLE6_CONFIG, smoke=True).model.backbone.to_dict()
    bb.pop("type"), bb.pop("init_cfg", None)
    model = ResNetGCN(**bb, init_cfg=dict(type="Pretrained", checkpoint=str(out)))
    model.init_weights()
    state = torch.load(out, weights_only=True)
    assert set(state) == set(model.state_dict()), "The file holds exactly the backbone."
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), f"{k} did not load from {out}."
    assert check_weights(out, seg_config(TABLE6_CONFIG, smoke=True)).ok

    # Rerunning the same command reuses the finished run: same weights, same error.
    assert main_pretrain(args) == 0
    again = json.loads(out.with_suffix(".json").read_text())
    assert again["trained"].startswith("reused")
    assert (again["weights_sha256"], again["imagenet_top5_err"]) == (
        record["weights_sha256"], record["imagenet_top5_err"])


def test_relaunch_command_line_round_trips(tmp_path):
    from repro.pretrain import _argv

    args = _args(imagenet=tmp_path / "in", smoke=True, gpus=2, out=tmp_path / "w.pth",
                 workers=0, epochs=3, seed=5, amp=True)
    from repro.pretrain import add_pretrain_arguments

    parsed = add_pretrain_arguments(argparse.ArgumentParser()).parse_args(_argv(args))
    assert vars(parsed) == vars(args), (
        "torchrun reruns `python -m repro.pretrain` with _argv(args): every option must survive."
    )


@pytest.mark.parametrize("entry", ["repro pretrain", "python -m repro.pretrain"])
@pytest.mark.parametrize("flag, value", [("--seed", "-1"), ("--epochs", "-5"), ("--epochs", "0"),
                                         ("--gpus", "0"), ("--workers", "-3"), ("--seed", "x")])
def test_bad_flags_are_refused_at_parse_time(tmp_path, capsys, entry, flag, value):
    """Seeds in range, positive epochs and GPU counts, non-negative workers: refused by the
    parser (exit 2, the flag named) before any data is looked at or anything is written."""
    from repro.cli import main as repro_main
    from repro.pretrain import main as pretrain_main

    argv = ["resnet50-gcn", "--smoke", "--work-dir", str(tmp_path / "work"), "--out",
            str(tmp_path / "w.pth"), flag, value]
    with pytest.raises(SystemExit) as e:
        repro_main(["pretrain", *argv]) if entry == "repro pretrain" else pretrain_main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and flag in err, f"{entry} must refuse {flag} {value}:\n{err}"
    assert not list(tmp_path.iterdir()), "A refused command must write nothing."


def test_zero_workers_and_in_range_values_are_accepted():
    args = _args(workers=0, epochs=1, gpus=2, seed=2**31 - 1)
    assert (args.workers, args.epochs, args.gpus, args.seed) == (0, 1, 2, 2**31 - 1), (
        "--workers 0 loads data in the main process and must stay allowed.")
