# The 1x1 convolution baseline of Figure 4B (no GCN, no BR) on ResNet50-GCN (Figure 5)
# (Large Kernel Matters, Table 6 "Seg. Score (Baseline)", column "ResNet50-GCN").
_base_ = './gcn-k15-br_r50gcn_1xb1-100k_voc12aug-512x512.py'
model = dict(decode_head=dict(kernel_type='base', boundary_refine=False))
