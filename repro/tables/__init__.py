"""Paper tables; importing a paper module registers its tables (see registry.py)."""

from repro.tables import gcn  # noqa: F401
from repro.tables import dilation  # noqa: F401
from repro.tables import deconvnet  # noqa: F401
from repro.tables import gdn  # noqa: F401
