"""Large Kernel Matters (Peng et al., CVPR 2017): the paper's tables, numbers as printed.

Source: shared/papers/gcn-peng-cvpr2017.txt. Ablations (Tables 1-6) train on VOC12 train_aug
(10582), evaluate on VOC12 val (1449), inputs padded to 512x512, batch 1 (Sec. 4, 4.1).

- Tables 1, 2: GCN kernel size k; GCN vs a k x k convolution (+ parameters after res-5).
- Tables 3, 4: GCN vs stacks of linear 3x3 convolutions (Figure 4D), and stacks of width m.
- Table 5: boundary / internal accuracy, BR.
- Table 6: ResNet50 vs ResNet50-GCN (Figure 5, ``repro.models.resnet_gcn``).
- Tables 7, 8: the three-stage VOC schedule (COCO + SBD + VOC, SBD + VOC, VOC) on val, + MS and
  dense CRF; the VOC test server.
- Tables 9, 10: Cityscapes (coarse + fine, then fine), four 1024x1024 crops fused at test time,
  + MS and dense CRF; the Cityscapes test server.

Multi-stage rows name the row whose final checkpoint initialises them (``init_from``); test-time
variants (MS, CRF) name the same ``init_from`` as the row they evaluate, so that they train the
same model (shared through the training hash) and only evaluate differently. Tables 8 and 10
print only the mean IoU of each method; the server's per-class IoUs are stored with the result
(``IoU.<class>`` with mmseg's class names) but have no paper value to compare with.
"""

from dataclasses import replace

from repro.models import static
from repro.tables.registry import Cell, Experiment, Protocol, TableSpec

#: This paper's tables, in order (the registry reads them: repro.tables.registry).
TABLES: list[TableSpec] = []

CITATION = "Peng et al., Large Kernel Matters, CVPR 2017"
SUFFIX = "r152_1xb1-100k_voc12aug-512x512.py"
#: GCN states batch 1, momentum 0.99, weight decay 5e-4 (Sec. 4) and nothing else of the schedule.
LR_NOTE = (
    "learning rate not stated: FCN's 1e-10 on the summed loss, i.e. 2.62e-5 on the mean over the "
    "512x512 input, poly decay; iterations not stated: 100k"
)
ABLATION = Protocol(dataset="voc", train_split="train_aug", eval_split="val", crop_size=(512, 512),
                    note=LR_NOTE)
RES5_KERNEL = "params@decode_head.kernels.3"  # "# of Params ... after res-5" (Table 2)


def config(name: str) -> str:
    return f"gcn/{name}_{SUFFIX}"


# Table 1: k = base, 3, 5, ..., 15.
TABLE1_SCORES = {"base": 69.0, 3: 70.1, 5: 71.1, 7: 72.8, 9: 73.4, 11: 73.7, 13: 74.0, 15: 74.5}

TABLES.append(
    TableSpec(
        paper="gcn",
        number=1,
        version=2,
        citation=CITATION,
        corner="k",
        caption=(
            "Experimental results on different k settings of Global Convolutional Network. The "
            "score is evaluated by standard mean IoU(%) on PASCAL VOC 2012 validation set."
        ),
        experiments=tuple(
            Experiment(
                key="base" if k == "base" else f"k{k}",
                title="1x1 baseline" if k == "base" else f"GCN k={k}",
                config=config("gcn-base" if k == "base" else f"gcn-k{k}"),
                protocol=ABLATION,
                cells=(Cell("mIoU", "Score", str(k), score),),
            )
            for k, score in TABLE1_SCORES.items()
        ),
    )
)

# Table 2: GCN vs a trivial k x k convolution, score and parameters after res-5.
TABLE2 = {  # k: (score GCN, score Conv, params GCN (K), params Conv (K))
    3: (70.1, 69.8, 260, 387),
    5: (71.1, 70.4, 434, 1075),
    7: (72.8, 69.6, 608, 2107),
    9: (73.4, 68.8, 782, 3484),
}

