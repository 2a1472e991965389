# The Caffe-era schedule of FCN and GCN (the other configs take its loops and hooks and set their
# own optimizer): SGD, momentum 0.99, weight decay 5e-4, batch 1, 100k iterations, poly decay
# (GCN Sec. 4: "standard SGD with batch size 1, momentum 0.99 and weight decay 0.0005").
# GCN states no learning rate. Our choice: FCN's, whose solver GCN's setting copies: lr 1e-10 on
# the pixel loss summed over the image (voc-fcn32s solve.py). GCN's configs keep mmseg's loss,
# the mean over every pixel of the padded 512x512 input (void and padding count as 0), i.e. the
# sum divided by 512 x 512 = 262144, so the same steps take lr 1e-10 x 262144 = 2.62e-5 (an
# earlier comment here claimed 1e-4 for 500x500 inputs: 1e-10 x 250000 is 2.5e-5). The weight
# decay stays GCN's stated 5e-4 (Caffe would apply FCN's as 1e-10 x 5e-4 per step, 2.6e5 times
# weaker), and the poly decay (power 0.9) is our choice: GCN names no schedule either.
optimizer = dict(type='SGD', lr=2.62144e-5, momentum=0.99, weight_decay=5e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=100000, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=100000, val_interval=100000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
)
