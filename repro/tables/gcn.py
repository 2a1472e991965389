"""Large Kernel Matters (Peng et al., CVPR 2017): the paper's tables, numbers as printed.

Source: shared/papers/gcn-peng-cvpr2017.txt. Ablations (Tables 1-5) train on VOC12 train_aug
(10582), evaluate on VOC12 val (1449), inputs padded to 512x512, batch 1 (Sec. 4, 4.1).
"""

from repro.tables.registry import Cell, Experiment, Protocol, TableSpec, register_table

CITATION = "Peng et al., Large Kernel Matters, CVPR 2017"
SUFFIX = "r152_1xb1-100k_voc12aug-512x512.py"
ABLATION = Protocol(dataset="voc", train_split="train_aug", eval_split="val", crop_size=(512, 512))
RES5_KERNEL = "params@decode_head.kernels.3"  # "# of Params ... after res-5" (Table 2)


def config(name: str) -> str:
    return f"gcn/{name}_{SUFFIX}"


# Table 1: k = base, 3, 5, ..., 15.
TABLE1_SCORES = {"base": 69.0, 3: 70.1, 5: 71.1, 7: 72.8, 9: 73.4, 11: 73.7, 13: 74.0, 15: 74.5}

register_table(
    TableSpec(
        paper="gcn",
        number=1,
        version=1,
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

register_table(
    TableSpec(
        paper="gcn",
        number=2,
        version=1,
        citation=CITATION,
        corner="k",
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
                    Cell(RES5_KERNEL, f"# of Params ({label})", str(k), params, unit="K"),
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

# Table 5: boundary / internal accuracy (band of distance <= 7 px, repro.metrics.boundary).
BOUNDARY = Protocol(
    dataset="voc", train_split="train_aug", eval_split="val", crop_size=(512, 512),
    note="boundary band: pixels within distance <= 7 of a label boundary (repro.metrics.boundary)",
)

register_table(
    TableSpec(
        paper="gcn",
        number=5,
        version=1,
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
