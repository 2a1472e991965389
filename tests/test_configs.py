"""The mmseg configs say what runs: mmseg's 5-part names, batch size / iterations / crop of the
name and of the table rows that use them, at most 3 levels of inheritance, one TTA pipeline."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from repro import paths
from repro.tables.registry import all_tables

ROOT = paths.config_root()
CONFIGS = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("*/*.py")
                 if not p.parent.name.startswith("_"))
#: {algorithm}_{backbone}_{gpus}xb{batch}-{schedule}_{dataset}-{crop}.py (mmseg's convention)
NAME = re.compile(r"^(?P<algorithm>[a-z0-9-]+)_(?P<backbone>[a-z0-9-]+)_(?P<gpus>\d+)xb"
                  r"(?P<batch>\d+)-(?P<iters>\d+)k_(?P<dataset>[a-z0-9-]+)-(?P<h>\d+)x(?P<w>\d+)"
                  r"\.py$")


@functools.cache
def load(config: str) -> Config:
    """A config under mmseg_configs/, parsed once per test session (callers do not modify it)."""
    return Config.fromfile(str(ROOT / config))


def parse(config: str) -> dict:
    m = NAME.match(Path(config).name)
    assert m, (f"{config} does not follow mmseg's name pattern {{algorithm}}_{{backbone}}_"
               "{N}xb{M}-{schedule}_{dataset}-{HxW}.py: rename it.")
    d = m.groupdict()
    return dict(batch=int(d["gpus"]) * int(d["batch"]), iters=int(d["iters"]) * 1000,
                crop=(int(d["h"]), int(d["w"])))


def train_crop(cfg: Config) -> tuple[int, int]:
    """The crop a config trains at: its training transform's window and the batch size."""
    ds = cfg.train_dataloader.dataset
    pipeline = (ds.datasets[0] if ds.type == "ConcatDataset" else ds).pipeline
    crops = [tuple(t["crop_size"]) if "crop_size" in t else (t["crop"], t["crop"])
             for t in pipeline if t["type"] in ("RandomCrop", "DeconvNetObjectCrop")]
    assert len(crops) == 1, f"{cfg.filename}: expected one cropping transform, found {crops}."
    size = tuple(cfg.model.data_preprocessor["size"])
    assert size == crops[0], (
        f"{cfg.filename}: the data preprocessor pads to {size}, the pipeline crops {crops[0]}: "
        "both must be the crop of the name.")
    return crops[0]


def fake_data_root(root: Path) -> Path:
    """One 8x8 image per split list, in the VOC and Cityscapes layouts (enough to build)."""
    img = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    lab = Image.fromarray(np.zeros((8, 8), np.uint8))
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    for d in ("JPEGImages", "SegmentationClass", "SegmentationClassAug"):
        (root / d).mkdir()
    img.save(root / "JPEGImages" / "a.jpg")
    for d in ("SegmentationClass", "SegmentationClassAug"):
        lab.save(root / d / "a.png")
    for split in ("train_aug", "train", "val", "sbd_train", "seg11valid", "coco"):
        (lists / f"{split}.txt").write_text("a\n")
    for split, labels in (("train", "gtFine"), ("val", "gtFine")):
        (root / "leftImg8bit" / split / "c").mkdir(parents=True)
        (root / labels / split / "c").mkdir(parents=True)
        img.save(root / "leftImg8bit" / split / "c" / "c_0_0_leftImg8bit.png")
        lab.save(root / labels / split / "c" / "c_0_0_gtFine_labelTrainIds.png")
    return root


def _rooted(ds: dict, root: str) -> dict:
    if ds.get("type") == "ConcatDataset":
        return dict(ds, datasets=[_rooted(d, root) for d in ds["datasets"]])
    return dict(ds, data_root=root)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return fake_data_root(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("config", CONFIGS)
def test_the_train_dataloader_has_the_batch_size_of_the_name(config, data_root):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import repro.plugins  # noqa: F401 - registers the transforms

    want = parse(config)
    cfg = load(config)
    init_default_scope("mmseg")
    loader_cfg = cfg.train_dataloader.to_dict()
    loader_cfg.update(num_workers=0, persistent_workers=False,
                      dataset=_rooted(loader_cfg["dataset"], str(data_root)))
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    assert loader.batch_size == want["batch"], (
        f"{config} says batch {want['batch']} but mmseg's tools would train it at batch "
        f"{loader.batch_size}: set train_dataloader.batch_size.")
    assert cfg.train_cfg.max_iters == want["iters"], (
        f"{config} says {want['iters']} iterations, its train_cfg has {cfg.train_cfg.max_iters}.")
    assert train_crop(cfg) == want["crop"], f"{config} says crop {want['crop']}."


def rows():
    """Rows that train (rows of static metrics only, e.g. Dilation Table 1, never do)."""
    return [(f"{spec.name}/{e.key}", e) for spec in all_tables().values() for e in spec.runnable
            if e.trained_metrics]


@pytest.mark.parametrize("row,exp", rows(), ids=[r for r, _ in rows()])
def test_every_row_runs_the_protocol_its_config_states(row, exp):
    cfg = load(exp.config)
    p, want = exp.protocol, parse(exp.config)
    assert p.batch_size == want["batch"] == cfg.train_dataloader.batch_size, (
        f"{row}: the protocol's batch {p.batch_size} must be its config's ({exp.config}, "
        f"train_dataloader.batch_size {cfg.train_dataloader.batch_size}).")
    assert tuple(p.crop_size) == want["crop"] == train_crop(cfg), (
        f"{row}: the protocol's crop {p.crop_size} must be its config's ({exp.config}).")
    assert p.iters in (None, want["iters"]), (
        f"{row}: the protocol's {p.iters} iterations must be its config's ({exp.config}).")


def _bases(path: Path) -> list[Path]:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_base_"
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            return [(path.parent / b).resolve() for b in ([value] if isinstance(value, str)
                                                          else value)]
    return []


def depth(path: Path) -> int:
    """Files in the longest chain from ``path`` through its ``_base_`` files, ``path`` included."""
    return 1 + max((depth(b) for b in _bases(path)), default=0)


@pytest.mark.parametrize("config", CONFIGS)
def test_at_most_three_levels_of_inheritance(config):
    n = depth(ROOT / config)
    assert n <= 3, (f"{config} inherits through {n} files: inherit from a config that lists "
                    "only _base_ files, or list the bases directly.")


def test_the_tta_pipeline_and_the_dataset_bases_are_written_once():
    texts = {p: p.read_text() for p in ROOT.rglob("*.py")}
    tta = [str(p.relative_to(ROOT)) for p, t in texts.items() if "TestTimeAug" in t]
    assert tta == ["_base_/default_runtime.py"], f"TestTimeAug is written in {tta}."
    datasets = sorted(p.name for p in (ROOT / "_base_" / "datasets").glob("*.py"))
    assert datasets == ["cityscapes.py", "pascal_voc12_aug.py"], (
        f"One dataset base per dataset, found {datasets}.")
    for config in CONFIGS:
        assert "tta_pipeline" in load(config), f"{config}: no TTA."


def test_the_name_pattern_rejects_names_without_batch_or_crop():
    for bad in ("gcn-k15_r152_1xb1-100k_voc12-3stage.py", "fcn_vgg16_100k_voc12-500x500.py"):
        assert not NAME.match(bad), f"{bad} must not pass as an mmseg 5-part name."
