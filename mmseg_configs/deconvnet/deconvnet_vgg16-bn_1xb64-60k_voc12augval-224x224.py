# DeconvNet (Noh, Hong & Han, ICCV 2015; Table 1 "DeconvNet", "DeconvNet+CRF", and the member of
# "EDeconvNet" with FCN-8s): two-stage training (Sec. 4.2, 6.1) on PASCAL VOC 2012 train + val
# with the SBD annotations (the protocol's train_aug+val): stage 1 on
# ground-truth object crops for 20K iterations, stage 2 on proposal crops for 40K, mini-batch 64
# (the released solvers: 8 images x iter_size 8), SGD lr 0.01, momentum 0.9, weight decay 5e-4;
# the learning rate drops 10x every 9K (stage 1) / 10K (stage 2) iterations and restarts at 0.01
# for stage 2 (released solver.prototxt files; the paper: "whenever validation accuracy does not
# improve"). Crops: repro.models.proposals.DeconvNetObjectCrop. Released prototxts: every conv /
# deconv weight at lr 1 / decay 1, every bias at lr 2 / decay 0; the BN layers' scale and shift
# at the defaults (lr 1, decay 1); SOFTMAX_LOSS normalised over the non-void pixels.
_base_ = [
    '../_base_/models/deconvnet_vgg16-bn.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd_m099.py',
]
crop_size = (224, 224)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='DeconvNetObjectCrop',
        stage=1,
        context=1.2,
        resize=250,
        crop=224,
        # Stage 2's examples are cut from EdgeBoxes proposals (Sec. 6.1, [26]), as at test time;
        # the structured-edge model file is found in the weights folder at plan time.
        proposals=dict(type='edgeboxes'),
        min_overlap=0.5,
    ),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
# VOC 2012 train + val with the SBD labels: train_aug (10582) + val (1449) = 12031 images.
voc_train = dict(  # the two parts differ in their list only
    type='PascalVOCDataset',
    data_root='data/VOCdevkit/VOC2012',
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    pipeline=train_pipeline,
)
train_dataloader = dict(
    batch_size=64,
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(voc_train, ann_file='ImageSets/Segmentation/train_aug.txt'),
            dict(voc_train, ann_file='ImageSets/Segmentation/val.txt'),
        ],
    ),
)
custom_hooks = [dict(type='DeconvNetStageHook', stage1_ratio=1 / 3)]
optim_wrapper = dict(
    optimizer=dict(lr=0.01, momentum=0.9, weight_decay=5e-4),
    # Biases lr 2 / decay 0; BN scale and shift at 1 / 1 (mmengine's bias rule leaves norm
    # layers' lr alone, their decay needs norm_decay_mult).
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0, norm_decay_mult=1.0),
)
# Stage 1: 0.01, /10 at 9K and 18K; stage 2 restarts at 0.01 (DeconvNetStageHook, at 20K), /10 at
# 30K, 40K and 50K.
param_scheduler = [
    dict(type='MultiStepLR', milestones=[9000, 18000, 30000, 40000, 50000], gamma=0.1, begin=0,
         end=60000, by_epoch=False),
]
train_cfg = dict(max_iters=60000, val_interval=60000)
# MaxUnpool2d has no deterministic implementation: keep mmengine's deterministic mode off.
randomness = dict(seed=0, deterministic=False)
