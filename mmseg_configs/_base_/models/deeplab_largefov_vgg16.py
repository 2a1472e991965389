# DeepLab-LargeFOV on VGG16 (Chen et al., ICLR 2015): conv5 dilation 2, fc6 3x3 dilation 12 with
# 1024 channels, fc7 1x1 1024, fc8 to 21 classes, x8 bilinear (Caffe Interp) upsampling
# (repro.models.deeplab), and `pool5a`, the 3x3 stride-1 average pooling after pool5 of the
# released prototxt (deeplab-public train.prototxt; GDN's src/orig.prototxt). Caffe
# preprocessing (BGR minus deeplab-public's mean pixel), see fcn_vgg16.py. The released
# DeepLab-LargeFOV caffemodel converts into this model (repro.released 'deeplab-largefov').
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[104.008, 116.669, 122.675],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255,
    size=(321, 321),
)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='VGG16',
        variant='deeplab_largefov',
        pool5a=True,
        out_indices=('fc7',),
        init_cfg=None,  # ImageNet weights: dict(type='Pretrained', checkpoint=<VGG16 file>)
    ),
    decode_head=dict(
        type='DeepLabLargeFOVHead',
        in_channels=1024,
        num_classes=21,
        align_corners=False,
        # Caffe SoftmaxWithLoss (normalize: true): mean over the non-void pixels.
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
