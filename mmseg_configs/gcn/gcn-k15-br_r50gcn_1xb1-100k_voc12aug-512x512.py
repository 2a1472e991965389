# GCN (k = 15) + Boundary Refinement on ResNet50-GCN (Figure 5), VOC12 train_aug, 512x512 padding
# (Large Kernel Matters, Sec. 4.1.2, Table 6 "Seg. Score (GCN + BR)", column "ResNet50-GCN").
# The GCN framework of gcn_r152.py on ResNet50-GCN: bottleneck = GCN module (k x 1 + 1 x k
# branches, BN + ReLU after every convolution) + 1x1; k and widths chosen so that parameters and
# multiply-adds match ResNet-50 (the paper's appendix is not in our text; see
# repro/models/resnet_gcn.py for the derivation). ImageNet weights of a ResNet50-GCN come from a
# file (init_cfg set by repro's weights option).
# Iterations are not stated in the paper; 100k at batch 1 as for the ResNet-152 ablations.
_base_ = [
    '../_base_/models/gcn_r152.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/schedules/schedule_sgd_m099.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(
        type='ResNetGCN',
        depth=50,
        gcn_kernels=(7, 7, 7, 7),
        gcn_channels=(20, 37, 72, 153),
    ),
)
