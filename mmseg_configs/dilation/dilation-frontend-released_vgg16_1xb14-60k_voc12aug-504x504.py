# Dilation front end as the released VOC model runs it (fyu/dilation predict.py / test.py,
# models/dilated_convolution_front.prototxt): BGR minus the dataset mean (102.93, 111.36, 116.52,
# datasets/pascal_voc.json), the image reflection-padded by 186 px (8 more at the bottom/right,
# so that the stride-8 output has the row past the image that the released tiles interpolate
# from), no zero padding to a multiple of 8, softmax at stride 8 and bilinear interpolation of
# the probabilities to the image (util.interp_map: output pixel y at y / 8). The front end of the
# released dilation8_pascal_voc.caffemodel converts into this config (repro.released
# 'dilation8-voc-frontend').
_base_ = './dilation-frontend_vgg16_1xb14-60k_voc12aug-504x504.py'
model = dict(
    # The margin is reflected by the backbone here (pad_input), not by the preprocessor.
    data_preprocessor=dict(margin=0, mean=[102.93, 111.36, 116.52], std=[1.0, 1.0, 1.0],
                           bgr_to_rgb=False,
                           test_cfg=dict(_delete_=True, size_divisor=1)),
    backbone=dict(pad_input=(186, 194, 186, 194)),
    decode_head=dict(upsample='interp'),
)
