"""Model plugins, one module per paper's family; importing registers them with mmseg."""

from repro.models import (  # noqa: F401  (registration side effects)
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
