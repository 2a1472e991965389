"""A row's life: resolved and hashed once, trained with atomic and verified checkpoints,
recorded without ever losing a good result, and refused before any work when the input is bad.

Each test here reproduces one defect of the earlier runner (hash taken before resolution,
truncated final checkpoint reused forever, good results overwritten by failed or quick runs,
bad files named only mid-training or not at all, unwritable directories found after
evaluation, unchecked server scores, import-order registries) and shows it gone. Rows are tiny
GCN models on a tiny synthetic VOC (4 training iterations).
"""

import ast
import dataclasses
import errno
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from repro.cli import main
from repro.data.synth import make_cityscapes, make_voc
from repro.plan import Settings, plan_rows
from repro.results import read_file, result_path
from repro.session import run_experiment
from repro.tables.registry import Cell, Experiment, Protocol, TableSpec

K3 = "gcn/gcn-k3_r152_1xb1-100k_voc12aug-512x512.py"
ROOT = Path(__file__).resolve().parents[1]


def row(key, **kw):
    return Experiment(key, key, K3, protocol=kw.pop("protocol", Protocol()),
                      cells=(Cell("mIoU", key, "mIoU", None),), **kw)


SPEC = TableSpec(paper="life", number=1, caption="row lifecycle", experiments=(
    row("s1"), row("s2", protocol=Protocol(train_split="train"), init_from="s1"),
    row("crf", protocol=Protocol(crf=True)),
))


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return make_voc(tmp_path_factory.mktemp("voc"), size=(64, 48), num_train=4, num_val=4,
                    num_test=1)


@pytest.fixture
def settings(tiny_smoke, tmp_path, voc):
    profile = dataclasses.replace(tiny_smoke, crf_cv=dict(
        grid="w1=3:4,sigma_alpha=30:10:40,sigma_beta=3", strategy="fast", num_images=4))
    return Settings(profile=profile, results_dir=tmp_path / "results",
                    work_root=tmp_path / "work", data_root=str(voc))


def plan_one(spec, key, settings):
    return plan_rows([(spec, spec.experiment(key), False)], settings).rows[0]


def run(settings, key="s1", spec=SPEC, **kw):
    s = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)} | kw
    s.pop("seeds")
    return run_experiment(spec, spec.experiment(key), s.pop("profile"), **s)


def weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


# ---------------------------------------------------------------------------------------------
# Hash after resolution


def test_a_later_stage_changes_when_its_earlier_stage_does(settings):
    before = plan_one(SPEC, "s2", settings)
    changed = dataclasses.replace(SPEC, experiments=(
        row("s1", options={"model.decode_head.k": 5}), *SPEC.experiments[1:]))
    after = plan_one(changed, "s2", settings)
    assert before.training.upstream.key != after.training.upstream.key
    assert before.hash != after.hash and before.training.key != after.training.key, (
        "Stage 2 starts from stage 1's weights: changing stage 1 must change stage 2's hash.")


def test_moving_the_data_and_the_work_dir_keeps_every_hash(settings, voc, tmp_path):
    moved = shutil.copytree(voc.parent.parent, tmp_path / "elsewhere" / "synth")
    other = dataclasses.replace(settings, data_root=str(moved / "VOCdevkit" / "VOC2012"),
                                work_root=tmp_path / "other-work")
    a, b = plan_one(SPEC, "s2", settings), plan_one(SPEC, "s2", other)
    assert (a.hash, a.training.key) == (b.hash, b.training.key), (
        "Hashes identify data by fingerprint and never by path: moving the data or the work "
        "dir must not retrain anything.")


def test_a_crf_row_is_done_after_its_first_run(settings):
    status, rows = run(settings, "crf")
    assert status == "ok", rows[0].extra.get("error")
    assert "cross-validated" in rows[0].extra["crf"]["source"]
    again = plan_one(SPEC, "crf", settings)
    assert again.action == "done" and again.hash == rows[0].config_hash, (
        "The hash covers the CRF plan, not the cross-validation's output: a CRF row's first "
        "result must count as done on the next run.")


