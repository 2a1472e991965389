# GDN Table 1 "DL-LargeFOV + Global Interp.": DeepLab-LargeFOV with global interpolation instead
# of the x8 bilinear upsampling, no label loss; schedule of DL-LargeFOV + GDN.
_base_ = './deeplab-largefov-gdn_vgg16_1xb20-20k_voc12aug-500x500.py'
model = dict(decode_head=dict(label_loss=None))
