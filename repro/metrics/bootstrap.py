"""Bootstrap confidence intervals of mIoU over images, paired differences, ``repro compare``.

What is resampled: the images of the evaluation set (the unit the test set samples), with
replacement, ``n_resamples`` = 1000 times from a seeded ``numpy.random.default_rng(seed)``.
For every resample the per-image confusion matrices (``per_image.py``) of the drawn images are
summed and mIoU is computed from the summed matrix with FCN ``score.py`` semantics, exactly as
``confusion.py`` does for the whole set: ``IoU_c = diag / (row + col - diag)``, classes with
``row + col - diag = 0`` (absent from ground truth and prediction of that resample) are NaN and
skipped by the mean (a set of one image has no interval: NaN). The interval therefore covers
the uncertainty due to the finite choice of test images, not the variance over training seeds
(that is the seeds' std of the reports). All values are in percent (0-100), like the result
rows.

Interval: **BCa** (bias-corrected and accelerated percentile interval; Efron 1987, Efron &
Tibshirani 1993 ch. 14): the quantiles of the 1000 resampled statistics (numpy's linear
interpolation) at the levels ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1(0.025),
Phi^-1(0.975)``, with ``z0`` from the share of resamples below the full-set value and the
acceleration ``a`` from the leave-one-image-out jackknife (exact and cheap here: the full-set
terms minus one image's). ``method="percentile"`` gives the plain 2.5 % / 97.5 % quantiles.
Why BCa: mIoU is a ratio of sums, biased on small sets, and the plain percentile interval does
not correct bias. Measured coverage of nominal 95 % intervals (``benchmarks/bench_bootstrap.py``,
synthetic per-image matrices, 400 sets per case, standard error ~0.011; table in
``reports/benchmarks.md``): on a population whose mIoU is biased on small sets, percentile
0.81 / BCa 0.945 at 150 images and 0.907 / 0.953 at 600; on VOC-like images percentile 0.897 /
BCa 0.875 at 100 images, 0.94 / 0.93 at 300, 0.953 / 0.948 at 1000; for paired differences BCa
was as good or better (e.g. a rare class improved: 0.828 / 0.882 at 300 images), and the
"basic" interval was worst on skewed differences. So BCa is never far behind and is far ahead
where the bias matters (with every method, a difference carried by a rare class is
under-covered on 100-300 images). BCa is also scipy.stats.bootstrap's default.
Degenerate cases: when every resample gives the same value (e.g. identical predictions in a
paired difference) the interval is that value (zero width); when the full-set value lies
outside every resample's, BCa is undefined and the percentile interval is returned
(``method`` says which was computed).

Paired difference of two rows evaluated on the same images: the same resampled images for both
rows (one set of counts), the statistic ``mIoU_A(b) - mIoU_B(b)`` per resample, its interval
(BCa, as above), and ``significant`` = the interval excludes zero (``low > 0`` or ``high < 0``). The
point estimates are always the full-set values (``mIoU_A - mIoU_B``), never a bootstrap mean.

Several seeds of one row (same images): the statistic is the mean over seeds of mIoU, all seeds
resampled with the same images (pass a list of per-image sets).

Why by hand and not ``scipy.stats.bootstrap`` (the tests' reference: same seed, same
resamples, same BCa interval): scipy resamples the data array itself (a ``(1000, 1449, 2C)``
array for VOC, or batched calls), returns NaN with a warning in the degenerate zero-width case
and for per-class IoU that is undefined in some resamples (a class absent from them). Here the
statistic is a function of per-image sums, so the 1000 resamples are one matrix product:
resample counts ``(B, N)`` (how many times each image is drawn) ``@`` the per-image
intersections and unions ``(N, 2C)``, in float64 (exact: every count is an integer below
2**53), and the jackknife is the full-set sums minus each image's terms. 1000 resamples of
1449 x 21 take milliseconds (``benchmarks/bench_bootstrap.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .confusion import mean_iou, per_class_iou
from .per_image import PerImageConfusion, PerImageFileError

__all__ = [
    "CONFIDENCE",
    "METHOD",
    "METHODS",
    "N_RESAMPLES",
    "SEED",
    "BootstrapResult",
    "CompareError",
    "PairedDifference",
    "add_compare_arguments",
    "bootstrap_miou",
    "compare",
    "iou_terms",
    "main_compare",
    "paired_bootstrap",
    "paired_difference",
    "per_image_relpath",
    "resample_counts",
    "resample_indices",
    "resolve_row",
]

N_RESAMPLES = 1000
SEED = 0
CONFIDENCE = 0.95
METHODS = ("BCa", "percentile")
METHOD = "BCa"


class CompareError(ValueError):
    """Rows that cannot be compared (different images or classes, no per-image file)."""


# ------------------------------------------------------------------------------- resampling
def resample_indices(n_images: int, n_resamples: int = N_RESAMPLES, seed: int = SEED):
    """int64 ``(n_resamples, n_images)``: row b holds the images drawn (with replacement) by
    resample b, from ``np.random.default_rng(seed)``."""
    if n_images < 1:
        raise ValueError("The bootstrap needs at least one image.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}.")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_images, size=(n_resamples, n_images), dtype=np.int64)


def resample_counts(n_images: int, n_resamples: int = N_RESAMPLES, seed: int = SEED):
    """float64 ``(n_resamples, n_images)``: how many times resample b draws image n (the
    indices of :func:`resample_indices` with the same arguments, counted)."""
    idx = resample_indices(n_images, n_resamples, seed)
    offsets = idx + n_images * np.arange(n_resamples, dtype=np.int64)[:, None]
    counts = np.bincount(offsets.ravel(), minlength=n_resamples * n_images)
    return counts.reshape(n_resamples, n_images).astype(np.float64)


def _matrices(x) -> np.ndarray:
    m = x.matrices if isinstance(x, PerImageConfusion) else np.asarray(x)
    if m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise ValueError(f"Expected per-image matrices (N, C, C), got shape {m.shape}.")
    return m


def iou_terms(per_image) -> np.ndarray:
    """float64 ``(N, 2, C)``: per image, the intersections ``diag`` and unions
    ``row + col - diag`` of every class; sums over images give the summed matrix's terms."""
    m = _matrices(per_image)
    d = np.diagonal(m, axis1=1, axis2=2)
    union = m.sum(2) + m.sum(1) - d
    return np.stack([d, union], axis=1).astype(np.float64)


