"""Global Deconvolutional Networks (Nekrasov, Ju & Choi, BMVC 2016), Section 3, as mmseg plugins.

Implements (shared/papers/gdn-nekrasov-bmvc2016.txt)
- ``GlobalInterpolation`` (Sec. 3.2, Eq. 1): ``y_c = K_h x_c K_w^T`` for every channel c, with
  learnable ``K_h`` (H x h) and ``K_w`` (W x w) shared over channels. The matrices are sized for
  the training input (FCN-32s: 500 x 16, DeepLab-LargeFOV: 500 x 64, the released 64x500
  matrices); a smaller input uses the leading H rows and h columns (Sec. 4.3), a larger one is
  an error. Initialised uniform in +-2*sqrt(6 / (fan_in + fan_out)) as the released code
  (DrSleep/GDN src/gdn.py), fan_in = h, fan_out = H; an optional activation on top ("a nonlinear
  upsampling can be achieved with the addition of an activation function", Sec. 3.3). The
  released code trains the matrices with lr_mult 10 (configs: ``paramwise_cfg``). At the
  paper's sizes the block has 16,000 (FCN) / 64,000 (DeepLab) parameters: "less than 70K"
  (Sec. 4.4).
- ``MultiLabelBranch`` (Sec. 3.3, Eq. 3 L_c): 3 fully connected layers on the coarse output
  (the class scores before upsampling), the last of length 20 (the object classes, background
  excluded), sigmoid and binary cross-entropy averaged over the 20 classes. Targets: a class
  is present when any pixel of the label map has it; background (0) and void (255) are ignored.
  Added to the pixel loss L_s with weight ``loss_weight``: the paper writes the plain sum (its
  note on "a weighted sum" gives no value), so 1.0.
- ``SPPRefine`` (Sec. 4.3, "FCN-32s + FC"): a 5-level max-pooling spatial pyramid on the coarse
  scores and a fully connected layer producing a coarse score map of the training size, "to
  refine the local predictions based on the information from all the pixels".
- ``GDNHead``: FCN-32s or DeepLab-LargeFOV scoring (score_fr / fc8) on fc7, then either the
  baseline's upsampling (FCN-32s fixed bilinear deconvolution 64/32 + crop 19; DeepLab Interp
  x8) or global interpolation; with or without the label loss and SPP-FC. The rows of GDN
  Table 1: baseline + label loss / + global interp. / + GDN (= both) / + GDN + FC (ensemble).
- The ensembles (Table 1/2 "FCN-32s + GDN + FC" = FCN-32s + FC with FCN-32s + GDN, Sec. 4.3;
  Table 2 "DL-L_FOV-CRF + GDN_ENS") average the members' softmax probabilities with
  ``repro.models.inference.EnsembleSegmentor``; the table rows name their members
  (``Experiment.members``), whose trained checkpoints the runner loads.

Deviations and choices (the paper does not say)
- Training size: Sec. 4.3 says the FCN images are "resized to 500 x 500"; its footnote (500 is
  the largest VOC side) and the test-time subsetting of K to the leading rows/columns (which is
  exact only for an image anchored top-left in a larger canvas) point to padding. We pad to
  500 x 500 (image at the top-left, label 255 in the padding) for the FCN and DeepLab rows.
- Label branch widths: 1024, 1024, 20 (not given). The coarse output is average-pooled to the
  branch's ``in_size`` (the identity at the training size) so that the branch also accepts
  other sizes (smoke profile). Taken literally ("on the top of the coarse output") the first
  FC layer has 21*16*16*1024 = 5.5M weights for FCN-32s and 21*64*64*1024 = 88M for DeepLab.
- Losses: Eq. 3 as written, both terms normalised (L_s per pixel, L_c per class). Sec. 4.1's
  lr 1e-8 suits Caffe's summed loss; the configs use 1e-8 * 500 * 500 = 2.5e-3 on the mean.
- SPP-FC: pyramid levels 1x1 .. 5x5 (not given); the FC output is *added* to the coarse scores
  (zero-initialised, so training starts from FCN-32s) rather than replacing them; for inputs
  smaller than the training size its leading rows/columns are used, as for K.
- The DeepLab "GDN_ENS" members are not named ("our several models"): we average the three
  DeepLab rows of Table 1 that carry a GDN component (+ label loss, + global interp., + GDN).
- The paper trains the GDN layers first with the network fixed, then the whole network, from
  the released baselines. The table rows train each model at once from ImageNet VGG16, so that
  Table 2's rows reuse Table 1's trainings (a row with ``init_from=<baseline row>`` fine-tunes
  from the trained baseline instead, without the fixed-network phase).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmseg.registry import MODELS
from torch import nn

from repro.models.deeplab import caffe_interp
from repro.models.fcn import CaffeDeconv, FullSizeDecodeHead, caffe_crop

BACKGROUND, VOID = 0, 255


@MODELS.register_module()
class GlobalInterpolation(nn.Module):
    """Eq. 1: ``y_c = K_h x_c K_w^T``; matrices for an ``in_size`` -> ``out_size`` training
    geometry, leading rows/columns for smaller inputs (Sec. 4.3)."""

    def __init__(self, out_size=(500, 500), in_size=(16, 16), act_cfg: dict | None = None):
        super().__init__()
        (H, W), (h, w) = out_size, in_size
        self.k_h = nn.Parameter(torch.empty(H, h))
        self.k_w = nn.Parameter(torch.empty(W, w))
        self.act = build_activation_layer(act_cfg) if act_cfg else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for k in (self.k_h, self.k_w):
            fan_out, fan_in = k.shape
            bound = 2 * math.sqrt(6 / (fan_in + fan_out))
            nn.init.uniform_(k, -bound, bound)

    def forward(self, x: torch.Tensor, out_size) -> torch.Tensor:
        (H, W), (h, w) = out_size, x.shape[-2:]
        if H > self.k_h.shape[0] or W > self.k_w.shape[0] or h > self.k_h.shape[1] \
                or w > self.k_w.shape[1]:
            raise ValueError(
                f"Global interpolation was built for inputs up to {self.k_h.shape[0]}x"
                f"{self.k_w.shape[0]} (coarse {self.k_h.shape[1]}x{self.k_w.shape[1]}), got "
                f"{H}x{W} (coarse {h}x{w}): set out_size/in_size to the largest training input "
                "(GDN Sec. 4.3 trains at 500x500 and subsets the matrices for smaller images)."
            )
        y = self.k_h[:H, :h] @ x @ self.k_w[:W, :w].t()
        return self.act(y)


def multilabel_targets(seg: torch.Tensor, num_classes: int = 21) -> torch.Tensor:
    """(N, [1,] H, W) label maps -> (N, num_classes - 1) presence of the object classes 1..C-1
    (background 0 and void 255 ignored)."""
    seg = seg.reshape(seg.shape[0], -1).long()
    valid = (seg > BACKGROUND) & (seg < num_classes)
    onehot = torch.zeros(seg.shape[0], num_classes + 1, device=seg.device)
    onehot.scatter_(1, torch.where(valid, seg, num_classes), 1.0)
    return onehot[:, 1:num_classes]


class MultiLabelBranch(nn.Module):
    """Sec. 3.3: 3 FC layers on the coarse scores -> one logit per object class (Eq. 3 L_c)."""

    def __init__(self, num_classes: int, in_size=(16, 16), hidden=(1024, 1024),
                 loss_weight: float = 1.0, dropout: float = 0.5):
        super().__init__()
        self.in_size, self.loss_weight, self.num_classes = tuple(in_size), loss_weight, num_classes
        dims = [num_classes * in_size[0] * in_size[1], *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        self.fc = nn.Sequential(*layers, nn.Linear(dims[-1], num_classes - 1))

    def forward(self, coarse: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(coarse, self.in_size)  # identity at the training size
        return self.fc(x.flatten(1))

    def loss(self, coarse: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        target = multilabel_targets(seg, self.num_classes)
        bce = F.binary_cross_entropy_with_logits(self(coarse), target)  # mean over |C| and batch
        return self.loss_weight * bce


class SPPRefine(nn.Module):
    """Sec. 4.3 "FCN-32s + FC": 5-level max-pooling pyramid + FC -> coarse score map, added to
    the coarse scores (module docstring: deviations)."""

    def __init__(self, num_classes: int, out_size=(16, 16), levels=(1, 2, 3, 4, 5)):
        super().__init__()
        self.levels, self.out_size, self.c = tuple(levels), tuple(out_size), num_classes
        n_in = num_classes * sum(n * n for n in levels)
        self.fc = nn.Linear(n_in, num_classes * out_size[0] * out_size[1])
        nn.init.zeros_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, coarse: torch.Tensor) -> torch.Tensor:
        pyramid = [F.adaptive_max_pool2d(coarse, n).flatten(1) for n in self.levels]
        refine = self.fc(torch.cat(pyramid, 1)).view(-1, self.c, *self.out_size)
        h, w = coarse.shape[-2:]
        if h > self.out_size[0] or w > self.out_size[1]:
            raise ValueError(f"SPP-FC produces a {self.out_size} coarse map, the input's is "
                             f"{h}x{w}: set out_size to the largest training coarse size.")
        return coarse + refine[..., :h, :w]


@MODELS.register_module()
class GDNHead(FullSizeDecodeHead):
    """Class scores on fc7 + baseline or global upsampling, optional label loss and SPP-FC.

    Args:
        in_channels: fc7 width (4096 FCN, 1024 DeepLab).
        base: "fcn32s" (score_fr zero-initialised, fixed bilinear deconvolution 64/32 + crop 19
            when not global) or "deeplab_largefov" (fc8 N(0, 0.01), Interp x8 when not global).
        global_interp: ``dict(out_size, in_size, act_cfg)`` of :class:`GlobalInterpolation`, or
            None for the baseline's upsampling.
        label_loss: ``dict(in_size, hidden, loss_weight)`` of :class:`MultiLabelBranch` or None.
        spp_fc: ``dict(out_size, levels)`` of :class:`SPPRefine` or None.
        kwargs: BaseDecodeHead's (num_classes, loss_decode, ...).
    """

    def __init__(self, in_channels: int, base: str = "fcn32s", global_interp: dict | None = None,
                 label_loss: dict | None = None, spp_fc: dict | None = None, **kwargs):
        if base not in ("fcn32s", "deeplab_largefov"):
            raise ValueError(f"GDNHead base must be 'fcn32s' or 'deeplab_largefov', got {base!r}.")
        kwargs.setdefault("channels", in_channels)
        kwargs.setdefault("dropout_ratio", 0)  # the backbone's drop7 precedes the scores
        kwargs.setdefault("init_cfg", None)
        super().__init__(in_channels=in_channels, **kwargs)
        self.base = base
        c = self.out_channels
        self.spp_fc = SPPRefine(c, **spp_fc) if spp_fc else None
        self.label_branch = MultiLabelBranch(c, **label_loss) if label_loss else None
        if global_interp:
            self.upsample = GlobalInterpolation(**global_interp)
        elif base == "fcn32s":
            self.upsample = CaffeDeconv(c, 64, 32)
        else:
            self.upsample = None  # DeepLab's Interp has no parameters

    def init_weights(self):
        super().init_weights()
        if self.base == "fcn32s":  # FCN zero-initialises score_fr (FCN Sec. 4.3)
            nn.init.zeros_(self.conv_seg.weight)
        else:  # DeepLab's fc8: Gaussian, std 0.01
            nn.init.normal_(self.conv_seg.weight, std=0.01)
        nn.init.zeros_(self.conv_seg.bias)

    def coarse(self, inputs) -> torch.Tensor:
        """The coarse output: class scores at the backbone's stride (refined by SPP-FC)."""
        x = self.cls_seg(self._transform_inputs(inputs))
        return self.spp_fc(x) if self.spp_fc is not None else x

    def upsample_scores(self, coarse: torch.Tensor, out_size) -> torch.Tensor:
        if isinstance(self.upsample, GlobalInterpolation):
            return self.upsample(coarse, out_size)
        if self.base == "fcn32s":
            return caffe_crop(self.upsample(coarse), 19, out_size)
        return caffe_interp(coarse, 8, out_size)

    def forward(self, inputs, out_size):
        return self.upsample_scores(self.coarse(inputs), out_size)

    def loss(self, inputs, batch_data_samples, train_cfg) -> dict:
        size = tuple(batch_data_samples[0].gt_sem_seg.shape[-2:])
        coarse = self.coarse(inputs)
        losses = self.loss_by_feat(self.upsample_scores(coarse, size), batch_data_samples)
        if self.label_branch is not None:
            seg = self._stack_batch_gt(batch_data_samples)
            losses["loss_label"] = self.label_branch.loss(coarse, seg)
        return losses
