"""GPU readiness check: training / evaluation speed and memory of every paper model family, the
PyTorch dense-CRF mean-field against pydensecrf, and a 2-GPU torchrun, in one run of <= 8 min.

    python benchmarks/gpu_check.py            # on a CUDA machine: writes results/bench/gpu.json
    python benchmarks/gpu_check.py --dry-run  # any machine: CPU, tiny sizes, < 1 min (a test)

What it measures, on synthetic data with randomly initialised weights (no weights or datasets
are needed; the figures are speeds and memory, never accuracies):

- For each paper model family (FCN-8s, DeepLab-LargeFOV, GDN, DeconvNet, Dilation front end +
  large context, GCN ResNet-152), built from its config in ``mmseg_configs/`` at the paper's
  crop and batch (the config's ``crop_size`` and ``train_dataloader.batch_size``): training
  iterations/s and peak GPU memory (``torch.cuda.max_memory_allocated``, reset before each
  measurement) in fp32 and with mixed precision (mmengine's ``AmpOptimWrapper``, which ``repro
  run --amp`` selects; fp16 autocast with dynamic loss scaling by default), each through
  ``model.train_step(batch, optim_wrapper)`` as mmengine's training loop calls it (data
  preprocessor, forward, loss, backward, optimiser step); evaluation images/s through
  ``model.test_step`` (the config's test mode, at VOC size 500x375, fp32, one image per batch).
  Beside each family, mmseg's own FCN-R50-D8 (``fcn_r50-d8_4xb4-20k_voc12aug-512x512.py``,
  SyncBN replaced by BN, 21 classes) at the same crop and batch, as a yardstick.
- The PyTorch mean-field (``repro.crf.meanfield.TorchDenseCRF``; also the 'gather' backend of the
  lattice) against pydensecrf (CPU, one thread) on VOC-size synthetic images and unaries
  (``repro.crf.synthetic``), interleaved image by image; label disagreement (arg-max) per image.
  Goals: >= 20x pydensecrf per image, < 1 % of the labels different.
- With two or more GPUs: one family (DeepLab-LargeFOV) trained under ``torchrun
  --nproc_per_node 2`` (DDP through mmengine's ``MMDistributedDataParallel``), the paper's batch
  split over the two processes; scaling against the single-GPU figure.

Timing: a few warm-up iterations, then up to ``--iters`` timed iterations or ``--stage-s``
seconds, with ``torch.cuda.synchronize`` before reading the clock; the same synthetic batch every
iteration (no data loading). The run keeps to ``--budget-s`` (default 450 s): a stage that
would start after the budget is recorded as skipped. Results are written after every stage,
so an interrupted run leaves what it measured. A stage that fails (e.g. out of memory) is
recorded with its error and the run goes on; the exit code is then 1.

``--dry-run`` runs every code path on the CPU in well under a minute: each family's own tiny
``smoke`` variant at a 128x128 crop, batch 2, one timed iteration, 160x120 evaluation images, the
CRF on small images, the AMP wrapper (mmengine allows it on CUDA only: the dry run lifts that
check, so autocast runs in bfloat16 on the CPU and the loss scaler is disabled) and a 2-process
torchrun on gloo. Its figures are not measurements; it writes to a temporary file unless
``--out`` is given, and tests/test_benchmarks.py runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "results" / "bench" / "gpu.json"

#: (family, config under mmseg_configs/): the paper models, at their configs' crop and batch.
FAMILIES = (
    ("FCN-8s", "fcn/fcn-8s_vgg16_1xb1-100k_voc12sbd-500x500.py"),
    ("DeepLab-LargeFOV", "deeplab/deeplab-largefov_vgg16_1xb20-6k_voc12aug-321x321.py"),
    ("GDN (FCN-32s + GDN)", "gdn/fcn-32s-gdn_vgg16_1xb20-20k_voc12sbd-500x500.py"),
    ("DeconvNet", "deconvnet/deconvnet_vgg16-bn_1xb64-60k_voc12augval-224x224.py"),
    ("Dilation front end + large context",
     "dilation/dilation-large_vgg16_1xb14-60k_voc12aug-504x504.py"),
    ("GCN ResNet-152 (k=15 + BR)", "gcn/gcn-k15-br_r152_1xb1-100k_voc12aug-512x512.py"),
)
DDP_FAMILY = "DeepLab-LargeFOV"
YARDSTICK = "fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py"  # mmseg's own config (.mim/configs)
NUM_CLASSES = 21
GOALS = dict(crf_speedup=20.0, crf_disagreement_pct=1.0)


# --------------------------------------------------------------------------------- settings
class Sizes:
    """Everything the dry run shrinks."""

    def __init__(self, dry: bool, iters: int, stage_s: float, crf_images: int):
        self.dry = dry
        self.warmup = 0 if dry else 3
        self.iters = 1 if dry else iters
        self.stage_s = stage_s
        self.eval_hw = (120, 160) if dry else (375, 500)
        self.eval_warmup = 0 if dry else 2
        self.eval_images = 1 if dry else 10
        self.crf_hw = (48, 64) if dry else (375, 500)
        self.crf_images = 2 if dry else crf_images
        self.crop = (128, 128) if dry else None  # None: the config's
        self.batch = 2 if dry else None


def _device(dry: bool) -> torch.device:
    return torch.device("cpu" if dry else "cuda")


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def reset_peak(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)


def peak_gib(dev: torch.device) -> float | None:
    """Peak allocated device memory since the last ``reset_peak`` (None on the CPU)."""
    if dev.type == "cuda":
        return round(torch.cuda.max_memory_allocated(dev) / 2**30, 3)
    return None


# ----------------------------------------------------------------------------------- configs
def family_config(rel: str, sizes: Sizes):
    """(cfg, crop, batch) of a paper config; the dry run merges the config's ``smoke`` dict."""
    from mmengine.config import Config

    from repro import paths
    from repro.smoke import apply_smoke_variant

    cfg = Config.fromfile(str(paths.config_path(rel)))
    if sizes.dry:  # the family's tiny smoke variant (repro.smoke)
        apply_smoke_variant(cfg)
    proposals = (cfg.model.get("test_cfg") or {}).get("proposals")
    if proposals and proposals.get("type") == "edgeboxes":
        # EdgeBoxes needs OpenCV's contrib build and a downloaded structured-edge model; the
        # built-in selective search stands in (proposals are computed on the CPU either way).
        cfg.model.test_cfg.proposals = dict(type="selective_search", scales=(100, 300))
    crop = tuple(cfg.get("crop_size") or cfg.model.data_preprocessor["size"])
    if sizes.crop:  # the dry run's crop, unless the network takes one input size only
        fixed = cfg.model.get("type") == "ProposalSegmentor"  # DeconvNet: 224x224, fc6 7x7
        crop = crop if fixed else tuple(sizes.crop)
    batch = int(sizes.batch or cfg.train_dataloader.batch_size)
    _set_crop(cfg, crop)
    return cfg, crop, batch


