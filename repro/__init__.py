"""repro: reproduction harness for classic semantic segmentation papers on mmsegmentation.

``import repro`` is cheap: it imports neither torch nor mmseg. The mmseg plugins (models,
metrics, CRF, hooks) register when ``repro.plugins`` is imported, which every config in
mmseg_configs/ does through ``custom_imports=dict(imports=['repro.plugins'])``.
"""

__version__ = "0.1.0"
