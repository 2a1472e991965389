# GCN framework (Large Kernel Matters, Figure 2A) on ResNet-50: Table 6, "ResNet50" column
# (Sec. 4.1.2: "we take ResNet50 model (with or without GCN) for comparison because the training
# of large ResNet152 is very costly"). Everything else as gcn_r152.py.
_base_ = './gcn_r152.py'
model = dict(backbone=dict(depth=50))
# Table 6 compares ResNet-50 with ResNet50-GCN: the smoke variant keeps the depth (1/8 width).
smoke = dict(
    model=dict(
        backbone=dict(depth=50, base_channels=8, stem_channels=8),
        decode_head=dict(in_channels=[32, 64, 128, 256]),
    ),
)
