# GDN Table 1 "FCN-32s + Label Loss": FCN-32s (fixed bilinear deconvolution, crop 19) with the
# multi-label classification loss on the coarse scores (GDN Sec. 3.3); schedule of FCN-32s + GDN.
_base_ = './fcn-32s-gdn_vgg16_1xb20-20k_voc12sbd-500x500.py'
model = dict(decode_head=dict(global_interp=None))
