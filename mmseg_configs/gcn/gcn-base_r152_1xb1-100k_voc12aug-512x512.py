# The 1x1 convolution baseline of Figure 4B (Large Kernel Matters, Tables 1 and 5 "Baseline").
_base_ = './gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py'
model = dict(decode_head=dict(kernel_type='base', boundary_refine=False))
