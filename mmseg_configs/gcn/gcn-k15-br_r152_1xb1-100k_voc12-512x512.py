# GCN (k = 15) + BR on ResNet-152, Stage-3 of the three-stage PASCAL VOC 2012 schedule of Large
# Kernel Matters Sec. 4.2 (Table 7 "Stage-3", "Stage-3-MS", "Stage-3-MS-CRF", column "GCN + BR";
# Table 8): "we only use the PASCAL VOC 2012 dataset" (VOC train, 1464 images, with VOC's own
# labels), padded to 512x512, initialised from Stage-2 (gcn-k15-br_r152_1xb1-100k_voc12aug-
# 512x512.py trained from Stage-1, gcn-k15-br_r152_1xb1-100k_coco-voc12aug-640x640.py). The
# multi-scale rows use default_runtime.py's tta_pipeline. Iterations and learning rate are not
# stated in the paper: 100k at batch 1, as for the ablations.
_base_ = [
    '../_base_/models/gcn_r152.py',
    '../_base_/datasets/pascal_voc12_aug.py',
    '../_base_/schedules/schedule_sgd_m099.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ),
)
