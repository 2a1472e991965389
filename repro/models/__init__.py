"""Model plugins, one module per paper's family; importing registers them with mmseg."""

from repro.models import gcn  # noqa: F401
from repro.models import vgg  # noqa: F401
from repro.models import dilation  # noqa: F401
