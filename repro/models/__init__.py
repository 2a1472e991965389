"""Model plugins, one module per paper's family; importing registers them with mmseg."""

from repro.models import gcn  # noqa: F401
from repro.models import vgg  # noqa: F401
from repro.models import dilation  # noqa: F401
from repro.models import fcn  # noqa: F401
from repro.models import deeplab  # noqa: F401
from repro.models import gdn  # noqa: F401
from repro.models import deconvnet, proposals  # noqa: F401
from repro.models import inference  # noqa: F401
from repro.models import resnet_gcn  # noqa: F401
