# Dilation front end, Sec. 5's coarse-tuning stage (Yu & Koltun, ICLR 2016, Tables 3 and 4;
# the slides' schedule): VOC 2012 train_aug + the COCO images of the 20 VOC classes, SGD with
# mini-batch 14, momentum 0.9, 100K iterations at lr 1e-3 then 40K at 1e-4 (one run, a step at
# 100K). The fine-tuning stage, dilation-frontend_vgg16_1xb14-50k_voc12aug-504x504.py, starts from
# this model (the harness's rows: init_from). The COCO part is the split "coco" of the VOC data
# root, in the VOC layout (`repro data prepare coco`). Not stated, as in Sec. 4's
# dilation-frontend_vgg16_1xb14-60k_voc12aug-504x504.py: weight decay and the crop.
_base_ = [
    '../_base_/models/dilation_vgg16.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd_m099.py',
]
crop_size = (504, 504)
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
    batch_size=14,
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(voc_train, ann_file='ImageSets/Segmentation/coco.txt'),
            dict(voc_train, ann_file='ImageSets/Segmentation/train_aug.txt'),
        ],
    ),
)
# Solver as Sec. 4's config (fyu/dilation's lr and decay multipliers).
optim_wrapper = dict(
    optimizer=dict(lr=1e-3, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0),
)
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[100000], gamma=0.1)]
train_cfg = dict(max_iters=140000, val_interval=140000)
