# Front end + large context module as in the released VOC model (fyu/dilation
# models/dilation8_pascal_voc_deploy.prototxt, dilation8_pascal_voc.caffemodel): the context
# module zero-pads its input once by 33 and runs unpadded convolutions (ct_conv1_1 pad 33), not
# one padding per layer; inference as dilation-frontend-released (Caffe input convention,
# 186-px reflection, interpolated probabilities). The released file converts into this config
# (repro.released 'dilation8-voc').
_base_ = './dilation-frontend-released_vgg16_1xb14-60k_voc12aug-504x504.py'
model = dict(decode_head=dict(context='large', pad_mode='first'))
