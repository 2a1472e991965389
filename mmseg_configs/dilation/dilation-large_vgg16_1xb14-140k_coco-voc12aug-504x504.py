# Front end + large context module (Yu & Koltun, ICLR 2016, Sec. 3, Table 1; Table 3
# "Front + Large"), Sec. 5's coarse-tuning stage: the schedule of its base config; the
# identity-initialised module is trained end to end with the front end (see repro.models.dilation
# for this deviation).
_base_ = './dilation-frontend_vgg16_1xb14-140k_coco-voc12aug-504x504.py'
model = dict(decode_head=dict(context='large'))
