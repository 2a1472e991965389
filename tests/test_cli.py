"""The command line: list, params, errors a user can cause (message, exit code 2)."""

import pytest

from repro.cli import main


def test_list_shows_every_table(capsys, tmp_path):
    assert main(["list", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "gcn/table1" in out and "not run" in out


def test_unknown_table_exits_2_with_the_known_ones(capsys):
    assert main(["run", "gcn/table42", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "Unknown table" in err and "gcn/table1" in err, (
        "`repro run` of an unknown table must exit 2 and list the known tables.")


def test_unknown_row_exits_2(capsys):
    assert main(["run", "gcn/table1/k4", "--profile", "smoke"]) == 2
    assert "gcn/table1/k15" in capsys.readouterr().err


def test_paper_profile_without_data_says_how_to_give_it(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("REPRO_VOC_ROOT", raising=False)
    code = main(["run", "gcn/table1/k3", "--profile", "paper", "--results-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--data-root" in err and "REPRO_VOC_ROOT" in err


def test_missing_data_root_is_named(capsys, tmp_path):
    code = main(["run", "gcn/table1/k3", "--data-root", str(tmp_path / "nope"),
                 "--results-dir", str(tmp_path)])
    assert code == 2 and str(tmp_path / "nope") in capsys.readouterr().err


def test_params_prints_total_and_modules(capsys):
    assert main(["params", "gcn/gcn-conv-k3_r152_1xb1-100k_voc12aug-512x512.py"]) == 0
    out = capsys.readouterr().out
    assert "backbone" in out and "decode_head" in out and "total" in out


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "repro run table1" in capsys.readouterr().out


@pytest.mark.parametrize("command", [
    [], ["run"], ["report"], ["list"], ["compare"], ["score"], ["check"], ["crf-cv"],
    ["import-server"], ["weights"], ["pretrain"], ["params"], ["data", "prepare"],
    ["data", "check"], ["data", "synth"],
])
def test_every_help_text_renders(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([*command, "--help"])
    assert e.value.code == 0 and "usage: repro" in capsys.readouterr().out, (
        f"`repro {' '.join(command)} --help` must print its usage (a stray % in a help text "
        "breaks argparse).")


def test_known_third_party_noise_is_dropped_and_everything_else_kept(capsys):
    """Lines mmengine / mmcv print during a run (seen in `repro run table1` output) vs. lines
    that must stay visible."""
    from repro._quiet import FilteredStream

    noise = [
        # mmengine's load_state_dict message as print() writes it: the block, then its newline
        "The model and loaded state dict do not match exactly\n\n"
        "unexpected key in source state_dict: decode_head.upsamples.0.weight\n\n"
        "missing keys in source state_dict: decode_head.label_branch.fc.0.weight\n", "\n",
        "UserWarning: Multi-processing start method `fork` is different from the previous\n",
        "Loads checkpoint by local backend from path: w/iter_80.pth\n",
    ]
    keep = ["size mismatch for backbone.fc6.conv.weight: copying a param with shape\n",
            "   gdn/table1/fcn32s seed 0: ok mIoU 18.00 (trivial 3.8)\n", "\n",
            "report: reports/gdn/table1.md\n"]
    stream = FilteredStream()
    for line in noise + keep:
        stream.write(line)
    stream.flush()
    assert capsys.readouterr().err == "".join(keep), (
        "Known noise must be dropped, a size mismatch and the run's own lines kept.")


def test_progress_off_a_terminal_is_a_log_line_per_task_with_loss_lr_and_eta():
    """CI, Slurm and redirected logs get plain lines (no bar): iteration, loss, lr, ETA."""
    import io

    from repro.progress import Display

    stream = io.StringIO()
    display = Display(total=2, stream=stream, interval=0.0, tty=False)
    for done in (10, 20):
        display.event(dict(task="train gcn/table1/k3@seed0", kind="iter", what="train",
                           done=done, total=40, loss=1.25, lr=1e-3, rate=2.0))
    display.task_done("train gcn/table1/k3@seed0")
    display.close()
    lines = stream.getvalue().splitlines()
    assert lines == [
        "   train gcn/table1/k3@seed0: train 10/40, loss 1.250, lr 1.00e-03, eta 0:00:15",
        "   train gcn/table1/k3@seed0: train 20/40, loss 1.250, lr 1.00e-03, eta 0:00:10",
    ], f"Off a terminal each progress event is one plain line: {lines}"
    quiet = io.StringIO()
    display = Display(total=1, stream=quiet, interval=3600.0, tty=False)
    for done in (10, 20):
        display.event(dict(task="t", kind="iter", what="train", done=done, total=40))
    assert len(quiet.getvalue().splitlines()) == 1, (
        "Lines are rate-limited per task (interval seconds), so a long run's log stays short.")
