# FCN-32s on VGG16 (Long et al., CVPR 2015; voc-fcn32s/net.py): conv1_1 pad 100, fc6/fc7 as
# convolutions, score_fr, fixed bilinear deconvolution 64/32 and Caffe crop 19 (repro.models.fcn).
# Preprocessing as the Caffe weights expect: BGR, mean subtraction, no scaling. With torchvision
# VGG16 weights use bgr_to_rgb=True, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375].
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[104.00699, 116.66877, 122.67892],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=(500, 500),
)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='VGG16',
        variant='fcn',
        out_indices=('pool3', 'pool4', 'fc7'),
        init_cfg=None,  # ImageNet weights: dict(type='Pretrained', checkpoint=<VGG16 file>)
    ),
    decode_head=dict(
        type='FCNVGGHead',
        mode='32s',
        in_channels=[4096],
        num_classes=21,
        align_corners=False,
        # The released nets sum the loss over pixels (Caffe SoftmaxWithLoss, normalize: false).
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, reduction='sum',
                         loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
