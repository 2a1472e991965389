"""The exhaustive CRF cross-validation reference at VOC size, computed once and stored.

    nice -n 19 python benchmarks/crf_reference.py            # resumable; hours on one core
    python benchmarks/crf_reference.py --status              # how far it is

What it computes: every point of DeepLab's v1 and v2 grids (their union: 200 points; the 24
points with w1 = 5, sigma_alpha >= 50, sigma_beta <= 6 are in both) on every one of 100
synthetic VOC-size images (500x375, ``repro.crf.synthetic`` with the benchmark's settings:
``scale=4.0, noise=1.5``, seed 0), one pydensecrf call each through the very functions the
search uses (``repro.crf.cv._load`` of the float16 ``.npz`` that ``save_probabilities`` writes,
``repro.crf.dense.crf_labels``, the same confusion matrix), one after the other in this
process: 20,000 calls, 0.5-1.4 s each. For every (point, image) it keeps the confusion matrix,
the CPU seconds (``time.process_time``) and the wall seconds of the call.

Storage: the dataset (PNG images, labels, float16 probabilities, manifest) and one ``.npz`` per
finished image go under ``$REPRO_CACHE/crf_voc_reference/`` (default ``~/.cache/repro``), so an
interrupted run resumes at the next image. When all images are done, ``assemble`` packs them into
``results/bench/crf_cv_reference.npz`` (a few MB, committed): the matrices of the nonzero
classes only (see ``pack`` / ``unpack``), the seconds, the grid points and the inputs'
fingerprint (SHA-256 of every probability, image and label file, the point list and the
pydensecrf version). ``benchmarks/bench_crf.py`` reads that file, checks the fingerprint against
the dataset it regenerates, and replays every search strategy on it without new CRF calls.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from repro.crf import cv as crf_cv  # noqa: E402
from repro.crf.dense import CRFParams, crf_labels  # noqa: E402
from repro.crf.synthetic import make_scene, network_probs  # noqa: E402

H, W, C = 375, 500, 21
N_IMAGES = 100
SEED = 0
PROBS_KW = dict(scale=4.0, noise=1.5)  # the benchmark's synthetic network (bench_crf.py)
STORE = ROOT / "results" / "bench" / "crf_cv_reference.npz"
_KEY = ("w1", "sigma_alpha", "sigma_beta", "w2", "sigma_gamma", "iterations")


def cache_dir() -> Path:
    base = os.environ.get("REPRO_CACHE") or str(Path.home() / ".cache" / "repro")
    return Path(base) / "crf_voc_reference"


def union_points(grids=("v1", "v2")) -> list[dict]:
    """The points of the named grids, each once, sorted by (w1, sigma_alpha, sigma_beta)."""
    seen = {}
    for g in grids:
        for p in crf_cv.grid_points(crf_cv.parse_grid(g)):
            seen[tuple(float(p[k]) for k in _KEY)] = p
    return [seen[k] for k in sorted(seen)]


def point_key(p: dict) -> tuple:
    return tuple(float(p[k]) for k in _KEY)


def write_dataset(root: Path, n: int = N_IMAGES, seed: int = SEED, h: int = H,
                  w: int = W) -> Path:
    """The synthetic held-out set: PNGs, float16 probabilities and the manifest under ``root``.

    Same draws as ``repro.crf.synthetic.make_dataset(n, h, w, seed=seed, **PROBS_KW)``, made one
    image at a time (100 VOC-size float32 probability maps would take 1.5 GB at once).
    Idempotent: an existing manifest with ``n`` items is kept.
    """
    from PIL import Image

    man = root / crf_cv.MANIFEST
    if man.exists() and len(json.loads(man.read_text())["items"]) == n:
        return root
    (root / "img").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def items():
        for i in range(n):
            image, label = make_scene(rng, h, w, C)
            probs = network_probs(rng, label, C, **PROBS_KW)
            name = f"synth_{i:04d}"
            ip, lp = root / "img" / f"{name}.png", root / "img" / f"{name}_gt.png"
            Image.fromarray(image).save(ip)
            Image.fromarray(label).save(lp)
            yield name, probs, f"img/{name}.png", f"img/{name}_gt.png"

    crf_cv.save_probabilities(root, items())
    return root


def file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def image_fingerprint(root: Path, entry: dict) -> str:
    """SHA-256 over the probability, image and label files of one manifest entry."""
    h = hashlib.sha256()
    for k in ("probs", "image", "label"):
        h.update(file_sha(root / entry[k]).encode())
    return h.hexdigest()


def _pydensecrf_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pydensecrf2")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def run_fingerprint(image_fps: list[str], points: list[dict]) -> str:
    h = hashlib.sha256()
    for fp in image_fps:
        h.update(fp.encode())
    h.update(json.dumps([point_key(p) for p in points]).encode())
    h.update(_pydensecrf_version().encode())
    return h.hexdigest()


def score_image(root: Path, entry: dict, points: list[dict]):
    """(matrices (P, C, C) int64, CPU seconds (P,), wall seconds (P,)) of every point on one
    image, through the search's own loading and scoring functions."""
    probs, image, label = crf_cv._load(str(root), entry)
    mats = np.zeros((len(points), C, C), np.int64)
    cpu = np.zeros(len(points))
    wall = np.zeros(len(points))
    for k, p in enumerate(points):
        c0, w0 = time.process_time(), time.perf_counter()
        pred = crf_labels(probs, image, CRFParams(**p), entry["name"])
        cpu[k], wall[k] = time.process_time() - c0, time.perf_counter() - w0
        mats[k] = crf_cv._confusion(pred, label, C)
    return mats, cpu, wall


