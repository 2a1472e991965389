"""Large Kernel Matters Tables 3-10: parameter counts vs the paper, stage chains, test-time
variants and the server rows (specs in repro/tables/gcn.py)."""

from dataclasses import replace

import pytest
from mmengine.config import Config

from repro import paths
from repro.models.static import params as count_params
from repro.tables.gcn import IMAGENET_ERR, RES5_KERNEL
from repro.tables.registry import all_tables, get_table


def resolve_init(table: str, key: str):
    """The row ``init_from`` names: a key of the same table or a qualified ``paper/tableN/key``."""
    if key.count("/") == 2:
        table, key = key.rsplit("/", 1)
    return get_table(table).experiment(key)


def test_every_gcn_table_is_registered():
    numbers = sorted(t.number for t in all_tables().values() if t.paper == "gcn")
    assert numbers == list(range(1, 11)), (
        f"GCN tables registered: {numbers}; every table of the paper (1-10) must be declared in "
        "repro/tables/gcn.py."
    )


@pytest.mark.parametrize("key", ["stack-m2048", "gcn"])
def test_table4_parameters_after_res5(key):
    exp = get_table("gcn/table4").experiment(key)
    paper = next(c.paper for c in exp.cells if c.metric == RES5_KERNEL)
    got = count_params(exp, RES5_KERNEL) / 1e3
    assert abs(got - paper) < 1, (
        f"Table 4 {exp.title}: {got:.1f}K parameters after res-5, the paper prints {paper}K; the "
        "res-5 module must map 2048 channels to 21 scores with bias-free convolutions."
    )


@pytest.mark.parametrize("key", ["stack-m1024", "stack-m210"])
def test_table4_narrow_stacks_parameters_after_res5(key):
    exp = get_table("gcn/table4").experiment(key)
    paper = next(c.paper for c in exp.cells if c.metric == RES5_KERNEL)
    got = count_params(exp, RES5_KERNEL) / 1e3
    assert abs(got - paper) < 1, (
        f"Table 4 {exp.title}: {got:.1f}K parameters after res-5, the paper prints {paper}K: the "
        "k = 7 stack after res-5 must be 2048 -> m -> m -> 21 bias-free 3x3 convolutions."
    )


def test_table4_stacks_keep_the_fraction_of_each_stage_width():
    for key, m in (("stack-m1024", 1024), ("stack-m210", 210)):
        exp = get_table("gcn/table4").experiment(key)
        cfg = Config.fromfile(str(paths.config_path(exp.config)))
        head = cfg.model.decode_head
        expected = [round(c * m / 2048) for c in head.in_channels]
        assert list(head.stack_channels) == expected, (
            f"{exp.config}: stack widths {head.stack_channels}, expected {expected} (each stage "
            f"keeps m / 2048 of its input width; m = {m} after res-5 as Table 4 prints)."
        )


def test_table3_and_4_share_rows_with_tables_1_and_2():
    t1, t3, t4 = (get_table(f"gcn/table{n}") for n in (1, 3, 4))
    for k in (3, 5, 7, 9, 11):
        assert t3.experiment(f"gcn-k{k}").config == t1.experiment(f"k{k}").config, (
            f"Table 3's GCN k={k} is Table 1's model: use the same config so it trains once."
        )
    assert t3.experiment("stack-k7").config == t4.experiment("stack-m2048").config, (
        "Table 4's m = 2048 stack is Table 3's k = 7 stack (both print 71.3): same config."
    )
    assert t3.experiment("stack-k3").config == get_table("gcn/table2").experiment(
        "conv-k3").config, "A stack of one 3x3 convolution is Table 2's 3x3 conv (both 69.8)."


def test_table6_imagenet_cells_are_never_produced():
    spec = get_table("gcn/table6")
    cells = [c for e in spec.experiments for c in e.cells if c.metric == IMAGENET_ERR]
    assert [(c.col, c.paper) for c in cells] == [("ResNet50", 7.7), ("ResNet50-GCN", 7.9)], (
        "Table 6 prints the ImageNet top-5 error of both pretrained models (7.7, 7.9)."
    )
    configs = {e.config for e in spec.experiments}
    assert any("r50gcn" in c for c in configs) and any("_r50_" in c for c in configs), (
        "Table 6 must train the GCN head on both ResNet50 and ResNet50-GCN."
    )


@pytest.mark.parametrize("table,stages", [("gcn/table7", 3), ("gcn/table9", 2)])
def test_stages_chain_through_init_from(table, stages):
    spec = get_table(table)
    for exp in spec.runnable:
        stage = int(exp.key[len("stage")])
        assert 1 <= stage <= stages, f"{table}/{exp.key}: the paper has Stage-1..{stages}."
        if stage == 1:
            assert exp.init_from is None, f"{table}/{exp.key}: Stage-1 starts from ImageNet."
            continue
        parent = spec.experiment(exp.init_from)
        model = exp.config.split("/")[-1].split("_")[:2]  # algorithm and backbone
        assert (parent.key.startswith(f"stage{stage - 1}")
                and parent.config.split("/")[-1].split("_")[:2] == model), (
            f"{table}/{exp.key} must start from the previous stage of the same model, not "
            f"{exp.init_from}."
        )
        assert not (parent.protocol.multi_scale or parent.protocol.crf), (
            f"{table}/{exp.key} must start from a trained stage, not a test-time variant."
        )


