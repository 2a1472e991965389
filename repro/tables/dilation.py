"""Multi-Scale Context Aggregation by Dilated Convolutions (Yu & Koltun, ICLR 2016): the paper's
tables, numbers as printed.

Source: shared/papers/dilation-yu-koltun-iclr2016-slides.txt, course slides (N. Ibrahim,
CSC2548) that embed the paper's pages. The text holds the paper's Tables 1-4 (the VOC-2012
experiments, Secs. 3-5); the ICLR version's other tables (CamVid, KITTI, Cityscapes) are not in
it and are not registered. Per-class columns are printed without background: aero .. tv, then
mean IoU.

- Table 1: the context network, computed from the built module (static ``context_*`` metrics).
- Table 2: front end vs FCN-8s and DeepLab, VOC-2012 *test* set, where Yu & Koltun evaluate the
  authors' public models. The FCN-8s row runs the harness's FCN-8s (the "at-once" variant, as
  released: SBD train, batch 1); DeepLab and DeepLab-Msc are the original DeepLab (the test-set
  DeepLab+CRF of 66.4% quoted in Sec. 4), not the harness's DeepLab-LargeFOV: reference rows.
- Table 3: front end / basic / large context, alone, + dense CRF, + CRF-RNN, VOC-2012 *val*.
- Table 4: VOC-2012 *test* set; DeepLab++, DeepLab-MSc++ and CRF-RNN are reference rows.

The context rows ("Front + Basic", "Front + Large", Table 4 "Context", with or without the dense
CRF) start from the trained front end row (``init_from``), as Sec. 5 trains the context module
on the trained front end; the whole network is then fine-tuned (fyu/dilation docs/training.md's
joint training), not the context module alone. Trained from a fresh classifier instead, the
identity-initialised module's truncations zero the class scores that the first steps push below
zero, and the smoke rows predicted background only. The "+ RNN" rows add CRF-RNN (Zheng et al.,
ICCV 2015) to the trained row without it and fine-tune the whole (``init_from``), as CRF-RNN is
trained on top of a trained network.

Tables 3 and 4 come from the front end of Sec. 5 trained on VOC-2012 + Microsoft COCO (coarse
100K iterations at 1e-3 and 40K at 1e-4, then 50K on VOC-2012 at 1e-5, as the slides summarise);
COCO is not used by the harness, so these rows train the Sec. 4 (VOC-only) schedule.
"""

from __future__ import annotations

import functools

from mmengine.config import Config

from repro import paths
from repro.tables.registry import (
    Cell,
    Experiment,
    Protocol,
    TableSpec,
    register_static_metric,
    register_table,
)

CITATION = "Yu & Koltun, Multi-Scale Context Aggregation by Dilated Convolutions, ICLR 2016"
SUFFIX = "vgg16_1xb14-60k_voc12aug-504x504.py"

#: (column title as printed, mmseg PascalVOCDataset class name); the paper has no background.
COLUMNS = (
    ("aero", "aeroplane"), ("bike", "bicycle"), ("bird", "bird"), ("boat", "boat"),
    ("bottle", "bottle"), ("bus", "bus"), ("car", "car"), ("cat", "cat"), ("chair", "chair"),
    ("cow", "cow"), ("table", "diningtable"), ("dog", "dog"), ("horse", "horse"),
    ("mbike", "motorbike"), ("person", "person"), ("plant", "pottedplant"), ("sheep", "sheep"),
    ("sofa", "sofa"), ("train", "train"), ("tv", "tvmonitor"),
)
MEAN_COL = "mean IoU"


def config(name: str) -> str:
    return f"dilation/dilation-{name}_{SUFFIX}"


def per_class_cells(row: str, printed: str) -> tuple[Cell, ...]:
    """A printed row of 20 class IoUs + mean IoU -> cells keyed ``IoU.<class>`` and ``mIoU``."""
    values = [float(v) for v in printed.split()]
    if len(values) != len(COLUMNS) + 1:
        raise ValueError(f"Row {row!r} has {len(values)} numbers; the paper prints 21.")
    cells = [Cell(f"IoU.{cls}", row, col, v) for (col, cls), v in zip(COLUMNS, values)]
    return (*cells, Cell("mIoU", row, MEAN_COL, values[-1]))


# ---------------------------------------------------------------------------------------------
# Table 1, computed from the built context module.

TABLE1_FIELDS = {  # static metric prefix -> Table 1 row
    "context_kernel": "Convolution",
    "context_dilation": "Dilation",
    "context_truncation": "Truncation",
    "context_rf": "Receptive field",
    "context_channels": "Output channels",
}


