# GDN Table 1 "FCN-32s + Global Interp.": FCN-32s with global interpolation instead of the
# deconvolution (GDN Sec. 3.2), no label loss; schedule of FCN-32s + GDN.
_base_ = './fcn-32s-gdn_vgg16_1xb20-20k_voc12sbd-500x500.py'
model = dict(decode_head=dict(label_loss=None))
