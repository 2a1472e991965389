"""repro: reproduction harness for classic semantic segmentation papers on mmsegmentation.

``import repro`` registers every plugin (models, metrics, CRF, hooks) in mmseg's registries, so
that the configs in mmseg_configs/ (``custom_imports=dict(imports=['repro'])``) work with
mmseg's own tools as well as with ``repro run``.
"""

__version__ = "0.1.0"

from mmseg.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=False)  # mmseg's own modules (EncoderDecoder, ResNet...)

from repro import crf, hooks, metrics, models  # noqa: E402,F401  (registration side effects)
