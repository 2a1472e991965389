"""Dense-CRF benchmarks: seconds per VOC-size image (pydensecrf, PyTorch mean-field) and the
exhaustive vs fast DeepLab cross-validation (wall time, CRF calls, mIoU of the pick).

    python benchmarks/bench_crf.py                 # writes results/bench/crf.json (~25 min here)
    python benchmarks/bench_crf.py --cv-images 20 --out /tmp/crf.json   # quick look

Speed: a 500x375 photograph (scikit-image's ``chelsea``, scaled and centre-cropped) with
synthetic 21-class unaries (smooth random logits), Gaussian sxy 3 compat 3 + bilateral sxy 80
srgb 13 compat 10, 10 iterations; median of repeated runs; one thread for pydensecrf and the
CPU torch path; CUDA when ``torch.cuda.is_available()``.

Cross-validation: the exhaustive search over DeepLab's v2 grid (128 points) on 100 VOC-size
images is 12,800 pydensecrf calls, 2-4 hours on a core, too long for these shared 2-core
machines. So both searches run on 100 synthetic images at a reduced size (``--cv-size``, default
72x96; ``repro.crf.synthetic``: textured objects, a void band, stride-8 noisy network
probabilities), the exhaustive one as the sequential reference loop of pydensecrf calls. The
exhaustive run keeps every (point, image) confusion matrix, so the fast search is also replayed
over many random image orders (``repro.crf.cv.replay``) to measure how often it lands within 0.1
mIoU of the optimum, not only for the one order timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repro.crf import cv as crf_cv  # noqa: E402
from repro.crf.dense import CRFParams, available_cpus, crf_inference  # noqa: E402
from repro.crf.meanfield import dense_crf_torch  # noqa: E402
from repro.crf.synthetic import make_dataset  # noqa: E402

H, W, C = 375, 500, 21
SPEED_PARAMS = CRFParams(w1=10, sigma_alpha=80, sigma_beta=13, w2=3, sigma_gamma=3, iterations=10)


def photo() -> np.ndarray:
    from skimage import data

    img = data.chelsea()
    s = max(W / img.shape[1], H / img.shape[0])
    img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)))
    y0, x0 = (img.shape[0] - H) // 2, (img.shape[1] - W) // 2
    return np.ascontiguousarray(img[y0 : y0 + H, x0 : x0 + W])


def smooth_probs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = rng.normal(size=(H // 40 + 1, W // 40 + 1, C)).astype(np.float32) * 2.5
    up = cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC).transpose(2, 0, 1)
    p = np.exp(up - up.max(0))
    return (p / p.sum(0)).astype(np.float32)


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def speed_table(repeats: int) -> dict:
    load0 = os.getloadavg()[0]
    image, probs = photo(), smooth_probs()
    prm = SPEED_PARAMS
    torch.set_num_threads(1)
    t_ref, q_ref = median_time(lambda: crf_inference(probs, image, prm), repeats)
    lab_ref = q_ref.argmax(0)

    def run_torch(device):
        p = torch.from_numpy(probs).to(device)
        im = torch.from_numpy(image).permute(2, 0, 1).to(device)

        def fn():
            with torch.no_grad():
                q = dense_crf_torch(p, im, prm.w1, prm.sigma_alpha, prm.sigma_beta, prm.w2,
                                    prm.sigma_gamma, prm.iterations)
            if device != "cpu":
                torch.cuda.synchronize()
            return q.cpu().numpy()

        fn()  # warm-up (allocator, CUDA context)
        return median_time(fn, repeats)

    rows = [["pydensecrf2 (C++ permutohedral, SSE)", "CPU, 1 thread", round(t_ref, 3), 1.0, 0.0,
             0.0]]
    t_cpu, q_cpu = run_torch("cpu")
    diff = 100 * float((q_cpu.argmax(0) != lab_ref).mean())
    rows.append(["repro.crf.meanfield (PyTorch port)", "CPU, 1 thread", round(t_cpu, 3),
                 round(t_cpu / t_ref, 2), round(diff, 4), float(np.abs(q_cpu - q_ref).max())])
    notes = [
        f"Load average (1 min) of this shared 2-CPU machine: {load0:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after: with other jobs running, both rows slow down alike "
        "(pydensecrf measured ~0.48 s on an idle core, see shared/notes/environment.md).",
        "500x375 photograph (skimage chelsea), 21 labels, synthetic smooth unaries; Gaussian sxy 3 "
        "compat 3 + bilateral sxy 80 srgb 13 compat 10, 10 mean-field iterations; median of "
        f"{repeats} runs, lattice construction included.",
        f"The CRF changes {100 * float((lab_ref != probs.argmax(0)).mean()):.1f} % of the labels "
        "here; 'label diff.' = pixels whose arg-max differs from pydensecrf.",
    ]
    if torch.cuda.is_available():
        t_gpu, q_gpu = run_torch("cuda")
        rows.append(["repro.crf.meanfield (PyTorch port)", torch.cuda.get_device_name(0),
                     round(t_gpu, 4), round(t_gpu / t_ref, 3),
                     round(100 * float((q_gpu.argmax(0) != lab_ref).mean()), 4),
                     float(np.abs(q_gpu - q_ref).max())])
    else:
        notes.append("No GPU on this machine: the CUDA row is missing (the code is device-agnostic;"
                     " run this script on a GPU machine to add it).")
    return dict(
        title="Dense CRF, seconds per 500x375 image",
        columns=["implementation", "device", "s / image", "x pydensecrf", "label diff. %",
                 "max |dQ|"],
        rows=rows, notes=notes,
    )


def write_dataset(root: Path, n: int, h: int, w: int, seed: int) -> Path:
    from PIL import Image

    (root / "img").mkdir(parents=True, exist_ok=True)
    items = []
    for name, p, img, lab in make_dataset(n, h, w, seed=seed, scale=4.0, noise=1.5):
        ip, lp = root / "img" / f"{name}.png", root / "img" / f"{name}_gt.png"
        Image.fromarray(img).save(ip)
        Image.fromarray(lab).save(lp)
        items.append((name, p, str(ip), str(lp)))
    crf_cv.save_probabilities(root, items)
    return root


def cv_tables(n: int, h: int, w: int, seed: int, replays: int,
              workers: int | None) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        d = write_dataset(Path(tmp), n, h, w, seed)
        loads = [os.getloadavg()[0]]
        ex = crf_cv.search(d, grid="v2", strategy="exhaustive", workers=1, keep_pairs=True,
                           progress=False)
        loads.append(os.getloadavg()[0])
        fast = crf_cv.search(d, grid="v2", strategy="fast", workers=workers, progress=False)
        loads.append(os.getloadavg()[0])
        fast1 = crf_cv.search(d, grid="v2", strategy="fast", workers=1, progress=False)
        loads.append(os.getloadavg()[0])
    pairs = ex.pop("pair_confusions")
    key = ("w1", "sigma_alpha", "sigma_beta")
    ex_miou = {tuple(p[k] for k in key): p["miou"] for p in ex["points"]}
    opt = ex["best_miou"]
    n_pts = len(ex["points"])
    point_seconds = _point_seconds(ex, pairs.shape[1])

    def row(name, r):
        pick = tuple(r["best"][k] for k in key)
        m = ex_miou[pick]
        return [name, r["workers"], r["evaluations"], round(r["crf_seconds"], 1),
                round(r["wall_time_s"], 1), round(ex["wall_time_s"] / r["wall_time_s"], 1),
                "w1={:g} sa={:g} sb={:g}".format(*pick), round(m, 3), round(opt - m, 3)]

    live = dict(
        title=f"DeepLab CRF cross-validation, v2 grid, {n} images: exhaustive vs fast",
        columns=["strategy", "workers", "CRF calls", "CRF s", "wall s", "speed-up", "picked",
                 "mIoU of pick", "gap to optimum"],
        rows=[row("exhaustive (sequential reference)", ex), row("fast (process pool)", fast),
              row("fast (1 worker)", fast1)],
        notes=[
            f"{n} synthetic images of {w}x{h} (reduced from VOC's 500x375 so that the exhaustive "
            "reference finishes in minutes on this shared machine), 21 classes, DeepLab v2 grid "
            f"({n_pts} points); no CRF {ex['no_crf_miou']:.2f} mIoU, exhaustive optimum "
            f"{opt:.3f} at { {k: ex['best'][k] for k in key} }.",
            "mIoU of a pick = its mIoU on all images (one confusion matrix over the images); "
            "'gap' = exhaustive optimum minus that (goal: <= 0.1); speed-up = exhaustive wall "
            "time / this wall time (goal: >= 10); 'CRF s' = summed time inside pydensecrf "
            "calls (all workers).",
            "Load average (1 min) of the shared 2-CPU machine at the start of the exhaustive, "
            "fast (pool) and fast (1 worker) runs and at the end: "
            + ", ".join(f"{v:.1f}" for v in loads) + ". Wall times of runs made at different "
            "loads are not strictly comparable; the load-independent measure is the CRF-time "
            "share in the replay table below.",
            f"fast = opportunistic pattern search from the grid centre (+-1 step per axis, "
            f"cheapest poll first, exact scores on all images); process pool of "
            f"{fast['workers']} workers on {available_cpus()} CPUs "
            "shared with other users (load average at the end "
            f"{os.getloadavg()[0]:.1f}): the pool's share of the speed-up depends on that load; "
            "'fast (1 worker)' isolates the search's own share.",
            "At 500x375 a call costs ~10x more (0.5-1.4 s) while the per-task overheads (fork, "
            "reading one .npz) stay the same, so the speed-up there is at least this one for "
            "the same number of free cores.",
        ],
    )
    total = float(point_seconds.sum() * pairs.shape[1])
    rows = []
    for strategy in ("fast", "coarse_to_fine", "halving"):
        res = {b: [crf_cv.replay(pairs, "v2", strategy, seed=s, seconds=point_seconds,
                                 bootstrap=b) for s in range(replays)] for b in (False, True)}
        calls = np.mean([r["evaluations"] for r in res[False]]) / (n_pts * n)
        cost = np.mean([r["cost"] for r in res[False]]) / total
        ok = {b: sum(r["gap"] <= 0.1 + 1e-9 for r in rs) for b, rs in res.items()}
        worst = max(r["gap"] for rs in res.values() for r in rs)
        rows.append([strategy, round(100 * float(calls), 1), round(100 * float(cost), 1),
                     f"{ok[False]}/{replays}", f"{ok[True]}/{replays}", round(float(worst), 3)])
    rel = dict(
        title="CRF cross-validation strategies replayed on the stored confusion matrices",
        columns=["strategy", "CRF calls % of exhaustive", "CRF time % of exhaustive",
                 "gap <= 0.1 (image orders)", "gap <= 0.1 (bootstrap sets)", "max gap"],
        rows=rows,
        notes=[
            "The exhaustive run above keeps every (point, image) confusion matrix; "
            "repro.crf.cv.replay re-runs a strategy on them in milliseconds. 'image orders': "
            f"{replays} random permutations of the {n} images (only 'halving' depends on it); "
            f"'bootstrap sets': {replays} resamples of the images with replacement, i.e. other "
            "held-out sets with other mIoU landscapes, each against its own exhaustive optimum.",
            "CRF time weights each call by the measured mean time of its grid point (narrow "
            "kernels cost more).",
            "halving = successive halving over nested image subsets (8, 25, 100 images; 1/8 of "
            "the points survive a rung, at least 4): cheap but unreliable here, because on a few "
            "images mIoU is decided by the few classes present.",
        ],
    )
    return [live, rel]


def _point_seconds(ex: dict, n_images: int) -> np.ndarray:
    """Measured mean seconds per CRF call of each grid point (exhaustive run, grid order)."""
    return np.array([p["seconds_per_image"] for p in ex["points"]])


def machine(workers: int) -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import pydensecrf

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {available_cpus()} CPUs (speed: 1 thread; CV pool: {workers} workers), {gpu}, "
        f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"pydensecrf2 ({Path(pydensecrf.__file__).parent.name})"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="runs per speed measurement")
    ap.add_argument("--cv-images", type=int, default=100)
    ap.add_argument("--cv-size", default="72x96", help="HxW of the synthetic CV images")
    ap.add_argument("--seed", type=int, default=0, help="synthetic dataset seed")
    ap.add_argument("--replays", type=int, default=100, help="image orders / resamples replayed")
    ap.add_argument("--workers", type=int, default=None, help="fast-search pool size")
    ap.add_argument("--skip-speed", action="store_true",
                    help="keep the speed table of --out, measure only the cross-validation")
    ap.add_argument("--skip-cv", action="store_true",
                    help="keep the cross-validation tables of --out, measure only the speed")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "crf.json"))
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.cv_size.lower().split("x"))
    command = "python benchmarks/bench_crf.py" + ("" if argv is None else " " + " ".join(argv))
    if argv is None and len(sys.argv) > 1:
        command = "python benchmarks/bench_crf.py " + " ".join(sys.argv[1:])
    stamp = dict(command=command, machine=machine(args.workers or available_cpus()),
                 date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    tables = []
    if not args.skip_speed:
        tables.append(dict(speed_table(args.repeats), **stamp))
    if not args.skip_cv:
        for t in cv_tables(args.cv_images, h, w, args.seed, args.replays, args.workers):
            tables.append(dict(t, **stamp))
    order = ("title", "command", "machine", "date", "columns", "rows", "notes")
    out = Path(args.out)
    if (args.skip_speed or args.skip_cv) and out.exists():  # keep the tables not re-measured
        kept = json.loads(out.read_text())["tables"]
        speed = [t for t in kept if t["title"].startswith("Dense CRF, seconds")]
        other = [t for t in kept if not t["title"].startswith("Dense CRF, seconds")]
        tables = (speed if args.skip_speed else tables[:1]) + (
            other if args.skip_cv else tables[(0 if args.skip_speed else 1):])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tables": [{k: t[k] for k in order} for t in tables]}, indent=1))
    print(f"wrote {out}")
    for t in tables:
        print(t["title"])
        for r in t["rows"]:
            print("  ", r)
        for note in t["notes"]:
            print("   -", note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
