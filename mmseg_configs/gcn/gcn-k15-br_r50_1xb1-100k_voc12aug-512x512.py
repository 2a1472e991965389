# GCN (k = 15) + Boundary Refinement on ResNet-50, VOC12 train_aug, 512x512 padding
# (Large Kernel Matters, Sec. 4.1.2, Table 6 "Seg. Score (GCN + BR)", column "ResNet50").
# Iterations are not stated in the paper; 100k at batch 1 as for the ResNet-152 ablations.
_base_ = [
    '../_base_/models/gcn_r50.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/schedules/schedule_sgd_m099.py',
    '../_base_/default_runtime.py',
]
