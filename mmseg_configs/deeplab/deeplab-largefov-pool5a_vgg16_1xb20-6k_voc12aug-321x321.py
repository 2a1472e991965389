# DeepLab-LargeFOV in the layout of the released model (deeplab-public's DeepLab-LargeFOV
# train.prototxt; DrSleep/tensorflow-deeplab-lfov util/deploy.prototxt; GDN's src/orig.prototxt):
# the harness's DeepLab-LargeFOV plus `pool5a`, the 3x3 stride-1 pad-1 average pooling after
# pool5 that the released prototxt has and deeplab-largefov_vgg16_* lacks, and deeplab-public's
# mean pixel (BGR 104.008, 116.669, 122.675). The released DeepLab-LargeFOV caffemodel converts
# into this config (repro.released 'deeplab-largefov'); it trains as the base config does.
_base_ = './deeplab-largefov_vgg16_1xb20-6k_voc12aug-321x321.py'
model = dict(
    data_preprocessor=dict(mean=[104.008, 116.669, 122.675], std=[1.0, 1.0, 1.0],
                           bgr_to_rgb=False),
    backbone=dict(pool5a=True),
)