# ---------------------------------------------------------------------------------------------
# Checkpoints


@pytest.fixture(scope="module")
def reference(tmp_path_factory, voc):
    """An uninterrupted run of s1: (mIoU, final weights)."""
    from conftest import no_family_schedules, tiny_profile

    tmp = tmp_path_factory.mktemp("reference")
    s = Settings(profile=tiny_profile(), results_dir=tmp / "results", work_root=tmp / "work",
                 data_root=str(voc))
    with no_family_schedules():
        status, rows = run(s)
    assert status == "ok", rows[0].extra.get("error")
    final = next((tmp / "work").rglob("iter_4.pth"))
    return rows[0].value, weights(final)


def test_a_damaged_final_checkpoint_is_set_aside_and_the_run_resumes(settings, reference):
    run(settings)
    final = next(settings.work_root.rglob("iter_4.pth"))
    final.write_bytes(final.read_bytes()[:5000])  # what a kill mid-write used to leave
    status, rows = run(settings, force=True)
    assert status == "ok", rows[0].extra.get("error")
    assert list(final.parent.glob("iter_4.pth.damaged-*")), (
        "A damaged checkpoint must be set aside (and named), never loaded.")
    assert rows[0].extra["trained"] == "resumed from iter_2.pth"
    assert rows[0].value == reference[0], "Resumed from the last good checkpoint, the row must "
    "end at the uninterrupted run's mIoU."
    assert all(torch.equal(weights(final)[k], v) for k, v in reference[1].items())


@pytest.mark.parametrize("failure", ["kill", "disk full"])
def test_a_failure_while_the_final_checkpoint_is_written(settings, reference, monkeypatch,
                                                         failure):
    import os

    from repro import files

    real_replace = os.replace

    def fail_on_final(src, dst):
        if str(dst).endswith("iter_4.pth"):
            if failure == "kill":
                raise KeyboardInterrupt  # the process dies after writing the temporary file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", fail_on_final)  # every atomic write's rename
    with pytest.raises(KeyboardInterrupt) if failure == "kill" else _no_raise():
        status, rows = run(settings)
        assert status == "failed" and "No space left" in rows[0].extra["error"]
    monkeypatch.undo()
    folder = next(settings.work_root.rglob("iter_2.pth")).parent
    assert not (folder / "iter_4.pth").exists() and not list(folder.glob(".iter_4.pth*")), (
        "A checkpoint write that did not complete must leave neither a truncated file nor a "
        "temporary one.")
    status, rows = run(settings)
    assert status == "ok" and rows[0].extra["trained"] == "resumed from iter_2.pth"
    assert rows[0].value == reference[0]
    final = folder / "iter_4.pth"
    assert all(torch.equal(weights(final)[k], v) for k, v in reference[1].items()), (
        "The rerun must end with exactly the uninterrupted run's weights.")


