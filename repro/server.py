"""Evaluation-server round trip for test-set rows (VOC 2012 test, Cityscapes test).

Test labels are not public. A row whose protocol evaluates on ``test`` writes its predictions
(the metric's ``output_dir``), and :func:`package` lays them out as the server expects:

- VOC 2012: ``results/VOC2012/Segmentation/comp6_test_cls/<id>.png`` (palette PNGs; comp6 =
  trained with data outside VOC, such as SBD), archived as ``results.tgz``.
- Cityscapes: one labelId PNG per test image (``<city>_<seq>_<frame>*.png``), zipped.

The row's result says ``awaiting_server`` until the user uploads the archive and imports the
server's per-class numbers (``repro import-server TABLE/ROW --scores FILE``). On synthetic data
the hidden test labels exist (``_synthetic_server_gt``), so ``--simulate`` scores the
submission locally with the same scorer, which tests the round trip end to end.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

from repro.results import read_file, store


def package(pred_dir: Path, dataset: str, out_dir: Path) -> Path:
    """Lay out ``pred_dir``'s PNGs for the server under ``out_dir``; returns the archive."""
    pred_dir, out_dir = Path(pred_dir), Path(out_dir)
    pngs = sorted(pred_dir.glob("*.png"))
    if not pngs:
        raise FileNotFoundError(f"No prediction PNGs in {pred_dir}: rerun the row with --force.")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    if dataset == "voc":
        layout = out_dir / "results" / "VOC2012" / "Segmentation" / "comp6_test_cls"
        layout.mkdir(parents=True)
        for p in pngs:
            shutil.copy2(p, layout / p.name)
        archive = out_dir / "results.tgz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(out_dir / "results", arcname="results")
        return archive
    out_dir.mkdir(parents=True)
    archive = out_dir / "submission.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in pngs:
            zf.write(p, arcname=p.name)
    return archive


class ServerScoresError(ValueError):
    """A server scores file the harness cannot take: names the file and the fix."""


def class_names(dataset: str) -> list[str]:
    """The class names of the dataset's scores, in mmseg's order (VOC with background)."""
    if dataset == "voc":
        from repro.data.synth import VOC_CLASSES

        return list(VOC_CLASSES)
    from repro.metrics.cityscapes import CLASS_NAMES

    return list(CLASS_NAMES)


def parse_scores(path: Path, class_names: list[str]) -> dict[str, float]:
    """Per-class IoU (percent) from the server: JSON ``{"aeroplane": 87.5, ...}`` (or with
    ``IoU.`` keys), or the text the VOC/Cityscapes servers show, one ``name value`` per line.
    A ``mean``/``mIoU`` entry is taken as the mean IoU; otherwise it is the mean of classes.
    Every value must be a number in 0..100 (ServerScoresError otherwise, naming the entry)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ServerScoresError(f"Cannot read the server scores {path} ({e}): give the file "
                                "the server produced (JSON or 'class value' lines).") from e
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ServerScoresError(
                f"{path}: JSON server scores must be an object {{class: IoU}}, got a "
                f"{type(raw).__name__}.")
    except json.JSONDecodeError:
        raw = {}
        for line in text.splitlines():
            m = re.match(r"\s*([A-Za-z][\w ./-]*?)\s*[:\t ]\s*(-?[0-9]+(?:\.[0-9]*)?(?:e-?[0-9]+)?"
                         r"|nan|-?inf)\s*%?\s*$", line, re.IGNORECASE)
            if m:
                raw[m.group(1)] = m.group(2)
    norm = {}
    for k, v in raw.items():
        try:
            value = float(v)
        except (TypeError, ValueError):
            raise ServerScoresError(f"{path}: the value of {k!r} is {v!r}, not a number.") \
                from None
        if not math.isfinite(value) or not 0.0 <= value <= 100.0:
            raise ServerScoresError(
                f"{path}: the IoU of {k!r} is {v!r}; server scores are percentages in 0..100. "
                "Check that the file is the server's per-class table (not fractions or counts).")
        norm[re.sub(r"[^a-z]", "", str(k).lower().removeprefix("iou."))] = value
    scores = {}
    for name in class_names:
        key = re.sub(r"[^a-z]", "", name.lower())
        if key in norm:
            scores[f"IoU.{name}"] = norm[key]
    missing = [n for n in class_names if f"IoU.{n}" not in scores]
    if missing:
        raise ServerScoresError(
            f"{path}: no score for {', '.join(missing)}. Give one 'class value' line (or JSON "
            f"entry) per class, with the class names {', '.join(class_names)}."
        )
    mean = next((norm[k] for k in ("mean", "miou", "average", "averageiou") if k in norm), None)
    scores["mIoU"] = mean if mean is not None else sum(scores.values()) / len(class_names)
    return scores


def simulate(pred_dir: Path, dataset: str, data_root: Path,
             per_image_out: Path | None = None) -> dict[str, float]:
    """Score a synthetic test submission against the hidden labels the generator kept; with
    ``trivial_mIoU`` (predicting the most frequent class, from the same confusion matrix), as
    a labelled evaluation records it, so that CI can tell a test-set row that learned from one
    that did not; ``per_image_out``: also write every image's confusion matrix there."""
    import json
    import tempfile

    import numpy as np

    from repro.metrics.confusion import trivial_miou
    from repro.metrics.score import score_folder

    data_root = Path(data_root)
    if dataset == "voc":
        gt = data_root.parent / "_synthetic_server_gt"
        split = "all"
    else:
        gt = data_root / "_synthetic_server_gt" / "gtFine"
        split = "test"
    if not gt.is_dir():
        raise FileNotFoundError(
            f"--simulate needs the hidden labels of synthetic data ({gt}); real test labels are "
            "not public: upload the submission and import the server's numbers with --scores."
        )
    with tempfile.TemporaryDirectory(prefix="repro-server-") as tmp:
        record = Path(tmp) / "score.json"
        scores = score_folder(dataset, pred_dir, gt, split=split, progress=False,
                              json_out=record, per_image_out=per_image_out)
        mat = np.asarray(json.loads(record.read_text())["confusion_rows_gt_cols_pred"])
    if dataset == "cityscapes":  # 34 x 34 labelIds: the evaluated classes' ground-truth rows
        from repro.metrics.cityscapes import EVAL_LABEL_IDS

        mat = np.diag(mat[EVAL_LABEL_IDS].sum(1))  # trivial_miou reads the row sums only
    scores["trivial_mIoU"] = 100.0 * trivial_miou(mat)
    return scores


