"""The results schema: atomic writes, round trip, and the error on a damaged file."""

import json

import pytest

from repro.results import ResultRow, ResultsFileError, read_all, read_file, result_path, write_rows


def row(**kw):
    base = dict(table="gcn/table1", row="k3", metric="mIoU", seed=0, value=50.0, status="ok",
                paper=70.1, spec_version=1, profile="smoke", data="synthetic",
                config="gcn/x.py", config_hash="abc", git_sha="deadbeef")
    return ResultRow(**(base | kw))


def test_round_trip(tmp_path):
    path = result_path(tmp_path, "smoke", "gcn/table1", "k3", 0)
    write_rows(path, [row(), row(metric="aAcc", value=90.0, paper=None)])
    back = read_file(path)
    assert [r.metric for r in back] == ["mIoU", "aAcc"]
    assert read_all(tmp_path)[0].value == 50.0
    assert not list(path.parent.glob(".*.tmp")), "Atomic writes must not leave temporary files."


def test_invalid_json_names_the_file_and_the_fix(tmp_path):
    path = result_path(tmp_path, "smoke", "gcn/table1", "k3", 0)
    write_rows(path, [row()])
    path.write_text(path.read_text()[:-20])  # a hand edit gone wrong
    with pytest.raises(ResultsFileError) as e:
        read_all(tmp_path)
    assert str(path) in str(e.value) and "rerun" in str(e.value), (
        "A damaged results file must be named in the error together with the fix.")


def test_unknown_fields_are_rejected(tmp_path):
    path = tmp_path / "smoke" / "gcn" / "table1" / "k3.seed0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema": 1, "rows": [{"table": "gcn/table1"}]}))
    with pytest.raises(ResultsFileError, match="missing fields"):
        read_file(path)
