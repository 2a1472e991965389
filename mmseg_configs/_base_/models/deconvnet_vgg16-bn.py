# DeconvNet (Noh, Hong & Han, ICCV 2015, Sec. 3, Table 2): VGG16 with BatchNorm after every
# convolution and fc6/fc7 (repro.models.vgg, variant 'deconvnet', pools returning switches), the
# mirrored deconvolution network (repro.models.deconvnet.DeconvNetHead), 224x224 inputs, and the
# proposal-wise inference of Sec. 5 (ProposalSegmentor, test mode 'proposals').
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(224, 224),
)
model = dict(
    type='ProposalSegmentor',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='VGG16',
        variant='deconvnet',
        out_indices=('fc7', ),
        dropout=0,  # Sec. 6.1: "We remove the drop-out layers due to batch normalization"
        init_cfg=None,  # ImageNet VGG16 weights: dict(type='Pretrained', checkpoint=PATH)
    ),
    decode_head=dict(
        type='DeconvNetHead',
        in_channels=4096,
        num_classes=21,
        align_corners=False,
        # Caffe SOFTMAX_LOSS, normalised over the non-void pixels.
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True),
    ),
    train_cfg=dict(),
    test_cfg=dict(
        mode='proposals',
        # Sec. 6.1: EdgeBoxes, ~2000 per image, the top 50 by objectness (OpenCV contrib, the
        # structured-edge model file from `repro weights`: entry structured_edges, filled in by
        # repro; give `model=FILE` for mmseg's own tools). Precomputed boxes instead:
        # dict(type='file', root=DIR, format='xyxy').
        proposals=dict(type='edgeboxes', max_boxes=2000),
        max_proposals=50,
        min_size=112,  # released inference skips enlarged boxes with a side below 112 px
        context=1.2,
        input_size=224,
        aggregate='max',  # eq. (1); 'sum' is eq. (2)
        batch_size=16,
    ),
)
