"""Learning Deconvolution Network for Semantic Segmentation (Noh, Hong & Han, ICCV 2015): the
paper's tables, numbers as printed.

Source: shared/papers/deconvnet-noh-iccv2015.txt, which holds Table 1 (VOC 2012 test) and
Table 2 (the network's configuration); the paper has no other table.

- Table 1: DeconvNet, DeconvNet+CRF, EDeconvNet, EDeconvNet+CRF through the test-set export
  (``eval_split='test'``: the runner writes the server submission). EDeconvNet rows are
  ensembles (``members``) of the DeconvNet row and the FCN8s row, which runs the harness's
  FCN-8s (the "at-once" variant, trained from VGG16 without the FCN-32s/16s stages); the other
  methods are the published reference rows. Bold marks of the paper are dropped; "areo" is the
  paper's spelling.
- Table 2: every layer's output size on a 224x224 input, computed from the built network
  (static ``output_size@<layer>`` cells, ``repro.models.static.output_size``, meta device),
  plus the parameter count of Sec. 6.1 ("approximately 252M") in its own column.
"""

from __future__ import annotations

from repro.models import static
from repro.tables.registry import Cell, Experiment, Protocol, TableSpec

#: This paper's tables, in order (the registry reads them: repro.tables.registry).
TABLES: list[TableSpec] = []

CITATION = "Noh, Hong & Han, Learning Deconvolution Network for Semantic Segmentation, ICCV 2015"
DECONVNET = "deconvnet/deconvnet_vgg16-bn_1xb64-60k_voc12augval-224x224.py"
FCN8S = "fcn/fcn-8s-atonce_vgg16_1xb1-100k_voc12sbd-500x500.py"

#: (column title as printed, mmseg PascalVOCDataset class name or None for the mean).
COLUMNS = (
    ("bkg", "background"), ("areo", "aeroplane"), ("bike", "bicycle"), ("bird", "bird"),
    ("boat", "boat"), ("bottle", "bottle"), ("bus", "bus"), ("car", "car"), ("cat", "cat"),
    ("chair", "chair"), ("cow", "cow"), ("table", "diningtable"), ("dog", "dog"),
    ("horse", "horse"), ("mbk", "motorbike"), ("person", "person"), ("plant", "pottedplant"),
    ("sheep", "sheep"), ("sofa", "sofa"), ("train", "train"), ("tv", "tvmonitor"),
    ("mean", None),
)


def per_class_cells(row: str, printed: str) -> tuple[Cell, ...]:
    values = [float(v) for v in printed.split()]
    if len(values) != len(COLUMNS):
        raise ValueError(f"Row {row!r} has {len(values)} numbers; the paper prints 22.")
    return tuple(
        Cell(f"IoU.{cls}" if cls else "mIoU", row, col, v)
        for (col, cls), v in zip(COLUMNS, values)
    )


# ---------------------------------------------------------------------------------------------
# Table 1.

TRAIN = dict(
    dataset="voc", train_split="train_aug+val", crop_size=(224, 224), batch_size=64,
    iters=60000, eval_split="test", test_mode="proposals",
)
NOTE = ("Sec. 6.1: VOC 2012 train + val with the SBD labels (12031 images), two-stage crops; "
        "test server; proposals at test: EdgeBoxes from OpenCV contrib, top 50 of 2000 by "
        "objectness, enlarged 1.2x, boxes under 112 px skipped (released inference); stage-2 "
        "training crops from the same EdgeBoxes; differences: "
        "classes balanced per sample, not by adding redundant examples; batch 64 in one step "
        "(released solvers: 8 x iter_size 8)")