def test_table7_stage_protocols():
    spec = get_table("gcn/table7")
    for model in ("base", "gcn", "gcn-br"):
        s1, s2, s3 = (spec.experiment(f"stage{n}-{model}").protocol for n in (1, 2, 3))
        assert s1.train_split.split("+") == ["coco", "train_aug"] and s1.crop_size == (640, 640), (
            "Stage-1: COCO + SBD + VOC padded to 640x640 (Sec. 4.2)."
        )
        assert (s2.train_split, s2.crop_size) == ("train_aug", (512, 512)), (
            "Stage-2: SBD + VOC (train_aug) at 512x512.")
        assert (s3.train_split, s3.train_labels) == ("train", "SegmentationClass"), (
            "Stage-3: the standard VOC 2012 train set with its own labels.")
        assert not any(p.multi_scale or p.crf for p in (s1, s2, s3))


@pytest.mark.parametrize("table,base_key,variants", [
    ("gcn/table7", "stage3-gcn-br", {"stage3-gcn-br-ms": (True, False),
                                     "stage3-gcn-br-ms-crf": (True, True)}),
    ("gcn/table9", "stage2", {"stage2-ms": (True, False), "stage2-ms-crf": (True, True)}),
])
def test_test_time_variants_share_the_training(table, base_key, variants):
    spec = get_table(table)
    base = spec.experiment(base_key)
    for key, (ms, crf) in variants.items():
        exp = spec.experiment(key)
        assert (exp.protocol.multi_scale, bool(exp.protocol.crf)) == (ms, crf), (
            f"{table}/{key} must set multi_scale={ms}, crf={crf}.")
        same = replace(exp.protocol, multi_scale=False, crf=False)
        assert (same, exp.config, exp.init_from, exp.options) == (
            base.protocol, base.config, base.init_from, base.options), (
            f"{table}/{key} must differ from {base_key} only at test time (MS, CRF), so that "
            "both train the same model once."
        )
        cfg = Config.fromfile(str(paths.config_path(exp.config)))
        assert "tta_pipeline" in cfg, f"{exp.config} needs a tta_pipeline for the MS rows."


def test_table9_is_cityscapes_with_four_crops():
    for exp in get_table("gcn/table9").runnable:
        p = exp.protocol
        assert (p.dataset, p.crop_size, p.test_mode) == ("cityscapes", (800, 800), "crop4"), (
            f"gcn/table9/{exp.key}: Cityscapes, 800x800 training crops, four 1024x1024 test "
            "crops fused (Sec. 4.3)."
        )
    s1 = get_table("gcn/table9").experiment("stage1").protocol
    assert s1.train_split.split("+") == ["train", "train_extra"], (
        "Stage-1 mixes the fine train set with the coarse train_extra set (22,973 images).")
    cfg = Config.fromfile(str(paths.config_path(get_table("gcn/table9").experiment(
        "stage1").config)))
    assert (cfg.model.decode_head.k, cfg.model.decode_head.num_classes) == (25, 19), (
        "Cityscapes: k = 25 (the 800x800 crop's res-5 map is 25x25) and 19 classes.")


@pytest.mark.parametrize("table,chain", [("gcn/table8", "gcn/table7/stage3-gcn-br-ms-crf"),
                                         ("gcn/table10", "gcn/table9/stage2-ms-crf")])
def test_server_rows(table, chain):
    spec = get_table(table)
    ours = [e for e in spec.experiments if not e.reference]
    assert [e.key for e in ours] == ["ours"] and spec.experiments[-1].key == "ours", (
        f"{table}: only 'Our approach' runs (last, as printed); other methods are reference rows.")
    best = resolve_init(*chain.rsplit("/", 1))
    exp = ours[0]
    assert exp.protocol.eval_split == "test" and exp.config == best.config, (
        f"{table}: our row predicts the test set with the model of {chain}.")
    assert replace(exp.protocol, eval_split="val", note="") == replace(best.protocol, note=""), (
        f"{table}/ours must be {chain} evaluated on the test server (same training, MS, CRF).")
    assert resolve_init(table, exp.init_from) == resolve_init(chain.rsplit("/", 1)[0],
                                                              best.init_from), (
        f"{table}/ours must start from the same checkpoint as {chain}.")
    assert all(c.metric == "mIoU" and c.col == "mean-IoU(%)" for e in spec.experiments
               for c in e.cells), f"{table} prints one column, mean-IoU(%)."


def test_smoke_plan_of_tables_7_and_8_skips_no_row(tmp_path, monkeypatch):
    """The synthetic VOC carries the COCO stage-1 split (repro.data.synth writes COCO-format
    instances that `repro data prepare coco` turns into coco.txt), so no row of the stage chain
    of Tables 7 and 8 is skipped in the smoke profile."""
    import repro.smoke
    from repro.data.source import DATA_ENV
    from repro.plan import Settings, plan_rows
    from repro.profiles import PROFILES

    monkeypatch.delenv(DATA_ENV["voc"], raising=False)
    # Planning, not the pretrained tiny backbones, is under test.
    monkeypatch.setattr(repro.smoke, "apply_smoke_weights", lambda cfg, cache: {})
    settings = Settings(profile=PROFILES["smoke"], results_dir=tmp_path / "results",
                        work_root=tmp_path / "work")
    selection = [(spec, exp, True) for spec in map(get_table, ("gcn/table7", "gcn/table8"))
                 for exp in spec.runnable]
    plan = plan_rows(selection, settings)
    assert not plan.skipped, f"Smoke rows of GCN Tables 7-8 skipped: {plan.skipped}."
    planned = {f"{r.spec.name}/{r.exp.key}" for r in plan.rows}
    assert planned == {f"{spec.name}/{exp.key}" for spec, exp, _ in selection}
    for r in plan.rows:
        first = r.training.chain()[0].cfg["train_dataloader"]["dataset"]
        lists = [d["ann_file"] for d in first.get("datasets", [first])]
        assert "ImageSets/Segmentation/coco.txt" in lists, (
            f"{r.spec.name}/{r.exp.key}: its chain must start with Stage-1 on COCO + SBD + VOC, "
            f"got the lists {lists}."
        )
