"""`repro` command line: argument parsing only; the work is done by the modules it calls."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

EXAMPLES = textwrap.dedent(
    """
    examples:
      repro list                                 every table and how many rows have results
      repro run table1                           Table 1 of every paper (smoke profile unless a
                                                 real dataset is configured)
      repro run gcn/table2 --profile smoke       one table on synthetic data, on CPU
      repro run gcn/table1/k15 --force           one row, rerun even if done
      repro run gcn/table1 --profile paper --data-root ~/data/VOCdevkit/VOC2012
      repro report                               regenerate reports/ from results/
      repro data synth voc --out /tmp/synth      synthetic VOC in the real layout
      repro params gcn/gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py
    """
)


class UserError(Exception):
    """An error the user can fix: printed without a traceback, exit code 2."""


def _add_common_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=["smoke", "paper"], default=None,
                   help="paper: the paper's protocol on real data; smoke: CPU, synthetic data, "
                        "tiny widths. Default: paper if a data root is configured, else smoke.")
    p.add_argument("--data-root", default=None,
                   help="dataset root (VOCdevkit/VOC2012 or cityscapes); default "
                        "$REPRO_VOC_ROOT / $REPRO_CITYSCAPES_ROOT")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--reports-dir", type=Path, default=Path("reports"))
    p.add_argument("--work-dir", type=Path, default=Path("work_dirs"),
                   help="checkpoints and logs (default ./work_dirs)")


def build_parser() -> argparse.ArgumentParser:
    from repro.data.check import add_check_arguments
    from repro.data.prepare import add_prepare_arguments
    from repro.weights import add_weights_arguments

    parser = argparse.ArgumentParser(
        prog="repro",
        description="Reproduce the tables of classic semantic segmentation papers "
                    "(FCN, DeepLab, GDN, DeconvNet, Dilation, GCN) on mmsegmentation.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="mmengine INFO logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="every table with its status")
    p.add_argument("--results-dir", type=Path, default=Path("results"))

    p = sub.add_parser("run", help="train and evaluate the rows of a table, then report",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", help="gcn/table1, table1 (every paper), gcn (all its tables), "
                                 "all, or one row: gcn/table1/k15")
    _add_common_run_args(p)
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="one or more seeds")
    p.add_argument("--force", action="store_true", help="rerun rows already done")
    p.add_argument("--iters", type=int, default=None,
                   help="override the profile's training iterations (quick checks)")
    p.add_argument("--checkpoint-interval", type=int, default=None,
                   help="iterations between checkpoints: a killed run resumes from the last one")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none",
                   help="pytorch: torchrun with --gpus processes (gloo on CPU); slurm: print the "
                        "srun command, or run as one task of it")
    p.add_argument("--simulate-server", action="store_true",
                   help="synthetic data only: score test-set rows against the generator's "
                        "hidden labels at once, as `repro import-server --simulate` does")
    p.add_argument("--gpus", type=int, default=1,
                   help="processes for --launcher pytorch/slurm; the paper's total batch size "
                        "is split over them")

    p = sub.add_parser("report", help="regenerate reports/ from results/")
    p.add_argument("tables", nargs="*", default=["all"])
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--reports-dir", type=Path, default=Path("reports"))
    p.add_argument("--profile", choices=["smoke", "paper"], default=None)

    p = sub.add_parser("params", help="parameter count of a config's model")
    p.add_argument("config", help="path relative to mmseg_configs/, or a file path")

    from repro.metrics.score import add_score_arguments

    add_score_arguments(sub.add_parser(
        "score", help="score a folder of prediction PNGs with the harness's protocol"))

    p = sub.add_parser("crf-cv", help="cross-validate a CRF row's dense-CRF parameters "
                                      "(DeepLab protocol: 100 val images)")
    p.add_argument("row", help="TABLE/ROW of a row whose protocol has crf, e.g. gcn/table7/...")
    _add_common_run_args(p)
    p.add_argument("--grid", default=None,
                   help="v1, v2 (DeepLab's grids) or e.g. 'w1=3:6,sigma_alpha=30:10:100,"
                        "sigma_beta=3:6' (default: the profile's; paper: v2)")
    p.add_argument("--strategy", choices=["fast", "exhaustive", "coarse_to_fine"],
                   default=None, help="default: fast")
    p.add_argument("--num-images", type=int, default=None,
                   help="held-out val images (default: the profile's; paper: 100)")
    p.add_argument("--seed", type=int, default=0, help="training seed of the row")

    p = sub.add_parser("check", help="fail when a row's mIoU fell below the baseline (CI)")
    p.add_argument("--baseline", type=Path, default=Path("results/baselines/smoke.json"))
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--tolerance", type=float, default=None,
                   help="mIoU points a row may fall below its baseline (default: the "
                        "baseline's own, 2.0)")
    p.add_argument("--update", action="store_true",
                   help="rewrite the baseline from the results (a deliberate change)")

    p = sub.add_parser("import-server",
                       help="fill a test-set row with the evaluation server's per-class numbers")
    p.add_argument("row", help="TABLE/ROW, e.g. gdn/table2/fcn32s-gdn")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scores", type=Path,
                     help="the server's per-class IoU: JSON {class: value} or 'class value' lines")
    src.add_argument("--simulate", action="store_true",
                     help="synthetic data only: score the submission against the hidden labels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", choices=["smoke", "paper"], default="paper")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--reports-dir", type=Path, default=Path("reports"))

    p = sub.add_parser("weights", help="pretrained weights each table needs; check a file")
    add_weights_arguments(p)

    data = sub.add_parser("data", help="datasets: synthetic generation, preparation, checks"
                          ).add_subparsers(dest="data_command", required=True, metavar="ACTION")
    add_check_arguments(data.add_parser("check", help="check a dataset before training"))
    add_prepare_arguments(data.add_parser(
        "prepare", help="SBD -> SegmentationClassAug and split lists; Cityscapes trainIds"))
    p = data.add_parser("synth", help="write a synthetic dataset in the real layout")
    p.add_argument("dataset", choices=["voc", "cityscapes"])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default=None, help="WxH, e.g. 500x375")
    p.add_argument("--num-train", type=int, default=None)
    p.add_argument("--num-val", type=int, default=None)
    p.add_argument("--num-test", type=int, default=None)
    return parser


def pick_profile(args) -> str:
    if args.profile:
        return args.profile
    configured = args.data_root or os.environ.get("REPRO_VOC_ROOT") or os.environ.get(
        "REPRO_CITYSCAPES_ROOT")
    if configured:
        return "paper"
    print("No real dataset configured (--data-root, $REPRO_VOC_ROOT, $REPRO_CITYSCAPES_ROOT): "
          "running the smoke profile on synthetic data.", file=sys.stderr)
    return "smoke"


def cmd_list(args) -> int:
    from tabulate import tabulate

    from repro.results import read_all, to_frame
    from repro.tables.registry import all_tables

    frame = to_frame(read_all(args.results_dir))
    body = []
    for name, spec in all_tables().items():
        runnable = spec.runnable
        status = []
        for profile in ("smoke", "paper"):
            mine = frame[(frame.table == name) & (frame.profile == profile)] if len(frame) else []
            if len(mine):
                done = mine[mine.status.isin(["ok", "awaiting_server"])].row.nunique()
                status.append(f"{profile} {done}/{len(runnable)}")
        body.append([name, len(runnable), len(spec.experiments) - len(runnable),
                     ", ".join(status) or "not run", spec.caption[:60]])
    print(tabulate(body, headers=["table", "rows", "ref. rows", "done", "caption"]))
    return 0


def cmd_run(args) -> int:
    from repro.profiles import get_profile
    from repro.report import render_all
    from repro.runner import run_experiment
    from repro.tables.registry import get_table, resolve, split_row

    table_sel, row = split_row(args.table)
    specs = [get_table(table_sel)] if row else resolve(table_sel)
    if args.launcher == "pytorch" and "RANK" not in os.environ:
        return _relaunch_torchrun(args)
    if args.launcher == "slurm" and "SLURM_PROCID" not in os.environ:
        print(_slurm_command(args))
        return 0
    world_size = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", 1)))
    rank0 = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0))) == 0
    profile = get_profile(pick_profile(args))
    profile = replace(profile, **{k: v for k, v in dict(
        iters=args.iters, checkpoint_interval=args.checkpoint_interval).items() if v})
    failures = 0
    for spec in specs:
        exps = [spec.experiment(row)] if row else spec.runnable
        if rank0:
            print(f"== {spec.name} ({len(exps)} rows, profile {profile.name})", flush=True)
        for exp in exps:
            for seed in args.seed:
                status, rows = run_experiment(
                    spec, exp, profile, results_dir=args.results_dir, work_root=args.work_dir,
                    data_root=args.data_root, seed=seed, force=args.force,
                    launcher=args.launcher, world_size=world_size,
                )
                if args.simulate_server and rank0 and rows and \
                        rows[0].status == "awaiting_server" and rows[0].data == "synthetic":
                    status, rows = _simulate_server(args, spec, exp, seed, profile.name)
                shown = ", ".join(f"{r.metric}={r.value:.2f}" for r in rows
                                  if isinstance(r.value, float) and "." not in r.metric)[:110]
                if rank0:
                    print(f"   {exp.key:<12} seed {seed}: {status:<12} {shown}", flush=True)
                failures += status in ("failed", "nan_loss")
    if rank0:
        for out in render_all(args.results_dir, args.reports_dir, specs):
            print(f"report: {out}")
    if failures:
        print(f"{failures} row(s) failed: see the reports' Rows section and rerun them with "
              "--force after fixing the cause.", file=sys.stderr)
    return 1 if failures else 0


def _simulate_server(args, spec, exp, seed: int, profile: str):
    from repro import server
    from repro.results import read_file, result_path

    path = result_path(args.results_dir, profile, spec.name, exp.key, seed)
    extra = read_file(path)[0].extra
    scores = server.simulate(Path(extra["submission_dir"]), exp.protocol.dataset,
                             Path(extra["data_root"]))
    server.import_scores(args.results_dir, profile, spec.name, exp.key, seed, scores,
                         "simulated server (hidden synthetic test labels)")
    return "ok (simulated server)", read_file(path)


def _relaunch_torchrun(args) -> int:
    """`--launcher pytorch`: rerun this very command under torchrun, one process per GPU
    (gloo on CPU), through mmengine's launcher support."""
    import socket
    import subprocess

    with socket.socket() as sock:  # a free port for the rendezvous on this machine
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={args.gpus}",
           "--master_addr=127.0.0.1", f"--master_port={port}", "-m", "repro.cli", *args.argv]
    print("launching: " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.call(cmd)


def _slurm_command(args) -> str:
    n = args.gpus
    return (f"srun --ntasks={n} --ntasks-per-node={min(n, 8)} --gres=gpu:{min(n, 8)} "
            f"--cpus-per-task=5 --kill-on-bad-exit=1 "
            f"{sys.executable} -m repro.cli {' '.join(args.argv)}")


def cmd_report(args) -> int:
    from repro.report import render_all
    from repro.tables.registry import resolve

    specs = [s for sel in args.tables for s in resolve(sel)]
    for out in render_all(args.results_dir, args.reports_dir, specs, args.profile):
        print(out)
    return 0


def cmd_import_server(args) -> int:
    from repro import server
    from repro.report import render_all
    from repro.results import read_file, result_path
    from repro.tables.registry import get_table, split_row

    table, row = split_row(args.row)
    if row is None:
        raise UserError(f"Give one row as TABLE/ROW (e.g. {args.row}/<row>); "
                        "`repro list` shows the tables.")
    spec = get_table(table)
    exp = spec.experiment(row)
    if exp.protocol.eval_split != "test":
        raise UserError(f"{args.row} is evaluated on {exp.protocol.eval_split}, not on the test "
                        "set: its numbers come from `repro run`, not from a server.")
    path = result_path(args.results_dir, args.profile, table, row, args.seed)
    if args.simulate:
        rows = read_file(path) if path.exists() else []
        if not rows or "submission_dir" not in rows[0].extra:
            raise UserError(f"No submission recorded for {args.row} in {path}: run "
                            f"`repro run {args.row} --profile {args.profile}` first.")
        if rows[0].data != "synthetic":
            raise UserError("--simulate only works on synthetic data; import the real server's "
                            "numbers with --scores FILE.")
        _simulate_server(args, spec, exp, args.seed, args.profile)
    else:
        from mmseg.datasets import CityscapesDataset, PascalVOCDataset

        ds = PascalVOCDataset if exp.protocol.dataset == "voc" else CityscapesDataset
        scores = server.parse_scores(args.scores, list(ds.METAINFO["classes"]))
        print(server.import_scores(args.results_dir, args.profile, table, row, args.seed,
                                   scores, f"evaluation server ({args.scores})"))
    for out in render_all(args.results_dir, args.reports_dir, [spec], args.profile):
        print(f"report: {out}")
    return 0


def cmd_score(args) -> int:
    from repro.metrics.score import main_score

    return main_score(args)


def cmd_crf_cv(args) -> int:
    from repro.profiles import get_profile
    from repro.runner import crf_cv_row
    from repro.tables.registry import get_table, split_row

    table, row = split_row(args.row)
    if row is None:
        raise UserError(f"Give one row as TABLE/ROW, e.g. {args.row}/<row>.")
    spec = get_table(table)
    profile = get_profile(pick_profile(args))
    given = dict(grid=args.grid, strategy=args.strategy, num_images=args.num_images)
    options = {**profile.crf_cv, **{k: v for k, v in given.items() if v is not None}}
    out = crf_cv_row(spec, spec.experiment(row), profile, results_dir=args.results_dir,
                     work_root=args.work_dir, data_root=args.data_root, seed=args.seed,
                     **options)
    print(f"chosen parameters: {out}")
    return 0


def cmd_check(args) -> int:
    import json

    from repro.check import DEFAULT_TOLERANCE, compare, make_baseline, write_baseline

    if args.update:
        baseline = make_baseline(args.results_dir,
                                 tolerance=args.tolerance or DEFAULT_TOLERANCE)
        if not baseline["rows"]:
            raise UserError(f"No smoke mIoU under {args.results_dir}: run "
                            "`repro run all --profile smoke` first.")
        write_baseline(args.baseline, baseline)
        print(f"baseline {args.baseline}: {len(baseline['rows'])} rows")
        return 0
    if not args.baseline.exists():
        raise UserError(f"Baseline {args.baseline} does not exist: create it with "
                        "`repro check --update` after `repro run all --profile smoke`.")
    try:
        baseline = json.loads(args.baseline.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"Baseline {args.baseline} is not valid JSON ({e.msg}, line {e.lineno}): "
                        "restore it from git or rewrite it with --update.") from e
    findings, n = compare(baseline, args.results_dir, args.tolerance)
    tol = args.tolerance if args.tolerance is not None else baseline.get("tolerance")
    for f in findings:
        print(f"REGRESSION {f}", file=sys.stderr)
    print(f"{n - len(findings)} passed, {len(findings)} failed "
          f"(mIoU vs {args.baseline}, tolerance {tol})")
    return 1 if findings else 0


def cmd_params(args) -> int:
    from mmengine.config import Config
    from tabulate import tabulate

    from repro import paths
    from repro.models.build import build_model

    path = Path(args.config)
    if not path.is_file():
        path = paths.config_path(args.config)
    cfg = Config.fromfile(str(path))
    model = build_model(cfg)
    body = [[name, sum(p.numel() for p in m.parameters())] for name, m in model.named_children()]
    total = sum(p.numel() for p in model.parameters())
    body = [[n, f"{c:,}", f"{c / 1e6:.2f}M"] for n, c in body if c] + [
        ["total", f"{total:,}", f"{total / 1e6:.2f}M"]]
    print(tabulate(body, headers=["module", "parameters", ""], colalign=("left", "right", "right")))
    return 0


def cmd_data(args) -> int:
    from repro.data.synth import main_synth

    if args.data_command == "check":
        from repro.data.check import main_check

        return main_check(args)
    if args.data_command == "prepare":
        from repro.data.prepare import main_prepare

        return main_prepare(args)

    size = None
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError as e:
            raise UserError(f"--size must look like 500x375 (width x height), got {args.size!r}.") \
                from e
        size = (w, h)
    kwargs = {k: v for k, v in dict(size=size, num_train=args.num_train, num_val=args.num_val,
                                    num_test=args.num_test).items() if v is not None}
    main_synth(args.dataset, args.out, seed=args.seed, **kwargs)
    return 0


def cmd_weights(args) -> int:
    from repro.weights import main_weights

    return main_weights(args)


COMMANDS = {
    "list": cmd_list,
    "run": cmd_run,
    "report": cmd_report,
    "params": cmd_params,
    "import-server": cmd_import_server,
    "score": cmd_score,
    "check": cmd_check,
    "crf-cv": cmd_crf_cv,
    "data": cmd_data,
    "weights": cmd_weights,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # re-launched as is under torchrun / srun
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        os.environ.setdefault("REPRO_LOG_LEVEL", "INFO")
    from repro.data.check import DataCheckError
    from repro.profiles import UnknownOptionError
    from repro.results import ResultsFileError
    from repro.runner import DataNotFoundError
    from repro.tables.registry import UnknownTableError
    from repro.weights import WeightsError

    try:
        return COMMANDS[args.command](args)
    except (UserError, UnknownTableError, DataNotFoundError, ResultsFileError,
            FileNotFoundError, DataCheckError, UnknownOptionError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
