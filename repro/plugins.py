"""Registers the harness's mmseg plugins (models, metrics, dense CRF, hooks) in mmseg's registries.

The configs in ``mmseg_configs/`` name this module in ``custom_imports``, so mmseg's own
``tools/train.py`` and ``tools/test.py`` find the plugins too; ``import repro`` alone stays cheap
(it imports neither torch nor mmseg).
"""

from repro._quiet import quiet_imports, silence_warnings

silence_warnings()
with quiet_imports():
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=False)  # mmseg's own modules (EncoderDecoder...)

from repro import crf, hooks, metrics  # noqa: E402,F401  (registration side effects)
from repro.data import guard  # noqa: E402,F401
from repro.metrics import metric  # noqa: E402,F401
from repro.models import (  # noqa: E402,F401
    deconvnet,
    deeplab,
    dilation,
    fcn,
    gcn,
    gdn,
    inference,
    proposals,
    resnet_gcn,
    vgg,
)