def _iou(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(..., 2, C)`` summed terms -> per-class IoU ``(..., C)`` (NaN where the union is 0)
    and mIoU ``(...)`` (nanmean over classes), fractions."""
    inter, union = sums[..., 0, :], sums[..., 1, :]
    valid = union > 0
    iou = np.full(inter.shape, np.nan)
    np.divide(inter, union, out=iou, where=valid)
    n = valid.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        miou = np.where(valid, iou, 0.0).sum(-1) / n
    return iou, np.where(n > 0, miou, np.nan)


def _as_list(x) -> list:
    if isinstance(x, PerImageConfusion) or (isinstance(x, np.ndarray) and x.ndim == 3):
        return [x]
    xs = list(x)
    if not xs:
        raise ValueError("Give at least one per-image set.")
    return xs


def _check_same_images(sets: list, what: str = "per-image sets", error=ValueError) -> None:
    named = [s for s in sets if isinstance(s, PerImageConfusion)]
    for s in named[1:]:
        _check_names(named[0], s, what, error)
    shapes = {_matrices(s).shape for s in sets}
    if len(shapes) > 1:
        raise error(f"The {what} differ in shape {sorted(shapes)}: they must cover the same "
                    "images and classes.")


def _check_names(a: PerImageConfusion, b: PerImageConfusion, what: str, error) -> None:
    if a.classes != b.classes:
        raise error(f"The {what} have different classes ({len(a.classes)}: "
                    f"{', '.join(a.classes[:3])}, ... vs {len(b.classes)}: "
                    f"{', '.join(b.classes[:3])}, ...); compare rows of the same dataset.")
    if a.names != b.names:
        if len(a) != len(b):
            where = f"{len(a)} vs {len(b)} images"
        else:
            k = next(i for i, (x, y) in enumerate(zip(a.names, b.names)) if x != y)
            kind = "the same images in another order" if sorted(a.names) == sorted(b.names) \
                else "different images"
            where = f"{kind}, first at position {k}: {a.names[k]!r} vs {b.names[k]!r}"
        raise error(f"The {what} were evaluated on different image lists ({where}); a paired "
                    "comparison needs the same images in the same order: evaluate both on the "
                    "same split.")


def _interval(stats: np.ndarray, theta: float, jack: np.ndarray, confidence: float,
              method: str) -> tuple[float, float, str]:
    """``(low, high, method used)`` of one statistic from its ``(B,)`` bootstrap values, its
    full-set value and its ``(N,)`` jackknife (leave-one-image-out) values; NaN values (a class
    absent from a resample) are skipped."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    stats = stats[~np.isnan(stats)]
    if math.isnan(theta) or stats.size == 0 or jack.size < 2:
        return math.nan, math.nan, method  # one image: no variation to resample
    alpha = (1 - confidence) / 2
    if np.ptp(stats) == 0:  # every resample gives the same value: that is the interval
        return float(stats[0]), float(stats[0]), method
    if method == "BCa":
        from scipy.special import ndtr, ndtri

        # Efron & Tibshirani (1993) 14.3: z0 from the share of resamples below the full-set
        # value (ties count half, as scipy.stats.bootstrap), acceleration from the jackknife.
        z0 = ndtri((np.count_nonzero(stats < theta) + 0.5 * np.count_nonzero(stats == theta))
                   / stats.size)
        jack = jack[~np.isnan(jack)]
        d = jack.mean() - jack if jack.size else np.zeros(1)
        den = float((d**2).sum())
        a = float((d**3).sum()) / (6 * den**1.5) if den > 0 else 0.0
        z = ndtri(np.array([alpha, 1 - alpha]))
        with np.errstate(invalid="ignore", divide="ignore"):
            levels = ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
        if np.isfinite(levels).all():
            low, high = np.percentile(stats, 100 * levels)
            return float(low), float(high), "BCa"
        # The full-set value lies outside every resample's: BCa is undefined.
    low, high = np.percentile(stats, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high), "percentile"


def _bootstrap(sets: list, weights: np.ndarray, n_resamples: int, seed: int,
               confidence: float, method: str, per_class: bool):
    """The statistic ``sum_k weights[k] * mIoU(set k)`` (percent) over the per-image sets,
    all resampled with the same images. Returns ``(value, low, high, method used, n_images,
    per-class (value, low, high) or {})``."""
    terms = np.stack([iou_terms(x) for x in sets], axis=1)  # (N, K, 2, C)
    N, K, _, C = terms.shape
    counts = resample_counts(N, n_resamples, seed)
    sums = (counts @ terms.reshape(N, -1)).reshape(n_resamples, K, 2, C)
    total = terms.sum(0)
    iou_b, miou_b = _iou(sums)  # (B, K, C), (B, K)
    iou_j, miou_j = _iou(total[None] - terms)  # leave one image out: (N, K, C), (N, K)
    totals = [_matrices(x).sum(0) for x in sets]
    value = 100 * float(weights @ np.array([mean_iou(t) for t in totals]))
    low, high, used = _interval(100 * (miou_b @ weights), value, 100 * (miou_j @ weights),
                                confidence, method)
    pc = {}
    if per_class:
        cls_value = 100 * (weights @ np.array([per_class_iou(t) for t in totals]))
        cls_b = 100 * np.einsum("bkc,k->bc", iou_b, weights)
        cls_j = 100 * np.einsum("nkc,k->nc", iou_j, weights)
        for c, name in enumerate(_class_names(sets[0], C)):
            lo, hi, _ = _interval(cls_b[:, c], float(cls_value[c]), cls_j[:, c], confidence,
                                  method)
            pc[name] = (float(cls_value[c]), lo, hi)
    return value, low, high, used, N, pc


# ------------------------------------------------------------------------------- one row
@dataclass(frozen=True)
class BootstrapResult:
    """mIoU (percent) of a row with its bootstrap interval over images."""

    value: float  # full-set mIoU (mean over seeds when several), percent
    low: float
    high: float
    n_images: int
    n_resamples: int
    seed: int
    confidence: float
    method: str = "BCa"  # the interval computed: "BCa", or "percentile" (asked, or BCa undefined)
    n_seeds: int = 1
    per_class: dict = field(default_factory=dict)  # class -> (IoU, low, high), percent

    @property
    def width(self) -> float:
        return self.high - self.low

    def excludes(self, value: float) -> bool:
        """Whether ``value`` (e.g. the paper's mIoU) lies outside the interval: a delta against
        a fixed number is significant exactly then (False when the interval is NaN)."""
        return bool(value < self.low or value > self.high)

    def to_dict(self) -> dict:
        """JSON-ready (NaN as None), e.g. for a result row's ``extra``."""
        return _jsonable(asdict(self))


def bootstrap_miou(per_image, *, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                   confidence: float = CONFIDENCE, method: str = METHOD,
                   per_class: bool = True) -> BootstrapResult:
    """Bootstrap interval of mIoU over images (see the module docstring).

    ``per_image``: a :class:`PerImageConfusion`, an int ``(N, C, C)`` array, or a list of those
    for several seeds of one row on the same images (the statistic is then the seed mean).
    ``method``: ``"BCa"`` (default) or ``"percentile"``. ``per_class``: also the interval of
    every class's IoU (a resample where the class is absent is skipped; NaN if the class is
    absent from the whole set).
    """
    sets = _as_list(per_image)
    _check_same_images(sets, "seeds' per-image sets")
    weights = np.full(len(sets), 1 / len(sets))
    value, low, high, used, n, pc = _bootstrap(sets, weights, n_resamples, seed, confidence,
                                               method, per_class)
    return BootstrapResult(value, low, high, n, n_resamples, seed, confidence, used, len(sets),
                           per_class=pc)


def _class_names(s, C: int) -> list[str]:
    return list(s.classes) if isinstance(s, PerImageConfusion) else [str(i) for i in range(C)]


# ------------------------------------------------------------------------------- two rows
@dataclass(frozen=True)
class PairedDifference:
    """``mIoU(A) - mIoU(B)`` (points) on the same images, with its paired bootstrap interval."""

    difference: float
    low: float
    high: float
    significant: bool  # the interval excludes zero
    value_a: float
    value_b: float
    n_images: int
    n_resamples: int
    seed: int
    confidence: float
    method: str = "BCa"
    per_class: dict = field(default_factory=dict)  # class -> (diff, low, high, significant)

    def as_tuple(self) -> tuple[float, float, float, bool]:
        return self.difference, self.low, self.high, self.significant

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


def _excludes_zero(low: float, high: float) -> bool:
    return bool(low > 0 or high < 0)


def paired_bootstrap(a, b, *, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                     confidence: float = CONFIDENCE, method: str = METHOD,
                     per_class: bool = True, _error=ValueError) -> PairedDifference:
    """Paired bootstrap of ``mIoU(A) - mIoU(B)`` over the same images.

    ``a``, ``b``: as ``bootstrap_miou``'s ``per_image`` (a list = seeds of that row: the
    statistic is the difference of the seed means). Both are resampled with the same images.
    """
    sa, sb = _as_list(a), _as_list(b)
    _check_same_images(sa, "seeds of row A", _error)
    _check_same_images(sb, "seeds of row B", _error)
    _check_same_images([sa[0], sb[0]], "two rows", _error)
    weights = np.concatenate([np.full(len(sa), 1 / len(sa)), np.full(len(sb), -1 / len(sb))])
    diff, low, high, used, n, pc = _bootstrap(sa + sb, weights, n_resamples, seed, confidence,
                                              method, per_class)
    va = 100 * float(np.mean([mean_iou(_matrices(x).sum(0)) for x in sa]))
    vb = 100 * float(np.mean([mean_iou(_matrices(x).sum(0)) for x in sb]))
    pc = {c: (v, lo, hi, _excludes_zero(lo, hi)) for c, (v, lo, hi) in pc.items()}
    return PairedDifference(diff, low, high, _excludes_zero(low, high), va, vb, n, n_resamples,
                            seed, confidence, used, per_class=pc)


def paired_difference(a, b, *, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                      confidence: float = CONFIDENCE,
                      method: str = METHOD) -> tuple[float, float, float, bool]:
    """``(mIoU(A) - mIoU(B), low, high, significant)`` in points: :func:`paired_bootstrap`
    without the per-class intervals; significant = the interval excludes zero."""
    return paired_bootstrap(a, b, n_resamples=n_resamples, seed=seed, confidence=confidence,
                            method=method, per_class=False).as_tuple()


def compare(per_image_a, per_image_b, *, n_resamples: int = N_RESAMPLES, seed: int = SEED,
            confidence: float = CONFIDENCE, method: str = METHOD,
            per_class: bool = True) -> PairedDifference:
    """Paired comparison of two rows (``PerImageConfusion``, or lists of them for seeds).

    Raises :class:`CompareError` (one line) when the rows were evaluated on different image
    lists (names or order) or different classes.
    """
    for x in (per_image_a, per_image_b):
        for s in _as_list(x):
            if not isinstance(s, PerImageConfusion):
                raise TypeError("compare() takes PerImageConfusion sets (with image names); "
                                "use paired_bootstrap() for bare arrays.")
    return paired_bootstrap(per_image_a, per_image_b, n_resamples=n_resamples, seed=seed,
                            confidence=confidence, method=method, per_class=per_class,
                            _error=CompareError)


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


# ------------------------------------------------------------------------------- CLI
def per_image_relpath(profile: str, table: str, row: str, seed: int, config_hash: str) -> str:
    """Where a row's per-image file goes, relative to the results dir:
    ``<profile>/<table>/per_image/<row>.seed<seed>.<config hash>.npz``, beside its result file's
    folder (``read_all`` only reads ``*.json``) and named by the row's hash, so that a run of
    another hash never overwrites the file of the recorded result. Recorded as the rows'
    ``extra["per_image"]``."""
    return f"{profile}/{table}/per_image/{row}.seed{seed}.{config_hash}.npz"


def resolve_row(results_dir: Path, selector: str, profile: str | None = None):
    """``TABLE/ROW[@seedN]`` -> ``(PerImageConfusion, description)``.

    The row's result file is ``repro.results.result_path(results_dir, profile, table, row,
    seed)`` (seed 0 unless ``@seedN``); its rows' ``extra["per_image"]`` is the path of the
    per-image file relative to ``results_dir``. ``profile=None``: the one profile that has the
    row (an error if both have it).
    """
    from repro.results import read_file, result_path

    sel, _, seed_part = selector.strip().partition("@")
    parts = sel.strip("/").split("/")
    if len(parts) != 3 or not all(parts):
        raise CompareError(f"Give a row as TABLE/ROW[@seedN] (e.g. gcn/table1/k15@seed0), "
                           f"got {selector!r}; `repro list` shows the tables.")
    table, row = "/".join(parts[:2]), parts[2]
    seed = 0
    if seed_part:
        if not (seed_part.startswith("seed") and seed_part[4:].isdigit()):
            raise CompareError(f"The seed of {selector!r} must look like @seed0.")
        seed = int(seed_part[4:])
    results_dir = Path(results_dir)
    profiles = [profile] if profile else ["smoke", "paper"]
    found = [p for p in profiles if result_path(results_dir, p, table, row, seed).is_file()]
    if not found:
        paths = " or ".join(str(result_path(results_dir, p, table, row, seed)) for p in profiles)
        raise CompareError(f"No result for {table}/{row} seed {seed}: {paths} does not exist; "
                           f"run `repro run {table}/{row}` first (or pass --results-dir).")
    if len(found) > 1:
        raise CompareError(f"{table}/{row} seed {seed} has results in both profiles "
                           f"({', '.join(found)}): choose one with --profile.")
    path = result_path(results_dir, found[0], table, row, seed)
    rows = read_file(path)
    rel = next((r.extra.get("per_image") for r in rows if r.metric == "mIoU"
                and r.extra.get("per_image")), None)
    rel = rel or next((r.extra["per_image"] for r in rows if r.extra.get("per_image")), None)
    if not rel and rows and rows[0].scored_by == "server":
        raise CompareError(f"{table}/{row} was scored by the evaluation server ({path}), which "
                           "gives no per-image numbers (test labels are not public): compare "
                           "rows evaluated on a labelled split.")
    if not rel:
        raise CompareError(f"{path} records no per-image confusion matrices (extra "
                           f"'per_image'): rerun the row with this version of repro "
                           f"(`repro run {table}/{row} --force`).")
    per_image = PerImageConfusion.load(results_dir / rel)
    return per_image, f"{table}/{row}@seed{seed} ({found[0]})"


def add_compare_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``repro compare`` options (the names :func:`main_compare` reads)."""
    parser.add_argument("row_a", metavar="ROW_A", help="TABLE/ROW[@seedN], e.g. gcn/table1/k15")
    parser.add_argument("row_b", metavar="ROW_B", help="TABLE/ROW[@seedN], e.g. gcn/table1/k13")
    parser.add_argument("--profile", choices=["smoke", "paper"], default=None,
                        help="profile of both rows (default: the one that has them)")
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--resamples", type=int, default=N_RESAMPLES,
                        help=f"bootstrap resamples (default {N_RESAMPLES})")
    parser.add_argument("--bootstrap-seed", type=int, default=SEED,
                        help=f"seed of the resampling (default {SEED})")
    parser.add_argument("--confidence", type=float, default=CONFIDENCE,
                        help=f"confidence level (default {CONFIDENCE})")
    parser.add_argument("--method", choices=METHODS, default=METHOD,
                        help=f"bootstrap interval (default {METHOD})")
    parser.add_argument("--per-class", action="store_true",
                        help="also the paired difference of every class's IoU")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT",
                        help="also write the result as JSON")
    return parser


def format_difference(d: PairedDifference, name_a: str, name_b: str) -> str:
    """The lines ``repro compare`` prints."""
    pct = f"{100 * d.confidence:g}%"
    verdict = ("significant: the interval excludes 0" if d.significant
               else "not significant: the interval contains 0")
    lines = [
        f"A = {name_a}: mIoU {d.value_a:.2f}",
        f"B = {name_b}: mIoU {d.value_b:.2f}",
        f"mIoU(A) - mIoU(B) = {d.difference:+.2f} points, {pct} paired bootstrap interval "
        f"[{d.low:+.2f}, {d.high:+.2f}] ({d.n_images} images, {d.n_resamples} resamples, "
        f"seed {d.seed}, {d.method}): {verdict}",
    ]
    return "\n".join(lines)


def main_compare(args: argparse.Namespace) -> int:
    """Entry of ``repro compare ROW_A ROW_B``: prints the paired difference; 2 on user errors."""
    from tabulate import tabulate

    from repro.results import ResultsFileError

    try:
        if args.resamples < 1 or not 0 < args.confidence < 1:
            raise CompareError(f"--resamples must be >= 1 and --confidence in (0, 1), got "
                               f"{args.resamples} and {args.confidence}.")
        a, name_a = resolve_row(args.results_dir, args.row_a, args.profile)
        b, name_b = resolve_row(args.results_dir, args.row_b, args.profile)
    except (CompareError, PerImageFileError, ResultsFileError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        d = compare(a, b, n_resamples=args.resamples, seed=args.bootstrap_seed,
                    confidence=args.confidence, method=args.method, per_class=args.per_class)
    except CompareError as e:
        print(f"error: {name_a} vs {name_b}: {e}", file=sys.stderr)
        return 2
    print(format_difference(d, name_a, name_b))
    if args.per_class:
        rows = [(c, v, lo, hi, "yes" if s else "") for c, (v, lo, hi, s) in d.per_class.items()]
        print()
        print(tabulate(rows, headers=["class", "IoU(A) - IoU(B)", "low", "high", "significant"],
                       floatfmt="+.2f"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = dict(row_a=name_a, row_b=name_b, **d.to_dict())
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 0
