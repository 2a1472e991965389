"""Paper tables; importing a paper module registers its tables (see registry.py)."""

from repro.tables import deconvnet, dilation, gcn, gdn  # noqa: F401  (registration)
