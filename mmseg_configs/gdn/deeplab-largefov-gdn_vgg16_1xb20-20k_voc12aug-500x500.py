# GDN Table 1 "DL-LargeFOV + GDN" (Nekrasov et al., BMVC 2016, Sec. 4.4): DeepLab-LargeFOV whose
# x8 bilinear upsampling is replaced by global interpolation (K_h, K_w 500x64, the released
# matrices, for the 500x500 training input) plus the multi-label loss; train_aug -> VOC12 val.
# Schedule: Sec. 4.1 as for FCN-32s + GDN (see gdn/fcn-32s-gdn_*.py): SGD batch 20, momentum
# 0.9, weight decay 5e-4, lr 2.5e-3 on the per-pixel mean loss (Caffe's 1e-8 on the sum),
# /10 at 10k and 15k of 20k iterations; K and fc8 at lr_mult 10.
_base_ = '../deeplab/deeplab-largefov_vgg16_1xb20-6k_voc12aug-321x321.py'
# Images (at most 500x500) padded to 500x500 at the top-left (see repro.models.gdn), mirrored.
crop_size = (500, 500)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
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
optimizer = dict(type='SGD', lr=2.5e-3, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    clip_grad=None,
    paramwise_cfg=dict(custom_keys={
        'decode_head.conv_seg': dict(lr_mult=10),
        'decode_head.upsample': dict(lr_mult=10),
    }),
)
param_scheduler = [
    dict(type='MultiStepLR', milestones=[10000, 15000], gamma=0.1, begin=0, end=20000,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000, val_interval=20000)
