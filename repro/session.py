"""The commands that run rows (`repro run`, `repro crf-cv`, `repro import-server`): select the
rows, plan them (``repro.plan``), say what will happen, execute (``repro.runner``), record, and
render the reports (``repro.report``)."""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from pathlib import Path

from repro.plan import CrfCV, Plan, PlanError, RowPlan, Settings, plan_rows
from repro.tables.registry import Cell, Experiment, TableSpec, get_table, resolve, split_row


def settings_from(args, profile_name: str, seeds=None) -> Settings:
    import os

    from mmengine.config import DictAction

    from repro.profiles import get_profile

    cfg_options = {}
    if getattr(args, "cfg_options", None):
        ns = argparse_namespace()
        DictAction(option_strings=["--cfg-options"], dest="cfg_options")(
            None, ns, args.cfg_options)
        cfg_options = ns.cfg_options
    world_size = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", 1)))
    return Settings(
        profile=get_profile(profile_name),
        results_dir=Path(args.results_dir),
        work_root=Path(args.work_dir),
        data_root=args.data_root,
        seeds=tuple(seeds if seeds is not None else args.seed),
        force=getattr(args, "force", False),
        iters=getattr(args, "iters", None),
        checkpoint_interval=getattr(args, "checkpoint_interval", None),
        cfg_options=cfg_options,
        released=getattr(args, "released", False),
        amp=getattr(args, "amp", False),
        world_size=world_size,
        launcher=getattr(args, "launcher", "none"),
    )


def argparse_namespace():
    import argparse

    return argparse.Namespace()


# ---------------------------------------------------------------------------------------------
# Selecting rows


def user_experiment(spec: TableSpec, name: str, config: str, ref_key: str | None) -> Experiment:
    """A user's own config as a row of ``spec``, under the protocol of row ``ref_key`` (default:
    the table's first trained row): same splits, crop, batch, schedule, test mode, CRF and
    evaluator options; no paper value. Refused before any work if the config does not build."""
    if any(e.key == name for e in spec.experiments):
        raise PlanError(f"--add {name}=...: {spec.name} already has a row {name!r}; choose "
                        "another name.")
    trained = [e for e in spec.runnable if e.trained_metrics and not e.members]
    if not trained:
        raise PlanError(f"{spec.name} has no trained row whose protocol a row of yours could "
                        "follow.")
    ref = spec.experiment(ref_key) if ref_key else trained[0]
    path = Path(config).expanduser().resolve()
    if not path.is_file():
        raise PlanError(f"--add {name}={config}: no such config file; give the path of an mmseg "
                        "config (.py).")
    _check_builds(path, name)
    title = f"{name} (yours)"
    options = {k: v for k, v in ref.options.items()
               if k.split(".")[0] in ("test_evaluator", "val_evaluator")}
    cells = tuple(Cell(c.metric, title, c.col, None, c.unit) for c in ref.cells
                  if c.static is None)
    return Experiment(key=name, title=title, config=str(path), protocol=ref.protocol,
                      cells=cells, options=options, follows=ref.key)


def _check_builds(path: Path, name: str) -> None:
    """Build the user's model on the meta device: a bad key is named before any training."""
    try:
        import torch
        from mmengine.config import Config

        from repro.models.build import build_model

        cfg = Config.fromfile(str(path))
        if "model" not in cfg:
            raise PlanError(f"--add {name}={path}: the config has no `model`.")
        with torch.device("meta"):
            build_model(cfg)
    except PlanError:
        raise
    except Exception as e:  # noqa: BLE001 - any build error is the user's config
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PlanError(f"--add {name}={path}: the model does not build ({type(e).__name__}: "
                        f"{msg}). Fix that key of the config.") from e


def select(selectors: list[str], added: list[tuple[str, str, str | None]]
           ) -> list[tuple[TableSpec, list[tuple[Experiment, bool]]]]:
    """(table, [(row, user_row)]) for the command line's selectors and --add rows."""
    chosen: dict[str, tuple[TableSpec, list]] = {}
    for selector in selectors:
        table, row = split_row(selector)
        specs = [get_table(table)] if row else resolve(table)
        for spec in specs:
            entry = chosen.setdefault(spec.name, (spec, []))
            rows = [spec.experiment(row)] if row else spec.runnable
            for exp in rows:
                if all(exp.key != e.key for e, _ in entry[1]):
                    entry[1].append((exp, False))
    if added:
        if len(chosen) != 1:
            raise PlanError(f"--add puts your row into one table; the selection has "
                            f"{len(chosen)} ({', '.join(chosen)}).")
        spec, rows = next(iter(chosen.values()))
        for name, config, ref in added:
            rows.append((user_experiment(spec, name, config, ref), True))
    return list(chosen.values())