KILL_DURING_FINAL_WRITE = """
import os, signal, sys
from repro import files

real = files.atomic_write

def dying(path, write, mode=0o644):
    if str(path).endswith("iter_4.pth"):  # SIGKILL halfway through the final checkpoint
        def half(f):
            f.write(b"PK" + bytes(5000))
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, half, mode)
    return real(path, write, mode)

files.atomic_write = dying
from repro.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_during_the_final_checkpoint_write_then_rerun_through_the_cli(settings, tmp_path):
    """The issue's case, for real: `repro run` killed (SIGKILL) while it writes the final
    checkpoint, then `repro run` again: the row resumes and ends at the uninterrupted run's
    mIoU, with nothing to delete by hand."""
    def args(name):
        return ["run", "gcn/table1/k3", "--profile", "smoke", "--iters", "4",
                "--checkpoint-interval", "2", "--data-root", settings.data_root,
                "--results-dir", str(tmp_path / name / "res"), "--work-dir",
                str(tmp_path / name / "work"), "--reports-dir", str(tmp_path / name / "rep")]

    def miou(name):
        path = result_path(tmp_path / name / "res", "smoke", "gcn/table1", "k3", 0)
        return next(r for r in read_file(path) if r.metric == "mIoU")

    assert main(args("reference")) == 0
    killed = subprocess.run([sys.executable, "-c", KILL_DURING_FINAL_WRITE, *args("killed")],
                            capture_output=True, text=True, cwd=ROOT)
    assert killed.returncode == -9, f"The run should have been killed:\n{killed.stderr[-2000:]}"
    assert not list((tmp_path / "killed" / "work").rglob("iter_4.pth")), (
        "A kill during the write must leave no truncated final checkpoint under its name.")
    assert main(args("killed")) == 0
    again = miou("killed")
    assert again.extra["trained"] == "resumed from iter_2.pth", again.extra["trained"]
    assert again.value == miou("reference").value, (
        "Resumed after the kill, the row must end at the uninterrupted run's mIoU.")


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------------------------
# Results are never lost


def test_failed_and_quick_runs_never_replace_a_good_result(settings):
    status, _ = run(settings)
    assert status == "ok"
    path = result_path(settings.results_dir, "smoke", SPEC.name, "s1", 0)
    good = path.read_bytes()

    exploding = dataclasses.replace(settings.profile, iters=30)
    status, _ = run(settings, profile=exploding, cfg_options={"optim_wrapper.optimizer.lr": 1e12})
    assert status == "nan_loss" and path.read_bytes() == good, (
        "A failed attempt must not replace a good result.")

    status, rows = run(settings, iters=3)
    assert status == "ok" and rows[0].overrides == {"iters": 3}
    assert path.read_bytes() == good, "A run with --iters must not replace the table's result."
    history = sorted((path.parent / "history").glob("s1.seed0.*.json"))
    assert len(history) == 2, "Both refused attempts must be kept under history/."

    status, _ = run(settings, iters=3, force=True)
    assert read_file(path)[0].overrides == {"iters": 3}, "--force replaces it..."
    assert len(list((path.parent / "history").glob("s1.seed0.*.json"))) == 3, (
        "... and the replaced result moves to history/.")
    assert path.stat().st_mode & 0o777 == 0o644, "Result files must be readable by the group."


def test_results_that_cannot_be_written_are_kept_and_named(settings, monkeypatch, capsys):
    from repro import results

    real = results.write_rows

    def full(path, rows):
        if "unsaved" not in str(path) and "pytest-of" in str(path) and "results" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, rows)

    monkeypatch.setattr(results, "write_rows", full)
    from repro.runner import DataFileError

    with pytest.raises(DataFileError, match="No space left on device") as e:
        run(settings)
    saved = settings.work_root / "unsaved-results" / "life_table1_s1.seed0.json"
    assert str(saved) in str(e.value) and read_file(saved)[0].metric == "mIoU", (
        "Evaluated numbers that cannot be recorded must be saved elsewhere and named.")


# ---------------------------------------------------------------------------------------------
# Bad input is refused before work starts, by name


@pytest.fixture
def no_training(monkeypatch):
    from mmengine.runner import Runner

    def tripwire(cls, cfg):
        raise RuntimeError("training started on input that should have been refused")

    monkeypatch.setattr(Runner, "from_cfg", classmethod(tripwire))


def cli(tmp_path, *args):
    return main(["run", *args, "--profile", "smoke", "--results-dir", str(tmp_path / "res"),
                 "--reports-dir", str(tmp_path / "rep"), "--work-dir", str(tmp_path / "work")])


@pytest.mark.parametrize("flags", [["--iters", "-5"], ["--iters", "0"], ["--seed", "-1"],
                                   ["--checkpoint-interval", "0"], ["--jobs", "0"]])
def test_bad_flags_are_refused_at_parse_time(tmp_path, flags, capsys):
    with pytest.raises(SystemExit) as e:
        cli(tmp_path, "gcn/table1/k3", *flags)
    assert e.value.code == 2 and flags[0] in capsys.readouterr().err
    assert not (tmp_path / "res").exists(), "A refused command must write nothing."


@pytest.mark.parametrize("flags", [["--iters", "-5"], ["--seed", "-1"]])
def test_a_bad_flag_leaves_a_good_result_byte_identical(tmp_path, flags, capsys):
    """Issue 12: `repro run <row> --iters -5` used to replace an ok row by a failed one, and
    `--seed -1` wrote a ``seed-1`` file next to it."""
    from repro.results import ResultRow, write_rows

    path = result_path(tmp_path / "res", "smoke", "gcn/table1", "k3", 0)
    write_rows(path, [ResultRow(table="gcn/table1", row="k3", metric="mIoU", seed=0, value=41.5,
                                status="ok", paper=None, spec_version=1, profile="smoke",
                                data="synthetic", config=K3, config_hash="good", git_sha="abc")])
    good = path.read_bytes()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as e:
        cli(tmp_path, "gcn/table1/k3", *flags)
    assert e.value.code == 2 and flags[0] in capsys.readouterr().err
    assert path.read_bytes() == good, f"{' '.join(flags)} must leave the good result unchanged."
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, (
        f"{' '.join(flags)} must write nothing: no failed row, no history, no seed-1 file.")


def test_cityscapes_without_gtfine_is_refused_before_anything_is_written(tmp_path, capsys,
                                                                         no_training):
    root = make_cityscapes(tmp_path / "cs", size=(64, 32), num_train=2, num_val=1, num_test=1)
    shutil.rmtree(root / "gtFine")
    code = cli(tmp_path, "gcn/table9/stage2", "--data-root", str(root))
    err = capsys.readouterr().err
    assert code == 2 and "gtFine" in err, err
    assert not list((tmp_path / "res").rglob("*.json")), (
        "A run refused for missing labels must not write a 'skipped' row first.")


def test_a_bad_file_outside_any_sample_is_named_before_training(tmp_path, capsys, no_training):
    from repro.data.check import QUICK_SAMPLE

    root = make_voc(tmp_path / "voc", size=(32, 24), num_train=4, num_val=QUICK_SAMPLE + 8,
                    num_test=1)
    ids = (root / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    sampled = set(random.Random(0).sample(ids, QUICK_SAMPLE))
    victim = next(i for i in ids if i not in sampled)
    png = root / "SegmentationClass" / f"{victim}.png"
    png.write_bytes(png.read_bytes()[:40])
    code = cli(tmp_path, "gcn/table1/k3", "--data-root", str(root))
    err = capsys.readouterr().err
    assert code == 2 and str(png) in err, (
        f"The full data check must name {png}, which no 32-file sample reads:\n{err}")


def test_a_file_damaged_after_the_check_is_named_when_read(settings, tmp_path, capsys):
    root = Path(shutil.copytree(Path(settings.data_root).parent.parent, tmp_path / "copy"))
    voc = root / "VOCdevkit" / "VOC2012"
    plan_one(SPEC, "s1", dataclasses.replace(settings, data_root=str(voc)))  # checked once
    for png in (voc / "SegmentationClassAug").glob("*.png"):
        arr = np.array(Image.open(png))
        arr[:2, :2] = 50
        Image.fromarray(arr).save(png)
    code = main(["run", "gcn/table1/k3", "--profile", "smoke", "--iters", "2", "--data-root",
                 str(voc), "--results-dir", str(tmp_path / "res"), "--work-dir",
                 str(tmp_path / "work"), "--reports-dir", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert code == 2 and "SegmentationClassAug" in err and "[50]" in err, (
        f"A label value outside the classes must be named with its file, not surface as "
        f"'Target 50 is out of bounds' inside the loss:\n{err}")


def _resize_labels(voc: Path) -> list[Path]:
    labels = sorted((voc / "SegmentationClassAug").glob("*.png"))
    for png in labels:
        label = Image.open(png)
        label.resize((label.width + 8, label.height - 6), Image.NEAREST).save(png)
    return labels


def _truncate_images(voc: Path) -> list[Path]:
    images = sorted((voc / "JPEGImages").glob("*.jpg"))
    for jpg in images:
        jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])
    return images


@pytest.mark.parametrize("damage, says", [(_resize_labels, "label is 42x72 (HxW) but its image"),
                                          (_truncate_images, "LoadImageFromFile failed")])
def test_a_file_of_the_wrong_size_or_truncated_after_the_check_is_named(settings, tmp_path,
                                                                        capsys, damage, says):
    """A label PNG whose size differs from its image (it used to train silently on misaligned
    pixels) and a truncated JPEG: exit 2, the file named, the fix given."""
    root = Path(shutil.copytree(Path(settings.data_root).parent.parent, tmp_path / "copy"))
    voc = root / "VOCdevkit" / "VOC2012"
    plan_one(SPEC, "s1", dataclasses.replace(settings, data_root=str(voc)))  # checked once
    damaged = damage(voc)
    code = main(["run", "gcn/table1/k3", "--profile", "smoke", "--iters", "2", "--data-root",
                 str(voc), "--results-dir", str(tmp_path / "res"), "--work-dir",
                 str(tmp_path / "work"), "--reports-dir", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err, (
        f"A damaged file read during training must stop the run with exit 2:\n{err}")
    assert any(str(f) in err for f in damaged) and "replace" in err.lower(), (
        f"The error must name the damaged file and the fix:\n{err}")


def test_the_label_size_is_checked_against_the_image_before_any_resize(settings, tmp_path):
    """Test pipelines resize the image before LoadAnnotations: the label is compared with the
    image's size as loaded, so a good sample passes and a label of another size is named."""
    from repro.data.guard import DataFileError, GuardedPipeline

    voc = Path(settings.data_root)
    name = (voc / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[0]
    image, label = voc / "JPEGImages" / f"{name}.jpg", voc / "SegmentationClass" / f"{name}.png"
    guard = GuardedPipeline([dict(type="LoadImageFromFile"),
                             dict(type="Resize", scale=(32, 32), keep_ratio=False),
                             dict(type="LoadAnnotations"), dict(type="PackSegInputs")],
                            num_classes=21)

    def sample(seg):
        return dict(img_path=str(image), seg_map_path=str(seg), reduce_zero_label=False,
                    seg_fields=[])

    packed = guard(sample(label))
    assert tuple(packed["data_samples"].gt_sem_seg.data.shape[-2:]) == (48, 64), (
        "A label of its image's size must pass even when the image was resized first.")
    other = tmp_path / "other.png"
    Image.open(label).resize((64, 40), Image.NEAREST).save(other)
    with pytest.raises(DataFileError, match=r"label is 40x64 \(HxW\) but its image") as e:
        guard(sample(other))
    assert str(other) in str(e.value) and str(image) in str(e.value), (
        "The error must name the label and its image.")


def test_an_unwritable_results_folder_is_refused_before_training(tmp_path, capsys, no_training):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["run", "gcn/table1/k3", "--profile", "smoke", "--results-dir",
                 str(blocker / "results"), "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 2 and str(blocker / "results") in err and "writable" in err, err


@pytest.mark.parametrize("text, named", [
    ('{"background": 5000}', "0..100"), ('{"background": NaN}', "0..100"),
    ("[1, 2]", "object"), ("background: abc\n", "no score for"),
])
def test_server_scores_out_of_range_or_malformed_are_refused(tmp_path, text, named):
    from repro.server import ServerScoresError, parse_scores

    path = tmp_path / "scores.txt"
    path.write_text(text)
    with pytest.raises(ServerScoresError, match=named) as e:
        parse_scores(path, ["background", "aeroplane"])
    assert str(path) in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------
# Structure


def test_static_cells_do_not_depend_on_import_order():
    code = ("from repro.tables.registry import get_table\n"
            "e = get_table('gcn/table2').experiment('gcn-k3')\n"
            "before = e.trained_metrics\n"
            "import repro.runner, repro.plan, repro.plugins\n"
            "print(before == e.trained_metrics == ['mIoU'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip().endswith("True"), (
        "Which cells are static is declared on the cells: importing the runner must not "
        f"change a row's trained metrics:\n{out.stdout}{out.stderr}")


def module_imports(path: Path) -> set[str]:
    """repro modules imported by ``path``, at module level or inside functions (an import
    deferred into a function still runs, so a cycle through it is still a cycle); imports under
    ``if TYPE_CHECKING:`` never run and are left out."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # drop the TYPE_CHECKING blocks
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-node.level])
            out.add(f"{base}.{node.module}" if node.module else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("repro")}


def test_no_import_cycles_among_the_modules():
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
               for p in (ROOT / "repro").rglob("*.py") if "_configs" not in p.parts}
    graph = {m: {i for i in module_imports(p) if i in modules and i != m}
             for m, p in modules.items()}
    seen, stack = set(), []

    def visit(m):
        if m in stack:
            raise AssertionError(f"Import cycle: {' -> '.join(stack[stack.index(m):] + [m])}")
        if m in seen:
            return
        stack.append(m)
        for n in graph[m]:
            visit(n)
        stack.pop()
        seen.add(m)

    for m in graph:
        visit(m)


def test_a_failed_row_is_named_with_its_error_at_the_end_of_the_run(settings, tmp_path, capsys,
                                                                    monkeypatch):
    """A CI log is read from its tail: the run's last lines name each failed row and why."""
    from repro import runner

    def broken(*args, **kwargs):
        raise RuntimeError("the decoder ran out of switches")

    monkeypatch.setattr(runner, "train", broken)
    code = main(["run", "gcn/table1/k3", "--profile", "smoke", "--iters", "2", "--data-root",
                 settings.data_root, "--results-dir", str(tmp_path / "res"), "--work-dir",
                 str(tmp_path / "work"), "--reports-dir", str(tmp_path / "rep")])
    tail = capsys.readouterr().err.strip().splitlines()[-2:]
    assert code == 1 and tail[0].startswith("1 row(s) failed") and tail[1].strip() == (
        "gcn/table1/k3 seed 0: failed: train of gcn/table1/k3@seed0 failed: RuntimeError: the "
        "decoder ran out of switches"), (
        f"The run must end naming the failed row and its error: {tail}")


def test_yapf_is_warmed_before_workers_so_none_reads_a_half_written_grammar(tmp_path):
    """yapf (imported by every mmengine Runner) renames its grammar cache into place before
    writing it; with --jobs 2 in a fresh environment a worker read it empty (EOFError: Ran out
    of input, a failed DeconvNet training in a CI rehearsal). The pool and the torchrun relaunch
    warm it first."""
    pytest.importorskip("yapf")
    code = ("import pickle, sys, pathlib; from repro import runner; runner.warm_yapf(); "
            "files = sorted(pathlib.Path(sys.argv[1]).rglob('Grammar*.pickle')); "
            "assert files, 'no grammar cache written'; "
            "[pickle.loads(f.read_bytes()) for f in files]")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, (
        f"Warming yapf must leave a complete grammar cache in the user cache: {done.stderr}")
    source = (Path(__file__).parents[1] / "repro" / "runner.py").read_text()
    functions = {n.name: ast.get_source_segment(source, n) for n in ast.walk(ast.parse(source))
                 if isinstance(n, ast.FunctionDef)}
    for name, start in (("_run_pool", "ProcessPoolExecutor("),
                        ("relaunch_under_torchrun", "subprocess.call(")):
        assert functions[name].index("warm_yapf()") < functions[name].index(start), (
            f"{name} must warm yapf before it starts its processes.")