TABLES.append(
    TableSpec(
        paper="gcn",
        number=2,
        version=2,
        citation=CITATION,
        corner="k",
        comparisons=tuple((f"gcn-k{k}", f"conv-k{k}") for k in TABLE2),
        row_order=("Score (GCN)", "Score (Conv)", "# of Params (GCN)", "# of Params (Conv)"),
        caption=(
            "Comparison experiments between Global Convolutional Network and the trivial "
            "implementation. The score is measured under standard mean IoU(%), and the 3rd and "
            "4th rows show number of parameters of GCN and trivial Convolution after res-5."
        ),
        experiments=tuple(
            Experiment(
                key=f"{kind}-k{k}",
                title=f"{'GCN' if kind == 'gcn' else 'Conv'} k={k}",
                config=config(f"gcn-k{k}" if kind == "gcn" else f"gcn-conv-k{k}"),
                protocol=ABLATION,
                cells=(
                    Cell("mIoU", f"Score ({label})", str(k), score),
                    Cell(RES5_KERNEL, f"# of Params ({label})", str(k), params, unit="K",
                         static=static.params),
                ),
            )
            for k, (s_gcn, s_conv, p_gcn, p_conv) in TABLE2.items()
            for kind, label, score, params in (
                ("gcn", "GCN", s_gcn, p_gcn),
                ("conv", "Conv", s_conv, p_conv),
            )
        ),
    )
)

# Table 3: GCN vs a stack of (k-1)/2 linear 3x3 convolutions (Figure 4D), no BR.
TABLE3 = {3: (70.1, 69.8), 5: (71.1, 71.8), 7: (72.8, 71.3), 9: (73.4, 69.5), 11: (73.7, 67.5)}


def stack_config(k: int) -> str:
    # A "stack" of one 3x3 convolution (k = 3) is Table 2's 3x3 convolution: same model, same
    # training (the paper prints 69.8 for both).
    return config("gcn-conv-k3" if k == 3 else f"gcn-stack-k{k}")


TABLES.append(
    TableSpec(
        paper="gcn",
        number=3,
        version=2,
        citation=CITATION,
        corner="k",
        comparisons=tuple((f"gcn-k{k}", f"stack-k{k}") for k in TABLE3),
        caption=(
            "Comparison Experiments between Global Convolutional Network and the equivalent stack "
            "of small kernel convolutions. The score is measured under standard mean IoU(%). GCN "
            "is still better with large kernels (k > 7)."
        ),
        experiments=tuple(
            Experiment(
                key=f"{kind}-k{k}",
                title=f"{label} k={k}",
                config=config(f"gcn-k{k}") if kind == "gcn" else stack_config(k),
                protocol=ABLATION,
                cells=(Cell("mIoU", f"Score ({label})", str(k), score),),
            )
            for k, (s_gcn, s_stack) in TABLE3.items()
            for kind, label, score in (("gcn", "GCN", s_gcn), ("stack", "Stack", s_stack))
        ),
    )
)

# Table 4: k = 7 stacks with m intermediate channels after res-5 vs GCN (k = 7).
TABLE4 = (  # key, column as printed, config name, score, params after res-5 (K)
    ("stack-m2048", "2048", "gcn-stack-k7", 71.3, 75885),
    ("stack-m1024", "1024", "gcn-stack-k7-m1024", 70.4, 28505),
    ("stack-m210", "210", "gcn-stack-k7-m210", 68.8, 4307),
    ("gcn", "2048 (GCN)", "gcn-k7", 72.8, 608),
)

TABLES.append(
    TableSpec(
        paper="gcn",
        number=4,
        version=2,
        citation=CITATION,
        corner="m (Stack)",
        caption=(
            "Experimental results on the channels of stacking of small kernel convolutions. The "
            "score is measured under standard mean IoU. GCN outperforms the convolutional stack "
            "design with less parameters."
        ),
        experiments=tuple(
            Experiment(
                key=key,
                title="GCN k=7" if key == "gcn" else f"3x3 stack k=7, m={col}",
                config=config(name),
                protocol=ABLATION,
                cells=(
                    Cell("mIoU", "Score", col, score),
                    Cell(RES5_KERNEL, "# of Params", col, params, unit="K",
                         static=static.params),
                ),
            )
            for key, col, name, score, params in TABLE4
        ),
    )
)

# Table 5: boundary / internal accuracy (band of distance <= 7 px, repro.metrics.boundary).
BOUNDARY = Protocol(
    dataset="voc", train_split="train_aug", eval_split="val", crop_size=(512, 512),
    note="boundary band: pixels within distance <= 7 of a label boundary (repro.metrics.boundary); "
         + LR_NOTE,
)

