# Front end + basic context module + CRF-RNN (Yu & Koltun, ICLR 2016, Table 3
# "Front + Basic + RNN"):
# the CRF-RNN layer of Zheng et al. (ICCV 2015, repro.crf.CRFRNNEncoderDecoder) on the
# upsampled scores, fine-tuned end to end from the trained row without it (the table rows'
# init_from). Kernel parameters are CRF-RNN's released ones
# (torrvision/crfasrnn: theta_alpha 160, theta_beta 3, theta_gamma 3, bilateral weight 5,
# spatial weight 3); 5 mean-field iterations in training, 10 at test time.
_base_ = './dilation-frontend_vgg16_1xb14-60k_voc12aug-504x504.py'
model = dict(
    type='CRFRNNEncoderDecoder',
    crf_rnn=dict(iterations=5, test_iterations=10, w1=5, sigma_alpha=160, sigma_beta=3, w2=3,
                 sigma_gamma=3),
    decode_head=dict(context='basic'),
)
