# Table 4 (Large Kernel Matters): the k = 7 stack of three linear 3x3 convolutions with fewer
# intermediate feature maps, m = 210 after res-5. The paper gives m for res-5 only (its "# of
# Params" column counts the res-5 module); every stage keeps the same fraction m / 2048 of its
# input width (round(C_in * 210 / 2048)), so m = 2048 is Table 3's stack (width = input width).
_base_ = './gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py'
model = dict(
    decode_head=dict(kernel_type='stack', k=7, boundary_refine=False,
                     stack_channels=[26, 52, 105, 210]))
