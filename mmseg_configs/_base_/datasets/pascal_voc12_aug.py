# PASCAL VOC 2012, the one VOC dataset base of every config. Default: VOC 2012 + SBD ("train_aug",
# 10582 images, labels in SegmentationClassAug) for training, VOC12 val (1449 images,
# SegmentationClass with the void band) for evaluation at native size: the GCN / DeepLab /
# Dilation / DeconvNet protocol. FCN's protocol (SBD train -> seg11valid) and GCN's stage splits
# override ann_file / data_prefix in their configs. Each config restates train_pipeline with its
# own crop; the harness (repro.runner) rewrites data_root, the split lists and the crop from each
# table row's protocol.
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # Images (at most 500x500) are padded, not resized, to crop_size by the data preprocessor:
    # GCN Sec. 4.1 "we pad each input image into 512x512"; FCN/DeepLab train on whole images.
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        ann_file='ImageSets/Segmentation/train_aug.txt',
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='ConfusionMatrixMetric', dataset='voc')
test_evaluator = val_evaluator
