"""Backbone pretraining for the smoke profile: the stand-in for ImageNet weights on synthetic data.

Every paper fine-tunes an ImageNet backbone (FCN Sec. 3.3 and 4.1, DeepLab Sec. 4.1, GDN Sec.
4.1, DeconvNet Sec. 6.1, Dilation Sec. 4, GCN Sec. 4). ImageNet weights cannot be downloaded
here, and a 1/16-wide VGG16 trained from scratch for a hundred CPU iterations never leaves the
"predict the class frequencies" plateau. The smoke profile therefore starts its tiny backbones
from weights pretrained *once* on a separate synthetic dataset of the same world
(``repro.data.synth`` with another seed: other images, the same class appearance table, so none
of the rows' train, val or test images is seen), then loads them through the paper profile's
own loaders (``repro.weights.require_weights``: ``repro.models.vgg.load_vgg_weights`` for
VGG16, mmengine's ``Pretrained`` init for ResNets); see ``repro.smoke``.

The proxy task is dense (segmentation), not classification: a probe of 1x1 score convolutions
on the backbone's last three feature maps (strides 8, 16, 32), fused coarse to fine by bilinear
upsampling (FCN-8s-like), trained with per-pixel cross entropy on random crops. ``loss="deep"``
trains the deepest map's scores alone: the heads of FCN-32s, DeepLab, GDN and Dilation read fc7
alone, and a fused probe leaves fc7 poor (measured: 5-9 val mIoU for fc7 alone after 300
iterations). The probe is thrown away; only the backbone is saved.

VGG16 (``TorchvisionVGG16BN``): torchvision's ``vgg16_bn`` layout (3x3 convolutions padded by
1, 2x2 pools) at the smoke width, with fc6 as a 7x7 convolution padded by 3 and fc7 1x1 so that
it runs densely on small crops, BatchNorm after every convolution. A plain 16-layer stack barely
learns its stride-32 map in a few hundred iterations; starting the convolutions from conv3_1 on
as the identity (``identity_init_``, as Dilation's context module, eqs. 4-5) makes the deepest
map useful from the first step (measured after 300 iterations: 7 -> 22 val mIoU for fc7 alone).
It is saved with its BatchNorm in ``repro.models.vgg.VGG16``'s own keys
(``repro_state_dict``) or folded into the convolutions in torchvision's ``vgg16`` keys
(``folded_state_dict``). ResNets keep their BatchNorm and are saved as mmseg's ``ResNet`` state
dict (torchvision's key names). BatchNorm statistics are re-estimated over training batches at
the end (``recalibrate_bn``).

Everything here is deterministic for given arguments on one thread (seeded generators).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IGNORE = 255
#: torchvision's input convention (RGB, ImageNet mean / std); require_weights sets the
#: data preprocessor of every model loading these files to it.
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


# ---------------------------------------------------------------------------------------------
# Data


def load_voc_split(root: str | Path, split: str = "train_aug",
                   labels: str = "SegmentationClassAug") -> tuple[torch.Tensor, torch.Tensor]:
    """All images (N, 3, H, W) uint8 RGB and labels (N, H, W) uint8 of a VOC-layout split."""
    from PIL import Image

    root = Path(root)
    ids = (root / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()
    imgs = np.stack([np.asarray(Image.open(root / "JPEGImages" / f"{i}.jpg").convert("RGB"))
                     for i in ids])
    labs = np.stack([np.asarray(Image.open(root / labels / f"{i}.png")) for i in ids])
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labs)


def random_batch(images: torch.Tensor, labels: torch.Tensor, batch: int, crop: int,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random ``crop`` x ``crop`` windows (randomly mirrored), normalised as
    torchvision's; images smaller than the crop are padded (label 255)."""
    n, _, h, w = images.shape
    xs, ys = [], []
    for i in torch.randint(n, (batch,), generator=gen).tolist():
        img, lab = images[i], labels[i]
        ph, pw = max(crop - h, 0), max(crop - w, 0)
        if ph or pw:
            img = F.pad(img, (0, pw, 0, ph))
            lab = F.pad(lab, (0, pw, 0, ph), value=IGNORE)
        y = int(torch.randint(img.shape[1] - crop + 1, (1,), generator=gen))
        x = int(torch.randint(img.shape[2] - crop + 1, (1,), generator=gen))
        img, lab = img[:, y:y + crop, x:x + crop], lab[y:y + crop, x:x + crop]
        if torch.rand(1, generator=gen).item() < 0.5:
            img, lab = img.flip(-1), lab.flip(-1)
        xs.append(img)
        ys.append(lab)
    x = (torch.stack(xs).float() - MEAN) / STD
    return x, torch.stack(ys).long()