#: The released inference's dense CRF (generate_EDeconvNet_CRF_results.m); the paper gives none.
CRF = dict(w1=5, sigma_alpha=20, sigma_beta=3, w2=3, sigma_gamma=3, iterations=10)
PLAIN = Protocol(**TRAIN, note=NOTE)
WITH_CRF = Protocol(**TRAIN, crf=CRF, note=NOTE + "; CRF parameters of the released code")
FCN_TEST = Protocol(
    dataset="voc", train_split="sbd_train", eval_split="test", crop_size=(500, 500),
    batch_size=1, iters=100000,
    note="the harness's FCN-8s at-once as released (SBD train, batch 1); the paper prints "
         "the published FCN-8s result; test server",
)
ENSEMBLE = ("deconvnet", "fcn8s")  # EDeconvNet: mean of the two probability maps (Sec. 5.2)
#: Rows whose published numbers come from released models (repro.released): the DeconvNet the
#: authors released (with its BN layers) and the CVPR 2015 FCN-8s that the paper prints (and that
#: EDeconvNet averages with DeconvNet; the ensembles use their members' released models).
TABLE1_RELEASED = {"fcn8s": "fcn8s-cvpr2015", "deconvnet": "deconvnet",
                   "deconvnet-crf": "deconvnet"}

TABLE1 = (  # key, row title as printed, config or None (reference), protocol, printed numbers
    ("hypercolumn", "Hypercolumn [10]", None, None,
     "88.9 68.4 27.2 68.2 47.6 61.7 76.9 72.1 71.1 24.3 59.3 44.8 62.7 59.4 73.5 70.6 52.0 "
     "63.0 38.1 60.0 54.1 59.2"),
    ("msra-cfm", "MSRA-CFM [3]", None, None,
     "87.7 75.7 26.7 69.5 48.8 65.6 81.0 69.2 73.3 30.0 68.7 51.5 69.1 68.1 71.7 67.5 50.4 "
     "66.5 44.4 58.9 53.5 61.8"),
    ("fcn8s", "FCN8s [17]", FCN8S, FCN_TEST,
     "91.2 76.8 34.2 68.9 49.4 60.3 75.3 74.7 77.6 21.4 62.5 46.8 71.8 63.9 76.5 73.9 45.2 "
     "72.4 37.4 70.9 55.1 62.2"),
    ("tti-zoomout-16", "TTI-Zoomout-16 [18]", None, None,
     "89.8 81.9 35.1 78.2 57.4 56.5 80.5 74.0 79.8 22.4 69.6 53.7 74.0 76.0 76.6 68.8 44.3 "
     "70.2 40.2 68.9 55.3 64.4"),
    ("deeplab-crf", "DeepLab-CRF [1]", None, None,
     "93.1 84.4 54.5 81.5 63.6 65.9 85.1 79.1 83.4 30.7 74.1 59.8 79.0 76.1 83.2 80.8 59.7 "
     "82.2 50.4 73.1 63.7 71.6"),
    ("deconvnet", "DeconvNet", DECONVNET, PLAIN,
     "92.7 85.9 42.6 78.9 62.5 66.6 87.4 77.8 79.5 26.3 73.4 60.2 70.8 76.5 79.6 77.7 58.2 "
     "77.4 52.9 75.2 59.8 69.6"),
    ("deconvnet-crf", "DeconvNet+CRF", DECONVNET, WITH_CRF,
     "92.9 87.8 41.9 80.6 63.9 67.3 88.1 78.4 81.3 25.9 73.7 61.2 72.0 77.0 79.9 78.7 59.5 "
     "78.3 55.0 75.2 61.5 70.5"),
    ("edeconvnet", "EDeconvNet", DECONVNET, PLAIN,
     "92.9 88.4 39.7 79.0 63.0 67.7 87.1 81.5 84.4 27.8 76.1 61.2 78.0 79.3 83.1 79.3 58.0 "
     "82.5 52.3 80.1 64.0 71.7"),
    ("edeconvnet-crf", "EDeconvNet+CRF", DECONVNET, WITH_CRF,
     "93.1 89.9 39.3 79.7 63.9 68.2 87.4 81.2 86.1 28.5 77.0 62.0 79.0 80.3 83.6 80.2 58.8 "
     "83.4 54.3 80.7 65.0 72.5"),
    ("wssl", "* WSSL [19]", None, None,
     "93.2 85.3 36.2 84.8 61.2 67.5 84.7 81.4 81.0 30.8 73.8 53.8 77.5 76.5 82.3 81.6 56.3 "
     "78.9 52.3 76.6 63.3 70.4"),
    ("boxsup", "* BoxSup [2]", None, None,
     "93.6 86.4 35.5 79.7 65.2 65.2 84.3 78.5 83.7 30.5 76.2 62.6 79.3 76.1 82.1 81.3 57.0 "
     "78.2 55.0 72.5 68.1 71.0"),
)

