# A plain k x k convolution (k = 9) instead of GCN, Figure 4C (Large Kernel Matters, Table 2).
_base_ = './gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py'
model = dict(decode_head=dict(kernel_type='conv', k=9, boundary_refine=False))
