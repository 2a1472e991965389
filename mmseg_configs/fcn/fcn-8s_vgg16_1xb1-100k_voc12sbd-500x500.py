# FCN-8s, staged (voc-fcn8s): pool4 and pool3 skips (crops 5 and 9, final crop 31), initialised
# from the trained FCN-16s (a table row's `init_from`, see fcn-16s). solve.py: lr 1e-14,
# momentum 0.99.
_base_ = './fcn-32s_vgg16_1xb1-100k_voc12sbd-500x500.py'
model = dict(decode_head=dict(mode='8s', in_channels=[256, 512, 4096]))
optimizer = dict(lr=1e-14)
optim_wrapper = dict(optimizer=optimizer)
