"""Is the synthetic VOC learnable? Trains a small fully convolutional net briefly on CPU.

The smoke profile trains every paper's model for a few hundred iterations on the synthetic VOC;
that only tests the pipeline if the data can be learned at all in that budget. This script trains
a plain PyTorch FCN (0.25 M parameters, output stride 8 with dilated convolutions and a
stride-4 skip) on train_aug (SegmentationClassAug labels, as DeepLab does), then scores val
(SegmentationClass, void ignored) with one confusion matrix over the whole set, mean IoU over the
21 classes (FCN's score.py definition). It prints mIoU next to the all-background baseline.

    python benchmarks/learnability.py                 # default synthetic VOC, 300 iterations
    python benchmarks/learnability.py --threads 2     # faster on an idle 2-core machine

The data comes from ``ensure_synthetic('voc', $REPRO_CACHE/synthetic, ...)`` with the smoke
profile's parameters (generated once, then cached), or from ``--root``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

NUM_CLASSES = 21
IGNORE = 255
MEAN, STD = 0.45, 0.25


def load_split(root: Path, split: str, label_dir: str) -> tuple[torch.Tensor, torch.Tensor]:
    ids = (root / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()
    imgs = np.stack([np.array(Image.open(root / "JPEGImages" / f"{i}.jpg")) for i in ids])
    labs = np.stack([np.array(Image.open(root / label_dir / f"{i}.png")) for i in ids])
    x = (torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255 - MEAN) / STD
    return x, torch.from_numpy(labs).long()


def conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyFCN(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 24):
        super().__init__()
        w = width
        self.down4 = nn.Sequential(conv(3, w, 2), conv(w, w), conv(w, 2 * w, 2), conv(2 * w, 2 * w))
        self.down8 = nn.Sequential(
            conv(2 * w, 4 * w, 2), conv(4 * w, 4 * w, dilation=2), conv(4 * w, 4 * w, dilation=4)
        )
        self.score8 = nn.Conv2d(4 * w, num_classes, 1)
        self.score4 = nn.Conv2d(2 * w, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f4 = self.down4(x)
        s8 = self.score8(self.down8(f4))
        s4 = self.score4(f4) + F.interpolate(s8, f4.shape[2:], mode="bilinear", align_corners=False)
        return F.interpolate(s4, x.shape[2:], mode="bilinear", align_corners=False)


def confusion(pred: np.ndarray, gt: np.ndarray, n: int = NUM_CLASSES) -> np.ndarray:
    valid = gt < n  # void (255) is dropped, as in FCN's score.py
    return np.bincount(n * gt[valid] + pred[valid], minlength=n * n).reshape(n, n)


def mean_iou(hist: np.ndarray) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.diag(hist) / (hist.sum(0) + hist.sum(1) - np.diag(hist))
    return float(np.nanmean(iou))


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, help="a VOC2012 root; default: the cached synthetic VOC")
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: shared machines)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    root = args.root
    if root is None:
        from repro.data.synth import ensure_synthetic
        from repro.paths import cache_dir
        from repro.profiles import PROFILES

        params = PROFILES["smoke"].synthetic["voc"]
        root = ensure_synthetic("voc", cache_dir() / "synthetic", **params)
    x_train, y_train = load_split(root, "train_aug", "SegmentationClassAug")
    x_val, y_val = load_split(root, "val", "SegmentationClass")

    model = TinyFCN()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (1 - it / args.iters) ** 0.9)
    start = time.perf_counter()
    model.train()
    for it in range(args.iters):
        idx = torch.from_numpy(rng.choice(len(x_train), args.batch, replace=False))
        x, y = x_train[idx], y_train[idx]
        if rng.random() < 0.5:  # horizontal flip of the whole batch
            x, y = x.flip(3), y.flip(2)
        loss = F.cross_entropy(model(x), y, ignore_index=IGNORE)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (it + 1) % 50 == 0:
            print(f"iter {it + 1}/{args.iters}  loss {loss.item():.3f}", file=sys.stderr)
    train_s = time.perf_counter() - start

    model.eval()
    hist = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    with torch.no_grad():
        for i in range(0, len(x_val), 8):
            pred = model(x_val[i : i + 8]).argmax(1).numpy().ravel()
            hist += confusion(pred, y_val[i : i + 8].numpy().ravel())
    miou = mean_iou(hist)
    baseline = mean_iou(confusion(np.zeros(y_val.numel(), np.int64), y_val.numpy().ravel()))
    print(f"data: {root} (train_aug {len(x_train)} images, val {len(x_val)})")
    print(
        f"TinyFCN, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
        f"{args.iters} iterations of batch {args.batch}, {train_s:.0f} s on "
        f"{args.threads} CPU thread(s)"
    )
    present = int((hist.sum(1) > 0).sum())
    print(
        f"val mIoU ({present} of {NUM_CLASSES} classes present in val, void ignored): "
        f"{100 * miou:.1f} %  (all-background baseline {100 * baseline:.1f} %)"
    )
    print("command:", shlex.join(["python", "benchmarks/learnability.py", *(argv or sys.argv[1:])]))
    return miou


if __name__ == "__main__":
    main()
