"""Dense-CRF benchmarks: seconds per VOC-size image (pydensecrf vs the PyTorch mean-field,
interleaved) and DeepLab's CRF cross-validation at VOC size (exhaustive, coarse-to-fine, fast).

    nice -n 19 python benchmarks/crf_reference.py   # once: the exhaustive reference (hours)
    nice -n 15 python benchmarks/bench_crf.py       # minutes: writes results/bench/crf.json
    nice -n 15 python benchmarks/bench_crf.py --live   # + a live fast search per grid (~1 h)

Speed: 500x375 images -- a photograph (scikit-image's ``chelsea``, scaled and centre-cropped)
with synthetic smooth 21-class unaries, and synthetic scenes with stride-8 network-like
probabilities (``repro.crf.synthetic``) -- Gaussian sxy 3 compat 3 + bilateral sxy 80 srgb 13
compat 10, 10 iterations. pydensecrf and the PyTorch port (``repro.crf.meanfield``, one
thread) are called one after the other on every image, in alternating order, ``--repeats``
times; each call is timed in CPU time (``time.process_time``) and wall time, and the ratio is
taken per image (so load drift between images cancels). The CUDA row is added on a GPU machine
(``benchmarks/gpu_check.py`` measures that one).

Cross-validation: ``benchmarks/crf_reference.py`` scores every point of DeepLab's v1 (96
points) and v2 (128) grids on 100 synthetic VOC-size images and stores every (point, image)
confusion matrix with the CPU seconds of its pydensecrf call and its inputs' fingerprint
(``results/bench/crf_cv_reference.npz``). This script replays each search strategy on those
matrices (``repro.crf.cv.replay``): exactly the calls a live search makes and exactly its
scores, without new CRF calls, and its CRF time as the sum of the measured CPU seconds of the
calls it makes. It also replays the searches on 100 bootstrap resamples of the images (other
held-out sets, other mIoU landscapes), each against its own exhaustive optimum. ``--live`` runs
the fast search for real on the stored dataset and checks it picks what the replay picks.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import crf_reference as ref_mod  # noqa: E402
from repro.crf import cv as crf_cv  # noqa: E402
from repro.crf.dense import CRFParams, available_cpus, crf_inference  # noqa: E402
from repro.crf.meanfield import dense_crf_torch  # noqa: E402
from repro.crf.synthetic import make_scene, network_probs  # noqa: E402

H, W, C = 375, 500, 21
SPEED_PARAMS = CRFParams(w1=10, sigma_alpha=80, sigma_beta=13, w2=3, sigma_gamma=3, iterations=10)
STRATEGIES = ("exhaustive", "coarse_to_fine", "fast")
GOAL_GAP, GOAL_OK, GOAL_CALLS = 0.1, 98, 5.0


def load1() -> float:
    return round(os.getloadavg()[0], 2)


# ------------------------------------------------------------------------------------ speed
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


def speed_images(n_synthetic: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, probs (C, H, W) float32, image (H, W, 3) uint8) at VOC size."""
    out = [("the chelsea photograph (smooth random unaries)", smooth_probs(), photo())]
    rng = np.random.default_rng(0)
    for i in range(n_synthetic):
        image, label = make_scene(rng, H, W, C)
        out.append((f"synthetic scene {i}", network_probs(rng, label, C, **ref_mod.PROBS_KW),
                    image))
    return out


