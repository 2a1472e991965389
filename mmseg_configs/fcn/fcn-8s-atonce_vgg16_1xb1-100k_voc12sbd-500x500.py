# FCN-8s "at-once" (voc-fcn8s-atonce): all skips trained together from VGG16, pool4 scaled by
# 0.01 and pool3 by 0.0001 before scoring; lr 1e-10 as FCN-32s.
_base_ = './fcn-32s_vgg16_1xb1-100k_voc12sbd-500x500.py'
model = dict(decode_head=dict(mode='8s', at_once=True, in_channels=[256, 512, 4096]))
