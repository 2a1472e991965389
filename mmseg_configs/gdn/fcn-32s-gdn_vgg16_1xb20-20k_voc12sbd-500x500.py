# GDN Table 1 "FCN-32s + GDN" (Nekrasov et al., BMVC 2016, Sec. 3.2-3.3, 4.3): FCN-32s whose
# deconvolution is replaced by global interpolation (K_h, K_w 500x16 for the 500x500 training
# input) plus the multi-label classification loss on the coarse scores (repro.models.gdn); FCN's
# data protocol (SBD train -> seg11valid, whole images padded to 500x500, no flip).
# Sec. 4.1: SGD, batch 20, momentum 0.9, weight decay 5e-4, lr 1e-8 divided by 10 when the
# validation score stops improving; no iteration counts: 20k iterations with /10 at 10k and 15k
# stand for the plateaus. Solver semantics as Caffe's: the lr 1e-8 is for the pixel loss summed
# over the image (FCN's normalize: false); Eq. 3's L_s is the mean over the |I| = 500 x 500
# pixels of the padded input (void and padding count as 0), so lr 1e-8 x 250000 = 2.5e-3 on it
# takes the same steps, and the weight decay that Caffe applies as lr x decay = 1e-8 x 5e-4 is
# 5e-4 / 250000 = 2e-9 here. Parameter multipliers as the baseline's net.py (weights 1/1, biases
# lr 2 / decay 0) and the released GDN layer (DrSleep/GDN orig.prototxt: K_h and K_w at lr_mult
# 10, decay_mult 100); the label branch's FC layers (not released) follow the bias rule.
# The paper fine-tunes from the released FCN-32s; the GDN table rows train from VGG16 (see
# repro.tables.gdn), a row with `init_from=<its FCN-32s row>` fine-tunes instead.
_base_ = [
    '../_base_/models/fcn_vgg16.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd_m099.py',
]
crop_size = (500, 500)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=20,
    dataset=dict(ann_file='ImageSets/Segmentation/sbd_train.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(ann_file='ImageSets/Segmentation/seg11valid.txt'))
test_dataloader = val_dataloader
model = dict(
    decode_head=dict(
        _delete_=True,
        type='GDNHead',
        base='fcn32s',
        in_channels=4096,
        num_classes=21,
        align_corners=False,
        global_interp=dict(out_size=(500, 500), in_size=(16, 16)),
        label_loss=dict(in_size=(16, 16), hidden=(1024, 1024), loss_weight=1.0),
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
        custom_keys={'decode_head.upsample': dict(lr_mult=10.0, decay_mult=100.0)},
    ),
)
param_scheduler = [
    dict(type='MultiStepLR', milestones=[10000, 15000], gamma=0.1, begin=0, end=20000,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000, val_interval=20000)