TABLES.append(
    TableSpec(
        paper="gcn",
        number=5,
        version=2,
        citation=CITATION,
        corner="Model",
        caption=(
            "Experimental results on Residual Boundary Alignment. The Boundary and Internal "
            "columns are measured by the per-pixel accuracy while the 3rd column is measured by "
            "standard mean IoU."
        ),
        experiments=tuple(
            Experiment(
                key=key,
                title=title,
                config=config(name),
                protocol=BOUNDARY,
                options={"val_evaluator.boundary_width": 7, "test_evaluator.boundary_width": 7},
                cells=(
                    Cell("boundary_acc", title, "Boundary (acc.)", b),
                    Cell("internal_acc", title, "Internal (acc.)", i),
                    Cell("mIoU", title, "Overall (IoU)", iou),
                ),
            )
            for key, title, name, b, i, iou in (
                ("baseline", "Baseline", "gcn-base", 71.3, 93.9, 69.0),
                ("gcn", "GCN", "gcn-k15", 71.5, 95.0, 74.5),
                ("gcn-br", "GCN + BR", "gcn-k15-br", 73.4, 95.1, 74.7),
            )
        ),
    )
)

# Table 6: ResNet50 vs ResNet50-GCN (Figure 5) as the pretrained model, 1x1 baseline and GCN + BR.
#: Top-5 error on ImageNet (224x224 centre crop of 256x256): for ResNet50-GCN the error `repro
#: pretrain resnet50-gcn` measured on the full ILSVRC 2012 (repro.models.static.imagenet_error);
#: for torchvision's ResNet-50 nothing here produces it (not reproduced).
IMAGENET_ERR = "imagenet_top5_err"
SUFFIX_R50 = "1xb1-100k_voc12aug-512x512.py"
TABLE6 = (  # backbone config id, column as printed, ImageNet err, Baseline, GCN + BR
    ("r50", "ResNet50", 7.7, 65.7, 72.3),
    ("r50gcn", "ResNet50-GCN", 7.9, 71.2, 72.5),
)

TABLES.append(
    TableSpec(
        paper="gcn",
        number=6,
        version=2,
        citation=CITATION,
        corner="Pretrained Model",
        caption=(
            "Experimental results on ResNet50 and ResNet50-GCN. Top-5 error of 224x224 "
            "center-crop on 256x256 image is used in ImageNet classification error. The "
            "segmentation score is measured under standard mean IoU."
        ),
        experiments=tuple(
            exp
            for bb, col, err, base, br in TABLE6
            for exp in (
                Experiment(
                    key=f"{bb}-base",
                    title=f"{col}, 1x1 baseline",
                    config=f"gcn/gcn-base_{bb}_{SUFFIX_R50}",
                    protocol=ABLATION,
                    cells=(
                        Cell(IMAGENET_ERR, "ImageNet cls err (%)", col, err,
                             static=static.imagenet_error if bb == "r50gcn" else None),
                        Cell("mIoU", "Seg. Score (Baseline)", col, base),
                    ),
                ),
                Experiment(
                    key=f"{bb}-gcn-br",
                    title=f"{col}, GCN + BR",
                    config=f"gcn/gcn-k15-br_{bb}_{SUFFIX_R50}",
                    protocol=ABLATION,
                    cells=(Cell("mIoU", "Seg. Score (GCN + BR)", col, br),),
                ),
            )
        ),
    )
)

# Tables 7 and 8: the three-stage PASCAL VOC 2012 schedule (Sec. 4.2).
# Stage-1's COCO part is the split "coco" of the VOC data root, written there by `repro data
# prepare coco` (repro.data.prepare: COCO 2014 train + val, the images holding any of the 20
# VOC classes, "here we only retain the images including the same 20 classes", instance masks
# painted with the VOC index of their category, crowd regions void, other categories
# background). Without it the Stage-1 rows are skipped, and so the stages initialised from them
# (the plan says so).
VOC3_NOTE = (
    "paper: Stage-1 COCO (VOC classes only) + SBD + VOC, 109,892 images, padded to 640x640; "
    "Stage-2 SBD + VOC (train_aug), Stage-3 VOC train, 512x512, each initialised from the last; "
    "iterations per stage not stated (100k); MS scales not stated (DeepLab's 0.5-1.75 + flip); "
    "CRF parameters cross-validated on DeepLab v2's grid; " + LR_NOTE.split(";")[0]
)
#: Stage-1's configs keep the 512x512 learning rate (``schedule_sgd_m099.py``) on their larger
#: input, where the mean loss divides the sum by 640 x 640: not FCN's equivalent there.
STAGE1_LR_NOTE = (
    "Stage-1 keeps 2.62e-5 on its 640x640 input, not FCN's equivalent there (1e-10 x 640 x 640 "
    "= 4.1e-5): its steps are 0.64x those of FCN's summed loss"
)
VOC_STAGE1 = Protocol(dataset="voc", train_split="coco+train_aug", eval_split="val",
                      crop_size=(640, 640), note=f"{VOC3_NOTE}; {STAGE1_LR_NOTE}")
