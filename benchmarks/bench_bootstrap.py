"""Benchmark of the bootstrap intervals: speed, per-image file size, coverage of the intervals.

Run (a few minutes of CPU on one core; the Cityscapes-like matrices are cached after the first
run, which spends ~9 CPU minutes drawing 500 street scenes at 2048 x 1024):

    python benchmarks/bench_bootstrap.py               # writes results/bench/bootstrap.json
    python benchmarks/bench_bootstrap.py --trials 100  # quicker, not for the record

Data (synthetic, never real numbers):

- VOC-like: 1449 (VOC12 val) prediction / label pairs of 500 x 375 pixels, 21 classes, from
  ``bench_metrics.make_pair`` (objects on background, void bands, shifted predictions, wrong
  blobs; ~72 % mIoU), scored with ``confusion_matrix``.
- Cityscapes-like: 500 (Cityscapes val) street scenes of 2048 x 1024 from the synthetic data
  generator (``repro.data.synth``), trainIds (19 classes, ignored labels 255), predictions =
  the labels shifted by up to 6 px, an occasional relabelled class and up to 7 wrong blobs.

Timing: ``time.process_time`` of this single-threaded process (OMP / MKL / OpenBLAS = 1), best
of ``--repeat`` calls; wall time would measure the shared machine's load.

Coverage: how often the nominal 95 % interval contains the population value, for ``--trials``
sets of n images drawn without replacement from a large synthetic population of per-image
matrices (the VOC-like pairs, 15000 images; and a toy population of 8 classes whose mIoU has a
strong small-sample bias). Paired cases: population B = A with a fraction of each wrongly
predicted pixel count of some classes moved to the diagonal, the truth being the population
difference. "basic" = ``2 * value - (percentile high, low)``.

Writes ``results/bench/bootstrap.json`` (format: ``benchmarks/render_report.py``) unless
``--no-write``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_metrics import make_pair  # noqa: E402

from repro.metrics.bootstrap import bootstrap_miou, paired_bootstrap  # noqa: E402
from repro.metrics.confusion import confusion_matrix, mean_iou  # noqa: E402
from repro.metrics.per_image import PerImageConfusion  # noqa: E402


# ------------------------------------------------------------------------------------- data
def voc_matrices(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([confusion_matrix(*make_pair(rng), 21) for _ in range(n)])


def cityscapes_matrices(n: int, width: int, height: int, seed: int = 1) -> np.ndarray:
    from repro.data import synth
    from repro.metrics.cityscapes import label_to_train_ids

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        _, lab, _, _ = synth._city_scene(rng, width, height)
        gt = label_to_train_ids(lab)
        truth = np.where(gt == 255, 0, gt).astype(np.uint8)
        dy, dx = rng.integers(-6, 7, 2)
        pred = np.roll(truth, (int(dy), int(dx)), axis=(0, 1))
        present = np.unique(gt[gt != 255])
        if rng.random() < 0.3:
            pred[pred == rng.choice(present)] = rng.integers(0, 19)
        for _ in range(rng.integers(0, 8)):
            cv2.circle(pred, (int(rng.integers(0, width)), int(rng.integers(0, height))),
                       int(rng.integers(10, 120)), int(rng.integers(0, 19)), -1)
        out.append(confusion_matrix(pred, gt, 19))
    return np.stack(out)


def cached(name: str, make):
    base = Path(os.environ.get("REPRO_CACHE", Path.home() / ".cache" / "repro")) / "bench"
    path = base / f"{name}.npy"
    if path.is_file():
        return np.load(path)
    t0 = time.process_time()
    arr = make()
    print(f"generated {name} in {time.process_time() - t0:.0f} CPU s", flush=True)
    base.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)
    return arr


def improve(pop: np.ndarray, rng, classes=None, fraction: float = 0.3) -> np.ndarray:
    """Move ``fraction`` (binomial) of every wrong count of ``classes`` rows to the diagonal."""
    out = pop.copy()
    C = pop.shape[1]
    for c in range(C) if classes is None else classes:
        off = out[:, c].copy()
        off[:, c] = 0
        moved = rng.binomial(off, fraction)
        out[:, c] -= moved
        out[:, c, c] += moved.sum(1)
    return out


def toy_population(rng, n: int, C: int = 8) -> np.ndarray:
    """Per-image matrices whose mIoU is biased on small sets (images differ in difficulty)."""
    confuse = np.eye(C) * 6 + rng.random((C, C))
    confuse /= confuse.sum(1, keepdims=True)
    out = np.zeros((n, C, C), np.int64)
    for k in range(n):
        present = rng.choice(C, size=int(rng.integers(1, 4)), replace=False)
        area = rng.multinomial(int(rng.integers(500, 3000)), rng.dirichlet(np.ones(present.size)))
        for c, a in zip(present, area):
            out[k, c] += rng.multinomial(a, rng.dirichlet(50 * confuse[c] + 0.01))
    return out


# ------------------------------------------------------------------------------------ speed
def best_cpu(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def bench_speed(sets: dict, repeat: int) -> dict:
    rows = []
    for label, mats in sets.items():
        other = improve(mats, np.random.default_rng(0), fraction=0.1)
        cases = [
            ("mIoU, BCa + per-class intervals (default)", lambda m=mats: bootstrap_miou(m)),
            ("mIoU, percentile, no per-class",
             lambda m=mats: bootstrap_miou(m, method="percentile", per_class=False)),
            ("paired difference, BCa + per-class",
             lambda m=mats, o=other: paired_bootstrap(o, m)),
        ]
        for name, fn in cases:
            rows.append([label, name, round(1000 * best_cpu(fn, repeat), 1)])
    return {
        "title": "Bootstrap intervals: CPU time of 1000 resamples (one thread)",
        "columns": ["data (synthetic)", "computation", "CPU ms"],
        "rows": rows,
        "notes": [
            "Goal (issue 17): well under a second per row for 1449 images; best of "
            f"{repeat} calls, time.process_time, 1 thread.",
            "Includes drawing the resamples (numpy Generator, seed 0), the counts @ per-image "
            "terms product, the jackknife (BCa) and the quantiles.",
        ],
    }


# ------------------------------------------------------------------------------- file size
def npz_size(**arrays) -> int:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return len(buf.getvalue())


def bench_size(sets: dict, names: dict) -> dict:
    rows = []
    for label, mats in sets.items():
        N, C, _ = mats.shape
        nm = np.array(names[label])
        flat = mats.reshape(N, -1)
        img, cell = np.nonzero(flat)
        count = flat[img, cell]
        per = PerImageConfusion(tuple(names[label]), tuple(f"class{c}" for c in range(C)), mats)
        buf = io.BytesIO()
        # what PerImageConfusion.save writes, measured in memory
        np.savez_compressed(buf, format=np.int64(1), names=nm,
                            classes=np.array(per.classes), matrices=mats)
        nnz = np.count_nonzero(flat, 1)
        variants = [
            ("dense int64 (N, C, C), chosen", len(buf.getvalue())),
            ("dense uint32 (N, C, C)", npz_size(names=nm, matrices=mats.astype(np.uint32))),
            ("sparse (image int32, cell uint16, count int64)",
             npz_size(names=nm, image=img.astype(np.int32), cell=cell.astype(np.uint16),
                      count=count)),
            ("sparse CSR (nnz uint16, cell uint16, count uint32)",
             npz_size(names=nm, nnz=nnz.astype(np.uint16), cell=cell.astype(np.uint16),
                      count=count.astype(np.uint32))),
            ("image names alone", npz_size(names=nm)),
            ("uncompressed dense int64 matrices", mats.nbytes),
        ]
        for name, size in variants:
            rows.append([label, f"{nnz.mean():.1f}", name, round(size / 1024, 1)])
    return {
        "title": "Per-image confusion file size (np.savez_compressed)",
        "columns": ["data (synthetic)", "non-zero cells / image", "layout", "KiB"],
        "rows": rows,
        "notes": [
            "Dense int64 is kept (repro/metrics/per_image.py): deflate already squeezes the "
            "zero cells; the smallest sparse layout saves ~20 KiB per row at the cost of a "
            "second code path.",
        ],
    }


# -------------------------------------------------------------------------------- coverage
def coverage(pop_a, pop_b, n: int, trials: int, rng) -> dict:
    truth = 100 * mean_iou(pop_a.sum(0))
    if pop_b is not None:
        truth -= 100 * mean_iou(pop_b.sum(0))
    hits = {"percentile": 0, "basic": 0, "BCa": 0}
    for t in range(trials):
        sel = rng.choice(len(pop_a), n, replace=False)
        if pop_b is None:
            bca = bootstrap_miou(pop_a[sel], seed=t, per_class=False)
            pct = bootstrap_miou(pop_a[sel], seed=t, method="percentile", per_class=False)
            value = pct.value
        else:
            bca = paired_bootstrap(pop_a[sel], pop_b[sel], seed=t, per_class=False)
            pct = paired_bootstrap(pop_a[sel], pop_b[sel], seed=t, method="percentile",
                                   per_class=False)
            value = pct.difference
        for name, (lo, hi) in (("percentile", (pct.low, pct.high)),
                               ("basic", (2 * value - pct.high, 2 * value - pct.low)),
                               ("BCa", (bca.low, bca.high))):
            hits[name] += lo <= truth <= hi
    return {k: v / trials for k, v in hits.items()}


def bench_coverage(trials: int) -> dict:
    voc = cached("bootstrap_voc_pop_15000_seed123", lambda: voc_matrices(15000, seed=123))
    toy = toy_population(np.random.default_rng(3), 20000)
    r = np.random.default_rng(5)
    cases = [
        ("mIoU, toy population (biased on small sets)", toy, None, (150, 600)),
        ("mIoU, VOC-like", voc, None, (100, 300, 1000)),
        ("paired, toy: class 2 corrected 30 %", improve(toy, r, [2], 0.3), toy, (150, 600)),
        ("paired, VOC-like: every class corrected 10 %", improve(voc, r, None, 0.1), voc,
         (100, 300, 1000)),
        ("paired, VOC-like: class 5 corrected 50 %", improve(voc, r, [5], 0.5), voc,
         (100, 300, 1000)),
    ]
    rows = []
    rng = np.random.default_rng(11)
    for name, a, b, ns in cases:
        for n in ns:
            cov = coverage(a, b, n, trials, rng)
            rows.append([name, n, round(cov["percentile"], 3), round(cov["basic"], 3),
                         round(cov["BCa"], 3)])
            print(rows[-1], flush=True)
    return {
        "title": "Bootstrap intervals: coverage of nominal 95 % intervals (synthetic populations)",
        "columns": ["statistic, population", "images", "percentile", "basic", "BCa"],
        "rows": rows,
        "notes": [
            f"Share of {trials} sets (drawn without replacement from the population) whose "
            "interval contains the population value; 1000 resamples each. Binomial standard "
            f"error ~{np.sqrt(0.95 * 0.05 / trials):.3f}.",
            "The harness uses BCa: at most ~0.02 below the percentile interval here, and far "
            "above it where mIoU is biased on small sets (toy population).",
            "VOC-like populations: 15000 images, so a set of 1000 is 7 % of it (intervals "
            "slightly conservative there).",
        ],
    }


def machine() -> str:
    from benchmarks._machine import cpu_name

    cpu = cpu_name()
    import scipy

    return (f"{cpu}, {os.cpu_count()} cores (1 thread used), Python "
            f"{platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cityscapes-size", default="2048x1024", help="WxH of the street scenes")
    ap.add_argument("--trials", type=int, default=400, help="coverage sets per case (0: skip)")
    ap.add_argument("--repeat", type=int, default=5, help="calls per timing (fastest kept)")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "bootstrap.json"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    w, h = (int(x) for x in args.cityscapes_size.split("x"))

    sets = {
        "VOC-like, 1449 images x 21 classes": cached("bootstrap_voc_1449_seed0",
                                                     lambda: voc_matrices(1449)),
        "Cityscapes-like, 500 images x 19 classes": cached(
            f"bootstrap_cityscapes_500_{w}x{h}_seed1", lambda: cityscapes_matrices(500, w, h)),
    }
    names = {
        "VOC-like, 1449 images x 21 classes": [f"{2007 + k % 5}_{k:06d}" for k in range(1449)],
        "Cityscapes-like, 500 images x 19 classes": [
            f"frankfurt_{k // 50:06d}_{k:06d}_leftImg8bit" for k in range(500)],
    }
    tables = [bench_speed(sets, args.repeat), bench_size(sets, names)]
    if args.trials > 0:
        tables.append(bench_coverage(args.trials))

    from tabulate import tabulate

    command = "python benchmarks/bench_bootstrap.py" + "".join(
        f" {flag} {v}" for flag, v, d in (("--cityscapes-size", args.cityscapes_size,
                                           "2048x1024"), ("--trials", args.trials, 400))
        if v != d)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mach = machine()
    out_tables = []
    for tab in tables:
        tab = {"title": tab["title"], "command": command, "machine": mach, "date": stamp,
               "columns": tab["columns"], "rows": tab["rows"], "notes": tab["notes"]}
        out_tables.append(tab)
        print(f"\n## {tab['title']}\n")
        print(tabulate(tab["rows"], headers=tab["columns"], tablefmt="github"))
        for note in tab["notes"]:
            print(f"- {note}")
    if not args.no_write:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"tables": out_tables}, indent=1) + "\n")
        print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
