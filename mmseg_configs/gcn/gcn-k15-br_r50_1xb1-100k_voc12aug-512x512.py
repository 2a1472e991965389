# GCN (k = 15) + Boundary Refinement on ResNet-50, VOC12 train_aug, 512x512 padding
# (Large Kernel Matters, Sec. 4.1.2, Table 6 "Seg. Score (GCN + BR)", column "ResNet50"):
# "we take ResNet50 model (with or without GCN) for comparison because the training of large
# ResNet152 is very costly". The GCN framework of gcn_r152.py with a 50-layer backbone.
# Iterations are not stated in the paper; 100k at batch 1 as for the ResNet-152 ablations.
_base_ = [
    '../_base_/models/gcn_r152.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/schedules/schedule_sgd_m099.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(depth=50))
