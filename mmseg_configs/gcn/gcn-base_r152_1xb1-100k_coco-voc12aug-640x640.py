# The 1x1 convolution baseline (Figure 4B, no BR) through the three-stage VOC schedule
# (Large Kernel Matters, Table 7 column "Baseline"): the stage of
# gcn-k15-br_r152_1xb1-100k_coco-voc12aug-640x640.py.
_base_ = './gcn-k15-br_r152_1xb1-100k_coco-voc12aug-640x640.py'
model = dict(decode_head=dict(kernel_type='base', boundary_refine=False))