# ---------------------------------------------------------------------------------------------
# Saying what will happen


def _action(row: RowPlan, planned_trainings: dict[str, str]) -> str:
    if row.action == "done":
        return "done: same config hash, skipped (--force reruns it)"
    if row.action == "static":
        return "computed from the built model"
    if row.released is not None:
        return f"evaluate released weights {row.released['name']}"
    parts = []
    if row.members:
        parts.append(f"evaluate the ensemble of {', '.join(row.exp.members)}")
    elif row.training is not None:
        t = row.training
        todo = [s for s in t.chain() if s.key not in planned_trainings and not s.final.exists()]
        if t.final.exists():
            parts.append("evaluate (trained model reused)")
        elif not todo:
            parts.append(f"evaluate (model trained for {planned_trainings[t.key]})")
        else:
            for stage in todo:
                planned_trainings[stage.key] = row.label
            what = f"train {todo[0].iters} it" if len(todo) == 1 else \
                f"train {len(todo)} stages ({' + '.join(str(s.iters) for s in todo)} it)"
            released = [s.init_weights["name"] for s in todo if s.init_weights]
            if released:
                what += f" from the released {released[0]}"
            parts.append(what + " + evaluate")
    if isinstance(row.crf, CrfCV):
        parts.append(f"CRF cross-validated ({row.crf.grid} grid)")
    elif row.crf:
        parts.append("CRF (fixed parameters)")
    if row.exp.protocol.eval_split == "test":
        parts.append("server submission")
    return ", ".join(parts)


def describe_plan(plan: Plan, settings: Settings, jobs: int) -> str:
    lines = []
    kinds = sorted({r.data.kind for r in plan.rows}) or ["-"]
    lines.append(f"Plan: profile {settings.profile.name}, {'/'.join(kinds)} data, seeds "
                 f"{' '.join(map(str, settings.seeds))}, {jobs} job(s)"
                 + (f", overrides {settings.overrides}" if settings.overrides else ""))
    planned: dict[str, str] = {}
    by_table: dict[str, list[RowPlan]] = {}
    for r in plan.rows:
        by_table.setdefault(r.spec.name, []).append(r)
    for table, rows in by_table.items():
        count = Counter("done" if r.action == "done" else "static" if r.action == "static"
                        else "run" for r in rows)
        lines.append(f"  {table}: {count['run']} to run, {count['done']} done (skipped), "
                     f"{count['static']} static")
        for r in rows:
            tag = " [yours]" if r.user_row else ""
            lines.append(f"    {r.exp.key}{tag} seed {r.seed}: {_action(r, planned)}")
    for label, why in plan.skipped:
        lines.append(f"  skipped {label}: {why}")
    notes = Counter(n for r in plan.rows if r.action != "done" for n in r.notes)
    for note, n in notes.items():
        lines.append(f"  note: {note} ({n} row{'s' if n > 1 else ''})")
    return "\n".join(lines)


def _row_line(row: RowPlan, status: str, rows, note: str) -> str:
    values = {r.metric: r.value for r in rows}
    shown = ""
    if isinstance(values.get("mIoU"), float):
        shown = f"mIoU {values['mIoU']:.2f}"
        if isinstance(values.get("trivial_mIoU"), float):
            shown += f" (trivial {values['trivial_mIoU']:.1f})"
    elif rows and status not in ("ok", "awaiting_server"):
        shown = str(rows[0].extra.get("error", ""))[:100]
    duration = rows[0].duration_s if rows else None
    text = f"   {row.spec.name}/{row.exp.key} seed {row.seed}: {status} {shown}".rstrip()
    if duration:
        text += f" [{duration:.0f} s]"
    if note != "recorded":
        text += f"\n      {note}"
    return text


# ---------------------------------------------------------------------------------------------
# Commands