def yardstick_config(crop, sizes: Sizes):
    """mmseg's FCN-R50-D8 VOC config, BN instead of SyncBN, 21 classes, random init."""
    import mmseg
    from mmengine.config import Config

    path = Path(mmseg.__file__).parent / ".mim" / "configs" / YARDSTICK
    if not path.is_file():
        raise FileNotFoundError(
            f"mmseg's config {path} is missing: install onedl-mmsegmentation with its configs."
        )
    cfg = Config.fromfile(str(path))
    bn = dict(type="BN", requires_grad=True)
    cfg.model.pretrained = None
    cfg.model.backbone.norm_cfg = bn
    cfg.model.decode_head.norm_cfg = bn
    cfg.model.auxiliary_head.norm_cfg = bn
    cfg.model.decode_head.num_classes = NUM_CLASSES
    cfg.model.auxiliary_head.num_classes = NUM_CLASSES
    if sizes.dry:  # ResNet-18 at 1/4 width
        cfg.model.backbone.update(depth=18, stem_channels=16, base_channels=16)
        cfg.model.decode_head.update(in_channels=128, channels=32)
        cfg.model.auxiliary_head.update(in_channels=64, channels=16)
    _set_crop(cfg, crop)
    return cfg


def _set_crop(cfg, crop) -> None:
    cfg.crop_size = tuple(crop)
    if "data_preprocessor" in cfg.model:
        cfg.model.data_preprocessor["size"] = tuple(crop)


def build(cfg, dev: torch.device):
    from mmengine.model import revert_sync_batchnorm

    from repro.models.build import build_model

    model = revert_sync_batchnorm(build_model(cfg))
    return model.to(dev)


