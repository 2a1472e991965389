# Dilation front end alone (Yu & Koltun, ICLR 2016, Sec. 4; Tables 2, 3 and 4 "Front end").
# Sec. 4: VOC 2012 train + the SBD annotations (train_aug, no val image), SGD with mini-batch 14,
# learning rate 1e-3, momentum 0.9, 60K iterations. Not stated: weight decay (5e-4, fyu/dilation
# train.py) and the crop (fyu/dilation trains 500x500 inputs including the 186-px margin; here
# 504x504 image crops, a multiple of the output stride, plus the reflected margin).
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
train_dataloader = dict(batch_size=14, dataset=dict(pipeline=train_pipeline))
# fyu/dilation network.py / train.py: every weight at lr 1 / decay 1, every bias at lr 2 / decay 0
# (front end, final layer and context module alike), the bilinear upsampling fixed; solver
# weight decay 5e-4; SoftmaxWithLoss normalization VALID (the model base).
optim_wrapper = dict(
    optimizer=dict(lr=1e-3, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0),
)
param_scheduler = []  # a constant learning rate (Sec. 4 names no schedule)
train_cfg = dict(max_iters=60000, val_interval=60000)
