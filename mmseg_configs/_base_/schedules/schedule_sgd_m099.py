# The Caffe-era schedule shared by FCN and GCN: SGD, momentum 0.99, weight decay 5e-4,
# batch 1 (GCN Sec. 4: "standard SGD with batch size 1, momentum 0.99 and weight decay 0.0005").
# The learning rate is not given by GCN; 1e-4 with a per-image mean loss is the usual Caffe
# equivalent of FCN's 1e-10 on an unnormalised (summed) loss for 500x500 images.
optimizer = dict(type='SGD', lr=1e-4, momentum=0.99, weight_decay=5e-4)
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
