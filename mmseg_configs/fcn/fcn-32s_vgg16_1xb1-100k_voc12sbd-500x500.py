# FCN-32s (Long et al., CVPR 2015), the released voc-fcn32s: SBD train -> seg11valid.
# solve.py: SGD lr 1e-10 on the summed loss, momentum 0.99, weight decay 5e-4, batch 1, fixed lr,
# 100k iterations (25 x 4000).
_base_ = [
    '../_base_/models/fcn_vgg16.py',
    '../_base_/datasets/pascal_voc12_sbd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd_m099.py',
]
optimizer = dict(type='SGD', lr=1e-10, momentum=0.99, weight_decay=5e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = []
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100000, val_interval=100000)
