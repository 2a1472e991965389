"""Table specs: registry, selectors, layouts, and configs that exist."""

import pytest

from repro import paths
from repro.tables.registry import (
    Cell,
    Experiment,
    TableSpec,
    UnknownTableError,
    all_tables,
    get_table,
    register_table,
    resolve,
    split_row,
)


def test_gcn_tables_are_registered():
    names = set(all_tables())
    for name in ("gcn/table1", "gcn/table2", "gcn/table5"):
        assert name in names, f"{name} is not registered: import its module in repro/tables."


def test_gcn_table1_has_the_papers_eight_columns():
    spec = get_table("gcn/table1")
    rows, cols = spec.layout()
    assert cols == ["base", "3", "5", "7", "9", "11", "13", "15"], (
        "GCN Table 1 must have the paper's columns k = base, 3, ..., 15 in order.")
    assert rows == ["Score"]
    assert [c.paper for e in spec.experiments for c in e.cells] == [
        69.0, 70.1, 71.1, 72.8, 73.4, 73.7, 74.0, 74.5]


def test_selectors():
    assert [t.name for t in resolve("gcn/table1")] == ["gcn/table1"]
    assert "gcn/table1" in [t.name for t in resolve("table1")]
    assert {t.paper for t in resolve("gcn")} == {"gcn"}
    assert len(resolve("all")) == len(all_tables())
    assert split_row("gcn/table1/k15") == ("gcn/table1", "k15")
    assert split_row("gcn/table1") == ("gcn/table1", None)


def test_unknown_table_lists_the_known_ones():
    with pytest.raises(UnknownTableError) as e:
        resolve("gcn/table99")
    assert "gcn/table1" in str(e.value) and "repro list" in str(e.value), (
        "An unknown table must get the list of known tables and a pointer to `repro list`.")


def test_unknown_row_lists_the_rows():
    with pytest.raises(UnknownTableError) as e:
        get_table("gcn/table1").experiment("k4")
    assert "gcn/table1/k15" in str(e.value)


def test_duplicate_cells_are_rejected():
    spec = TableSpec(paper="x", number=1, caption="", experiments=(
        Experiment("a", "a", None, cells=(Cell("mIoU", "r", "c", 1.0),)),
        Experiment("b", "b", None, cells=(Cell("mIoU", "r", "c", 2.0),)),
    ))
    with pytest.raises(ValueError, match="two cells"):
        register_table(spec)


@pytest.mark.parametrize("spec", list(all_tables().values()), ids=lambda s: s.name)
def test_every_runnable_row_names_an_existing_config(spec):
    for exp in spec.runnable:
        assert (paths.config_root() / exp.config).is_file(), (
            f"{spec.name}/{exp.key} names config {exp.config}, which does not exist under "
            f"{paths.config_root()}: add the config or fix the spec.")
