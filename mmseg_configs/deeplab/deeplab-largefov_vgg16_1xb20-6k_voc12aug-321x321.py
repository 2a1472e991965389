# DeepLab-LargeFOV (Chen et al., ICLR 2015), train_aug -> VOC12 val. DeepLab's solver: batch 20
# of 321x321 crops (mirrored), SGD lr 1e-3, momentum 0.9, weight decay 5e-4, lr x0.1 every 2000
# iterations, 6000 iterations. Released prototxt (deeplab-public DeepLab-LargeFOV train.prototxt):
# every weight at lr_mult 1 / decay_mult 1, every bias at lr_mult 2 / decay_mult 0, fc8 at
# lr_mult 10 (weight) / 20 (bias); SoftmaxWithLoss normalised over the non-void pixels
# (avg_non_ignore in the model base).
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
train_dataloader = dict(batch_size=20, dataset=dict(pipeline=train_pipeline))
optimizer = dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    clip_grad=None,
    # mmengine applies a matching custom key instead of the bias rules: fc8's two blobs are
    # listed one by one.
    paramwise_cfg=dict(
        bias_lr_mult=2.0,
        bias_decay_mult=0.0,
        custom_keys={
            'decode_head.conv_seg.weight': dict(lr_mult=10.0),
            'decode_head.conv_seg.bias': dict(lr_mult=20.0, decay_mult=0.0),
        },
    ),
)
param_scheduler = [
    dict(type='MultiStepLR', milestones=[2000, 4000], gamma=0.1, begin=0, end=6000,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6000, val_interval=6000)
