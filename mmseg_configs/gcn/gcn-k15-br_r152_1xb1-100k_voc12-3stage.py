# GCN (k = 15) + BR on ResNet-152 for the three-stage PASCAL VOC 2012 schedule of Large Kernel
# Matters Sec. 4.2 (Tables 7 and 8): Stage-1 COCO + SBD + VOC padded to 640x640, Stage-2 SBD +
# VOC (train_aug) at 512x512, Stage-3 VOC train at 512x512, each stage initialised from the
# previous one. Splits, crop and initialisation come from each table row (repro.tables.gcn); this
# config holds what the stages share. Per-stage iterations and learning rates are not stated in
# the paper: 100k at batch 1 each, as for the ablations.
_base_ = './gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py'
# Multi-scale + flip testing ("Stage-3-MS"), run by mmseg's SegTTAModel when a row's protocol
# sets multi_scale=True. The paper names no scales: DeepLab-v2's 0.5 .. 1.75, with and without a
# horizontal flip, softmax scores averaged.
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            # Labels are loaded after the resize: they stay at full resolution.
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ],
    ),
]
