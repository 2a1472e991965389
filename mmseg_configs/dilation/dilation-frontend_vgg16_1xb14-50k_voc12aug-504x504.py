# Dilation front end, Sec. 5's fine-tuning stage (Yu & Koltun, ICLR 2016, Tables 3 and 4 "Front
# end"; the slides' schedule): VOC 2012 train_aug, SGD with mini-batch 14, momentum 0.9, 50K
# iterations at lr 1e-5, starting from the coarse-tuning stage
# dilation-frontend_vgg16_1xb14-140k_coco-voc12aug-504x504.py (the harness's rows: init_from;
# with mmseg's tools, `load_from` its checkpoint). Not stated, as in Sec. 4's
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
train_dataloader = dict(batch_size=14, dataset=dict(pipeline=train_pipeline))
# Solver as Sec. 4's config (fyu/dilation's lr and decay multipliers), at lr 1e-5.
optim_wrapper = dict(
    optimizer=dict(lr=1e-5, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0),
)
param_scheduler = []  # constant
train_cfg = dict(max_iters=50000, val_interval=50000)