@functools.lru_cache(maxsize=4)
def _context_layers(config_rel: str, options: tuple) -> list[dict[str, str]]:
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import repro.plugins  # noqa: F401 - registers the plugins

    cfg = Config.fromfile(str(paths.config_path(config_rel)))
    if options:
        cfg.merge_from_dict(dict(options))
    init_default_scope(cfg.get("default_scope", "mmseg"))
    head = MODELS.build(cfg.model.decode_head)  # the head alone: Table 1 needs no backbone
    if head.context is None:
        raise ValueError(
            f"{config_rel} has no context module: Table 1 rows need a config with "
            "decode_head.context='basic' or 'large'."
        )
    return head.context.layer_table()


def context_layer_metric(exp: Experiment, metric: str) -> str:
    """``context_rf@3``: Table 1's "Receptive field" of layer 3, read from the built module."""
    prefix, layer = metric.split("@", 1)
    layers = _context_layers(exp.config, tuple(sorted(exp.options.items())))
    return layers[int(layer) - 1][TABLE1_FIELDS[prefix]]


for _prefix in TABLE1_FIELDS:
    register_static_metric(_prefix)(context_layer_metric)

LAYERS = range(1, 9)
TABLE1_PRINTED = {  # Table 1 as printed (x for the paper's multiplication sign)
    "Convolution": "3x3 3x3 3x3 3x3 3x3 3x3 3x3 1x1",
    "Dilation": "1 1 2 4 8 16 1 1",
    "Truncation": "Yes Yes Yes Yes Yes Yes Yes No",
    "Receptive field": "3x3 5x5 9x9 17x17 33x33 65x65 67x67 67x67",
    "Output channels: Basic": "C C C C C C C C",
    "Output channels: Large": "2C 2C 4C 8C 16C 32C 32C C",
}


def table1_cells(rows: dict[str, str]) -> tuple[Cell, ...]:
    prefix = {v: k for k, v in TABLE1_FIELDS.items()}
    cells = []
    for row, printed in rows.items():
        field = "Output channels" if row.startswith("Output channels") else row
        for layer, value in zip(LAYERS, printed.split()):
            cells.append(Cell(f"{prefix[field]}@{layer}", row, str(layer), value, unit=""))
    return tuple(cells)


register_table(
    TableSpec(
        paper="dilation",
        number=1,
        version=1,
        citation=CITATION,
        corner="Layer",
        caption=(
            "Context network architecture. The network processes C feature maps by aggregating "
            "contextual information at progressively increasing scales without losing "
            "resolution."
        ),
        experiments=(
            Experiment(
                key="basic",
                title="Basic context module",
                config=config("basic"),
                cells=table1_cells(
                    {k: v for k, v in TABLE1_PRINTED.items() if not k.endswith("Large")}
                ),
            ),
            Experiment(
                key="large",
                title="Large context module",
                config=config("large"),
                cells=table1_cells({"Output channels: Large": TABLE1_PRINTED[
                    "Output channels: Large"]}),
            ),
        ),
    )
)

# ---------------------------------------------------------------------------------------------
# Tables 2-4: VOC-2012 per-class IoU.

SEC4 = dict(
    dataset="voc", train_split="train_aug", crop_size=(504, 504), batch_size=14,
)
TEST = Protocol(
    **SEC4, eval_split="test", iters=60000,
    note="Sec. 4: SGD, mini-batch 14, lr 1e-3, momentum 0.9, 60K iterations; test server.",
)
FCN_TEST = Protocol(
    dataset="voc", train_split="sbd_train", eval_split="test", crop_size=(500, 500),
    batch_size=1, iters=100000,
    note="the harness's FCN-8s at-once as released (SBD train, batch 1); test server",
)
COCO_NOTE = "paper: front end trained on VOC-2012 + COCO (Sec. 5); harness: VOC only"
VAL = Protocol(**SEC4, eval_split="val", note=COCO_NOTE)
VAL_CRF = Protocol(**SEC4, eval_split="val", crf=True, note=COCO_NOTE)
TEST5 = Protocol(**SEC4, eval_split="test", note=COCO_NOTE + "; test server")
TEST5_CRF = Protocol(**SEC4, eval_split="test", crf=True, note=COCO_NOTE + "; test server")

