# GDN Table 1 "DL-LargeFOV + Label Loss": DeepLab-LargeFOV (x8 bilinear Interp) with the
# multi-label classification loss on the coarse scores; schedule of DL-LargeFOV + GDN.
_base_ = './deeplab-largefov-gdn_vgg16_1xb20-20k_voc12aug-500x500.py'
model = dict(decode_head=dict(global_interp=None))