def run(args, profile_name: str) -> int:
    from repro.report import render_all
    from repro.results import ResultsFileError

    settings = settings_from(args, profile_name)
    rank0 = int(__import__("os").environ.get("RANK", 0)) == 0
    jobs = 1 if settings.launcher != "none" else args.jobs
    selection = select(args.table, args.add)
    rows, skipped, table_errors = [], [], []
    for spec, exps in selection:
        try:  # one damaged results file stops only its own table
            plan = plan_rows([(spec, e, user) for e, user in exps], settings)
        except ResultsFileError as e:
            table_errors.append(f"{spec.name}: {e}")
            continue
        rows += plan.rows
        skipped += plan.skipped
    plan = Plan(rows, skipped)
    if rank0:
        print(describe_plan(plan, settings, jobs), flush=True)
    if args.dry_run:
        return 2 if table_errors else 0
    failures: list[str] = []  # "<row> seed <n>: <error>", repeated at the end of the output
    fatal_error = None
    if any(r.action != "done" for r in plan.rows):
        from repro.progress import Display
        from repro.runner import Executor

        executor = Executor(plan, settings, jobs=jobs)
        display = Display(executor.total) if rank0 else None
        executor.display = display

        def recorded(row, status, result_rows, note):
            if status in ("failed", "nan_loss"):
                error = str(result_rows[0].extra.get("error", "")) if result_rows else ""
                error = " ".join(error.split())  # one line per row
                failures.append(f"{row.spec.name}/{row.exp.key} seed {row.seed}: {status}"
                                + (f": {error[:300]}" if error else ""))
            if display is not None:
                display.output(_row_line(row, status, result_rows, note))

        executor.on_recorded = recorded
        try:
            executor.run()
        finally:
            if display is not None:
                display.close()
        fatal_error = executor.fatal_error
    if rank0 and args.simulate_server:
        for row in plan.rows:
            _simulate_if_awaiting(row, settings.results_dir)
    broken = {e.split(":", 1)[0] for e in table_errors}
    specs = [spec for spec, _ in selection if spec.name not in broken]
    if rank0 and specs:
        for out in render_all(settings.results_dir, args.reports_dir, specs,
                              settings.profile.name):
            print(f"report: {out}")
    for e in table_errors:
        print(f"error: {e}", file=sys.stderr)
    if fatal_error:
        print(f"error: {fatal_error}", file=sys.stderr)
        return 2
    if failures:
        # Repeated here, after the reports: a long run's log is often read from its tail.
        print(f"{len(failures)} row(s) failed (the reports' Rows section has the tracebacks); "
              "rerun them after fixing the cause (a failed row is rerun without --force):\n"
              + "\n".join(f"  {line}" for line in failures), file=sys.stderr)
    return 2 if table_errors else 1 if failures else 0


def _simulate_if_awaiting(row: RowPlan, results_dir: Path) -> None:
    from repro import server
    from repro.results import read_file

    if not row.result_path.exists():
        return
    rows = read_file(row.result_path)
    if not rows or rows[0].status != "awaiting_server" or rows[0].data != "synthetic":
        return
    scores = server.simulate_into(row.result_path, results_dir, row.exp.protocol.dataset)
    print(f"   {row.spec.name}/{row.exp.key} seed {row.seed}: scored by the simulated server, "
          f"mIoU {scores['mIoU']:.2f}")


def crf_cv(args, profile_name: str) -> int:
    """`repro crf-cv TABLE/ROW`: train the row's model if needed, then cross-validate its CRF
    parameters (always anew); the row's CRF evaluation then uses them."""
    from repro.runner import Executor

    table, key = split_row(args.row)
    if key is None:
        raise PlanError(f"Give one row as TABLE/ROW, e.g. {args.row}/<row>.")
    spec = get_table(table)
    exp = spec.experiment(key)
    if not exp.protocol.crf or isinstance(exp.protocol.crf, dict):
        raise PlanError(f"{args.row} has no cross-validated CRF (protocol crf="
                        f"{exp.protocol.crf!r}).")
    settings = dataclasses.replace(settings_from(args, profile_name, seeds=[args.seed]),
                                   force=True)
    plan = plan_rows([(spec, exp, False)], settings)
    row = plan.rows[0]
    executor = Executor(Plan([row], []), settings)
    executor.tasks = {k: t for k, t in executor.tasks.items() if not k.startswith("eval:")}
    outcomes = executor.run()
    status, info = outcomes.get(f"crf:{row.crf.key}", ("failed", {"error": "not run"}))
    if status != "ok":
        print(f"error: {info.get('error') if isinstance(info, dict) else info}", file=sys.stderr)
        return 1
    print(f"chosen parameters: {info} ({row.crf.out})")
    return 0


