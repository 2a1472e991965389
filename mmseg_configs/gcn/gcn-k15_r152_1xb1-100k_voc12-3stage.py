# GCN (k = 15) without BR through the three-stage VOC schedule (Large Kernel Matters, Table 7
# column "GCN"); stages as in gcn-k15-br_r152_1xb1-100k_voc12-3stage.py.
_base_ = './gcn-k15-br_r152_1xb1-100k_voc12-3stage.py'
model = dict(decode_head=dict(boundary_refine=False))
