# GCN + BR on ResNet-152 for Cityscapes (Large Kernel Matters Sec. 4.3, Tables 9 and 10):
# random 800x800 training crops, k increased from 15 to 25 "as the final feature map is 25x25",
# 19 evaluated classes (trainIds). Stage-1 trains on fine train + coarse train_extra (22,973
# images), Stage-2 on fine train from Stage-1's weights. One config serves both stages (same
# crop, batch and schedule): as written it trains on fine train (Stage-2, given Stage-1's
# checkpoint as load_from); repro's Table 9 rows switch Stage-1 to train + train_extra and chain
# the initialisation (repro.tables.gcn). Iterations and learning rate are not stated: 100k at
# batch 1. Multi-scale rows use default_runtime.py's tta_pipeline.
_base_ = [
    '../_base_/models/gcn_r152.py',
    '../_base_/datasets/cityscapes.py',
    '../_base_/schedules/schedule_sgd_m099.py',
    '../_base_/default_runtime.py',
]
crop_size = (800, 800)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(k=25, num_classes=19),
    # "we split the images into four 1024x1024 crops and fuse their score maps": sliding windows
    # of 1024x1024 with a horizontal stride of 342 give exactly four crops of a 1024x2048 image
    # (x = 0, 342, 684, 1024); overlapping scores are averaged. repro rewrites this from the row's
    # test_mode='crop4', scaled to the image width (synthetic Cityscapes is 256x128).
    test_cfg=dict(mode='slide', crop_size=(1024, 1024), stride=(1024, 342)),
)
