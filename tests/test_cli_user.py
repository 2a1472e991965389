"""The command line as a user meets it: cheap commands that import neither torch nor mmseg, a
row of one's own in a paper's table (`--add`), tables from another package (entry points),
parallel jobs that give the numbers of a serial run, and `--cfg-options` in the hash."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from repro.cli import main
from repro.results import read_file, result_path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "mmseg", "mmengine", "mmcv")


def python(code: str, **env) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **env}, timeout=300)


def test_cheap_commands_import_neither_torch_nor_mmseg(tmp_path):
    code = textwrap.dedent(f"""
        import sys, contextlib, io
        from repro.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                main(["--help"])
            except SystemExit:
                pass
            main(["list", "--results-dir", {str(tmp_path)!r}])
            main(["report", "gcn/table1", "--results-dir", {str(tmp_path)!r},
                  "--reports-dir", {str(tmp_path / "rep")!r}])
        import repro.check, repro.metrics.score
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
    """)
    out = python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", (
        f"`repro --help`, `list`, `report`, `score` and `check` must not import "
        f"{out.stdout.strip()}: keep those imports inside the functions that train.")


def test_voc_class_names_equal_mmseg_s():
    from mmseg.datasets import PascalVOCDataset

    from repro.data.synth import VOC_CLASSES

    assert tuple(VOC_CLASSES) == tuple(PascalVOCDataset.METAINFO["classes"]), (
        "repro score uses the harness's copy of mmseg's VOC class names: they must agree.")


def run(tmp_path, *args):
    return main(["run", *args, "--profile", "smoke", "--iters", "4", "--results-dir",
                 str(tmp_path / "res"), "--reports-dir", str(tmp_path / "rep"), "--work-dir",
                 str(tmp_path / "work")])


def test_a_users_row_in_a_papers_table(tmp_path):
    config = tmp_path / "mine.py"
    config.write_text(
        f"_base_ = {str(ROOT / 'mmseg_configs/gcn/gcn-k3_r152_1xb1-100k_voc12aug-512x512.py')!r}\n"
        "model = dict(decode_head=dict(k=5))\n")
    assert run(tmp_path, "gcn/table1/base", "--add", f"mine={config}") == 0
    rows = read_file(result_path(tmp_path / "res", "smoke", "gcn/table1", "mine", 0))
    miou = next(r for r in rows if r.metric == "mIoU")
    assert miou.user_row and miou.paper is None and miou.ci is not None, (
        "A user's row is recorded as theirs, without a paper value, with its interval.")
    report = (tmp_path / "rep" / "gcn" / "table1.md").read_text()
    assert "mine (yours)" in report and f"{miou.value:.1f}" in report
    assert f"[{miou.ci[0]:.1f}, {miou.ci[1]:.1f}]" in report, (
        "The report shows the user's row with its 95% interval.")
    assert re.search(r"\|\s*mIoU\s*\|\s*mine\s*\|\s*base\s*\|", report), (
        "The report compares the user's row with the row whose protocol it follows (paired "
        "bootstrap of the difference).")


def test_a_users_config_that_does_not_build_is_refused_by_key(tmp_path, capsys):
    config = tmp_path / "broken.py"
    config.write_text(
        f"_base_ = {str(ROOT / 'mmseg_configs/gcn/gcn-k3_r152_1xb1-100k_voc12aug-512x512.py')!r}\n"
        "model = dict(decode_head=dict(kernal=5))\n")
    assert run(tmp_path, "gcn/table1/base", "--add", f"mine={config}") == 2
    err = capsys.readouterr().err
    assert "kernal" in err and str(config) in err, err
    assert not (tmp_path / "res").exists() or not list((tmp_path / "res").rglob("*.json"))


def test_tables_of_another_package_are_found_through_entry_points(tmp_path):
    pkg = tmp_path / "mytables"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        from repro.tables.registry import Cell, Experiment, Protocol, TableSpec

        def tables():
            return [TableSpec(paper="mine", number=1, caption="My own benchmark.",
                              experiments=(Experiment(
                                  "k3", "GCN k=3", "gcn/gcn-k3_r152_1xb1-100k_voc12aug-512x512.py",
                                  protocol=Protocol(), cells=(Cell("mIoU", "GCN", "mIoU", None),)),
                              ))]
    """))
    (pkg / "more.py").write_text(textwrap.dedent("""
        from dataclasses import replace

        from mytables import tables

        TABLES = [replace(tables()[0], number=2)]
    """))
    dist = tmp_path / "mytables-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mytables\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[repro.tables]\nmine = mytables:tables\nmore = mytables.more\n")
    out = python("from repro.cli import main; main(['list', '--results-dir', 'nowhere'])",
                 PYTHONPATH=f"{tmp_path}:{ROOT}")
    assert out.returncode == 0 and "mine/table1" in out.stdout, out.stdout + out.stderr
    assert "mine/table2" in out.stdout, (
        "An entry point may also name a module with a TABLES list, as the built-in papers "
        f"have:\n{out.stdout + out.stderr}")


@pytest.mark.parametrize("jobs", ["2"])
def test_parallel_jobs_give_the_numbers_of_a_serial_run(tmp_path, jobs):
    rows = ("gcn/table1/base", "gcn/table1/k3")
    assert run(tmp_path / "parallel", *rows, "--jobs", jobs) == 0
    assert run(tmp_path / "serial", *rows) == 0
    for key in ("base", "k3"):
        a, b = (read_file(result_path(tmp_path / kind / "res", "smoke", "gcn/table1", key, 0))
                for kind in ("parallel", "serial"))
        assert {r.metric: r.value for r in a} == {r.metric: r.value for r in b}, (
            "Rows run in worker processes must give exactly the serial run's numbers.")


def test_cfg_options_are_recorded_and_hashed(tmp_path):
    args = ("gcn/table1/k3", "--cfg-options", "optim_wrapper.optimizer.lr=0.001")
    assert run(tmp_path, *args) == 0
    (row,) = [r for r in read_file(result_path(tmp_path / "res", "smoke", "gcn/table1", "k3", 0))
              if r.metric == "mIoU"]
    assert row.overrides["cfg_options"] == {"optim_wrapper.optimizer.lr": 0.001}
    assert any("optim_wrapper.optimizer.lr" in n for n in row.extra["notes"]), (
        "A --cfg-options key that replaces a profile or config value must say so.")
    plain = json.dumps(row.config_hash)
    assert run(tmp_path / "plain", "gcn/table1/k3") == 0
    other = read_file(result_path(tmp_path / "plain" / "res", "smoke", "gcn/table1", "k3", 0))
    assert json.dumps(other[0].config_hash) != plain, "--cfg-options must change the hash."
