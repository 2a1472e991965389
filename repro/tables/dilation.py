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

The context models (front + basic, front + large) start from the trained front end (their coarse
row from ``frontend-coarse``, their VOC-only variant from ``frontend-voc``), as Sec. 5 trains
the context module on the trained front end; the whole network is then fine-tuned
(fyu/dilation docs/training.md's joint training), not the context module alone. Trained from a
fresh classifier instead, the identity-initialised module's truncations zero the class scores
that the first steps push below zero, and the smoke rows predicted background only. The
"+ RNN" rows add CRF-RNN (Zheng et al.,
ICCV 2015) to the trained row without it and fine-tune the whole (``init_from``), as CRF-RNN is
trained on top of a trained network.

Tables 3 and 4 come from Sec. 5's schedule, which the slides summarise as "Coarse Tuning:
VOC-2012, Microsoft COCO: n = 100K, alpha = 10^-3; n = 40K, alpha = 10^-4. Fine Tuning: VOC-2012
only: n = 50K, alpha = 10^-5" (mini-batch 14 and momentum 0.9 as in Sec. 4). Each trained model
(front end, front + basic, front + large) is a chain of two rows of Table 3:

- ``<model>-coarse``: VOC-2012 train_aug + COCO's images of the VOC classes (the split ``coco``
  of ``repro data prepare coco``), 140K iterations at 1e-3 dropped to 1e-4 after 100K (one run
  with a step schedule, as a Caffe solver's "multistep" policy would; the slides do not say
  whether the 40K continued the same run or restarted from its weights);
- ``<model>``: train_aug only, 50K iterations at 1e-5, initialised from ``<model>-coarse``.

