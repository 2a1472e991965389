# Front end + large context module as in the released VOC model (fyu/dilation
# models/dilation8_pascal_voc_deploy.prototxt, dilation8_pascal_voc.caffemodel): the context
# module zero-pads its input once by 33 and runs unpadded convolutions (ct_conv1_1 pad 33), not
# one padding per layer; inference as dilation-frontend-released (Caffe input convention,
# 186-px reflection, interpolated probabilities). The released file converts into this config
# (repro.released 'dilation8-voc').
# Inference settings repeated from dilation-frontend-released (inheriting it would make four
# levels of configs).
_base_ = './dilation-frontend_vgg16_1xb14-60k_voc12aug-504x504.py'
model = dict(
    # The margin is reflected by the backbone here (pad_input), not by the preprocessor.
    data_preprocessor=dict(margin=0, mean=[102.93, 111.36, 116.52], std=[1.0, 1.0, 1.0],
                           bgr_to_rgb=False,
                           test_cfg=dict(_delete_=True, size_divisor=1)),
    backbone=dict(pad_input=(186, 194, 186, 194)),
    decode_head=dict(upsample='interp', context='large', pad_mode='first'),
)
