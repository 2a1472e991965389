"""Build a config's model outside an mmengine Runner (parameter counts, static table cells,
weight checks, tests)."""

from __future__ import annotations


def build_model(cfg):
    """The model of an mmengine ``Config`` (``cfg.model``), with the repro plugins registered."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import repro.plugins  # noqa: F401 - registers the plugins

    init_default_scope(cfg.get("default_scope", "mmseg"))
    return MODELS.build(cfg.model)