# ---------------------------------------------------------------------------------------------
# The dense proxy task


class DenseProbe(nn.Module):
    """1x1 class scores on the backbone's last three feature maps, upsampled and summed."""

    def __init__(self, backbone: nn.Module, channels: tuple[int, int, int], num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.scores = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in channels)

    def forward(self, x: torch.Tensor, deep: bool = False):
        """Scores at the input size; with ``deep``, also those of the deepest map alone."""
        feats = list(self.backbone(x))[-3:]
        out, first = None, None
        for feat, score in zip(reversed(feats), reversed(self.scores)):  # deepest first
            s = score(feat)
            if out is None:
                first = s
            else:
                s = s + F.interpolate(out, s.shape[-2:], mode="bilinear", align_corners=False)
            out = s
        out = F.interpolate(out, x.shape[-2:], mode="bilinear", align_corners=False)
        if not deep:
            return out
        return out, F.interpolate(first, x.shape[-2:], mode="bilinear", align_corners=False)


def pretrain(backbone: nn.Module, channels: tuple[int, int, int], root: str | Path, *,
             iters: int, batch: int, crop: int, lr: float, seed: int, loss: str = "fused",
             num_classes: int = 21,
             log: Callable[[str], None] | None = None) -> tuple[dict, DenseProbe]:
    """Train ``backbone`` (whose forward returns feature maps, the last three used) on the
    dense proxy task over the ``train_aug`` split of the VOC-layout ``root``; AdamW with a
    polynomial decay. ``loss``: cross entropy of the fused scores ("fused"), of the deepest
    map's scores alone ("deep": the heads of FCN-32s, DeepLab, GDN and Dilation read fc7 alone),
    or both summed ("both"). Returns statistics (final loss, pixel accuracy, CPU seconds) and the
    probe (backbone + scores, in eval mode)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    images, labels = load_voc_split(root)
    if loss not in ("fused", "deep", "both"):
        raise ValueError(f"loss must be 'fused', 'deep' or 'both', got {loss!r}.")
    model = DenseProbe(backbone, channels, num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (1 - it / iters) ** 0.9)
    start, losses, correct, total = time.process_time(), [], 0, 0
    model.train()
    for it in range(iters):
        x, y = random_batch(images, labels, batch, crop, gen)
        logits, deep = model(x, deep=True)
        value = 0.0
        if loss in ("fused", "both"):
            value = F.cross_entropy(logits, y, ignore_index=IGNORE)
        if loss in ("deep", "both"):
            value = value + F.cross_entropy(deep, y, ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        sched.step()
        losses.append(float(value.detach()))
        if loss == "deep":
            logits = deep
        if it >= iters - 20:
            valid = y != IGNORE
            correct += int((logits.argmax(1)[valid] == y[valid]).sum())
            total += int(valid.sum())
        if log and (it + 1) % 50 == 0:
            log(f"pretraining {it + 1}/{iters}: loss {np.mean(losses[-50:]):.3f}")
    recalibrate_bn(model.backbone, images, labels, batch, crop, gen)
    model.eval()
    stats = dict(loss=round(float(np.mean(losses[-20:])), 4),
                 pixel_acc=round(correct / max(total, 1), 4),
                 cpu_s=round(time.process_time() - start, 1), iters=iters)
    return stats, model


@torch.no_grad()
def recalibrate_bn(backbone: nn.Module, images, labels, batch: int, crop: int,
                   gen: torch.Generator, batches: int = 16) -> None:
    """Re-estimate BatchNorm statistics as plain averages over ``batches`` training batches
    (the running averages of the last iterations lag behind the final weights)."""
    bns = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    backbone.train()
    for _ in range(batches):
        backbone(random_batch(images, labels, batch, crop, gen)[0])
    for bn in bns:
        bn.momentum = 0.1
    backbone.eval()


# ---------------------------------------------------------------------------------------------
# VGG16 in torchvision's layout


#: torchvision vgg16_bn: (indices of the 13 convolutions in ``features``) and vgg16 (no BN).
VGG16_BN_CONVS = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)
VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG16_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M")


def _scaled(c: int, width_mult: float) -> int:
    return max(1, int(round(c * width_mult)))


class TorchvisionVGG16BN(nn.Module):
    """torchvision's ``vgg16_bn`` layout (``features`` indices as its state dict) at
    ``width_mult``, with fc6 / fc7 as convolutions (+ BatchNorm, folded away on export) so that
    it runs densely on small crops. Returns (pool3, pool4, fc7)."""

    def __init__(self, width_mult: float = 1.0, identity_from: int | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG16_PLAN:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                cout = _scaled(v, width_mult)
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                           nn.ReLU(inplace=True)]
                cin = cout
        self.features = nn.Sequential(*layers)
        c6, c7 = _scaled(4096, width_mult), _scaled(4096, width_mult)
        self.fc6 = nn.Sequential(nn.Conv2d(cin, c6, 7, padding=3), nn.BatchNorm2d(c6),
                                 nn.ReLU(inplace=True))
        self.fc7 = nn.Sequential(nn.Conv2d(c6, c7, 1), nn.BatchNorm2d(c7), nn.ReLU(inplace=True))
        self.pool_index = [i for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d)]
        self.channels = (_scaled(256, width_mult), _scaled(512, width_mult), c7)
        if identity_from is not None:  # convolutions from the identity_from-th (0-based) on
            convs = [m for m in layers if isinstance(m, nn.Conv2d)] + [self.fc6[0], self.fc7[0]]
            for conv in convs[identity_from:]:
                identity_init_(conv)

    def forward(self, x: torch.Tensor):
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in (self.pool_index[2], self.pool_index[3]):
                outs.append(x)
        outs.append(self.fc7(self.fc6(x)))
        return outs

    def repro_state_dict(self) -> dict[str, torch.Tensor]:
        """``repro.models.vgg.VGG16``'s own keys (``conv1_1.conv.weight``, ``conv1_1.bn.*``,
        ..., ``fc6.conv.weight`` (C6, C5, 7, 7), ``fc6.bn.*``, ``fc7.*``): every BatchNorm kept,
        fc6 / fc7's included (torchvision's format has no place for them)."""
        from repro.models.vgg import CONV_NAMES

        convs = [m for m in self.features if isinstance(m, nn.Conv2d)] + [self.fc6[0],
                                                                           self.fc7[0]]
        bns = [m for m in self.features if isinstance(m, nn.BatchNorm2d)] + [self.fc6[1],
                                                                              self.fc7[1]]
        out = {}
        for name, conv, bn in zip(CONV_NAMES + ("fc6", "fc7"), convs, bns):
            out[f"{name}.conv.weight"], out[f"{name}.conv.bias"] = conv.weight, conv.bias
            for k in ("weight", "bias", "running_mean", "running_var"):
                out[f"{name}.bn.{k}"] = getattr(bn, k)
        return {k: v.detach().clone().contiguous() for k, v in out.items()}

    def folded_state_dict(self) -> dict[str, torch.Tensor]:
        """torchvision ``vgg16`` keys (no BatchNorm: every one folded into its convolution)."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)] + [self.fc6[0],
                                                                           self.fc7[0]]
        bns = [m for m in self.features if isinstance(m, nn.BatchNorm2d)] + [self.fc6[1],
                                                                              self.fc7[1]]
        keys = [f"features.{i}" for i in VGG16_CONVS] + ["classifier.0", "classifier.3"]
        out = {}
        for key, conv, bn in zip(keys, convs, bns):
            w, b = fold_bn(conv, bn)
            out[f"{key}.weight"] = w.flatten(1) if key.startswith("classifier") else w
            out[f"{key}.bias"] = b
        return {k: v.detach().clone().contiguous() for k, v in out.items()}


@torch.no_grad()
def identity_init_(conv: nn.Conv2d, noise: float = 1e-2) -> None:
    """Output channel j copies input channel j mod C_in at the centre tap, plus small noise: a
    deep plain stack starts as the identity of its first layers' features (as Dilation's eq. 4 /
    5 context module), so the deepest map is useful from the first iteration."""
    w = torch.randn_like(conv.weight) * noise / conv.weight[0].numel() ** 0.5
    cy, cx = (k // 2 for k in conv.kernel_size)
    out = torch.arange(conv.out_channels)
    w[out, out % conv.in_channels, cy, cx] += 1.0
    conv.weight.copy_(w)
    nn.init.zeros_(conv.bias)


@torch.no_grad()
def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of ``conv`` followed by ``bn`` in eval mode, as one convolution."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    return weight.clone(), ((bias - bn.running_mean) * scale + bn.bias).clone()
