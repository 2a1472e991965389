# A stack of 2 linear 3x3 convolutions (equivalent kernel k = 5) instead of GCN,
# Figure 4D (Large Kernel Matters, Table 3): no nonlinearity within the stack, intermediate width
# m = the stage's input width (2048 after res-5: Table 4's "2048" column), no BR (as Table 1).
_base_ = './gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py'
model = dict(decode_head=dict(kernel_type='stack', k=5, boundary_refine=False))