TABLE2 = (  # key, row title as printed, config or None (reference), printed numbers
    ("fcn8s", "FCN-8s", "fcn/fcn-8s-atonce_vgg16_1xb1-100k_voc12sbd-500x500.py",
     "76.8 34.2 68.9 49.4 60.3 75.3 74.7 77.6 21.4 62.5 46.8 71.8 63.9 76.5 73.9 45.2 72.4 "
     "37.4 70.9 55.1 62.2"),
    ("deeplab", "DeepLab", None,
     "72 31 71.2 53.7 60.5 77 71.9 73.1 25.2 62.6 49.1 68.7 63.3 73.9 73.6 50.8 72.3 42.1 "
     "67.9 52.6 62.1"),
    ("deeplab-msc", "DeepLab-Msc", None,
     "74.9 34.1 72.6 52.9 61.0 77.9 73.0 73.7 26.4 62.2 49.3 68.4 64.1 74.0 75.0 51.7 72.7 "
     "42.5 67.2 55.7 62.9"),
    ("frontend", "Our front end", config("frontend"),
     "82.2 37.4 72.7 57.1 62.7 82.8 77.8 78.9 28 70 51.6 73.1 72.8 81.5 79.1 56.6 77.1 49.9 "
     "75.3 60.9 67.6"),
)

register_table(
    TableSpec(
        paper="dilation",
        number=2,
        version=1,
        citation=CITATION,
        caption=(
            "Our front-end prediction module is simpler and more accurate than prior models. "
            "This table reports accuracy on the VOC-2012 test set."
        ),
        experiments=tuple(
            Experiment(
                key=key, title=title, config=cfg,
                protocol=FCN_TEST if key == "fcn8s" else TEST,
                cells=per_class_cells(title, printed),
            )
            for key, title, cfg, printed in TABLE2
        ),
    )
)

def _table3_init(key: str) -> str | None:
    """CRF-RNN rows start from their row without it, context rows from the front end."""
    if key.endswith("-rnn"):
        return key.removesuffix("-rnn")
    return "frontend" if key.startswith(("basic", "large")) else None


TABLE3 = (  # key, row title as printed, config name, protocol, printed numbers
    ("frontend", "Front end", "frontend", VAL,
     "86.3 38.2 76.8 66.8 63.2 87.3 78.7 82 33.7 76.7 53.5 73.7 76 76.6 83 51.9 77.8 44 79.9 "
     "66.3 69.8"),
    ("basic", "Front + Basic", "basic", VAL,
     "86.4 37.6 78.5 66.3 64.1 89.9 79.9 84.9 36.1 79.4 55.8 77.6 81.6 79 83.1 51.2 81.3 43.7 "
     "82.3 65.7 71.3"),
    ("large", "Front + Large", "large", VAL,
     "87.3 39.2 80.3 65.6 66.4 90.2 82.6 85.8 34.8 81.9 51.7 79 84.1 80.9 83.2 51.2 83.2 44.7 "
     "83.4 65.6 72.1"),
    ("frontend-crf", "Front end + CRF", "frontend", VAL_CRF,
     "89.2 38.8 80 69.8 63.2 88.8 80 85.2 33.8 80.6 55.5 77.1 80.8 77.3 84.3 53.1 80.4 45 80.7 "
     "67.9 71.6"),
    ("basic-crf", "Front + Basic + CRF", "basic", VAL_CRF,
     "89.1 38.7 81.4 67.4 65 91 81 86.7 37.5 81 57 79.6 83.6 79.9 84.6 52.7 83.3 44.3 82.6 "
     "67.2 72.7"),
    ("large-crf", "Front + Large + CRF", "large", VAL_CRF,
     "89.6 39.9 82.7 66.7 67.5 91.1 83.3 87.4 36 83.3 52.5 80.7 85.7 81.8 84.4 52.6 84.4 45.3 "
     "83.7 66.7 73.3"),
    ("frontend-rnn", "Front end + RNN", "frontend-crfrnn", VAL,
     "88.8 38.1 80.8 69.1 65.6 89.9 79.6 85.7 36.3 83.6 57.3 77.9 83.2 77 84.6 54.7 82.1 46.9 "
     "80.9 66.7 72.5"),
    ("basic-rnn", "Front + Basic + RNN", "basic-crfrnn", VAL,
     "89 38.4 82.3 67.9 65.2 91.5 80.4 87.2 38.4 82.1 57.7 79.9 85 79.6 84.5 53.5 84 45 82.8 "
     "66.2 73.1"),
    ("large-rnn", "Front + Large + RNN", "large-crfrnn", VAL,
     "89.3 39.2 83.6 67.2 69 92.1 83.1 88 38.4 84.8 55.3 81.2 86.7 81.3 84.3 53.6 84.4 45.8 "
     "83.8 67 73.9"),
)