VOC_STAGE2 = replace(VOC_STAGE1, train_split="train_aug", crop_size=(512, 512), note=VOC3_NOTE)
VOC_STAGE3 = replace(VOC_STAGE2, train_split="train", train_labels="SegmentationClass")
VOC_STAGES = {1: VOC_STAGE1, 2: VOC_STAGE2, 3: VOC_STAGE3}


#: The config of each stage (Stage-2 is the ablations' train_aug config): each trains what its
#: stage trains (splits, crop), so that mmseg's own tools run a stage as the paper did.
VOC_STAGE_DATA = {1: "coco-voc12aug-640x640", 2: "voc12aug-512x512", 3: "voc12-512x512"}


def voc3_config(name: str, stage: int) -> str:
    return f"gcn/{name}_r152_1xb1-100k_{VOC_STAGE_DATA[stage]}.py"


TABLE7 = {  # stage: (Baseline, GCN, GCN + BR) as printed
    1: (69.6, 74.1, 75.0),
    2: (72.4, 77.6, 78.6),
    3: (74.0, 78.7, 80.3),
}
TABLE7_MODELS = (  # key, column as printed, config name
    ("base", "Baseline", "gcn-base"),
    ("gcn", "GCN", "gcn-k15"),
    ("gcn-br", "GCN + BR", "gcn-k15-br"),
)
TABLE7_TEST_TIME = (  # key, row as printed, protocol, score (GCN + BR only)
    ("stage3-gcn-br-ms", "Stage-3-MS(%)", replace(VOC_STAGE3, multi_scale=True), 80.4),
    ("stage3-gcn-br-ms-crf", "Stage-3-MS-CRF(%)",
     replace(VOC_STAGE3, multi_scale=True, crf="v2"), 81.0),
)

TABLES.append(
    TableSpec(
        paper="gcn",
        number=7,
        version=2,
        citation=CITATION,
        corner="Phase",
        caption=(
            "Experimental results on PASCAL VOC 2012 validation set. The results are evaluated "
            "by standard mean IoU."
        ),
        experiments=tuple(
            Experiment(
                key=f"stage{stage}-{key}",
                title=f"Stage-{stage}, {col}",
                config=voc3_config(name, stage),
                protocol=VOC_STAGES[stage],
                init_from=None if stage == 1 else f"stage{stage - 1}-{key}",
                cells=(Cell("mIoU", f"Stage-{stage}(%)", col, score),),
            )
            for stage, scores in TABLE7.items()
            for (key, col, name), score in zip(TABLE7_MODELS, scores)
        )
        + tuple(
            # Test-time variants of the Stage-3 GCN + BR model: same training (init_from the
            # same Stage-2 row), evaluated with multi-scale (+ CRF).
            Experiment(
                key=key,
                title=row.removesuffix("(%)") + ", GCN + BR",
                config=voc3_config("gcn-k15-br", 3),
                protocol=protocol,
                init_from="stage2-gcn-br",
                cells=(Cell("mIoU", row, "GCN + BR", score),),
            )
            for key, row, protocol, score in TABLE7_TEST_TIME
        ),
    )
)

def server_table(number: int, caption: str, published, protocol: Protocol, *,
                      config: str, init_from: str, ours: float) -> TableSpec:
    """Tables 8 and 10: the published methods' mean IoU as reference rows, and our best model
    evaluated by the test server (its cell says "awaiting server" until imported)."""
    cell = "mean-IoU(%)"
    return TableSpec(
        paper="gcn", number=number, version=2, citation=CITATION, corner="Method",
        caption=caption,
        experiments=tuple(
            Experiment(key=key, title=title, config=None, protocol=protocol,
                       cells=(Cell("mIoU", title, cell, score),))
            for key, title, score in published
        ) + (
            Experiment(key="ours", title="Our approach", config=config, protocol=protocol,
                       init_from=init_from, cells=(Cell("mIoU", "Our approach", cell, ours),)),
        ),
    )


