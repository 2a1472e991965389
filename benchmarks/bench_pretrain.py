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

    python benchmarks/bench_pretrain.py --out results/bench/pretrain.json   # CPU, batch 8
    python benchmarks/bench_pretrain.py --device cuda --batch 128 --amp
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
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


class Stepper:
    """One SGD training step (forward, cross-entropy, backward, update) of one model on one
    fixed batch; every model gets the same batch."""

    def __init__(self, model: nn.Module, x, y, device: str, amp: bool):
        self.model, self.x, self.y, self.device, self.amp = model.to(device).train(), x, y, \
            device, amp
        self.opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        self.scaler = torch.amp.GradScaler(device, enabled=amp)

    def __call__(self) -> tuple[float, float]:
        """CPU and wall seconds of one step (wall between synchronisations on a GPU)."""
        if self.device == "cuda":
            torch.cuda.synchronize()
        cpu, wall = time.process_time(), time.perf_counter()
        with torch.autocast(self.device, enabled=self.amp):
            loss = nn.functional.cross_entropy(self.model(self.x), self.y)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.device == "cuda":
            torch.cuda.synchronize()
        return time.process_time() - cpu, time.perf_counter() - wall


def interleaved(steppers: dict, reps: int) -> dict[str, dict[str, list[float]]]:
    """Per model, the CPU and wall seconds of ``reps`` steps taken in turn with the other
    models' (rotating order, after two warm-up steps each), so that load drift hits all alike."""
    names = list(steppers)
    for _ in range(2):
        for name in names:
            steppers[name]()
    out = {name: {"cpu": [], "wall": []} for name in names}
    for i in range(reps):
        for name in names[i % len(names):] + names[:i % len(names)]:
            cpu, wall = steppers[name]()
            out[name]["cpu"].append(cpu)
            out[name]["wall"].append(wall)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--amp", action="store_true")
    p.add_argument("--out", type=Path, default=None,
                   help="write the table (benchmarks/render_report.py's format) as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    from mmseg.models.backbones import ResNet

    from repro.models.resnet_gcn import ResNetGCN

    torch.manual_seed(0)
    models = {"ResNet-50": Classifier(ResNet(depth=50)),
              "ResNet50-GCN": Classifier(ResNetGCN(depth=50))}
    x = torch.randn(args.batch, 3, 224, 224, device=args.device)
    y = torch.randint(0, 1000, (args.batch,), device=args.device)
    load = [os.getloadavg()[0]]
    times = interleaved({k: Stepper(m, x, y, args.device, args.amp)
                         for k, m in models.items()}, args.reps)
    load.append(os.getloadavg()[0])
    # CPU: process time (the threads given), which other jobs on a shared machine do not
    # inflate; GPU: wall time between synchronisations.
    clock = "wall" if args.device == "cuda" else "cpu"
    step = {k: statistics.median(t[clock]) for k, t in times.items()}
    per_step = [g / r for g, r in zip(times["ResNet50-GCN"][clock], times["ResNet-50"][clock])]
    ratio = statistics.median(per_step)
    images = EPOCHS * TRAIN_IMAGES
    projection = {k: round(images / (v / ratio) / 86400, 2) for k, v in PUBLISHED.items()}
    here = round(images / (args.batch / step["ResNet50-GCN"]) / 86400, 1)
    rows = []
    for name, model in models.items():
        rows.append([
            name, round(sum(q.numel() for q in model.parameters()) / 1e6, 3),
            round(conv_macs(model.cpu(), 224) / 1e9, 3),
            round(statistics.median(times[name]["cpu"]) * 1e3),
            round(statistics.median(times[name]["wall"]) * 1e3),
            round(args.batch / step[name], 2),
            "1.00" if name == "ResNet-50" else
            f"{ratio:.2f} ({min(per_step):.2f}-{max(per_step):.2f})",
        ])
        print(f"{name:13s} {rows[-1][1]:.2f} M params, {rows[-1][2]:.2f} GMACs, "
              f"{rows[-1][3]} ms CPU / {rows[-1][4]} ms wall per step (batch {args.batch}, "
              f"{args.device}{', amp' if args.amp else ''}), {rows[-1][5]:.1f} img/s", flush=True)
    notes = [
        f"One SGD step on the same batch of {args.batch} 224x224 images, the two models in "
        f"turn (rotating order), {args.reps} steps each after 2 warm-up steps; medians. Ratio: "
        f"median (min-max) over the interleaved pairs, in {clock} time.",
        "1-minute load average before and after: " + ", ".join(f"{v:.1f}" for v in load),
        "GPU-days for 100 epochs of ILSVRC-2012 (published ResNet-50 img/s of one GPU, NVIDIA "
        "DeepLearningExamples, divided by the ratio): "
        + ", ".join(f"{k} {v}" for k, v in projection.items())
        + f"; at the throughput measured here: {here} device-days.",
        "The ratio measured on a CPU says little about a GPU: measure it there "
        "(--device cuda --amp) before planning a run.",
    ]
    print(f"ResNet50-GCN / ResNet-50 step time: {ratio:.2f}x on {args.device}")
    for note in notes[2:3]:
        print(note)
    if args.out:
        table = dict(
            title=f"Pretraining cost: ResNet50-GCN vs ResNet-50, one training step ({args.device})",
            command=" ".join(["python", "benchmarks/bench_pretrain.py",
                              *(argv if argv is not None else sys.argv[1:])]),
            machine=f"{platform.processor() or platform.machine()}, {args.threads} thread(s), "
                    f"torch {torch.__version__}{', amp' if args.amp else ''}",
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            columns=["model", "params (M)", "conv GMACs", "CPU ms / step", "wall ms / step",
                     f"img/s ({clock})", f"x ResNet-50 ({clock})"],
            rows=rows, notes=notes,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(table, indent=2) + "\n")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
