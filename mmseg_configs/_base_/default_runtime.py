# Runtime shared by every config of the project. `custom_imports` registers the repro plugins
# (models, metrics, CRF) so that mmseg's own tools/train.py can run these configs too.
default_scope = 'mmseg'
custom_imports = dict(imports=['repro.plugins'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# Multi-scale + flip testing, the one TTA pipeline of every config (mmseg's `tools/test.py --tta`;
# repro runs it for rows whose protocol sets multi_scale=True: GCN Tables 7-10 "MS"). No paper
# here names its scales: DeepLab-v2's 0.5 .. 1.75 (Chen et al., TPAMI 2017), each with and without
# a horizontal flip; ProbTTAModel averages the softmax scores and keeps them for a dense CRF.
# Labels are loaded after the resize, so they stay at full resolution.
tta_model = dict(type='ProbTTAModel')
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ],
    ),
]
randomness = dict(seed=0)
