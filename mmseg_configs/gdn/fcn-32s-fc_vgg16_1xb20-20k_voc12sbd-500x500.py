# GDN Sec. 4.3 "FCN-32s + FC": FCN-32s (fixed deconvolution) with a 5-level max spatial pyramid
# pooling and a fully connected layer on the coarse scores, output on the 16x16 coarse grid of
# the 500x500 training input. Not a row of Table 1 by itself ("this approach alone does not give
# any improvement"); a member of the "FCN-32s + GDN + FC" ensemble.
_base_ = './fcn-32s-gdn_vgg16_1xb20-20k_voc12sbd-500x500.py'
model = dict(
    decode_head=dict(
        global_interp=None,
        label_loss=None,
        spp_fc=dict(out_size=(16, 16), levels=(1, 2, 3, 4, 5)),
    ),
)
