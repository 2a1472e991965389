# DeepLab-LargeFOV (Chen et al., ICLR 2015), train_aug -> VOC12 val. DeepLab's solver: batch 20
# of 321x321 crops (mirrored), SGD lr 1e-3 (x10 for fc8), momentum 0.9, weight decay 5e-4, lr
# x0.1 every 2000 iterations, 6000 iterations; per-pixel mean loss (Caffe's normalised softmax).
_base_ = [
    '../_base_/models/deeplab_largefov_vgg16.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd_m099.py',
]
crop_size = (321, 321)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
optimizer = dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    clip_grad=None,
    paramwise_cfg=dict(custom_keys={'decode_head.conv_seg': dict(lr_mult=10)}),
)
param_scheduler = [
    dict(type='MultiStepLR', milestones=[2000, 4000], gamma=0.1, begin=0, end=6000,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6000, val_interval=6000)
