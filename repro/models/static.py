"""Static table cells: numbers read from a built model at the paper's widths, never trained.

Each function takes ``(experiment, metric)`` and is declared on the cell that shows it
(``Cell(..., static=params)``, repro.tables.registry); the metric names what to read after an
``@``. Models are built on the meta device (shapes only: no memory, no initialisation cost) from
the experiment's config plus its options, never from a smoke variant. Importing this module is
cheap: torch and mmseg are imported when a value is computed.
"""

from __future__ import annotations

import functools


def _config(config_rel: str, options: tuple):
    from mmengine.config import Config

    from repro import paths

    cfg = Config.fromfile(str(paths.config_path(config_rel)))
    if options:
        cfg.merge_from_dict(dict(options))
    return cfg


def _options(exp) -> tuple:
    return tuple(sorted(exp.options.items()))


@functools.lru_cache(maxsize=8)
def _meta_model(config_rel: str, options: tuple):
    import torch

    from repro.models.build import build_model

    with torch.device("meta"):
        return build_model(_config(config_rel, options))


def params(exp, metric: str) -> int:
    """Parameters of the model (``params``) or of one submodule
    (``params@decode_head.kernels.3``: GCN Table 2's "# of Params after res-5")."""
    model = _meta_model(exp.config, _options(exp))
    module = model.get_submodule(metric.split("@", 1)[1]) if "@" in metric else model
    return sum(p.numel() for p in module.parameters())


@functools.lru_cache(maxsize=2)
def _output_sizes(config_rel: str, options: tuple) -> dict[str, str]:
    from repro.models.deconvnet import table2_output_sizes

    return table2_output_sizes(_meta_model(config_rel, options), size=224)


def output_size(exp, metric: str) -> str:
    """``output_size@conv1-1`` -> "224x224x64": DeconvNet Table 2's output size of a layer
    (paper name) on a 224x224 input."""
    return _output_sizes(exp.config, _options(exp))[metric.split("@", 1)[1]]


#: Dilation Table 1: metric prefix -> the column of ``ContextModule.layer_table()``.
CONTEXT_FIELDS = {
    "context_kernel": "Convolution",
    "context_dilation": "Dilation",
    "context_truncation": "Truncation",
    "context_rf": "Receptive field",
    "context_channels": "Output channels",
}


@functools.lru_cache(maxsize=4)
def _context_layers(config_rel: str, options: tuple) -> list[dict[str, str]]:
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import repro.plugins  # noqa: F401 - registers the plugins

    cfg = _config(config_rel, options)
    init_default_scope(cfg.get("default_scope", "mmseg"))
    head = MODELS.build(cfg.model.decode_head)  # the head alone: Table 1 needs no backbone
    if head.context is None:
        raise ValueError(
            f"{config_rel} has no context module: Dilation Table 1 rows need a config with "
            "decode_head.context='basic' or 'large'."
        )
    return head.context.layer_table()


def context_layer(exp, metric: str) -> str:
    """``context_rf@3``: Dilation Table 1's "Receptive field" of layer 3, read from the built
    context module (any prefix of :data:`CONTEXT_FIELDS`)."""
    prefix, layer = metric.split("@", 1)
    layers = _context_layers(exp.config, _options(exp))
    return layers[int(layer) - 1][CONTEXT_FIELDS[prefix]]


def imagenet_error(exp, metric: str) -> float | None:
    """GCN Table 6's "ImageNet cls err (%)" of ResNet50-GCN: the top-5 error `repro pretrain
    resnet50-gcn` recorded beside the weights file (``resnet50_gcn.json``), only when it comes
    from the full ILSVRC 2012 (not a smoke or synthetic run); None otherwise (not reproduced)."""
    import json

    from repro.weights import REGISTRY, find_weights

    found = find_weights(REGISTRY["resnet50_gcn"])
    path = found.with_suffix(".json") if found else None
    if path is None or not path.is_file():
        return None
    info = json.loads(path.read_text())
    if info.get("data") != "imagenet" or info.get("smoke") or \
            not info.get("dataset", {}).get("full_ilsvrc2012"):
        return None
    return float(info["imagenet_top5_err"])


def main_params(args) -> int:
    """`repro params CONFIG`: parameters per top-level module of a config's model."""
    from pathlib import Path

    import torch
    from mmengine.config import Config
    from tabulate import tabulate

    from repro import paths
    from repro.models.build import build_model

    path = Path(args.config)
    if not path.is_file():
        path = paths.config_path(args.config)
    with torch.device("meta"):
        model = build_model(Config.fromfile(str(path)))
    body = [[name, sum(p.numel() for p in m.parameters())] for name, m in model.named_children()]
    total = sum(p.numel() for p in model.parameters())
    body = [[n, f"{c:,}", f"{c / 1e6:.2f}M"] for n, c in body if c] + [
        ["total", f"{total:,}", f"{total / 1e6:.2f}M"]]
    print(tabulate(body, headers=["module", "parameters", ""], colalign=("left", "right", "right")))
    return 0