The + CRF rows share that training (test-time CRF); Table 4's rows name Table 3's coarse rows
as ``init_from``, so both tables use one training per model. The coarse rows' own cells are not
in the paper (empty "paper" cells). The VOC-only Sec. 4 schedule (train_aug, 60K at 1e-3, as
Table 2's front end) stays available as the rows ``<model>-voc``, also with empty paper cells.
"""

from __future__ import annotations

from repro.models import static
from repro.tables.registry import Cell, Experiment, Protocol, TableSpec

#: This paper's tables, in order (the registry reads them: repro.tables.registry).
TABLES: list[TableSpec] = []

CITATION = "Yu & Koltun, Multi-Scale Context Aggregation by Dilated Convolutions, ICLR 2016"
#: The config of each schedule: Sec. 4 (VOC only, 60K), Sec. 5's coarse (VOC + COCO, 140K) and
#: fine (VOC, 50K from the coarse model) tuning; each config states its data and solver.
SEC4_SCHEDULE, COARSE_SCHEDULE, FINE_SCHEDULE = (
    "60k_voc12aug", "140k_coco-voc12aug", "50k_voc12aug")

#: (column title as printed, mmseg PascalVOCDataset class name); the paper has no background.
COLUMNS = (
    ("aero", "aeroplane"), ("bike", "bicycle"), ("bird", "bird"), ("boat", "boat"),
    ("bottle", "bottle"), ("bus", "bus"), ("car", "car"), ("cat", "cat"), ("chair", "chair"),
    ("cow", "cow"), ("table", "diningtable"), ("dog", "dog"), ("horse", "horse"),
    ("mbike", "motorbike"), ("person", "person"), ("plant", "pottedplant"), ("sheep", "sheep"),
    ("sofa", "sofa"), ("train", "train"), ("tv", "tvmonitor"),
)
MEAN_COL = "mean IoU"


def config(name: str, schedule: str = SEC4_SCHEDULE) -> str:
    return f"dilation/dilation-{name}_vgg16_1xb14-{schedule}-504x504.py"


def per_class_cells(row: str, printed: str | None) -> tuple[Cell, ...]:
    """A printed row of 20 class IoUs + mean IoU -> cells keyed ``IoU.<class>`` and ``mIoU``;
    ``None``: a row the paper does not print (empty paper cells)."""
    if printed is None:
        printed = " ".join(["nan"] * (len(COLUMNS) + 1))
    values = [None if v == "nan" else float(v) for v in printed.split()]
    if len(values) != len(COLUMNS) + 1:
        raise ValueError(f"Row {row!r} has {len(values)} numbers; the paper prints 21.")
    cells = [Cell(f"IoU.{cls}", row, col, v) for (col, cls), v in zip(COLUMNS, values)]
    return (*cells, Cell("mIoU", row, MEAN_COL, values[-1]))


# ---------------------------------------------------------------------------------------------
# Table 1, computed from the built context module.

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
    prefix = {v: k for k, v in static.CONTEXT_FIELDS.items()}
    cells = []
    for row, printed in rows.items():
        field = "Output channels" if row.startswith("Output channels") else row
        for layer, value in zip(LAYERS, printed.split()):
            cells.append(Cell(f"{prefix[field]}@{layer}", row, str(layer), value, unit="",
                              static=static.context_layer))
    return tuple(cells)


TABLES.append(
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
#: What every trained Dilation row does differently from fyu/dilation (Sec. 4 is silent on it).
FRONT_END_NOTE = (
    "training windows: fyu/dilation crops 500x500 inputs (the 186-px reflected margin included) "
    "and scores labels subsampled by 8; ours: 504x504 image crops plus the reflected margin, "
    "loss on the x8-upsampled scores at every labelled pixel; context module trained jointly "
    "with the front end from the identity initialisation"
)
TEST = Protocol(
    **SEC4, eval_split="test", iters=60000,
    note="Sec. 4: SGD, mini-batch 14, lr 1e-3, momentum 0.9, 60K iterations; test server; "
         + FRONT_END_NOTE,
)
FCN_TEST = Protocol(
    dataset="voc", train_split="sbd_train", eval_split="test", crop_size=(500, 500),
    batch_size=1, iters=100000,
    note="the harness's FCN-8s at-once as released (SBD train, batch 1); test server",
)

# Sec. 5 (Tables 3 and 4): coarse tuning on VOC + COCO, then fine tuning on VOC (docstring).
SEC5_NOTE = (
    "Sec. 5 schedule (slides): coarse tuning on VOC-2012 train_aug + COCO's images of the VOC "
    "classes (`repro data prepare coco`; the COCO release is not stated, default 2014 train + "
    "val), 100K iterations at 1e-3 then 40K at 1e-4 as one run with a step at 100K; fine tuning "
    "on train_aug, 50K at 1e-5, from it; mini-batch 14, momentum 0.9. Paper: the context module "
    "is trained on the trained front end's output; harness: front end + context module trained "
    "end to end through both stages (repro.models.dilation); " + FRONT_END_NOTE
)
COARSE = Protocol(dataset="voc", train_split="coco+train_aug", crop_size=(504, 504),
                  batch_size=14, iters=140000, eval_split="val", note=SEC5_NOTE)
FINE = Protocol(**SEC4, iters=50000, eval_split="val", note=SEC5_NOTE)
VAL_CRF = Protocol(**SEC4, iters=50000, eval_split="val", crf="v1",  # DeepLab v1 (Chen 2015a)
                   note=SEC5_NOTE)
TEST5 = Protocol(**SEC4, iters=50000, eval_split="test", note=SEC5_NOTE + "; test server")
TEST5_CRF = Protocol(**SEC4, iters=50000, eval_split="test", crf="v1",
                     note=SEC5_NOTE + "; test server")
RNN_NOTE = (
    "CRF-RNN (Zheng et al.) fine-tuned end to end on train_aug from the trained row without it; "
    "its fine-tuning schedule is not in the paper's text available here: the config's (60K at "
    "1e-3, 5 mean-field iterations)"
)
VAL_RNN = Protocol(**SEC4, eval_split="val", note=RNN_NOTE)
TEST_RNN = Protocol(**SEC4, eval_split="test", note=RNN_NOTE + "; test server")
VOC_ONLY = Protocol(
    **SEC4, iters=60000, eval_split="val",
    note="variant, not in the paper: Sec. 4's VOC-only schedule (train_aug, 60K at 1e-3, as "
    "Table 2's front end) instead of Sec. 5's VOC + COCO; the paper prints no such row",
)
#: Trained models of Tables 3 and 4: key, Table 3 row title, config name.
SEC5_MODELS = (("frontend", "Front end", "frontend"), ("basic", "Front + Basic", "basic"),
               ("large", "Front + Large", "large"))

#: Rows whose published numbers come from the authors' released models (repro.released): the
#: CVPR 2015 FCN-8s, and the VOC "dilation8" model (front end + large context, trained on
#: VOC + COCO) and its front end; `repro run dilation/tableN --released` evaluates them.
RELEASED = {
    "table2/fcn8s": "fcn8s-cvpr2015",
    **{f"table3/{k}": "dilation8-voc-frontend" for k in ("frontend", "frontend-crf")},
    **{f"table3/{k}": "dilation8-voc" for k in ("large", "large-crf")},
    "table4/frontend": "dilation8-voc-frontend",
    **{f"table4/{k}": "dilation8-voc" for k in ("context", "context-crf")},
}

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

TABLES.append(
    TableSpec(
        paper="dilation",
        number=2,
        version=2,
        citation=CITATION,
        caption=(
            "Our front-end prediction module is simpler and more accurate than prior models. "
            "This table reports accuracy on the VOC-2012 test set."
        ),
        experiments=tuple(
            Experiment(
                key=key, title=title, config=cfg,
                protocol=FCN_TEST if key == "fcn8s" else TEST,
                cells=per_class_cells(title, printed), released=RELEASED.get(f"table2/{key}"),
            )
            for key, title, cfg, printed in TABLE2
        ),
    )
)

TABLE3 = (  # key, row title as printed, config name, protocol, printed numbers
    ("frontend", "Front end", "frontend", FINE,
     "86.3 38.2 76.8 66.8 63.2 87.3 78.7 82 33.7 76.7 53.5 73.7 76 76.6 83 51.9 77.8 44 79.9 "
     "66.3 69.8"),
    ("basic", "Front + Basic", "basic", FINE,
     "86.4 37.6 78.5 66.3 64.1 89.9 79.9 84.9 36.1 79.4 55.8 77.6 81.6 79 83.1 51.2 81.3 43.7 "
     "82.3 65.7 71.3"),
    ("large", "Front + Large", "large", FINE,
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
    ("frontend-rnn", "Front end + RNN", "frontend-crfrnn", VAL_RNN,
     "88.8 38.1 80.8 69.1 65.6 89.9 79.6 85.7 36.3 83.6 57.3 77.9 83.2 77 84.6 54.7 82.1 46.9 "
     "80.9 66.7 72.5"),
    ("basic-rnn", "Front + Basic + RNN", "basic-crfrnn", VAL_RNN,
     "89 38.4 82.3 67.9 65.2 91.5 80.4 87.2 38.4 82.1 57.7 79.9 85 79.6 84.5 53.5 84 45 82.8 "
     "66.2 73.1"),
    ("large-rnn", "Front + Large + RNN", "large-crfrnn", VAL_RNN,
     "89.3 39.2 83.6 67.2 69 92.1 83.1 88 38.4 84.8 55.3 81.2 86.7 81.3 84.3 53.6 84.4 45.8 "
     "83.8 67 73.9"),
)

TABLES.append(
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
                key=key, title=title, protocol=protocol, cells=per_class_cells(title, printed),
                # + RNN: fine-tuned from the trained row; the others: the fine-tuning stage of
                # the Sec. 5 chain, from the model's coarse row.
                config=config(name) if key.endswith("-rnn") else config(name, FINE_SCHEDULE),
                init_from=(key.removesuffix("-rnn") if key.endswith("-rnn")
                           else f"{name}-coarse"),
                released=RELEASED.get(f"table3/{key}"),
            )
            for key, title, name, protocol, printed in TABLE3
        ) + tuple(
            Experiment(
                key=f"{key}-coarse", title=f"{title}, coarse tuning (VOC-2012 + COCO)",
                config=config(name, COARSE_SCHEDULE), protocol=COARSE,
                cells=per_class_cells(f"{title}: coarse tuning (VOC-2012 + COCO)", None),
                # The context module is trained on the trained front end (Sec. 5).
                init_from=None if key == "frontend" else "frontend-coarse",
            )
            for key, title, name in SEC5_MODELS
        ) + tuple(
            Experiment(
                key=f"{key}-voc", title=f"{title}, VOC only (Sec. 4 schedule)",
                config=config(name), protocol=VOC_ONLY,
                cells=per_class_cells(f"{title}: VOC only (Sec. 4 schedule)", None),
                init_from=None if key == "frontend" else "frontend-voc",
            )
            for key, title, name in SEC5_MODELS
        ),
    )
)

REFERENCE_TEST = Protocol(dataset="voc", eval_split="test")  # published rows: not run here
TABLE4 = (  # key, row title as printed, config name or None (reference), protocol, numbers
    ("deeplab-pp", "DeepLab++", None, REFERENCE_TEST,
     "89.1 38.3 88.1 63.3 69.7 87.1 83.1 85 29.3 76.5 56.5 79.8 77.9 85.8 82.4 57.4 84.3 54.9 "
     "80.5 64.1 72.7"),
    ("deeplab-msc-pp", "DeepLab-MSc++", None, REFERENCE_TEST,
     "89.2 46.7 88.5 63.5 68.4 87.0 81.2 86.3 32.6 80.7 62.4 81.0 81.3 84.3 82.1 56.2 84.6 "
     "58.3 76.2 67.2 73.9"),
    ("crf-rnn", "CRF-RNN", None, REFERENCE_TEST,
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
    ("context-crf-rnn", "Context + CRF-RNN", "large-crfrnn", TEST_RNN,
     "91.7 39.6 87.8 63.1 71.8 89.7 82.9 89.8 37.2 84 63 83.3 89 83.8 85.1 56.8 87.6 56 80.2 "
     "64.7 75.3"),
)

TABLES.append(
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
                key=key, title=title, protocol=protocol, cells=per_class_cells(title, printed),
                # Table 3's Sec. 5 chain: the same training as its row of the same model.
                config=(None if not name else config(name) if key == "context-crf-rnn"
                        else config(name, FINE_SCHEDULE)),
                init_from=(None if not name else "context" if key == "context-crf-rnn"
                           else f"dilation/table3/{name}-coarse"),
                released=RELEASED.get(f"table4/{key}"),
            )
            for key, title, name, protocol, printed in TABLE4
        ),
    )
)