def speed_table(n_synthetic: int, repeats: int) -> dict:
    torch.set_num_threads(1)
    prm = SPEED_PARAMS
    images = speed_images(n_synthetic)

    def run_torch(probs, image):
        with torch.no_grad():
            img = torch.from_numpy(image).permute(2, 0, 1)
            return dense_crf_torch(torch.from_numpy(probs), img, prm.w1, prm.sigma_alpha,
                                   prm.sigma_beta, prm.w2, prm.sigma_gamma,
                                   prm.iterations).numpy()

    def run_ref(probs, image):
        return crf_inference(probs, image, prm)

    run_torch(*images[0][1:])  # warm-up (allocator, sparse kernels)
    impls = (("ref", run_ref), ("torch", run_torch))
    cpu = {k: np.zeros((repeats, len(images))) for k, _ in impls}
    wall = {k: np.zeros((repeats, len(images))) for k, _ in impls}
    diff, dq = np.zeros(len(images)), np.zeros(len(images))
    loads = [load1()]
    for r in range(repeats):
        for i, (_, probs, image) in enumerate(images):
            order = impls if (i + r) % 2 == 0 else impls[::-1]
            q = {}
            for key, fn in order:
                c0, w0 = time.process_time(), time.perf_counter()
                q[key] = fn(probs, image)
                wall[key][r, i] = time.perf_counter() - w0
                cpu[key][r, i] = time.process_time() - c0
            diff[i] = 100 * float((q["torch"].argmax(0) != q["ref"].argmax(0)).mean())
            dq[i] = float(np.abs(q["torch"] - q["ref"]).max())
        loads.append(load1())
    changed = np.mean([100 * float((crf_inference(p, im, prm).argmax(0) != p.argmax(0)).mean())
                       for _, p, im in images[:2]])

    def ratio(d):  # per image: median over repeats of torch / ref, then median over images
        per_image = np.median(d["torch"] / d["ref"], axis=0)
        return f"{np.median(per_image):.2f} ({per_image.min():.2f}-{per_image.max():.2f})"

    rows = [
        ["pydensecrf2 (C++ permutohedral, SSE)", "CPU, 1 thread",
         round(float(np.median(cpu["ref"])), 3), round(float(np.median(wall["ref"])), 3),
         "1.00", "1.00", 0.0, 0.0, 0.0],
        ["repro.crf.meanfield (PyTorch port)", "CPU, 1 thread",
         round(float(np.median(cpu["torch"])), 3), round(float(np.median(wall["torch"])), 3),
         ratio(cpu), ratio(wall), round(float(diff.mean()), 4), round(float(diff.max()), 4),
         float(dq.max())],
    ]
    notes = [
        f"{len(images)} images of 500x375: {images[0][0]} and {len(images) - 1} synthetic "
        "scenes with stride-8 network-like probabilities (repro.crf.synthetic, seed 0); 21 "
        "labels; Gaussian sxy 3 compat "
        "3 + bilateral sxy 80 srgb 13 compat 10, 10 mean-field iterations; lattice construction "
        "included.",
        f"Interleaved: on every image the two implementations run one after the other, the "
        f"order alternating between images and repeats ({repeats} repeats); s / image = median "
        "over all calls; 'x pydensecrf' = torch time / pydensecrf time on the same image "
        "(median over repeats), median (min-max) over the images.",
        "1-minute load average of the shared machine before the first repeat and after each: "
        + ", ".join(f"{v:.1f}" for v in loads) + ".",
        f"The CRF changes {changed:.1f} % of the labels of the first two images; 'label diff.' "
        "= pixels whose arg-max differs from pydensecrf's (mean and max over the images).",
        "The CUDA figures are measured by benchmarks/gpu_check.py on a GPU machine "
        "(results/bench/gpu.json when one was available).",
    ]
    return dict(
        title="Dense CRF, seconds per 500x375 image (interleaved, same images)",
        columns=["implementation", "device", "CPU s / image", "wall s / image",
                 "x pydensecrf (CPU)", "x pydensecrf (wall)", "label diff. % (mean)",
                 "label diff. % (max)", "max |dQ|"],
        rows=rows, notes=notes,
    )


# --------------------------------------------------------------------------- cross-validation
def _name(point: dict) -> str:
    return "w1={:g} sa={:g} sb={:g}".format(point["w1"], point["sigma_alpha"],
                                             point["sigma_beta"])


