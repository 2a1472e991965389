# GCN framework of Large Kernel Matters (Figure 2A) on ResNet-152 res-2..res-5.
# Batch 1 (Sec. 4): BatchNorm statistics are frozen, as in Caffe fine-tuning.
norm_cfg = dict(type='BN', requires_grad=False)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512),
    test_cfg=dict(size_divisor=32),
)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=152,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        norm_eval=True,
        style='pytorch',
        init_cfg=None,  # ImageNet weights: repro.weights sets init_cfg from a user's file
    ),
    decode_head=dict(
        type='GCNHead',
        in_channels=[256, 512, 1024, 2048],
        kernel_type='gcn',
        k=15,
        boundary_refine=True,
        num_classes=21,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
