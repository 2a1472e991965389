# Cityscapes (cityscapes.py: fine labels as trainIds, official class / category IoU and iIoU)
# plus multi-scale + flip testing: the pipeline mmseg's SegTTAModel runs when a row's protocol
# sets multi_scale=True (GCN Table 9 "Stage-2-MS"). The GCN paper names no scales; these are
# DeepLab-v2's (0.5 .. 1.75), each with and without a horizontal flip; scores are averaged.
_base_ = './cityscapes.py'
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
