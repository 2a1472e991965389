# Dilation front end (Yu & Koltun, ICLR 2016, Sec. 4): VGG16 without pool4/pool5, conv5
# dilation 2, fc6 7x7 dilation 4, unpadded convolutions (repro.models.vgg, variant 'dilation')
# on the image reflected about each edge by 186 px ("the buffer zone is filled by reflecting the
# image about each edge": repro.models.dilation.ReflectPadDataPreProcessor, the same at train and
# test; the padding of a batch to the crop / to a multiple of 8 is reflected image too, labels
# 255); the "final" 1x1 layer to C = 21 class scores, the optional context module (Sec. 3,
# Table 1) and the fixed bilinear x8 upsampling (repro.models.dilation.ContextModuleHead).
# Output stride 8: test images are padded to a multiple of 8, training crops are multiples of 8.
data_preprocessor = dict(
    type='ReflectPadDataPreProcessor',
    margin=186,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(504, 504),
    test_cfg=dict(size_divisor=8),
)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='VGG16',
        variant='dilation',
        pad_input=0,  # the data preprocessor adds the 186-px reflected margin
        dropout=0.5,  # drop6/drop7 of fyu/dilation network.py
        init_cfg=None,  # ImageNet VGG16 weights: dict(type='Pretrained', checkpoint=PATH)
    ),
    decode_head=dict(
        type='ContextModuleHead',
        context=None,
        in_channels=4096,
        channels=4096,
        num_classes=21,
        align_corners=False,
        # Caffe SoftmaxWithLoss, normalization VALID: mean over the non-void pixels.
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