TABLES.append(
    TableSpec(
        paper="deconvnet",
        number=1,
        version=2,
        citation=CITATION,
        corner="Method",
        caption=(
            "Evaluation results on PASCAL VOC 2012 test set. (Asterisk (*) denotes the "
            "algorithms trained with additional data.)"
        ),
        experiments=tuple(
            Experiment(
                key=key, title=title, config=config,
                protocol=protocol or Protocol(eval_split="test"),
                cells=per_class_cells(title, printed),
                members=ENSEMBLE if key.startswith("edeconvnet") else (),
                released=TABLE1_RELEASED.get(key),
            )
            for key, title, config, protocol, printed in TABLE1
        ),
    )
)

# ---------------------------------------------------------------------------------------------
# Table 2, computed from the built network.


TABLE2_PRINTED = (  # layer, output size as printed (x for the paper's multiplication sign)
    ("input", "224x224x3"), ("conv1-1", "224x224x64"), ("conv1-2", "224x224x64"),
    ("pool1", "112x112x64"), ("conv2-1", "112x112x128"), ("conv2-2", "112x112x128"),
    ("pool2", "56x56x128"), ("conv3-1", "56x56x256"), ("conv3-2", "56x56x256"),
    ("conv3-3", "56x56x256"), ("pool3", "28x28x256"), ("conv4-1", "28x28x512"),
    ("conv4-2", "28x28x512"), ("conv4-3", "28x28x512"), ("pool4", "14x14x512"),
    ("conv5-1", "14x14x512"), ("conv5-2", "14x14x512"), ("conv5-3", "14x14x512"),
    ("pool5", "7x7x512"), ("fc6", "1x1x4096"), ("fc7", "1x1x4096"), ("deconv-fc6", "7x7x512"),
    ("unpool5", "14x14x512"), ("deconv5-1", "14x14x512"), ("deconv5-2", "14x14x512"),
    ("deconv5-3", "14x14x512"), ("unpool4", "28x28x512"), ("deconv4-1", "28x28x512"),
    ("deconv4-2", "28x28x512"), ("deconv4-3", "28x28x256"), ("unpool3", "56x56x256"),
    ("deconv3-1", "56x56x256"), ("deconv3-2", "56x56x256"), ("deconv3-3", "56x56x128"),
    ("unpool2", "112x112x128"), ("deconv2-1", "112x112x128"), ("deconv2-2", "112x112x64"),
    ("unpool1", "224x224x64"), ("deconv1-1", "224x224x64"), ("deconv1-2", "224x224x64"),
    ("output", "224x224x21"),
)

TABLES.append(
    TableSpec(
        paper="deconvnet",
        number=2,
        version=1,
        citation=CITATION,
        corner="name",
        caption=(
            "Detailed configuration of the proposed network. \u201cconv\u201d and \u201cdeconv"
            "\u201d denote layers in convolution and deconvolution network, respectively, while "
            "numbers next to each layer name mean the order of the corresponding layer in the "
            "network. ReLU layers are omitted from the table for brevity."
        ),
        experiments=(
            Experiment(
                key="deconvnet",
                title="DeconvNet",
                config=DECONVNET,
                protocol=Protocol(crop_size=(224, 224), batch_size=64, test_mode="proposals"),
                cells=(
                    *(Cell(f"output_size@{layer}", layer, "output size", size, unit="",
                           static=static.output_size)
                      for layer, size in TABLE2_PRINTED),
                    Cell("params", "total (Sec. 6.1: approximately 252M)", "parameters", 252,
                         unit="M", static=static.params),
                ),
            ),
        ),
    )
)
