# GDN Table 1 "FCN-32s + GDN" (Nekrasov et al., BMVC 2016, Sec. 3.2-3.3, 4.3): FCN-32s whose
# deconvolution is replaced by global interpolation (K_h, K_w 500x16 for the 500x500 training
# input) plus the multi-label classification loss on the coarse scores (repro.models.gdn).
# Sec. 4.1: SGD, batch 20, momentum 0.9, weight decay 5e-4, lr 1e-8 divided by 10 when the
# validation score stops improving. The lr is for Caffe's summed loss; with Eq. 3's per-pixel
# mean it is 1e-8 x 500 x 500 = 2.5e-3. No iteration counts are given: 20k iterations with
# /10 at 10k and 15k stand for the plateaus. K is trained with lr_mult 10 (released code).
# The paper fine-tunes from the released FCN-32s; the GDN table rows train from VGG16 (see
# repro.tables.gdn), a row with `init_from=<its FCN-32s row>` fine-tunes instead.
_base_ = '../fcn/fcn-32s_vgg16_1xb1-100k_voc12sbd-500x500.py'
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
optimizer = dict(type='SGD', lr=2.5e-3, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    clip_grad=None,
    paramwise_cfg=dict(custom_keys={'decode_head.upsample': dict(lr_mult=10)}),
)
param_scheduler = [
    dict(type='MultiStepLR', milestones=[10000, 15000], gamma=0.1, begin=0, end=20000,
         by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=20000, val_interval=20000)