def cv_tables(ref: dict, replays: int, live: dict | None) -> list[dict]:
    tables = []
    rel_rows = []
    n_images = ref["pairs"].shape[1]
    hh, ww = ref["dataset"]["size"]
    for grid in ("v1", "v2"):
        pairs, cpu, wall = ref_mod.grid_view(ref, grid)
        points = crf_cv.grid_points(crf_cv.parse_grid(grid))
        P, N = pairs.shape[:2]
        scores = np.array([crf_cv._miou(m) for m in pairs.sum(1)])
        opt = float(scores.max())
        base = {s: crf_cv.replay(pairs, grid, s, seconds=cpu, seed=0) for s in STRATEGIES}
        c2f_calls = base["coarse_to_fine"]["evaluations"]
        rows = []
        for s in STRATEGIES:
            r = base[s]
            rows.append([
                s, r["evaluations"], round(100 * r["evaluations"] / (P * N), 1),
                round(c2f_calls / r["evaluations"], 2), round(r["cost"] / 3600, 2),
                _name(points[r["best"]]), round(r["miou"], 3), round(r["gap"], 3),
            ])
        if live and grid in live:
            lv = live[grid]
            rows.append([
                "fast, live run (1 process)", lv["evaluations"],
                round(100 * lv["evaluations"] / (P * N), 1),
                round(c2f_calls / lv["evaluations"], 2), round(lv["cpu_s"] / 3600, 2),
                _name(lv["best"]), round(lv["best_miou"], 3), round(opt - lv["best_miou"], 3),
            ])
        no_crf = crf_cv._miou(ref["base"]) if "base" in ref else None
        tables.append(dict(
            title=f"DeepLab CRF cross-validation, {grid} grid ({P} points), {N} images of "
                  f"{ww}x{hh}: exhaustive, coarse-to-fine, fast",
            columns=["strategy", "CRF calls", "% of exhaustive", "x fewer calls than "
                     "coarse-to-fine", "CRF CPU hours", "picked", "mIoU of pick",
                     "gap to optimum"],
            rows=rows,
            notes=[n for n in [
                f"{N} synthetic {ww}x{hh} images (repro.crf.synthetic, seed 0, scale 4, noise "
                f"1.5: stride-8 network-like probabilities); exhaustive optimum {opt:.3f} mIoU "
                f"at {_name(points[int(scores.argmax())])}"
                + (f"; without CRF {no_crf:.2f}." if no_crf is not None else "."),
                "Replayed on the stored confusion matrices of every (point, image) "
                "(results/bench/crf_cv_reference.npz, from benchmarks/crf_reference.py): the "
                "calls and scores of a live search, no new CRF call. CRF CPU hours = the sum of "
                "the measured CPU seconds of the pydensecrf calls the strategy makes (one "
                "thread); a live search adds loading and, with a pool, runs them on several "
                "cores.",
                f"Measuring the reference took {cpu.sum() / 3600:.2f} CPU hours "
                f"({wall.sum() / 3600:.2f} wall hours of the calls, niced on the shared "
                "2-core machine) for this grid's points.",
                "gap = exhaustive optimum minus the pick's mIoU on all images (goal for fast: "
                f"<= {GOAL_GAP}); 'x fewer calls' = coarse-to-fine's calls / this strategy's "
                f"(goal for fast: >= {GOAL_CALLS:g}).",
                ("live run: repro.crf.cv.search(strategy='fast', workers=1) on the stored "
                 "dataset; its pick and calls must equal the replay's (checked), its CRF CPU "
                 "time is measured anew." if live and grid in live else None),
            ] if n],
        ))
        # reliability over resampled image sets
        for s in STRATEGIES[1:] + ("halving",):
            res = [crf_cv.replay(pairs, grid, s, seed=k, seconds=cpu, bootstrap=True)
                   for k in range(replays)]
            gaps = np.array([r["gap"] for r in res])
            calls = np.array([r["evaluations"] for r in res])
            c2f = np.array([crf_cv.replay(pairs, grid, "coarse_to_fine", seed=k, seconds=cpu,
                                          bootstrap=True)["evaluations"] for k in range(replays)])
            ok = int((gaps <= GOAL_GAP + 1e-9).sum())
            fewer = float(np.median(c2f / calls))
            if s == "fast":
                verdict = ("met" if ok >= GOAL_OK * replays / 100 and fewer >= GOAL_CALLS
                           else "NOT met")
            else:
                verdict = "-"
            rungs = res[0]["rungs"]
            label = s if s != "halving" else (
                "halving (images per rung: " + ", ".join(str(r["n_images"]) for r in rungs)
                + ")")
            rel_rows.append([grid, label, f"{ok}/{replays}", round(float(np.median(gaps)), 3),
                             round(float(gaps.max()), 3),
                             round(float(100 * calls.mean() / (P * N)), 1),
                             round(fewer, 2), verdict])
    tables.append(dict(
        title=f"CRF cross-validation strategies on {replays} resampled image sets",
        columns=["grid", "strategy", f"gap <= {GOAL_GAP}", "median gap", "max gap",
                 "CRF calls % of exhaustive", "x fewer calls than coarse-to-fine (median)",
                 "goal"],
        rows=rel_rows,
        notes=[
            f"Each resampled set draws {n_images} of the {n_images} stored images with "
            "replacement (bootstrap; seeds 0..{}): another held-out set with another mIoU "
            "landscape; every strategy is replayed on it and compared with that set's own "
            "exhaustive optimum.".format(replays - 1),
            f"Goal for fast: gap <= {GOAL_GAP} mIoU in >= {GOAL_OK}/100 sets and >= "
            f"{GOAL_CALLS:g}x fewer CRF calls than coarse-to-fine.",
            "halving = successive halving over nested random image subsets (the rungs "
            "listed), for comparison: cheap but unreliable, because on a few images mIoU is "
            "decided by the few classes present.",
        ],
    ))
    return tables


