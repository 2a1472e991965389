# GCN (k = 15) + BR on ResNet-152, Stage-1 of the three-stage PASCAL VOC 2012 schedule of Large
# Kernel Matters Sec. 4.2 (Table 7 "Stage-1", column "GCN + BR"): "we employ the Microsoft COCO
# dataset ... here we only retain the images including the same 20 classes in PASCAL VOC 2012",
# with SBD + VOC (train_aug), 109,892 images in all, padded to 640x640. Stage-2 is
# gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py and Stage-3 gcn-k15-br_r152_1xb1-100k_voc12-
# 512x512.py, each initialised from the previous stage (repro's table rows: init_from).
# The COCO part is the split "coco" of the VOC data root, in the VOC layout (JPEGImages/,
# SegmentationClassAug/, ImageSets/Segmentation/coco.txt). Iterations and learning rate per
# stage are not stated in the paper: 100k at batch 1, as for the ablations.
_base_ = [
    '../_base_/models/gcn_r152.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/schedules/schedule_sgd_m099.py',
    '../_base_/default_runtime.py',
]
crop_size = (640, 640)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
voc_train = dict(  # the two parts differ in their list only
    type='PascalVOCDataset',
    data_root='data/VOCdevkit/VOC2012',
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    pipeline=train_pipeline,
)
train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(voc_train, ann_file='ImageSets/Segmentation/coco.txt'),
            dict(voc_train, ann_file='ImageSets/Segmentation/train_aug.txt'),
        ],
    ),
)
model = dict(data_preprocessor=dict(size=crop_size))