register_table(
    TableSpec(
        paper="dilation",
        number=3,
        version=2,
        citation=CITATION,
        caption=(
            "Controlled evaluation of the effect of the context module on the accuracy of three "
            "different architectures for semantic segmentation. Experiments performed on the "
            "VOC-2012 validation set. Validation images were not used for training. Top: adding "
            "the context module to a semantic segmentation front end with no structured "
            "prediction (Long et al., 2015). The basic context module increases accuracy, the "
            "large module increases it by a larger margin. Middle: the context module increases "
            "accuracy when plugged into a front-end + dense CRF configuration (Chen et al., "
            "2015a). Bottom: the context module increases accuracy when plugged into a front-end "
            "+ CRF-RNN configuration (Zheng et al., 2015)."
        ),
        experiments=tuple(
            Experiment(
                key=key, title=title, config=config(name), protocol=protocol,
                cells=per_class_cells(title, printed),
                init_from=_table3_init(key),
            )
            for key, title, name, protocol, printed in TABLE3
        ),
    )
)

TABLE4 = (  # key, row title as printed, config name or None (reference), protocol, numbers
    ("deeplab-pp", "DeepLab++", None, TEST5,
     "89.1 38.3 88.1 63.3 69.7 87.1 83.1 85 29.3 76.5 56.5 79.8 77.9 85.8 82.4 57.4 84.3 54.9 "
     "80.5 64.1 72.7"),
    ("deeplab-msc-pp", "DeepLab-MSc++", None, TEST5,
     "89.2 46.7 88.5 63.5 68.4 87.0 81.2 86.3 32.6 80.7 62.4 81.0 81.3 84.3 82.1 56.2 84.6 "
     "58.3 76.2 67.2 73.9"),
    ("crf-rnn", "CRF-RNN", None, TEST5,
     "90.4 55.3 88.7 68.4 69.8 88.3 82.4 85.1 32.6 78.5 64.4 79.6 81.9 86.4 81.8 58.6 82.4 "
     "53.5 77.4 70.1 74.7"),
    ("frontend", "Front end", "frontend", TEST5,
     "86.6 37.3 84.9 62.4 67.3 86.2 81.2 82.1 32.6 77.4 58.3 75.9 81 83.6 82.3 54.2 81.5 50.1 "
     "77.5 63 71.3"),
    ("context", "Context", "large", TEST5,
     "89.1 39.1 86.8 62.6 68.9 88.2 82.6 87.7 33.8 81.2 59.2 81.8 87.2 83.3 83.6 53.6 84.9 "
     "53.7 80.5 62.9 73.5"),
    ("context-crf", "Context + CRF", "large", TEST5_CRF,
     "91.3 39.9 88.9 64.3 69.8 88.9 82.6 89.7 34.7 82.7 59.5 83 88.4 84.2 85 55.3 86.7 54.4 "
     "81.9 63.6 74.7"),
    ("context-crf-rnn", "Context + CRF-RNN", "large-crfrnn", TEST5,
     "91.7 39.6 87.8 63.1 71.8 89.7 82.9 89.8 37.2 84 63 83.3 89 83.8 85.1 56.8 87.6 56 80.2 "
     "64.7 75.3"),
)

register_table(
    TableSpec(
        paper="dilation",
        number=4,
        version=2,
        citation=CITATION,
        caption=(
            "Evaluation on the VOC-2012 test set. ‘DeepLab++’ stands for DeepLab-CRF-"
            "COCO-LargeFOV and ‘DeepLab-MSc++’ stands for DeepLab-MSc-CRF-LargeFOV-COCO-"
            "CrossJoint (Chen et al., 2015a). ‘CRF-RNN’ is the system of Zheng et al. "
            "(2015). ‘Context’ refers to the large context module plugged into our front "
            "end. The context network yields very high accuracy, ourperforming the DeepLab++ "
            "architecture without performing structured prediction. Combining the context "
            "network with the CRF-RNN structured prediction module increases the accuracy of the "
            "CRF-RNN system."
        ),
        experiments=tuple(
            Experiment(
                key=key, title=title, config=config(name) if name else None,
                protocol=protocol, cells=per_class_cells(title, printed),
                init_from={"context": "frontend", "context-crf": "frontend",
                           "context-crf-rnn": "context"}.get(key),
            )
            for key, title, name, protocol, printed in TABLE4
        ),
    )
)
