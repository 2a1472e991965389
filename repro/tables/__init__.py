"""Paper tables; importing a paper module registers its tables (see registry.py)."""

from repro.tables import gcn  # noqa: F401