def live_fast(root: Path, grids=("v1", "v2")) -> dict:
    """The fast search for real (one process) on the stored dataset, per grid."""
    out = {}
    for grid in grids:
        c0, w0 = time.process_time(), time.perf_counter()
        r = crf_cv.search(root, grid=grid, strategy="fast", workers=1, progress=False)
        out[grid] = dict(best=r["best"], best_miou=r["best_miou"], evaluations=r["evaluations"],
                         cpu_s=time.process_time() - c0, wall_s=time.perf_counter() - w0,
                         crf_s=r["crf_seconds"])
    return out


def machine() -> str:
    from benchmarks._machine import cpu_name

    cpu = cpu_name()
    from importlib.metadata import version

    return (
        f"{cpu}, {available_cpus()} CPUs (1 thread used), no GPU, Python "
        f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"pydensecrf2 {version('pydensecrf2')}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="passes over the speed images")
    ap.add_argument("--speed-images", type=int, default=5,
                    help="synthetic VOC-size scenes besides the photograph (speed table)")
    ap.add_argument("--replays", type=int, default=100, help="resampled image sets")
    ap.add_argument("--store", type=Path, default=ref_mod.STORE)
    ap.add_argument("--live", action="store_true",
                    help="also run the fast search for real on the stored dataset")
    ap.add_argument("--skip-speed", action="store_true",
                    help="keep the speed table of --out, redo only the cross-validation")
    ap.add_argument("--skip-cv", action="store_true",
                    help="keep the cross-validation tables of --out, redo only the speed table")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "crf.json"))
    args = ap.parse_args(argv)
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    command = ("nice -n 15 python benchmarks/bench_crf.py " + argv_text).strip()
    stamp = dict(command=command, machine=machine(),
                 date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    out = Path(args.out)
    tables = []
    if args.skip_speed and out.exists():
        tables += [t for t in json.loads(out.read_text())["tables"]
                   if t["title"].startswith("Dense CRF, seconds")]
    else:
        tables.append(dict(speed_table(args.speed_images, args.repeats), **stamp))
    if args.skip_cv:
        kept = json.loads(out.read_text())["tables"] if out.exists() else []
        tables += [t for t in kept if not t["title"].startswith("Dense CRF, seconds")]
        _write(out, tables)
        return 0
    root = ref_mod.cache_dir()
    ref_mod.write_dataset(root)
    ref = ref_mod.load_store(args.store, root)
    ref["base"] = _no_crf_matrix(root)
    live = None
    if args.live:
        live = live_fast(root)
        for grid, lv in live.items():
            pairs, cpu, _ = ref_mod.grid_view(ref, grid)
            rp = crf_cv.replay(pairs, grid, "fast", seconds=cpu)
            pts = crf_cv.grid_points(crf_cv.parse_grid(grid))
            if pts[rp["best"]] != lv["best"] or rp["evaluations"] != lv["evaluations"]:
                raise SystemExit(f"The live fast search on {grid} picked {lv['best']} with "
                                 f"{lv['evaluations']} calls, the replay {pts[rp['best']]} with "
                                 f"{rp['evaluations']}: the store does not match the search.")
    for t in cv_tables(ref, args.replays, live):
        tables.append(dict(t, **stamp))
    _write(out, tables)
    return 0


def _write(out: Path, tables: list[dict]) -> None:
    order = ("title", "command", "machine", "date", "columns", "rows", "notes")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tables": [{k: t[k] for k in order} for t in tables]},
                              indent=1) + "\n")
    print(f"wrote {out}")
    for t in tables:
        print(t["title"])
        for r in t["rows"]:
            print("  ", r)
        for note in t["notes"]:
            print("   -", note)


def _no_crf_matrix(root: Path) -> np.ndarray:
    """Confusion matrix of the network's arg-max (no CRF) over the stored images."""
    man = crf_cv.load_manifest(root)
    total = np.zeros((C, C), np.int64)
    for entry in man["items"]:
        probs, _, label = crf_cv._load(str(root), entry)
        total += crf_cv._confusion(probs.argmax(0).astype(np.uint8), label, C)
    return total


if __name__ == "__main__":
    raise SystemExit(main())
