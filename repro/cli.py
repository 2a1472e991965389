"""`repro` command line: argument parsing and dispatch only; the work is done by the modules it
calls (cli -> plan -> runner -> results -> report). Importing this module imports neither torch
nor mmseg: `repro --help`, `list`, `report`, `score` and `check` stay fast."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from pathlib import Path

from repro.argtypes import positive_int, seed_int

EXAMPLES = textwrap.dedent(
    """
    examples:
      repro list                                 every table and how many rows have results
      repro run table1                           Table 1 of every paper (smoke profile unless a
                                                 real dataset is configured)
      repro run gcn/table2 --profile smoke       one table on synthetic data, on CPU
      repro run gcn/table1/k15 --force           one row, rerun even if done
      repro run gcn --jobs 2                     independent rows in 2 processes
      repro run gcn/table1 --add mine=my_cfg.py  your model under the table's protocol
      repro run gcn/table1 --profile paper --data-root ~/data/VOCdevkit/VOC2012
      repro report                               regenerate reports/ from results/
      repro data synth voc --out /tmp/synth      synthetic VOC in the real layout
      repro params gcn/gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py
    """
)


class UserError(Exception):
    """An error the user can fix: printed without a traceback, exit code 2."""


def added_row(text: str) -> tuple[str, str, str | None]:
    """``NAME=CONFIG[@ROW]`` of ``--add``."""
    name, sep, rest = text.partition("=")
    config, _, row = rest.partition("@")
    if not sep or not name or not config:
        raise argparse.ArgumentTypeError(f"expected NAME=CONFIG[@ROW], got {text!r}")
    if not name.replace("-", "").replace("_", "").isalnum():
        raise argparse.ArgumentTypeError(f"row names are letters, digits, - and _: {name!r}")
    return name, config, row or None


def _profile_args(p: argparse.ArgumentParser, results: bool = True) -> None:
    p.add_argument("--profile", choices=["smoke", "paper"], default=None,
                   help="paper: the paper's protocol on real data; smoke: CPU, synthetic data, "
                        "tiny widths. Default: paper if a data root is configured, else smoke.")
    p.add_argument("--data-root", default=None,
                   help="dataset root (VOCdevkit/VOC2012 or cityscapes); default "
                        "$REPRO_VOC_ROOT / $REPRO_CITYSCAPES_ROOT")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--work-dir", type=Path, default=Path("work_dirs"),
                   help="checkpoints and logs (default ./work_dirs)")
    if results:
        p.add_argument("--reports-dir", type=Path, default=Path("reports"))


def build_parser() -> argparse.ArgumentParser:
    from repro.data.check import add_check_arguments
    from repro.data.prepare import add_prepare_arguments
    from repro.metrics.score import add_score_arguments
    from repro.weights_cli import add_weights_arguments

    parser = argparse.ArgumentParser(
        prog="repro",
        description="Reproduce the tables of classic semantic segmentation papers "
                    "(FCN, DeepLab, GDN, DeconvNet, Dilation, GCN) on mmsegmentation.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log mmengine's INFO lines on the console too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="every table with its status")
    p.add_argument("--results-dir", type=Path, default=Path("results"))

    p = sub.add_parser("run", help="train and evaluate the rows of a table, then report",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", nargs="+", help="gcn/table1, table1 (every paper), gcn (all its "
                                            "tables), all, or one row: gcn/table1/k15")
    _profile_args(p)
    p.add_argument("--seed", type=seed_int, nargs="+", default=[0], help="one or more seeds")
    p.add_argument("--force", action="store_true",
                   help="rerun rows already done (same config hash), and let a run with "
                        "overrides replace the table's result")
    p.add_argument("--jobs", "-j", type=positive_int, default=1,
                   help="independent trainings/evaluations run in this many processes")
    p.add_argument("--iters", type=positive_int, default=None,
                   help="training iterations, replacing the profile's / protocol's (quick "
                        "checks; recorded as an override)")
    p.add_argument("--checkpoint-interval", type=positive_int, default=None,
                   help="iterations between checkpoints: a killed run resumes from the last one")
    p.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE",
                   help="override config keys (mmengine syntax, applied last; recorded in the "
                        "results and their hash), e.g. optim_wrapper.optimizer.lr=0.01")
    p.add_argument("--add", type=added_row, action="append", default=[],
                   metavar="NAME=CONFIG[@ROW]",
                   help="add your own mmseg config as row NAME, under the protocol of ROW "
                        "(default: the table's first trained row); repeatable")
    p.add_argument("--released", action="store_true",
                   help="evaluate the authors' released models (converted with `repro weights "
                        "import-caffe`) under each row's protocol, without training")
    p.add_argument("--amp", action="store_true",
                   help="mixed-precision training (mmengine AmpOptimWrapper)")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none",
                   help="pytorch: torchrun with --gpus processes (gloo on CPU); slurm: print the "
                        "srun command, or run as one task of it")
    p.add_argument("--gpus", type=positive_int, default=1,
                   help="processes for --launcher pytorch/slurm; the paper's total batch size "
                        "is split over them")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (what would train, what is done, what is skipped and "
                        "why) and stop")
    p.add_argument("--simulate-server", action="store_true",
                   help="synthetic data only: score test-set rows against the generator's "
                        "hidden labels at once, as `repro import-server --simulate` does")

    from repro.report import add_report_arguments

    add_report_arguments(sub.add_parser("report", help="regenerate reports/ from results/"))

    p = sub.add_parser("params", help="parameter count of a config's model")
    p.add_argument("config", help="path relative to mmseg_configs/, or a file path")

    add_score_arguments(sub.add_parser(
        "score", help="score a folder of prediction PNGs with the harness's protocol"))

    from repro.metrics.bootstrap import add_compare_arguments

    add_compare_arguments(sub.add_parser(
        "compare", help="paired bootstrap difference of two rows' mIoU on the same images, "
                        "with its 95%% interval"))

    p = sub.add_parser("crf-cv", help="cross-validate a CRF row's dense-CRF parameters "
                                      "(DeepLab protocol: 100 val images)")
    p.add_argument("row", help="TABLE/ROW of a row whose protocol has crf, e.g. gcn/table7/...")
    _profile_args(p, results=False)
    p.add_argument("--seed", type=seed_int, default=0, help="training seed of the row")

    p = sub.add_parser("check", help="fail when a row's mIoU regressed (CI)")
    p.add_argument("--baseline", type=Path, default=Path("results/baselines/smoke.json"))
    p.add_argument("--results-dir", type=Path, default=Path("results"))
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
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--profile", choices=["smoke", "paper"], default=None,
                   help="default: the profile that has a result for the row (paper first)")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--reports-dir", type=Path, default=Path("reports"))

    from repro.pretrain import add_pretrain_arguments

    add_pretrain_arguments(sub.add_parser(
        "pretrain", help="ImageNet-pretrain a backbone whose weights were never released "
                         "(resnet50-gcn: GCN Sec. 4.1.2, Table 6)"))

    add_weights_arguments(sub.add_parser(
        "weights", help="pretrained and released weights: where each is expected, checks, "
                        "Caffe import"))

    data = sub.add_parser("data", help="datasets: synthetic generation, preparation, checks"
                          ).add_subparsers(dest="data_command", required=True, metavar="ACTION")
    add_check_arguments(data.add_parser("check", help="check a dataset before training"))
    add_prepare_arguments(data.add_parser(
        "prepare", help="SBD -> SegmentationClassAug and split lists; Cityscapes trainIds; "
                        "COCO -> the VOC root's split coco"))
    p = data.add_parser("synth", help="write a synthetic dataset in the real layout")
    p.add_argument("dataset", choices=["voc", "cityscapes"])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--size", default=None, help="WxH, e.g. 500x375")
    p.add_argument("--num-train", type=positive_int, default=None)
    p.add_argument("--num-val", type=positive_int, default=None)
    p.add_argument("--num-test", type=positive_int, default=None)
    p.add_argument("--num-coco", type=positive_int, default=None,
                   help="voc: images of a synthetic COCO in OUT/coco, prepared into the VOC root "
                        "as the split coco")
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
    from repro.report import list_tables

    list_tables(args.results_dir)
    return 0


def cmd_run(args) -> int:
    from repro import session

    if args.launcher == "pytorch" and "RANK" not in os.environ:
        return session.relaunch_torchrun(args)
    if args.launcher == "slurm" and "SLURM_PROCID" not in os.environ:
        print(session.slurm_command(args))
        return 0
    return session.run(args, pick_profile(args))


def cmd_report(args) -> int:
    from repro.report import main_report

    return main_report(args)


def cmd_import_server(args) -> int:
    from repro import session

    return session.import_server(args)


def cmd_score(args) -> int:
    from repro.metrics.score import main_score

    return main_score(args)


def cmd_compare(args) -> int:
    from repro.metrics.bootstrap import main_compare

    return main_compare(args)


def cmd_crf_cv(args) -> int:
    from repro import session

    return session.crf_cv(args, pick_profile(args))


def cmd_check(args) -> int:
    from repro.check import main_check

    return main_check(args)


def cmd_params(args) -> int:
    from repro.models.static import main_params

    return main_params(args)


def cmd_data(args) -> int:
    if args.data_command == "check":
        from repro.data.check import main_check

        return main_check(args)
    if args.data_command == "prepare":
        from repro.data.prepare import main_prepare

        return main_prepare(args)
    from repro.data.synth import main_synth

    size = None
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError as e:
            raise UserError(f"--size must look like 500x375 (width x height), got {args.size!r}.") \
                from e
        size = (w, h)
    kwargs = {k: v for k, v in dict(size=size, num_train=args.num_train, num_val=args.num_val,
                                    num_test=args.num_test, num_coco=args.num_coco).items()
              if v is not None}
    main_synth(args.dataset, args.out, seed=args.seed, **kwargs)
    return 0


def cmd_pretrain(args) -> int:
    from repro.pretrain import main_pretrain

    return main_pretrain(args)


def cmd_weights(args) -> int:
    from repro.weights_cli import main_weights

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
    "compare": cmd_compare,
    "data": cmd_data,
    "weights": cmd_weights,
    "pretrain": cmd_pretrain,
}

#: Errors the user can fix, by class name (their modules are imported only when needed):
#: printed as one line, exit 2.
USER_ERRORS = {
    "UserError", "UnknownTableError", "DataNotFoundError", "ResultsFileError",
    "FileNotFoundError", "DataCheckError", "UnknownOptionError", "WeightsError",
    "WeightsNotFoundError", "PlanError", "DataFileError", "ServerScoresError",
    "BaselineError", "SplitMissingError", "TablePluginError", "CaffeImportError",
    "ScoreInputError",
}


def _user_error(e: BaseException) -> bool:
    return any(k.__name__ in USER_ERRORS for k in type(e).__mro__)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # re-launched as is under torchrun / srun
    # Off a terminal (CI, Slurm, a redirected log) each plan and row line is written when it
    # is printed, in order with the progress lines on stderr, not when the buffer fills.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        os.environ.setdefault("REPRO_LOG_LEVEL", "INFO")
    try:
        return COMMANDS[args.command](args)
    except Exception as e:
        if not _user_error(e):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