def optim_wrapper(cfg, model, amp: bool, amp_dtype: str | None):
    """The config's optimiser wrapper (paramwise settings included), or the same as
    ``AmpOptimWrapper`` (what ``repro run --amp`` selects)."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    ow = copy.deepcopy(cfg.optim_wrapper.to_dict() if hasattr(cfg.optim_wrapper, "to_dict")
                       else dict(cfg.optim_wrapper))
    if amp:
        ow["type"] = "AmpOptimWrapper"
        ow.setdefault("loss_scale", "dynamic")
        if amp_dtype:
            ow["dtype"] = amp_dtype
    with DefaultScope.overwrite_default_scope("mmseg"):
        return build_optim_wrapper(model, ow)


@contextlib.contextmanager
def amp_on_cpu(enabled: bool):
    """mmengine's AmpOptimWrapper asserts a GPU at construction; the dry run lifts that check
    so that the wrapper's own code (autocast context, loss scaler calls) runs on the CPU."""
    if not enabled:
        yield
        return
    from unittest import mock

    with mock.patch("mmengine.optim.optimizer.amp_optimizer_wrapper.is_cuda_available",
                    return_value=True):
        yield


# -------------------------------------------------------------------------------------- data
def make_batch(n: int, hw, seed: int = 0, labels: bool = True) -> dict:
    """A synthetic batch as mmseg's ``PackSegInputs`` makes it: uint8 (3, H, W) images and
    ``SegDataSample`` with int64 ``gt_sem_seg`` (blocky class regions, a void border)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    h, w = hw
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for i in range(n):
        img = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
        coarse = rng.integers(0, NUM_CLASSES, (max(1, h // 32), max(1, w // 32)))
        lab = np.kron(coarse, np.ones((32, 32), np.int64))[:h, :w]
        lab = np.pad(lab, ((0, h - lab.shape[0]), (0, w - lab.shape[1])), mode="edge")
        lab[:2], lab[-2:], lab[:, :2], lab[:, -2:] = 255, 255, 255, 255
        s = SegDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), scale_factor=(1.0, 1.0),
            flip=False, flip_direction=None, img_path=f"synthetic_{seed}_{i}.jpg",
            seg_map_path=f"synthetic_{seed}_{i}.png", reduce_zero_label=False))
        if labels:
            s.gt_sem_seg = PixelData(data=torch.from_numpy(lab[None].copy()))
        inputs.append(torch.from_numpy(img))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _loss_value(log_vars) -> float:
    v = log_vars.get("loss") if isinstance(log_vars, dict) else None
    return float(v) if v is not None else float("nan")


# ------------------------------------------------------------------------------------ stages
def time_train(model, ow, data, sizes: Sizes, dev: torch.device) -> dict:
    """Iterations/s and peak memory of ``model.train_step(data, ow)``."""
    model.train()
    reset_peak(dev)
    t_w = time.perf_counter()
    for _ in range(sizes.warmup):
        log = model.train_step(data, ow)
    sync(dev)
    warm_s = time.perf_counter() - t_w
    k, t0 = 0, time.perf_counter()
    while k < sizes.iters and (k == 0 or time.perf_counter() - t0 < sizes.stage_s):
        log = model.train_step(data, ow)
        k += 1
    sync(dev)
    dt = time.perf_counter() - t0
    batch = len(data["inputs"])
    out = dict(iters_per_s=round(k / dt, 3), images_per_s=round(k * batch / dt, 2),
               timed_iters=k, seconds=round(dt, 3), warmup_iters=sizes.warmup,
               warmup_s=round(warm_s, 2), peak_gib=peak_gib(dev), last_loss=_loss_value(log))
    scaler = getattr(ow, "loss_scaler", None)
    if scaler is not None:
        out["loss_scale"] = float(scaler.get_scale()) if scaler.is_enabled() else None
    return out


def time_eval(model, sizes: Sizes, dev: torch.device) -> dict:
    """Images/s of ``model.test_step`` on one VOC-size image per batch (fp32, no grad)."""
    model.eval()
    reset_peak(dev)
    batches = [make_batch(1, sizes.eval_hw, seed=100 + i)
               for i in range(sizes.eval_warmup + sizes.eval_images)]
    with torch.no_grad():
        for b in batches[: sizes.eval_warmup]:
            out = model.test_step(b)
        sync(dev)
        k, t0 = 0, time.perf_counter()
        for b in batches[sizes.eval_warmup:]:
            out = model.test_step(b)
            k += 1
            if time.perf_counter() - t0 > sizes.stage_s:
                break
        sync(dev)
        dt = time.perf_counter() - t0
    shape = tuple(out[0].pred_sem_seg.data.shape[-2:])
    if shape != tuple(sizes.eval_hw):
        raise RuntimeError(f"test_step returned a {shape} label map for a {sizes.eval_hw} image.")
    return dict(images_per_s=round(k / dt, 3), timed_images=k, seconds=round(dt, 3),
                size=list(sizes.eval_hw), peak_gib=peak_gib(dev))


class Run:
    """Results, errors, the time budget, and writing after every stage."""

    def __init__(self, args, sizes: Sizes, out: Path):
        self.args, self.sizes, self.out = args, sizes, out
        self.t0 = time.perf_counter()
        self.raw: dict = dict(families={}, crf=None, ddp=None, errors=[], skipped=[])

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def stage(self, name: str, fn, reserve_s: float = 0.0):
        """Run ``fn()`` unless the budget is spent; record its error instead of raising
        (the dry run raises: it is a test)."""
        if not self.sizes.dry and self.elapsed() + reserve_s > self.args.budget_s:
            self.raw["skipped"].append(f"{name}: time budget ({self.args.budget_s:.0f} s) spent")
            print(f"[{self.elapsed():6.1f} s] skip {name} (budget)", flush=True)
            return None
        t = time.perf_counter()
        try:
            res = fn()
        except Exception as e:  # noqa: BLE001 - recorded, the run goes on
            if self.sizes.dry:
                raise RuntimeError(f"gpu_check --dry-run: stage '{name}' failed: {e}") from e
            msg = f"{name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            self.raw["errors"].append(dict(stage=name, error=msg,
                                           traceback=traceback.format_exc(limit=4)))
            print(f"[{self.elapsed():6.1f} s] FAILED {msg}", flush=True)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            return None
        print(f"[{self.elapsed():6.1f} s] {name}: {time.perf_counter() - t:.1f} s", flush=True)
        return res


# ------------------------------------------------------------------------------ the families
def train(cfg, model, amp: bool, data, run: Run, dev: torch.device) -> dict:
    """One training measurement with a fresh optimiser wrapper (fp32 or AMP)."""
    with amp_on_cpu(amp and run.sizes.dry):
        ow = optim_wrapper(cfg, model, amp, run.args.amp_dtype)
    try:
        return time_train(model, ow, data, run.sizes, dev)
    finally:
        ow.optimizer.state.clear()  # momentum buffers: not into the next measurement
        ow = None


def run_family(run: Run, name: str, rel: str, dev: torch.device) -> None:
    sizes = run.sizes
    rec = run.raw["families"].setdefault(name, dict(config=rel))
    built = run.stage(f"{name}: build", lambda: (family_config(rel, sizes),), reserve_s=30)
    if built is None:
        return
    cfg, crop, batch = built[0]
    rec.update(crop=list(crop), batch=batch,
               cudnn_benchmark=bool(cfg.get("env_cfg", {}).get("cudnn_benchmark", False)))
    torch.backends.cudnn.benchmark = rec["cudnn_benchmark"]
    model = run.stage(f"{name}: model", lambda: build(cfg, dev))
    if model is None:
        return
    rec["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
    data = make_batch(batch, crop)
    for amp in (False, True):
        key = "amp" if amp else "fp32"

        rec[key] = run.stage(f"{name}: train {key}",
                             lambda amp=amp: train(cfg, model, amp, data, run, dev), reserve_s=15)
        save(run)
    rec["eval"] = run.stage(f"{name}: eval", lambda m=model: time_eval(m, sizes, dev),
                            reserve_s=10)
    model = None  # free it before the yardstick
    reset_peak(dev)
    save(run)
    # mmseg's FCN-R50-D8 at the same crop and batch (the dry run: beside the first family only,
    # the code path is the same for every family)
    if sizes.dry and name != FAMILIES[0][0]:
        return
    ycfg = run.stage(f"{name}: yardstick config", lambda: yardstick_config(crop, sizes))
    if ycfg is None:
        return
    ymodel = run.stage(f"{name}: yardstick model", lambda: build(ycfg, dev), reserve_s=20)
    if ymodel is None:
        return
    ystats = rec.setdefault("fcn_r50_d8", {})
    for amp in (False, True):
        key = "amp" if amp else "fp32"

        ystats[key] = run.stage(f"{name}: FCN-R50-D8 train {key}",
                                lambda amp=amp: train(ycfg, ymodel, amp, data, run, dev),
                                reserve_s=15)
    ymodel = None
    reset_peak(dev)
    save(run)


# ------------------------------------------------------------------------------------- CRF
def run_crf(run: Run, dev: torch.device) -> dict:
    """PyTorch mean-field on ``dev`` vs pydensecrf (CPU), interleaved per image."""
    from repro.crf.dense import CRFParams, crf_inference
    from repro.crf.meanfield import TorchDenseCRF, dense_crf_torch
    from repro.crf.synthetic import make_scene, network_probs

    sizes = run.sizes
    h, w = sizes.crf_hw
    prm = CRFParams(w1=10, sigma_alpha=80, sigma_beta=13, w2=3, sigma_gamma=3, iterations=10)
    rng = np.random.default_rng(0)
    images = []
    for _ in range(sizes.crf_images + 1):  # the first is the warm-up
        image, label = make_scene(rng, h, w, NUM_CLASSES)
        images.append((network_probs(rng, label, NUM_CLASSES, scale=4.0, noise=1.5), image))
    crf = TorchDenseCRF(prm, device=dev)

    def torch_labels(probs, image, backend=None):
        if backend is None:
            q = crf.inference(probs, image)
        else:
            p = torch.as_tensor(probs, device=dev)
            img = torch.as_tensor(image, device=dev).permute(2, 0, 1)
            with torch.no_grad():
                q = dense_crf_torch(p, img, prm.w1, prm.sigma_alpha, prm.sigma_beta, prm.w2,
                                    prm.sigma_gamma, prm.iterations, backend=backend)
        return q.argmax(0).cpu().numpy()

    torch_labels(*images[0])
    torch_labels(*images[0], backend="gather")
    sync(dev)
    rows = []
    for k, (probs, image) in enumerate(images[1:]):
        order = ("ref", "sparse", "gather") if k % 2 == 0 else ("gather", "sparse", "ref")
        rec, labels = {}, {}
        for which in order:
            if which == "ref":
                c0, t0 = time.process_time(), time.perf_counter()
                labels[which] = crf_inference(probs, image, prm).argmax(0)
                rec["pydensecrf_s"] = time.perf_counter() - t0
                rec["pydensecrf_cpu_s"] = time.process_time() - c0
            else:
                sync(dev)
                t0 = time.perf_counter()
                labels[which] = torch_labels(probs, image,
                                             None if which == "sparse" else "gather")
                sync(dev)
                rec[f"torch_{which}_s"] = time.perf_counter() - t0
        for which in ("sparse", "gather"):
            rec[f"torch_{which}_disagree_pct"] = float(
                100 * np.mean(labels[which] != labels["ref"]))
        rows.append(rec)
    ref = sum(r["pydensecrf_s"] for r in rows)
    out = dict(size=[h, w], params=prm.to_dict(), images=len(rows), per_image=rows,
               device=str(dev), torch_threads=torch.get_num_threads())
    for which in ("sparse", "gather"):
        t = sum(r[f"torch_{which}_s"] for r in rows)
        out[which] = dict(
            seconds_per_image=round(t / len(rows), 4),
            speedup=round(ref / t, 2),
            max_disagree_pct=round(max(r[f"torch_{which}_disagree_pct"] for r in rows), 4),
            mean_disagree_pct=round(float(np.mean(
                [r[f"torch_{which}_disagree_pct"] for r in rows])), 4),
        )
    out["pydensecrf_seconds_per_image"] = round(ref / len(rows), 4)
    best = out["sparse"]
    out["goal_met"] = bool(best["speedup"] >= GOALS["crf_speedup"]
                           and best["max_disagree_pct"] < GOALS["crf_disagreement_pct"])
    return out


# ------------------------------------------------------------------------------- 2-GPU DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ddp(run: Run) -> dict:
    """``torchrun --nproc_per_node 2`` of this script in ``--ddp-worker`` mode."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ddp.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               str(Path(__file__).resolve()), "--ddp-worker", "--ddp-out", str(out),
               "--iters", str(run.args.iters), "--stage-s", str(run.args.stage_s)]
        if run.sizes.dry:
            cmd.append("--dry-run")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        if run.sizes.dry:
            env.setdefault("OMP_NUM_THREADS", "1")
        # The dry run checks code paths, not time: two workers importing torch and mmseg on a
        # loaded 2-core CI machine took over 120 s once.
        left = max(60.0, run.args.budget_s - run.elapsed()) if not run.sizes.dry else 600.0
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=left)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stdout + proc.stderr)[-2000:]
            raise RuntimeError(f"torchrun exited with {proc.returncode}: {tail}")
        res = json.loads(out.read_text())
    single = run.raw["families"].get(DDP_FAMILY, {}).get("fp32") or {}
    if single.get("images_per_s"):
        res["single_gpu_images_per_s"] = single["images_per_s"]
        res["scaling"] = round(res["images_per_s"] / single["images_per_s"], 3)
    return res