def compute(root: Path, points: list[dict], limit: int | None = None, log=print) -> int:
    """Score the images not yet stored under ``root/pairs``; returns how many are done."""
    man = crf_cv.load_manifest(root)
    out = root / "pairs"
    out.mkdir(exist_ok=True)
    keys = np.array([point_key(p) for p in points])
    done = 0
    for i, entry in enumerate(man["items"]):
        path = out / f"{entry['name']}.npz"
        fp = image_fingerprint(root, entry)
        if path.exists():
            with np.load(path) as z:
                if str(z["fingerprint"]) == fp and np.array_equal(z["points"], keys):
                    done += 1
                    continue
        if limit is not None and done >= limit:
            break
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        mats, cpu, wall = score_image(root, entry, points)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, mats=mats.astype(np.int32), cpu=cpu, wall=wall, points=keys,
                            fingerprint=fp, load=np.array([load0, os.getloadavg()[0]]))
        os.replace(tmp, path)
        done += 1
        log(f"[{time.strftime('%H:%M:%S')}] image {i + 1}/{len(man['items'])}: "
            f"{cpu.sum():.0f} CPU s, {time.perf_counter() - t0:.0f} wall s, load "
            f"{load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
    return done


# ------------------------------------------------------------------------------ storage
def pack(mats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P, N, C, C) matrices -> (classes (N, C) bool, values (total,) int32, offsets (N+1,)).

    Per image only the rows and columns of the classes that occur there (in the label or in
    some prediction) are stored, point by point: exact, and far smaller than C x C."""
    P, N = mats.shape[:2]
    classes = (mats.sum(axis=(0, 3)) + mats.sum(axis=(0, 2))) > 0  # (N, C)
    chunks, offsets = [], [0]
    for i in range(N):
        idx = np.flatnonzero(classes[i])
        block = mats[:, i][:, idx][:, :, idx]  # (P, k, k)
        chunks.append(block.astype(np.int32).ravel())
        offsets.append(offsets[-1] + block.size)
    return classes, np.concatenate(chunks), np.array(offsets, np.int64)


def unpack(classes: np.ndarray, values: np.ndarray, offsets: np.ndarray,
           n_points: int) -> np.ndarray:
    N, Cn = classes.shape
    mats = np.zeros((n_points, N, Cn, Cn), np.int64)
    for i in range(N):
        idx = np.flatnonzero(classes[i])
        k = idx.size
        block = values[offsets[i]:offsets[i + 1]].reshape(n_points, k, k)
        view = mats[:, i]  # (P, C, C), a view
        view[:, idx[:, None], idx[None, :]] = block
    return mats


def assemble(root: Path, points: list[dict], store: Path = STORE) -> Path:
    """Pack the per-image files into ``store`` (with the fingerprint); all images must be done."""
    man = crf_cv.load_manifest(root)
    keys = np.array([point_key(p) for p in points])
    mats, cpu, wall, fps, loads = [], [], [], [], []
    for entry in man["items"]:
        path = root / "pairs" / f"{entry['name']}.npz"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run benchmarks/crf_reference.py first.")
        with np.load(path) as z:
            if not np.array_equal(z["points"], keys):
                raise ValueError(f"{path} holds other grid points; delete it and rerun.")
            mats.append(z["mats"])
            cpu.append(z["cpu"])
            wall.append(z["wall"])
            fps.append(str(z["fingerprint"]))
            loads.append(z["load"])
    pairs = np.stack(mats, 1)  # (P, N, C, C)
    classes, values, offsets = pack(pairs)
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp, classes=classes, values=values, offsets=offsets, points=keys, point_names=_KEY,
        cpu=np.stack(cpu, 1).astype(np.float32), wall=np.stack(wall, 1).astype(np.float32),
        load=np.array(loads, np.float32), image_fingerprints=np.array(fps),
        names=np.array([e["name"] for e in man["items"]]),
        fingerprint=run_fingerprint(fps, points), pydensecrf=_pydensecrf_version(),
        dataset=json.dumps(dict(n=len(fps), size=man["items"][0]["shape"], classes=C,
                                generator="repro.crf.synthetic", seed=SEED, **PROBS_KW)),
    )
    os.replace(tmp, store)
    return store


def load_store(store: Path = STORE, root: Path | None = None) -> dict:
    """The stored reference: ``pairs`` (P, N, C, C) int64, ``cpu`` / ``wall`` (P, N) seconds,
    ``points`` (list of dicts), ``fingerprint``. With ``root`` (the regenerated dataset) the
    fingerprint is checked against its files first."""
    if not Path(store).exists():
        raise FileNotFoundError(
            f"{store} does not exist: run `nice -n 19 python benchmarks/crf_reference.py` (hours)."
        )
    with np.load(store) as z:
        keys = z["points"]
        points = [dict(zip(_KEY, (float(v) for v in row))) for row in keys]
        for p in points:
            p["iterations"] = int(p["iterations"])
        out = dict(
            pairs=unpack(z["classes"], z["values"], z["offsets"], len(points)),
            cpu=z["cpu"].astype(np.float64), wall=z["wall"].astype(np.float64),
            load=z["load"], points=points, fingerprint=str(z["fingerprint"]),
            image_fingerprints=[str(v) for v in z["image_fingerprints"]],
            names=[str(v) for v in z["names"]], pydensecrf=str(z["pydensecrf"]),
            dataset=json.loads(str(z["dataset"])),
        )
    if root is not None:
        man = crf_cv.load_manifest(root)
        fps = [image_fingerprint(root, e) for e in man["items"]]
        if run_fingerprint(fps, points) != out["fingerprint"]:
            raise ValueError(
                f"{store} was computed on other inputs than {root} (fingerprint differs): "
                "rerun benchmarks/crf_reference.py, or check the synthetic generator's version."
            )
    return out


def grid_view(ref: dict, grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pairs, cpu, wall) of ``ref`` restricted to ``grid``'s points, in the grid's order."""
    index = {point_key(p): k for k, p in enumerate(ref["points"])}
    sel = [index[point_key(p)] for p in crf_cv.grid_points(crf_cv.parse_grid(grid))]
    return ref["pairs"][sel], ref["cpu"][sel], ref["wall"][sel]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=None, help="dataset + per-image results")
    ap.add_argument("--limit", type=int, default=None, help="stop after this many images done")
    ap.add_argument("--status", action="store_true", help="print progress and exit")
    ap.add_argument("--store", type=Path, default=STORE)
    args = ap.parse_args(argv)
    root = args.root or cache_dir()
    points = union_points()
    if args.status:
        n = len(list((root / "pairs").glob("synth_*.npz"))) if (root / "pairs").exists() else 0
        print(f"{n}/{N_IMAGES} images done under {root}")
        return 0
    t0 = time.perf_counter()
    write_dataset(root)
    print(f"dataset ready under {root} ({time.perf_counter() - t0:.0f} s); "
          f"{len(points)} points", flush=True)
    done = compute(root, points, args.limit)
    if done == N_IMAGES:
        print(f"written: {assemble(root, points, args.store)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
