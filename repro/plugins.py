"""Registers the harness's mmseg plugins (models, metrics, dense CRF, hooks) in mmseg's registries.

The configs in ``mmseg_configs/`` name this module in ``custom_imports``, so mmseg's own
``tools/train.py`` and ``tools/test.py`` find the plugins too; ``import repro`` alone stays cheap
(it imports neither torch nor mmseg).
"""

from mmseg.utils import register_all_modules

register_all_modules(init_default_scope=False)  # mmseg's own modules (EncoderDecoder, ResNet...)

from repro import crf, hooks, metrics, models  # noqa: E402,F401  (registration side effects)