def ddp_worker(args) -> int:
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel

    sizes = Sizes(args.dry_run, args.iters, args.stage_s, 0)
    local = int(os.environ.get("LOCAL_RANK", 0))
    if args.dry_run:
        torch.set_num_threads(1)
        dev = torch.device("cpu")
        dist.init_process_group("gloo")
    else:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
        dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    rel = dict(FAMILIES)[DDP_FAMILY]
    cfg, crop, batch = family_config(rel, sizes)
    per_rank = max(1, batch // world)
    model = build(cfg, dev)
    ddp = MMDistributedDataParallel(module=model,
                                    device_ids=None if dev.type == "cpu" else [local])
    ow = optim_wrapper(cfg, ddp, False, None)
    stats = time_train(ddp, ow, make_batch(per_rank, crop, seed=rank), sizes, dev)
    t = torch.tensor([stats["seconds"] / stats["timed_iters"]], dtype=torch.float64,
                     device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)  # the slowest rank sets the pace
    peaks = [None] * world
    dist.all_gather_object(peaks, stats["peak_gib"])
    if rank == 0:
        res = dict(family=DDP_FAMILY, config=rel, world_size=world, crop=list(crop),
                   total_batch=per_rank * world, batch_per_gpu=per_rank,
                   iters_per_s=round(1 / float(t), 3),
                   images_per_s=round(per_rank * world / float(t), 2),
                   timed_iters=stats["timed_iters"], peak_gib_per_rank=peaks,
                   backend=dist.get_backend())
        Path(args.ddp_out).write_text(json.dumps(res))
    dist.barrier()
    dist.destroy_process_group()
    return 0


# ---------------------------------------------------------------------------------- output
def machine() -> dict:
    import mmcv
    import mmengine
    import mmseg

    from benchmarks._machine import cpu_name

    cpu = cpu_name()
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
    gpu_memory = [round(p.total_memory / 2**30, 1) for p in props]
    capability = [f"{p.major}.{p.minor}" for p in props]
    return dict(
        gpus=gpus, gpu_memory_gib=gpu_memory, compute_capability=capability, cpu=cpu,
        cpus=os.cpu_count(), python=platform.python_version(),
        torch=torch.__version__, cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        tf32_cudnn=torch.backends.cudnn.allow_tf32,
        mmengine=mmengine.__version__, mmcv=mmcv.__version__, mmseg=mmseg.__version__,
        numpy=np.__version__,
    )


def _fmt(v, nd=2):
    return None if v is None else round(float(v), nd)


def tables(run: Run) -> list[dict]:
    raw, sizes = run.raw, run.sizes
    m = raw["machine"]
    mach = (f"{', '.join(m['gpus']) or 'no GPU'}; {m['cpu']}; torch {m['torch']} (CUDA "
            f"{m['cuda']}, cuDNN {m['cudnn']}), mmengine {m['mmengine']}, mmcv {m['mmcv']}, "
            f"mmseg {m['mmseg']}")
    dry = " DRY RUN (CPU, tiny sizes): code-path check, not measurements." if sizes.dry else ""
    common = dict(command=raw["command"], machine=mach, date=raw["date"])
    rows = []
    for name, _rel in FAMILIES:
        r = raw["families"].get(name, {})
        f32, amp, ev = r.get("fp32") or {}, r.get("amp") or {}, r.get("eval") or {}
        y = r.get("fcn_r50_d8", {})
        y32, yamp = y.get("fp32") or {}, y.get("amp") or {}
        speed_amp = (amp["iters_per_s"] / f32["iters_per_s"]
                     if amp.get("iters_per_s") and f32.get("iters_per_s") else None)
        vs = (f32["iters_per_s"] / y32["iters_per_s"]
              if f32.get("iters_per_s") and y32.get("iters_per_s") else None)
        rows.append([
            name, "x".join(map(str, r.get("crop", []))) or None, r.get("batch"),
            r.get("params_m"), f32.get("iters_per_s"), f32.get("images_per_s"),
            f32.get("peak_gib"), amp.get("iters_per_s"), amp.get("peak_gib"),
            _fmt(speed_amp), ev.get("images_per_s"), y32.get("iters_per_s"),
            yamp.get("iters_per_s"), y32.get("peak_gib"), _fmt(vs),
        ])
    train = dict(
        title="GPU check: training and evaluation of each paper model family (synthetic data, "
              "random init)",
        columns=["family", "crop", "batch", "params (M)", "fp32 it/s", "fp32 img/s",
                 "fp32 peak GiB", "AMP it/s", "AMP peak GiB", "AMP speed-up",
                 f"eval img/s ({sizes.eval_hw[1]}x{sizes.eval_hw[0]})",
                 "FCN-R50-D8 fp32 it/s", "FCN-R50-D8 AMP it/s",
                 "FCN-R50-D8 fp32 peak GiB", "fp32 it/s / FCN-R50-D8's"],
        rows=rows,
        notes=[n for n in [
            dry.strip() or None,
            "Each family at its config's crop and batch (the paper's); train it/s = "
            "model.train_step(batch, optim_wrapper) per second after "
            f"{sizes.warmup} warm-up iterations, up to {sizes.iters} timed iterations or "
            f"{run.args.stage_s:.0f} s, torch.cuda.synchronize before reading the clock; peak = "
            "torch.cuda.max_memory_allocated, reset before each measurement; the same "
            "synthetic batch every iteration (no data loading).",
            "AMP = mmengine AmpOptimWrapper (autocast "
            f"{run.args.amp_dtype or 'float16'}, dynamic loss scaling), what `repro run --amp` "
            "uses. FCN-R50-D8 = mmseg's fcn_r50-d8 VOC config (BN for SyncBN, 21 classes) at "
            "the same crop and batch: the yardstick beside each family.",
            f"eval = model.test_step on one {sizes.eval_hw[1]}x{sizes.eval_hw[0]} image per "
            "batch in the config's test mode "
            "(fp32, no grad; DeconvNet: proposal-wise inference, whose proposals are computed "
            "on the CPU, by the built-in selective search instead of the paper's EdgeBoxes).",
            f"cuDNN benchmark as the configs set it (env_cfg: "
            f"{any(r.get('cudnn_benchmark') for r in raw['families'].values())}); TF32: "
            f"matmul {m['tf32_matmul']}, cuDNN {m['tf32_cudnn']} (torch defaults).",
            (f"Errors: {'; '.join(e['error'] for e in raw['errors'])}"
             if raw["errors"] else None),
            (f"Skipped: {'; '.join(raw['skipped'])}" if raw["skipped"] else None),
        ] if n],
        **common,
    )
    out = [train]
    crf = raw.get("crf")
    if crf:
        crows = [["pydensecrf2 (CPU, 1 thread)", crf["pydensecrf_seconds_per_image"], 1.0, 0.0,
                  0.0]]
        for which, label in (("sparse", "TorchDenseCRF (CSR lattice)"),
                             ("gather", "dense_crf_torch, backend='gather'")):
            c = crf[which]
            crows.append([f"{label} on {crf['device']}", c["seconds_per_image"], c["speedup"],
                          c["mean_disagree_pct"], c["max_disagree_pct"]])
        out.append(dict(
            title="GPU check: dense CRF, PyTorch mean-field on the GPU vs pydensecrf",
            columns=["implementation", "s / image", "x pydensecrf", "label diff. % (mean)",
                     "label diff. % (max)"],
            rows=crows,
            notes=[n for n in [
                dry.strip() or None,
                f"{crf['images']} synthetic {crf['size'][1]}x{crf['size'][0]} images "
                "(repro.crf.synthetic, seed 0), 21 labels, w1 10 sigma_alpha 80 sigma_beta 13, "
                "w2 3 sigma_gamma 3, 10 iterations; interleaved image by image, wall time with "
                "torch.cuda.synchronize, lattice construction and the copy of the labels back "
                "included; one warm-up image excluded.",
                f"Goal: >= {GOALS['crf_speedup']:.0f}x pydensecrf per image with < "
                f"{GOALS['crf_disagreement_pct']:.0f} % of the labels different: "
                f"{'met' if crf['goal_met'] else 'NOT met'} (CSR lattice).",
            ] if n],
            **common,
        ))
    ddp = raw.get("ddp")
    if ddp:
        out.append(dict(
            title="GPU check: 2-GPU torchrun (DDP)",
            columns=["family", "GPUs", "total batch", "it/s", "img/s", "1-GPU img/s",
                     "scaling", "peak GiB per rank"],
            rows=[[ddp["family"], ddp["world_size"], ddp["total_batch"], ddp["iters_per_s"],
                   ddp["images_per_s"], ddp.get("single_gpu_images_per_s"), ddp.get("scaling"),
                   ", ".join(str(p) for p in ddp["peak_gib_per_rank"])]],
            notes=[n for n in [dry.strip() or None,
                               "mmengine MMDistributedDataParallel, the paper's batch split over "
                               "the processes; scaling = 2-GPU img/s / 1-GPU img/s (ideal 2)."]
                   if n],
            **common,
        ))
    return out


def save(run: Run) -> None:
    raw = run.raw
    raw["elapsed_s"] = round(run.elapsed(), 1)
    doc = dict(tables=tables(run), raw=raw, dry_run=run.sizes.dry)
    run.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = run.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    os.replace(tmp, run.out)


# ------------------------------------------------------------------------------------ main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true",
                    help="CPU, tiny sizes: exercise every code path (< 1 min); not a measurement")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON to write (default results/bench/gpu.json; a temporary file for "
                         "--dry-run)")
    ap.add_argument("--budget-s", type=float, default=450.0,
                    help="stop starting new stages after this many seconds (default 450)")
    ap.add_argument("--iters", type=int, default=10, help="timed training iterations (max)")
    ap.add_argument("--stage-s", type=float, default=5.0,
                    help="at most this many seconds of timed iterations per stage")
    ap.add_argument("--crf-images", type=int, default=6, help="VOC-size images for the CRF")
    ap.add_argument("--amp-dtype", choices=("float16", "bfloat16"), default=None,
                    help="autocast dtype of AmpOptimWrapper (default: its own, float16)")
    ap.add_argument("--families", nargs="*", default=None,
                    help="only these families (names as in the table; default all)")
    ap.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ddp-out", default=None, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args)
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; run it on a GPU machine, or use --dry-run to "
              "check the code paths on the CPU.", file=sys.stderr)
        return 2
    sizes = Sizes(args.dry_run, args.iters, args.stage_s, args.crf_images)
    out = args.out or (Path(tempfile.gettempdir()) / "gpu_check_dry_run.json" if args.dry_run
                       else OUT)
    if args.dry_run:
        torch.set_num_threads(1)
    dev = _device(args.dry_run)
    run = Run(args, sizes, Path(out))
    command = "python benchmarks/gpu_check.py" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    run.raw.update(command=command.strip(), machine=machine(), goals=GOALS,
                   date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                   budget_s=args.budget_s, load_before=os.getloadavg())
    import repro.plugins  # noqa: F401 - registers the models

    print(f"gpu_check on {dev} ({', '.join(run.raw['machine']['gpus']) or 'CPU'}), "
          f"budget {args.budget_s:.0f} s", flush=True)
    run.raw["crf"] = run.stage("dense CRF", lambda: run_crf(run, dev), reserve_s=30)
    save(run)
    wanted = set(args.families) if args.families else None
    for name, rel in FAMILIES:
        if wanted is None or name in wanted:
            run_family(run, name, rel, dev)
    if args.dry_run or torch.cuda.device_count() >= 2:
        run.raw["ddp"] = run.stage("2-process torchrun", lambda: run_ddp(run), reserve_s=60)
    else:
        run.raw["ddp"] = None
        run.raw["skipped"].append("2-GPU torchrun: only one GPU")
    run.raw["load_after"] = os.getloadavg()
    save(run)
    print(f"written: {run.out} ({run.elapsed():.0f} s)")
    for t in run.raw and tables(run):
        from tabulate import tabulate

        print(f"\n## {t['title']}\n")
        print(tabulate(t["rows"], headers=t["columns"], tablefmt="github"))
        for n in t["notes"]:
            print(f"- {n}")
    return 1 if run.raw["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
