"""Test-time wrappers shared by several papers: ensembles of trained models and multi-scale
testing that keeps the merged probabilities.

- ``EnsembleSegmentor``: mean of the members' softmax probability maps at the original image
  size (GDN "FCN-32s + GDN + FC" ensemble, Table 1-2 of Nekrasov et al.; DeconvNet's
  "EDeconvNet" = DeconvNet + FCN-8s, Noh et al. Sec. 5.2). Each member preprocesses the batch
  itself, so members with different normalisations or inference modes (whole image,
  proposals) combine.
- ``ProbTTAModel``: mmseg's ``SegTTAModel`` (mean of softmax over scales and flips) that also
  stores the merged probabilities as ``seg_logits`` (log-probabilities), so a dense CRF after
  multi-scale testing (GCN Table 7 "Stage-3-MS-CRF") sees the fused scores, not those of the
  last augmented view (what the stock class leaves there).
"""

from __future__ import annotations

import copy

import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import load_checkpoint
from mmengine.structures import PixelData
from mmseg.models.segmentors.seg_tta import SegTTAModel
from mmseg.registry import MODELS


@MODELS.register_module()
class EnsembleSegmentor(BaseModel):
    """Average the softmax outputs of trained models.

    Args:
        members: one dict per member with ``model`` (an mmseg model config dict) or ``config``
            (a config file whose ``model`` is used), and ``checkpoint`` (a trained checkpoint;
            ``repro run`` fills it from the member rows of the same table).
        weights: optional weight per member (default: equal).
    """

    def __init__(self, members: list[dict], weights: list[float] | None = None,
                 data_preprocessor=None, init_cfg=None):
        # The Runner passes the config's data_preprocessor; members use their own.
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        models = []
        for m in members:
            model_cfg = m.get("model") or Config.fromfile(m["config"]).model
            model = MODELS.build(copy.deepcopy(model_cfg))
            if m.get("checkpoint"):
                load_checkpoint(model, m["checkpoint"], map_location="cpu", revise_keys=[])
            models.append(model)
        self.members = torch.nn.ModuleList(models)
        w = torch.tensor(weights or [1.0] * len(models), dtype=torch.float32)
        self.register_buffer("weights", w / w.sum(), persistent=False)

    def init_weights(self):
        """Members come trained from their checkpoints: nothing to initialise."""

    def forward(self, inputs, data_samples=None, mode="tensor"):
        raise NotImplementedError("EnsembleSegmentor only predicts: use test_step / val_step.")

    @torch.no_grad()
    def test_step(self, data):
        outs = [m.test_step(copy.copy(data)) for m in self.members]
        merged = []
        for i, sample in enumerate(outs[0]):
            probs = sum(w * o[i].seg_logits.data.softmax(dim=0)
                        for w, o in zip(self.weights, outs))
            sample.set_data({"seg_logits": PixelData(data=probs.clamp_min(1e-12).log()),
                             "pred_sem_seg": PixelData(data=probs.argmax(dim=0, keepdim=True))})
            merged.append(sample)
        return merged

    val_step = test_step


@MODELS.register_module()
class ProbTTAModel(SegTTAModel):
    """SegTTAModel whose merged sample carries the fused probabilities as ``seg_logits``."""

    def merge_preds(self, data_samples_list):
        merged = []
        for samples in data_samples_list:
            probs = sum(s.seg_logits.data.softmax(dim=0) for s in samples) / len(samples)
            out = samples[0]
            out.set_data({"seg_logits": PixelData(data=probs.clamp_min(1e-12).log()),
                          "pred_sem_seg": PixelData(data=probs.argmax(dim=0, keepdim=True))})
            merged.append(out)
        return merged