SIMULATED_SOURCE = "simulated server (hidden synthetic test labels)"


def simulate_into(path: Path, results_dir: Path, dataset: str) -> dict[str, float]:
    """Score the submission recorded in a synthetic test-set row's result file (``path``, under
    ``results_dir``) with :func:`simulate` and import the numbers, with what a labelled
    evaluation records besides: the per-image confusion matrices (beside the result, named by
    the row's hash) and the mIoU's bootstrap interval. Returns the scores."""
    from repro.metrics.bootstrap import bootstrap_miou, per_image_relpath
    from repro.metrics.per_image import PerImageConfusion

    first = read_file(path)[0]
    rel = per_image_relpath(first.profile, first.table, first.row, first.seed,
                            first.config_hash)
    scores = simulate(Path(first.extra["submission_dir"]), dataset,
                      Path(first.extra["data_root"]), per_image_out=Path(results_dir) / rel)
    interval = bootstrap_miou(PerImageConfusion.load(Path(results_dir) / rel))
    import_scores(path, scores, "simulated_server", SIMULATED_SOURCE,
                  ci={"mIoU": [float(interval.low), float(interval.high)]},
                  extra={"per_image": rel})
    return scores


def import_scores(path: Path, scores: dict[str, float], scored_by: str, source: str,
                  ci: dict[str, list[float]] | None = None, extra: dict | None = None) -> Path:
    """Fill a test-set row's result file (``path``) with the server's numbers (``ci``: their
    intervals where known; ``extra``: provenance added to every row); the previous file is kept
    in history/ (``repro.results.store``)."""
    old = read_file(path)
    ci, added = ci or {}, {"scores_from": source, **(extra or {})}
    rows = []
    for r in old:
        if r.metric in scores:
            rows.append(replace(r, value=float(scores[r.metric]), status="ok",
                                scored_by=scored_by, ci=ci.get(r.metric),
                                extra={**r.extra, **added}))
        elif r.status == "awaiting_server":
            rows.append(replace(r, status="not_reproduced", scored_by=scored_by))
        else:
            rows.append(r)
    known = {r.metric for r in old}
    template = old[0]
    for metric, value in scores.items():
        if metric not in known:
            rows.append(replace(template, metric=metric, value=float(value), status="ok",
                                paper=None, scored_by=scored_by, ci=ci.get(metric),
                                extra={**template.extra, **added}))
    store(path, rows, force=True)
    return path
