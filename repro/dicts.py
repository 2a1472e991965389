"""Plain-dict helpers shared by the profiles (``repro.profiles``) and the smoke settings
(``repro.smoke``); a leaf module, so that neither has to import the other for them."""

from __future__ import annotations

import copy

__all__ = ["deep_merge"]


def deep_merge(base: dict, override: dict) -> dict:
    """Recursive dict merge; ``_delete_=True`` in an override dict replaces instead (mmengine)."""
    out = copy.deepcopy(dict(base))
    for k, v in override.items():
        if isinstance(v, dict) and not v.get("_delete_", False) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            v = copy.deepcopy(v)
            if isinstance(v, dict):
                v = {kk: vv for kk, vv in v.items() if kk != "_delete_"}
            out[k] = v
    return out