def import_server(args) -> int:
    from repro import server
    from repro.report import render_all
    from repro.results import read_file, result_path

    table, key = split_row(args.row)
    if key is None:
        raise PlanError(f"Give one row as TABLE/ROW (e.g. {args.row}/<row>); `repro list` shows "
                        "the tables.")
    spec = get_table(table)
    exp = spec.experiment(key)
    if exp.protocol.eval_split != "test":
        raise PlanError(f"{args.row} is evaluated on {exp.protocol.eval_split}, not on the test "
                        "set: its numbers come from `repro run`, not from a server.")
    profiles = [args.profile] if args.profile else ["paper", "smoke"]
    paths = [result_path(args.results_dir, p, table, key, args.seed) for p in profiles]
    path = next((p for p in paths if p.exists()), None)
    if path is None:
        raise PlanError(f"No result for {args.row} (seed {args.seed}) at "
                        f"{' or '.join(map(str, paths))}: run `repro run {args.row}` first, "
                        "upload its submission, then import.")
    rows = read_file(path)
    if args.simulate:
        if not rows or "submission_dir" not in rows[0].extra:
            raise PlanError(f"No submission recorded for {args.row} in {path}: run "
                            f"`repro run {args.row} --profile {rows[0].profile if rows else ''}` "
                            "first.")
        if rows[0].data != "synthetic":
            raise PlanError("--simulate only works on synthetic data; import the real server's "
                            "numbers with --scores FILE.")
        scores = server.simulate_into(path, args.results_dir, exp.protocol.dataset)
    else:
        scores = server.parse_scores(args.scores, server.class_names(exp.protocol.dataset))
        server.import_scores(path, scores, "server", f"evaluation server ({args.scores})")
    print(f"{args.row}: mIoU {scores['mIoU']:.2f} imported into {path}")
    for out in render_all(args.results_dir, args.reports_dir, [spec], rows[0].profile):
        print(f"report: {out}")
    return 0


def relaunch_torchrun(args) -> int:
    """`--launcher pytorch`: rerun this very command under torchrun, one process per GPU
    (gloo on CPU), through mmengine's launcher support."""
    from repro.runner import relaunch_under_torchrun

    return relaunch_under_torchrun("repro.cli", args.argv, args.gpus)


def slurm_command(args) -> str:
    n = args.gpus
    return (f"srun --ntasks={n} --ntasks-per-node={min(n, 8)} --gres=gpu:{min(n, 8)} "
            f"--cpus-per-task=5 --kill-on-bad-exit=1 "
            f"{sys.executable} -m repro.cli {' '.join(args.argv)}")


def run_experiment(spec: TableSpec, exp: Experiment, profile, *, results_dir, work_root,
                   data_root: str | None = None, seed: int = 0, force: bool = False,
                   jobs: int = 1, **settings) -> tuple[str, list]:
    """Plan, run and record one row (the API of `repro run TABLE/ROW`, for scripts and tests).

    Returns ``(status, rows)``: the attempt's status and result rows ("ok", "failed",
    "nan_loss", "awaiting_server"); ``("skipped (done, same config hash)", current rows)``
    for a row already done; ``("skipped", [(row, reason)])`` for a row whose optional data is
    absent. Raises ``repro.runner.DataFileError`` when a data file breaks while it is read.
    """
    from repro.results import read_file
    from repro.runner import DataFileError, Executor

    s = Settings(profile=profile, results_dir=Path(results_dir), work_root=Path(work_root),
                 data_root=data_root, seeds=(seed,), force=force, **settings)
    plan = plan_rows([(spec, exp, False)], s)
    if not plan.rows:
        return "skipped", plan.skipped
    row = plan.rows[0]
    if row.action == "done":
        return "skipped (done, same config hash)", read_file(row.result_path)
    got: dict = {}
    executor = Executor(plan, s, jobs=jobs,
                        on_recorded=lambda r, status, rows, note: got.update(
                            {r.label: (status, rows, note)}))
    executor.run()
    if executor.fatal_error:
        raise DataFileError(executor.fatal_error)
    status, rows, _ = got[row.label]
    return status, rows
