# FCN-32s (Long et al., CVPR 2015), the released voc-fcn32s: SBD train -> seg11valid.
# solve.py: SGD lr 1e-10 on the summed loss, momentum 0.99, weight decay 5e-4, batch 1, fixed lr,
# 100k iterations (25 x 4000). net.py: every weight at lr_mult 1 / decay_mult 1, every bias at
# lr_mult 2 / decay_mult 0; the bilinear deconvolutions are fixed (lr_mult 0: buffers here).
_base_ = [
    '../_base_/models/fcn_vgg16.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd_m099.py',
]
# FCN's VOC protocol: train on SBD train (8498 images, "sbd_train", labels converted into
# SegmentationClassAug), evaluate on FCN's reduced val "seg11valid" (736 images, VOC labels with
# the void band) at native size. Whole images (at most 500x500), no augmentation (FCN Sec. 4.3:
# mirroring and jittering gave no improvement); the data preprocessor pads them to crop_size
# (image top-left, label 255) so that they batch. The RandomCrop is a no-op at 500x500 and gives
# the smoke profile its small crops.
crop_size = (500, 500)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(ann_file='ImageSets/Segmentation/sbd_train.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(ann_file='ImageSets/Segmentation/seg11valid.txt'))
test_dataloader = val_dataloader
optimizer = dict(type='SGD', lr=1e-10, momentum=0.99, weight_decay=5e-4)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    clip_grad=None,
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0),
)
param_scheduler = []
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100000, val_interval=100000)
