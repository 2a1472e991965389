"""Wall and CPU time of `repro run all --profile smoke` (what CI's regression env runs), with the
machine and its load, into results/bench/smoke.json.

    python benchmarks/bench_smoke.py --jobs 2            # the CI setting
    python benchmarks/bench_smoke.py --jobs 1 --jobs 2   # both, one after the other

Each run starts from empty results and work folders and a warm synthetic-data cache (the data
is generated before the clock starts: CI generates it once too, inside the run). CPU time is
the children's user + system time; load is the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks._machine


def run_all(jobs: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as tmp:
        cmd = [sys.executable, "-m", "repro.cli", "run", "all", "--profile", "smoke",
               "--simulate-server", "--jobs", str(jobs), "--results-dir", f"{tmp}/results",
               "--reports-dir", f"{tmp}/reports", "--work-dir", f"{tmp}/work", *extra]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # A row's status lines ("   gdn/table1/fcn32s seed 0: ok ...", then for a test-set
        # row "awaiting_server" and "scored by the simulated server"): the last one counts.
        status: dict[str, str] = {}
        for line in proc.stdout.splitlines():
            m = re.match(r"^   (\S+ seed \d+): (\S+)", line)
            if m:
                status[m.group(1)] = m.group(2)
        return dict(
            jobs=jobs, wall_s=round(wall, 1),
            cpu_s=round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
            load_before=round(load_before, 2), load_after=round(os.getloadavg()[0], 2),
            exit_code=proc.returncode, rows_recorded=len(status),
            rows_failed=sum(v in ("failed", "nan_loss") for v in status.values()),
        )


def warm_cache() -> None:
    from repro import paths
    from repro.data.synth import ensure_synthetic
    from repro.profiles import get_profile

    for dataset, params in get_profile("smoke").synthetic.items():
        ensure_synthetic(dataset, paths.cache_dir() / "synthetic", **params)


def table(runs: list[dict], machine: str, date: str, git_sha: str) -> dict:
    """The runs in the shared benchmark table format (benchmarks/render_report.py)."""
    jobs = " ".join(f"--jobs {r['jobs']}" for r in runs)
    return dict(
        title="Smoke regression run: repro run all --profile smoke --simulate-server (CI's)",
        command=f"python benchmarks/bench_smoke.py {jobs}",
        machine=machine, date=date,
        columns=["jobs", "wall (min)", "CPU (min)", "load before", "load after",
                 "rows recorded", "rows failed", "exit code"],
        rows=[[r["jobs"], round(r["wall_s"] / 60, 1), round(r["cpu_s"] / 60, 1),
               r["load_before"], r["load_after"], r["rows_recorded"], r["rows_failed"],
               r["exit_code"]] for r in runs],
        notes=["From empty results and work folders, synthetic data cached (CI generates it "
               "once, inside its run); CPU time is the children's user + system time; load is "
               "the 1-minute load average before and after.",
               "Goal (issue 11): at most 15 min wall with --jobs 2.",
               f"git {git_sha}"],
        runs=runs,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, action="append", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "smoke.json")
    args, extra = parser.parse_known_args()
    warm_cache()
    runs = [run_all(j, extra) for j in (args.jobs or [2])]
    from benchmarks._machine import cpu_name
    from repro import paths

    versions = ", ".join(f"{k} {v}" for k, v in paths.versions().items())
    machine = f"{cpu_name() or platform.machine()}, {os.cpu_count()} CPUs, no GPU; {versions}"
    record = table(runs, machine, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                   paths.git_sha())
    from repro.results import atomic_write_json

    atomic_write_json(args.out, record)
    for r in runs:
        print(f"jobs {r['jobs']}: {r['wall_s'] / 60:.1f} min wall, {r['cpu_s'] / 60:.1f} min CPU, "
              f"load {r['load_before']} -> {r['load_after']}, {r['rows_recorded']} rows, "
              f"{r['rows_failed']} failed (exit {r['exit_code']})")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
