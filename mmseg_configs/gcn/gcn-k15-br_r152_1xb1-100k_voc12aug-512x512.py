# GCN (k = 15) + Boundary Refinement on ResNet-152, VOC12 train_aug, 512x512 padding
# (Large Kernel Matters, Sec. 4.1, Table 5 "GCN + BR"). Iterations are not stated in the
# paper; 100k at batch 1 is about ten epochs of the 10582 images.
_base_ = [
    '../_base_/models/gcn_r152.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/schedules/schedule_sgd_m099.py',
    '../_base_/default_runtime.py',
]
