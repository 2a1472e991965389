# GCN framework (Large Kernel Matters, Figure 2A) on ResNet-50: Table 6, "ResNet50" column
# (Sec. 4.1.2: "we take ResNet50 model (with or without GCN) for comparison because the training
# of large ResNet152 is very costly"). Everything else as gcn_r152.py.
_base_ = './gcn_r152.py'
model = dict(backbone=dict(depth=50))
