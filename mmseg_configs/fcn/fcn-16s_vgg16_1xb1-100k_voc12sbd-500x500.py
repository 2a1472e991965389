# FCN-16s, staged (voc-fcn16s): the pool4 skip (score_pool4 crop 5, final crop 27), initialised
# from the trained FCN-32s: a table row gives `init_from=<its FCN-32s row>` (the runner loads that
# checkpoint non-strictly; without it this trains at once from VGG16). solve.py: lr 1e-12,
# momentum 0.99, 100k iterations.
_base_ = './fcn-32s_vgg16_1xb1-100k_voc12sbd-500x500.py'
model = dict(decode_head=dict(mode='16s', in_channels=[512, 4096]))
optimizer = dict(lr=1e-12)
optim_wrapper = dict(optimizer=optimizer)
