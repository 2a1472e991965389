"""Paper-profile protocol choices of the table rows (issue 14): which CRF grid a row
cross-validates on, and the protocol notes that record what still differs from the paper."""

import pytest

from repro.crf.cv import GRIDS, protocol_grid
from repro.tables.registry import all_tables, get_table


def crf_rows():
    return [(f"{s.name}/{e.key}", e.protocol) for s in all_tables().values()
            for e in s.runnable if e.protocol.crf]


def test_rows_that_follow_deeplab_iclr2015_use_its_v1_grid():
    """GDN Sec. 4.4 ('the same method of cross-validation as in [4]', DeepLab ICLR 2015) and
    Dilation Tables 3 and 4 (the dense CRF of Chen et al. 2015a)."""
    v1 = {row for row, p in crf_rows() if protocol_grid(p.crf) == "v1"}
    want = {"gdn/table2/dl-largefov-crf-gdn", "gdn/table2/dl-largefov-crf-gdn-ens",
            "dilation/table3/frontend-crf", "dilation/table3/basic-crf",
            "dilation/table3/large-crf", "dilation/table4/context-crf"}
    assert want <= v1, f"Rows {sorted(want - v1)} must cross-validate on DeepLab v1's grid."
    assert all(row.startswith(("gdn/", "dilation/")) for row in v1), (
        f"Only GDN and Dilation follow DeepLab ICLR 2015: {sorted(v1)}.")


def test_every_other_cross_validated_row_uses_the_v2_grid():
    for row, p in crf_rows():
        grid = protocol_grid(p.crf)
        if isinstance(p.crf, dict):
            assert grid is None, f"{row} gives its CRF parameters: nothing to cross-validate."
        elif not row.startswith(("gdn/", "dilation/")):
            assert grid == "v2", f"{row}: GCN's dense CRF rows cross-validate on v2's grid."


def test_grid_names_are_known():
    assert protocol_grid(True) == "v2" and protocol_grid(False) is None
    assert protocol_grid({"w1": 5}) is None
    assert set(GRIDS) == {"v1", "v2"}
    with pytest.raises(ValueError, match="v3"):
        protocol_grid("v3")


def test_gdn_baseline_note_names_the_deeplab_model_and_the_difference():
    note = get_table("gdn/table1").experiment("dl-largefov").protocol.note
    for fact in ("73.3", "ICLR", "62.25", "train_aug", "6000", "no CRF"):
        assert fact in note, f"The DL-LargeFOV baseline's note must say {fact!r}: {note}"


@pytest.mark.parametrize("table", ["gdn/table1", "gdn/table2", "gcn/table1", "dilation/table3",
                                   "deconvnet/table1"])
def test_trained_rows_carry_a_protocol_note(table):
    missing = [e.key for e in get_table(table).runnable if e.trained_metrics
               and not e.protocol.note]
    assert not missing, f"{table}: rows {missing} have no protocol note on what differs."


def test_sgd_m099_lr_is_fcn_lr_on_a_512_crop():
    """FCN's 1e-10 on the summed loss equals 1e-10 x 512^2 on mmseg's mean over a 512x512 input
    (the schedule's comment); the GCN configs, Stage-1's 640x640 ones included, keep it."""
    from mmengine.config import Config

    from repro import paths

    lr = Config.fromfile(str(paths.config_path("_base_/schedules/schedule_sgd_m099.py")))
    assert lr.optimizer.lr == pytest.approx(1e-10 * 512**2, rel=1e-12), (
        f"The schedule's lr must be FCN's 1e-10 x 512^2 = 2.62144e-5, got {lr.optimizer.lr}."
    )
    stage1 = get_table("gcn/table7").experiment("stage1-gcn-br").config
    cfg = Config.fromfile(str(paths.config_path(stage1)))
    assert cfg.optim_wrapper.optimizer.lr == lr.optimizer.lr, (
        f"{stage1} must keep the schedule's lr, as Table 7's Stage-1 note says."
    )


def test_table7_stage1_note_gives_the_lr_of_its_640_crop():
    spec = get_table("gcn/table7")
    fcn_640 = f"{1e-10 * 640**2:.1e}".replace("e-05", "e-5")  # 4.1e-5
    for exp in spec.runnable:
        note = exp.protocol.note
        if exp.key.startswith("stage1-"):
            assert "640x640" in note and fcn_640 in note and "2.62e-5" in note, (
                f"{exp.key}: the Stage-1 note must say that its 640x640 input keeps 2.62e-5, "
                f"not FCN's equivalent {fcn_640}: {note}"
            )
        else:
            assert fcn_640 not in note, f"{exp.key} trains at 512x512: {note}"
