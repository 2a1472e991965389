"""How long would ImageNet pretraining of ResNet50-GCN (GCN Table 6, `repro pretrain`) take?

Measures one SGD training step (forward, cross-entropy, backward, update) of ResNet-50 and of
ResNet50-GCN (``repro.models.resnet_gcn``), each with global pooling and a 1000-way linear
classifier as in mmpretrain's ImageClassifier, at 224x224, on the device given, and counts their
parameters and convolution multiply-adds. The cost of the real run is then projected from a
published ResNet-50 throughput (NVIDIA DeepLearningExamples, PyTorch ResNet50 v1.5 README,
training throughput of 1 GPU: V100 FP32 367 img/s, A100 TF32 938 img/s, A100 AMP 2470 img/s)
times the measured ResNet50-GCN / ResNet-50 step-time ratio, for the recipe's 100 epochs of
ILSVRC-2012's 1,281,167 training images. The ratio measured on a CPU says little about a GPU,
where the k x 1 / 1 x k convolutions of odd widths (20, 37, 72, 153) run on less tuned kernels
than 3x3: measure it on the GPU (``--device cuda [--amp]``) before planning a run.

    python benchmarks/bench_pretrain.py                       # CPU, batch 8, 1 thread
    python benchmarks/bench_pretrain.py --device cuda --batch 128 --amp
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

EPOCHS, TRAIN_IMAGES = 100, 1_281_167
#: img/s of one GPU training ResNet-50 (NVIDIA DeepLearningExamples, PyTorch RN50 v1.5 README).
PUBLISHED = {"V100 FP32": 367, "A100 TF32": 938, "A100 AMP": 2470}


class Classifier(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone, self.fc = backbone, nn.Linear(2048, 1000)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def conv_macs(model: nn.Module, size: int) -> int:
    total = 0

    def hook(mod, _inp, out):
        nonlocal total
        total += out[0].numel() * mod.weight[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return total


def step_time(model: nn.Module, batch: int, device: str, amp: bool, reps: int) -> float:
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    scaler = torch.amp.GradScaler(device, enabled=amp)
    # CPU: process time (one thread), which other jobs on a shared machine do not inflate;
    # GPU: wall time between synchronisations.
    clock = time.perf_counter if device == "cuda" else time.process_time
    times = []
    for i in range(reps + 2):  # two warm-up steps
        if device == "cuda":
            torch.cuda.synchronize()
        t = clock()
        with torch.autocast(device, enabled=amp):
            loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(clock() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--amp", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    from mmseg.models.backbones import ResNet

    from repro.models.resnet_gcn import ResNetGCN

    torch.manual_seed(0)
    models = {"ResNet-50": Classifier(ResNet(depth=50)),
              "ResNet50-GCN": Classifier(ResNetGCN(depth=50))}
    rows = {}
    for name, model in models.items():
        rows[name] = dict(
            params_M=round(sum(q.numel() for q in model.parameters()) / 1e6, 3),
            conv_GMACs=round(conv_macs(model, 224) / 1e9, 3),
            step_s=step_time(model, args.batch, args.device, args.amp, args.reps),
        )
        rows[name]["img_per_s"] = round(args.batch / rows[name]["step_s"], 2)
        print(f"{name:13s} {rows[name]['params_M']:.2f} M params, "
              f"{rows[name]['conv_GMACs']:.2f} GMACs, {rows[name]['step_s'] * 1e3:.0f} ms/step "
              f"(batch {args.batch}, {args.device}{', amp' if args.amp else ''}), "
              f"{rows[name]['img_per_s']:.1f} img/s", flush=True)
    ratio = rows["ResNet50-GCN"]["step_s"] / rows["ResNet-50"]["step_s"]
    images = EPOCHS * TRAIN_IMAGES
    projection = {k: round(images / (v / ratio) / 86400, 2) for k, v in PUBLISHED.items()}
    here = round(images / rows["ResNet50-GCN"]["img_per_s"] / 86400, 1)
    print(f"ResNet50-GCN / ResNet-50 step time: {ratio:.2f}x on {args.device}")
    print("GPU-days for 100 epochs (published ResNet-50 img/s / ratio): "
          + ", ".join(f"{k} {v}" for k, v in projection.items()))
    print(f"at the throughput measured here: {here} device-days")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(dict(
            device=args.device, machine=platform.processor() or platform.machine(),
            threads=args.threads, batch=args.batch, amp=args.amp, torch=torch.__version__,
            models=rows, ratio=round(ratio, 3), gpu_days_projection=projection,
            device_days_here=here, command=" ".join(["python", *sys.argv]),
        ), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
