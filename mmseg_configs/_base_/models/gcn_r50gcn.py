# GCN framework (Large Kernel Matters, Figure 2A) on ResNet50-GCN (Sec. 4.1.2, Figure 5): Table 6,
# "ResNet50-GCN" column. Bottleneck = GCN module (k x 1 + 1 x k branches, BN + ReLU after every
# convolution) + 1x1; k and widths chosen so that parameters and multiply-adds match ResNet-50
# (the paper's appendix is not in our text; see repro/models/resnet_gcn.py for the derivation).
# ImageNet weights of a ResNet50-GCN come from a file (init_cfg set by repro's weights option).
_base_ = './gcn_r152.py'
model = dict(
    backbone=dict(
        type='ResNetGCN',
        depth=50,
        gcn_kernels=(7, 7, 7, 7),
        gcn_channels=(20, 37, 72, 153),
    ),
)
