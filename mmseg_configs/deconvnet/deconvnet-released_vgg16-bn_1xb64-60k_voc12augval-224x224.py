# DeconvNet with the released model's input convention (HyeonwooNoh/DeconvNet
# inference/util/preprocess_image_bb.m: BGR minus the mean 104.00698793, 116.66876762,
# 122.67891434, no scaling); the architecture is the base config's. The released
# DeconvNet_trainval_inference.caffemodel converts into this config (repro.released
# 'deconvnet'; its BN layers are in inference form and load as BatchNorm with mean 0, var 1).
_base_ = './deconvnet_vgg16-bn_1xb64-60k_voc12augval-224x224.py'
model = dict(
    data_preprocessor=dict(mean=[104.00698793, 116.66876762, 122.67891434], std=[1.0, 1.0, 1.0],
                           bgr_to_rgb=False),
)