TABLE8 = (  # key, method as printed, mean IoU
    ("fcn8s-heavy", "FCN-8s-heavy [30]", 67.2),
    ("zoomout", "TTI_zoomout_v2 [26]", 69.6),
    ("boxsup", "MSRA_BoxSup [9]", 71.0),
    ("deeplab-msc-crf-largefov", "DeepLab-MSc-CRF-LargeFOV [6]", 71.6),
    ("crf-rnn-coco", "Oxford_TVG-CRF-RNN-COCO [38]", 74.7),
    ("dpn-coco", "CUHK_DPN-COCO [24]", 77.5),
    ("ho-crf", "Oxford_TVG_HO-CRF [2]", 77.9),
    ("oaseg", "CASIA_IVA_OASeg [34]", 78.3),
    ("adelaide-verydeep", "Adelaide_VeryDeep-FCN-VOC [35]", 79.1),
    ("lrr-4x-coco", "LRR_4x_ResNet-COCO [12]", 79.3),
    ("deeplabv2-crf", "Deeplabv2-CRF [7]", 79.7),
    ("deep-g-crf", "CentraleSupelec Deep G-CRF[5]", 80.2),
)
VOC_TEST = replace(
    VOC_STAGE3, multi_scale=True, crf="v2", eval_split="test",
    note="our best model (Table 7 Stage-3-MS-CRF, GCN + BR) on the VOC 2012 test server",
)

TABLES.append(server_table(
    8, "Experimental results on PASCAL VOC 2012 test set.", TABLE8, VOC_TEST,
    # Table 7's chain: the Stage-3 model, trained from its Stage-2 row.
    config=voc3_config("gcn-k15-br", 3), init_from="gcn/table7/stage2-gcn-br", ours=82.2,
))

# Tables 9 and 10: Cityscapes (Sec. 4.3), k = 25, 800x800 crops, four 1024x1024 test crops.
CITYSCAPES_CONFIG = "gcn/gcn-k25-br_r152_1xb1-100k_cityscapes-800x800.py"
CS_NOTE = (
    "Stage-1 fine train + coarse train_extra (22,973 images), Stage-2 fine train from Stage-1; "
    "random 800x800 crops, k = 25; test: four 1024x1024 crops, scores fused; iterations not "
    "stated (100k); MS scales not stated (DeepLab's 0.5-1.75 + flip); CRF parameters "
    "cross-validated on DeepLab v2's grid; learning rate not stated: 2.62e-5 as for VOC (FCN's "
    "1e-10 on the summed loss of a 512x512 input), poly decay"
)
CS_STAGE1 = Protocol(dataset="cityscapes", train_split="train+train_extra", eval_split="val",
                     crop_size=(800, 800), test_mode="crop4", note=CS_NOTE)
CS_STAGE2 = replace(CS_STAGE1, train_split="train")
TABLE9 = (  # key, phase as printed, protocol, init_from, score
    ("stage1", "Stage-1(%)", CS_STAGE1, None, 73.0),
    ("stage2", "Stage-2(%)", CS_STAGE2, "stage1", 76.9),
    ("stage2-ms", "Stage-2-MS(%)", replace(CS_STAGE2, multi_scale=True), "stage1", 77.2),
    ("stage2-ms-crf", "Stage-2-MS-CRF(%)", replace(CS_STAGE2, multi_scale=True, crf="v2"),
     "stage1", 77.4),
)

TABLES.append(
    TableSpec(
        paper="gcn",
        number=9,
        version=2,
        citation=CITATION,
        corner="Phase",
        caption=(
            "Experimental results on Cityscapes validation set. The standard mean IoU is used "
            "here."
        ),
        experiments=tuple(
            Experiment(
                key=key,
                title=row.removesuffix("(%)") + ", GCN + BR",
                config=CITYSCAPES_CONFIG,
                protocol=protocol,
                init_from=init_from,
                cells=(Cell("mIoU", row, "GCN + BR", score),),
            )
            for key, row, protocol, init_from, score in TABLE9
        ),
    )
)

TABLE10 = (  # key, method as printed, mean IoU
    ("fcn8s", "FCN 8s [30]", 65.3),
    ("dpn", "DPN [24]", 59.1),
    ("crf-rnn", "CRFasRNN [38]", 62.5),
    ("scale-invariant-cnn-crf", "Scale invariant CNN + CRF [19]", 66.3),
    ("dilation10", "Dilation10 [37]", 67.1),
    ("deeplabv2-crf", "DeepLabv2-CRF [7]", 70.4),
    ("adelaide-context", "Adelaide_context [21]", 71.6),
    ("lrr-4x", "LRR-4x [12]", 71.8),
)
CS_TEST = replace(
    CS_STAGE2, multi_scale=True, crf="v2", eval_split="test",
    note="our best model (Table 9 Stage-2-MS-CRF) on the Cityscapes test server",
)

TABLES.append(server_table(
    10, "Experimental results on Cityscapes test set.", TABLE10, CS_TEST,
    # Table 9's chain: the Stage-2 model, trained from Table 9's Stage-1 row.
    config=CITYSCAPES_CONFIG, init_from="gcn/table9/stage1", ours=76.9,
))
