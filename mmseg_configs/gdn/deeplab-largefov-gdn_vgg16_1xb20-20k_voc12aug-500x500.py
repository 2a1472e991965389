# GDN Table 1 "DL-LargeFOV + GDN" (Nekrasov et al., BMVC 2016, Sec. 4.4): DeepLab-LargeFOV whose
# x8 bilinear upsampling is replaced by global interpolation (K_h, K_w 500x64, the released
# matrices, for the 500x500 training input) plus the multi-label loss; train_aug -> VOC12 val.
# Schedule: Sec. 4.1 as for FCN-32s + GDN (see gdn/fcn-32s-gdn_*.py for the arithmetic): SGD
# batch 20, momentum 0.9, lr 2.5e-3 and weight decay 2e-9 on Eq. 3's per-pixel mean loss over
# the padded 500x500 input (= Caffe's lr 1e-8 and decay 5e-4 on the summed loss), /10 at 10k and
# 15k of 20k iterations. Multipliers: DeepLab's prototxt (weights 1/1, biases lr 2 / decay 0,
# fc8 lr 10 / 20) and the released GDN layer (K_h, K_w: lr_mult 10, decay_mult 100); the label
# branch's FC layers follow the bias rule. The architecture is deeplab_largefov_vgg16.py's with
# the GDN head (DrSleep/GDN orig.prototxt is DeepLab-LargeFOV + the GDN layer).
_base_ = [
    '../_base_/models/deeplab_largefov_vgg16.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd_m099.py',
]
# Images (at most 500x500) padded to 500x500 at the top-left (see repro.models.gdn), mirrored.
crop_size = (500, 500)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=20, dataset=dict(pipeline=train_pipeline))
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(
        _delete_=True,
        type='GDNHead',
        base='deeplab_largefov',
        in_channels=1024,
        num_classes=21,
        align_corners=False,
        global_interp=dict(out_size=(500, 500), in_size=(64, 64)),
        label_loss=dict(in_size=(64, 64), hidden=(1024, 1024), loss_weight=1.0),
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    ),
)
optimizer = dict(type='SGD', lr=2.5e-3, momentum=0.9, weight_decay=2e-9)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    clip_grad=None,
    paramwise_cfg=dict(
        bias_lr_mult=2.0,
        bias_decay_mult=0.0,
        custom_keys={
            'decode_head.conv_seg.weight': dict(lr_mult=10.0),
            'decode_head.conv_seg.bias': dict(lr_mult=20.0, decay_mult=0.0),
            'decode_head.upsample': dict(lr_mult=10.0, decay_mult=100.0),
        },
    ),
)
param_scheduler = [
    dict(type='MultiStepLR', milestones=[10000, 15000], gamma=0.1, begin=0, end=20000,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000, val_interval=20000)
