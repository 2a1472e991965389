# GCN with k = 7, no Boundary Refinement (Large Kernel Matters, Tables 1-3).
_base_ = './gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py'
model = dict(decode_head=dict(kernel_type='gcn', k=7, boundary_refine=False))
