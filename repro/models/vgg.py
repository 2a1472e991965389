"""VGG16 (Simonyan & Zisserman, ICLR 2015) in the Caffe layouts of the segmentation papers, with
fc6/fc7 as convolutions, registered in mmseg's MODELS as ``VGG16``.

One class, four ``variant`` layouts (each taken from the authors' released prototxts, see
shared/notes/protocols.md):

============== ======================================================================== ======
variant        layout                                                                   stride
============== ======================================================================== ======
fcn            FCN (Long et al.): conv1_1 pad 100, 3x3 pad 1 convs, 2x2/2 max pools     32
               (ceil mode, as Caffe), fc6 7x7 4096 pad 0, fc7 1x1 4096, dropout 0.5.
               An HxW input gives fc7 of ceil-pooled (H+198)/32 - 6.
deeplab_large  DeepLab-LargeFOV (Chen et al.): pool1-3 3x3/2 pad 1, pool4-5 3x3/1 pad   8
fov            1, conv5_x dilation 2, fc6 3x3 dilation 12 1024 ch, fc7 1x1 1024.
dilation       Yu & Koltun front end: no pool4/pool5, conv5_x dilation 2, fc6 7x7       8
               dilation 4 (4096), fc7 1x1 4096, every convolution UNPADDED. The paper
               reflection-pads the input by 186 px: the Dilation configs' data
               preprocessor does (repro.models.dilation: the image itself reflected,
               not the batch buffer); ``pad_input=186`` reflects the tensor it gets.
deconvnet      Noh et al.: BatchNorm after every conv (and fc6/fc7), 2x2/2 max pools     32
               that return their switches, fc6 7x7 4096 pad 0 (1x1 on the 224 input's
               7x7 pool5), fc7 1x1 4096.
============== ======================================================================== ======

Layers are attributes with the Caffe names (``conv1_1`` .. ``conv5_3``, ``pool1`` .. ``pool5``,
``fc6``, ``fc7``); every conv/fc is an mmcv ``ConvModule`` (conv [+ BN] + ReLU, conv bias
always on, as in Caffe and torchvision's vgg16_bn). ``out_indices`` names the layers whose
outputs ``forward`` returns, in network order (e.g. ``('pool3', 'pool4', 'fc7')`` for FCN's
skips); fc6/fc7 outputs are taken after their ReLU and dropout, as Caffe's in-place layers.
The ``deconvnet`` variant returns ``(*features, switches)`` where ``switches`` is the list of
``(indices, pre-pool size)`` of pool1..pool5, for ``F.max_unpool2d(x, indices, 2, 2,
output_size=size)``.

``width_mult`` scales every conv/fc width (rounded, at least 1) for the smoke profile.

``pool5a=True`` adds DeepLab-LargeFOV's ``pool5a`` after pool5: a 3x3 stride-1 pad-1 average
pooling (Caffe's AVE pooling counts the padded taps: ``count_include_pad=True``), as in the
released DeepLab-LargeFOV prototxt (deeplab-public; DrSleep/tensorflow-deeplab-lfov
util/deploy.prototxt; GDN's src/orig.prototxt). Off by default (the layer belongs to
DeepLab-LargeFOV only); the DeepLab-LargeFOV model base config sets it.

Pretrained weights come from a local file (``init_cfg=dict(type='Pretrained',
checkpoint=PATH)``, loaded by :func:`load_vgg_weights`), in one of three formats:

* torchvision ``vgg16`` / ``vgg16_bn`` state dict: ``features.<i>.weight|bias`` for the 13
  convs (vgg16 indices 0 2 5 7 10 12 14 17 19 21 24 26 28; vgg16_bn 0 3 7 10 14 17 20 24 27 30
  34 37 40 with their BatchNorm at ``<i+1>``), ``classifier.0.weight`` (4096 x 25088, reshaped
  to fc6 4096 x 512 x 7 x 7) and ``classifier.3.weight`` (4096 x 4096 -> fc7 4096 x 4096 x 1 x
  1); ``classifier.6`` (the ImageNet classifier) is ignored.
* Caffe-converted: ``conv1_1.weight`` .. ``conv5_3.bias``, ``fc6.weight`` (4096 x 25088 or
  4096 x 512 x 7 x 7), ``fc7.weight`` (4096 x 4096 or 4096 x 4096 x 1 x 1) and biases.
* this module's own ``state_dict`` (``conv1_1.conv.weight`` ...), possibly inside a checkpoint's
  ``state_dict`` with a ``backbone.`` prefix.

``deeplab_largefov`` has a 1024-channel 3x3 fc6: as DeepLab did ("decimation", Chen et al.
Sec. 4.1), it is subsampled from the 4096 x 512 x 7 x 7 fc6, keeping every 4th filter and
every 3rd spatial tap (``w[::4, :, ::3, ::3]``), and fc7 keeps every 4th output and input
(``w[::4, ::4]``). A BN model loaded from a file without BN keeps its BN at the default (the
conv weights are loaded; DeconvNet trained its BN layers from scratch).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

CONV_NAMES = tuple(
    f"conv{s}_{i}" for s, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)
)
STAGE_WIDTHS = (64, 128, 256, 512, 512)
STAGE_LAST = ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3")  # followed by pool<stage>

# Per variant: conv padding (conv1_1 separately), pools as (kernel, stride, pad) or None when
# removed, conv5 dilation, fc6 (kernel, dilation, pad, channels), fc7 channels, output stride.
VARIANTS = {
    "fcn": dict(
        first_pad=100, conv_pad=1, pools=[(2, 2, 0)] * 5, conv5_dilation=1,
        fc6=(7, 1, 0, 4096), fc7=4096, with_bn=False, stride=32,
    ),
    "deeplab_largefov": dict(
        first_pad=1, conv_pad=1, pools=[(3, 2, 1)] * 3 + [(3, 1, 1)] * 2, conv5_dilation=2,
        fc6=(3, 12, 12, 1024), fc7=1024, with_bn=False, stride=8,
    ),
    "dilation": dict(
        first_pad=0, conv_pad=0, pools=[(2, 2, 0)] * 3 + [None, None], conv5_dilation=2,
        fc6=(7, 4, 0, 4096), fc7=4096, with_bn=False, stride=8,
    ),
    "deconvnet": dict(
        first_pad=1, conv_pad=1, pools=[(2, 2, 0)] * 5, conv5_dilation=1,
        fc6=(7, 1, 0, 4096), fc7=4096, with_bn=True, stride=32,
    ),
}
DEFAULT_OUT = {
    "fcn": ("pool3", "pool4", "fc7"),
    "deeplab_largefov": ("fc7",),
    "dilation": ("fc7",),
    "deconvnet": ("fc7",),
}


def scaled(channels: int, width_mult: float) -> int:
    return max(1, int(round(channels * width_mult)))


@MODELS.register_module()
class VGG16(BaseModule):
    """VGG16 with convolutional fc6/fc7 in the FCN, DeepLab-LargeFOV, Dilation or DeconvNet
    layout (see the module docstring for layouts, outputs and weight files).

    Args:
        variant: "fcn", "deeplab_largefov", "dilation" or "deconvnet".
        with_bn: BatchNorm after every conv/fc; default: True for deconvnet only.
        out_indices: names of the layers to return ("conv4_3", "pool4", "fc7", ...).
        frozen_stages: freeze conv1_x .. conv<frozen_stages>_x (and their BN); -1: none.
        width_mult: scales every conv/fc width (smoke profile).
        dropout: dropout after fc6 and fc7 (0: none).
        pad_input: reflection padding added around the input before conv1_1 (Dilation: 186),
            or ``(left, right, top, bottom)``.
        pool5a: add a 3x3/1 pad-1 average pooling after pool5 (released DeepLab-LargeFOV).
        fc6_padding: fc6's padding instead of the variant's (smoke profile: DeconvNet's
            scaled-down input gives a pool5 smaller than fc6's 7x7 kernel; padded by 3, fc6
            keeps its pretrained shape and every output still sees all of pool5).
        norm_cfg: the norm layer when ``with_bn``.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` loads a VGG16 file (module
            docstring); anything else is mmengine's usual init config.
    """

    def __init__(
        self,
        variant: str = "fcn",
        with_bn: bool | None = None,
        out_indices: tuple[str, ...] | None = None,
        frozen_stages: int = -1,
        width_mult: float = 1.0,
        dropout: float = 0.5,
        pad_input: int | tuple[int, int, int, int] = 0,
        pool5a: bool = False,
        fc6_padding: int | None = None,
        norm_cfg: dict | None = None,
        init_cfg: dict | list | None = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if variant not in VARIANTS:
            raise ValueError(f"Unknown VGG16 variant {variant!r}; choose one of {list(VARIANTS)}.")
        spec = VARIANTS[variant]
        self.variant = variant
        self.with_bn = spec["with_bn"] if with_bn is None else with_bn
        self.frozen_stages = frozen_stages
        self.width_mult = width_mult
        self.pad_input = pad_input
        self.output_stride = spec["stride"]
        self.return_switches = variant == "deconvnet"
        norm_cfg = (norm_cfg or dict(type="BN")) if self.with_bn else None

        #: output channels of every named layer (heads read their in_channels here)
        self.out_channels: dict[str, int] = {}

        def conv(name, cin, cout, k, pad, dilation=1):
            layer = ConvModule(cin, cout, k, padding=pad, dilation=dilation, bias=True,
                               norm_cfg=norm_cfg, act_cfg=dict(type="ReLU"))
            self.add_module(name, layer)
            self.out_channels[name] = cout
            return cout

        # Named layers in forward order; conv1_1..conv5_3, pool1..pool5 (those kept), fc6, fc7.
        self.layer_names: list[str] = []
        cin = 3
        for name in CONV_NAMES:
            stage = int(name[4])
            dil = spec["conv5_dilation"] if stage == 5 else 1
            pad = spec["first_pad"] if name == "conv1_1" else spec["conv_pad"] * dil
            cin = conv(name, cin, scaled(STAGE_WIDTHS[stage - 1], width_mult), 3, pad, dil)
            self.layer_names.append(name)
            pool = spec["pools"][stage - 1]
            if name == STAGE_LAST[stage - 1] and pool is not None:
                k, s, p = pool
                self.add_module(f"pool{stage}", nn.MaxPool2d(
                    k, s, p, ceil_mode=True, return_indices=self.return_switches))
                self.layer_names.append(f"pool{stage}")
                self.out_channels[f"pool{stage}"] = cin
        if pool5a:
            if "pool5" not in self.layer_names or self.return_switches:
                raise ValueError(f"pool5a follows pool5: variant {variant!r} cannot have it.")
            self.pool5a = nn.AvgPool2d(3, 1, 1, count_include_pad=True)
            self.layer_names.append("pool5a")
            self.out_channels["pool5a"] = cin
        k6, d6, p6, c6 = spec["fc6"]
        p6 = p6 if fc6_padding is None else fc6_padding
        cin = conv("fc6", cin, scaled(c6, width_mult), k6, p6, d6)
        conv("fc7", cin, scaled(spec["fc7"], width_mult), 1, 0)
        self.drop6 = nn.Dropout(dropout) if dropout else nn.Identity()
        self.drop7 = nn.Dropout(dropout) if dropout else nn.Identity()
        self.layer_names += ["fc6", "fc7"]

        self.out_indices = tuple(out_indices or DEFAULT_OUT[variant])
        unknown = [n for n in self.out_indices if n not in self.layer_names]
        if unknown:
            raise ValueError(
                f"VGG16 variant {variant!r} has no layer(s) {unknown}; out_indices must name "
                f"layers of {self.layer_names}."
            )
        self._freeze_stages()

    def forward(self, x: torch.Tensor):
        if self.pad_input:
            x = reflect_pad(x, self.pad_input)
        outs, switches = {}, []
        for name in self.layer_names:
            layer = getattr(self, name)
            if name.startswith("pool") and self.return_switches:
                size = x.shape[-2:]
                x, idx = layer(x)
                switches.append((idx, size))
            else:
                x = layer(x)
                if name == "fc6":
                    x = self.drop6(x)
                elif name == "fc7":
                    x = self.drop7(x)
            if name in self.out_indices:
                outs[name] = x
        feats = tuple(outs[n] for n in self.layer_names if n in outs)
        return feats + (switches,) if self.return_switches else feats

    def _freeze_stages(self) -> None:
        for name in CONV_NAMES:
            if int(name[4]) <= self.frozen_stages:
                layer = getattr(self, name)
                layer.eval()
                for p in layer.parameters():
                    p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()  # keeps frozen BN layers in eval mode
        return self

    def init_weights(self):
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get("type") == "Pretrained":
            load_vgg_weights(self, cfg["checkpoint"])
            self._is_init = True
            return
        super().init_weights()


def reflect_index(n: int, before: int, after: int, device=None) -> torch.Tensor:
    """Source indices of a length-``n`` axis extended by ``before`` / ``after`` elements by
    reflection about its edges, the edge element not repeated, as often as needed (OpenCV's
    ``borderInterpolate`` with BORDER_REFLECT_101, numpy's 'reflect'): a function of the original
    axis only, period 2 (n - 1)."""
    p = torch.arange(-before, n + after, device=device)
    if n == 1:
        return torch.zeros_like(p)
    q = p.remainder(2 * (n - 1))
    return torch.where(q >= n, 2 * (n - 1) - q, q)


def reflect_pad(x: torch.Tensor, pad: int | tuple[int, int, int, int]) -> torch.Tensor:
    """``x`` (..., H, W) padded by reflecting it about each edge (BORDER_REFLECT_101: the edge
    pixel not repeated) by ``pad`` on every side or by ``(left, right, top, bottom)``, also when
    the padding exceeds the size (torch's reflect mode needs pad < size): exactly what
    ``cv2.copyMakeBorder(..., cv2.BORDER_REFLECT_101)`` and ``numpy.pad(..., 'reflect')`` give."""
    left, right, top, bottom = (pad,) * 4 if isinstance(pad, int) else pad
    rows = reflect_index(x.shape[-2], top, bottom, x.device)
    cols = reflect_index(x.shape[-1], left, right, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


# ---------------------------------------------------------------------------------------------
# Weight files.

_TV_CONV = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
_TV_BN_CONV = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")
#: fc6/fc7 of ImageNet VGG16 as convolutions (a flat 4096x25088 fc6 is reshaped to this). A
#: narrower file (the smoke profile's pretrained tiny VGG16) has the same layout at its own
#: widths: fc6 (C6, C5 x 7 x 7) for its conv5_3 width C5, fc7 (C7, C6).
FC_SHAPES = {"fc6": (4096, 512, 7, 7), "fc7": (4096, 4096, 1, 1)}


def _expected_keys_text() -> str:
    return (
        "a torchvision vgg16/vgg16_bn state dict (features.0.weight ... features.28.bias, "
        "classifier.0.weight [4096x25088], classifier.3.weight [4096x4096] and biases) or a "
        "Caffe-converted one (conv1_1.weight ... conv5_3.bias, fc6.weight, fc6.bias, fc7.weight, "
        "fc7.bias)"
    )


def canonical_vgg_weights(state: dict, source: str = "<state dict>") -> OrderedDict:
    """Any supported VGG16 state dict -> ``{'<caffe name>.conv.<w|b>', '<name>.bn.<...>'}`` at
    ImageNet widths (fc6 4096x512x7x7, fc7 4096x4096x1x1). Raises KeyError naming ``source``
    and the expected keys when the format is not recognised or a key is missing."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items()}
    out: OrderedDict = OrderedDict()

    def take(key):
        if key not in state:
            raise KeyError(
                f"VGG16 weight file {source} has no key {key!r}. Expected {_expected_keys_text()}."
            )
        return state[key]

    if "features.0.weight" in state:
        has_bn = "features.1.running_mean" in state
        for name, idx in zip(CONV_NAMES, _TV_BN_CONV if has_bn else _TV_CONV):
            out[f"{name}.conv.weight"] = take(f"features.{idx}.weight")
            out[f"{name}.conv.bias"] = take(f"features.{idx}.bias")
            if has_bn:
                for k in _BN_KEYS:
                    out[f"{name}.bn.{k}"] = take(f"features.{idx + 1}.{k}")
        fc = {"fc6": "classifier.0", "fc7": "classifier.3"}
    elif "conv1_1.weight" in state:
        for name in CONV_NAMES:
            out[f"{name}.conv.weight"] = take(f"{name}.weight")
            out[f"{name}.conv.bias"] = take(f"{name}.bias")
        fc = {"fc6": "fc6", "fc7": "fc7"}
    elif "conv1_1.conv.weight" in state:
        return OrderedDict((k, v) for k, v in state.items() if k.split(".")[0] in
                           CONV_NAMES + ("fc6", "fc7"))
    else:
        raise KeyError(
            f"VGG16 weight file {source} is in no known format (first keys: "
            f"{list(state)[:4]}). Expected {_expected_keys_text()}."
        )
    cin = out["conv5_3.conv.weight"].shape[0]  # 512 in ImageNet VGG16
    for name, src in fc.items():
        w = take(f"{src}.weight")
        k = FC_SHAPES[name][-1]
        shape = (w.shape[0], cin, k, k)
        if w.numel() != torch.Size(shape).numel():
            full = FC_SHAPES[name]
            raise ValueError(
                f"VGG16 weight file {source}: {src}.weight has shape {tuple(w.shape)}, expected "
                f"{shape} (or its flattened {shape[0]}x{cin * k * k}) after a {cin}-wide "
                f"{'conv5_3' if name == 'fc6' else 'fc6'}; ImageNet VGG16's is {full} (or "
                f"{full[0]}x{full[1] * k * k})."
            )
        cin = shape[0]
        out[f"{name}.conv.weight"] = w.reshape(shape)
        out[f"{name}.conv.bias"] = take(f"{src}.bias")
    return out


def adapt_to_variant(weights: OrderedDict, variant: str) -> OrderedDict:
    """DeepLab-LargeFOV's decimated fc6/fc7 (every 4th filter, every 3rd spatial tap)."""
    if variant != "deeplab_largefov" or weights["fc6.conv.weight"].shape[-1] != 7:
        return weights  # not a deeplab model, or a file already holding DeepLab's own fc6
    w = OrderedDict(weights)
    w["fc6.conv.weight"] = weights["fc6.conv.weight"][::4, :, ::3, ::3].contiguous()
    w["fc6.conv.bias"] = weights["fc6.conv.bias"][::4].contiguous()
    w["fc7.conv.weight"] = weights["fc7.conv.weight"][::4, ::4].contiguous()
    w["fc7.conv.bias"] = weights["fc7.conv.bias"][::4].contiguous()
    for name in ("fc6", "fc7"):  # a VGG16 with BatchNorm after fc6/fc7 (smoke weights)
        for k in _BN_KEYS:
            if f"{name}.bn.{k}" in weights:
                w[f"{name}.bn.{k}"] = weights[f"{name}.bn.{k}"][::4].contiguous()
    return w


def load_vgg_weights(model: VGG16, path: str | Path) -> list[str]:
    """Load a VGG16 weight file into ``model``; returns the loaded keys.

    Every conv/fc weight and bias must be present with the model's shape; BN statistics are
    loaded when the file has them. Errors name the file, the key and the expected shapes."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG16 weight file {path} does not exist. Give the path of {_expected_keys_text()} "
            "(ImageNet weights cannot be downloaded by the harness)."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    weights = adapt_to_variant(canonical_vgg_weights(state, str(path)), model.variant)
    own = model.state_dict()
    required = [k for k in own if k.split(".")[1] == "conv"]
    missing = [k for k in required if k not in weights]
    if missing:
        raise KeyError(f"VGG16 weight file {path} lacks {missing[:4]} (and {len(missing)} in "
                       f"all). Expected {_expected_keys_text()}.")
    bad = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
           for k, v in weights.items() if k in own and v.shape != own[k].shape]
    if bad:
        raise ValueError(
            f"VGG16 weight file {path} does not match the {model.variant!r} model "
            f"(width_mult={model.width_mult}): {'; '.join(bad[:4])}. The file must have the "
            "model's widths: width_mult=1 for ImageNet VGG16 (the smoke profile's tiny files "
            "fit its own width_mult)."
        )
    loadable = {k: v for k, v in weights.items() if k in own}
    model.load_state_dict(loadable, strict=False)
    return list(loadable)
