"""Reading and writing Caffe ``.caffemodel`` files with the protobuf library.

A ``.caffemodel`` is a serialised ``caffe.NetParameter`` (BVLC/caffe src/caffe/proto/caffe.proto).
This module declares the subset of that schema the released segmentation models use, once, as a
``FileDescriptorProto`` in a private descriptor pool, and lets protobuf's own message factory
compile it at import time: no ``protoc``, no generated ``caffe_pb2``, and no hand-written wire
format parser. Fields the subset does not declare (convolution parameters, solver settings,
diffs) are skipped by protobuf as unknown fields.

Declared (field numbers as in BVLC/caffe's caffe.proto, checked against master 9b89154):

- ``NetParameter``: ``name`` 1, ``layers`` 2 (legacy ``V1LayerParameter``), ``layer`` 100
  (``LayerParameter``).
- ``LayerParameter``: ``name`` 1, ``type`` 2 (string), ``blobs`` 7.
- ``V1LayerParameter``: ``layer`` 1 (``V0LayerParameter``, the 2013 format nested inside),
  ``name`` 4, ``type`` 5 (enum ``LayerType``), ``blobs`` 6. The enum holds BVLC's values plus
  ``CROP`` 40, ``UNPOOLING`` 42 and ``BN`` 43 of the forks the released FCN and DeconvNet files
  were written with (HyeonwooNoh/caffe caffe.proto); another fork's value reads as ``NONE``.
- ``V0LayerParameter``: ``name`` 1, ``type`` 2 (string), ``blobs`` 50.
- ``BlobProto``: ``num`` 1, ``channels`` 2, ``height`` 3, ``width`` 4 (the legacy 4-D shape),
  ``data`` 5 (packed float), ``double_data`` 8 (packed double), ``shape`` 7 -> ``BlobShape``
  (``dim`` 1, packed int64).

:func:`read_caffemodel` returns the layers that carry blobs, in file order, as numpy float32
arrays in Caffe's own layouts (a legacy blob keeps its 4-D ``num x channels x height x width``
shape, e.g. ``1 x 1 x 1 x N`` for a bias). :func:`write_caffemodel` writes such a dict back, in
the current (``layer``) or the legacy (``layers``) format; tests and fixtures use it.
"""

from __future__ import annotations

import functools
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from repro.files import atomic_write_bytes

__all__ = [
    "CaffeFormatError",
    "CaffeLayer",
    "messages",
    "read_caffemodel",
    "read_layers",
    "write_caffemodel",
]

#: V1LayerParameter.LayerType: BVLC's values, plus CROP / UNPOOLING / BN of the FCN and DeconvNet
#: Caffe forks (HyeonwooNoh/caffe src/caffe/proto/caffe.proto).
V1_LAYER_TYPES = {
    "NONE": 0, "ACCURACY": 1, "BNLL": 2, "CONCAT": 3, "CONVOLUTION": 4, "DATA": 5, "DROPOUT": 6,
    "EUCLIDEAN_LOSS": 7, "FLATTEN": 8, "HDF5_DATA": 9, "HDF5_OUTPUT": 10, "IM2COL": 11,
    "IMAGE_DATA": 12, "INFOGAIN_LOSS": 13, "INNER_PRODUCT": 14, "LRN": 15,
    "MULTINOMIAL_LOGISTIC_LOSS": 16, "POOLING": 17, "RELU": 18, "SIGMOID": 19, "SOFTMAX": 20,
    "SOFTMAX_LOSS": 21, "SPLIT": 22, "TANH": 23, "WINDOW_DATA": 24, "ELTWISE": 25, "POWER": 26,
    "SIGMOID_CROSS_ENTROPY_LOSS": 27, "HINGE_LOSS": 28, "MEMORY_DATA": 29, "ARGMAX": 30,
    "THRESHOLD": 31, "DUMMY_DATA": 32, "SLICE": 33, "MVN": 34, "ABSVAL": 35, "SILENCE": 36,
    "CONTRASTIVE_LOSS": 37, "EXP": 38, "DECONVOLUTION": 39,
    "CROP": 40, "UNPOOLING": 42, "BN": 43,  # forks
}
#: Current layer type strings -> the V1 enum names, for writing legacy files.
_V1_NAMES = {
    "Convolution": "CONVOLUTION", "Deconvolution": "DECONVOLUTION",
    "InnerProduct": "INNER_PRODUCT", "BN": "BN", "Crop": "CROP", "Pooling": "POOLING",
    "ReLU": "RELU", "Dropout": "DROPOUT", "Eltwise": "ELTWISE", "Softmax": "SOFTMAX",
}


class CaffeFormatError(ValueError):
    """A file that is not a readable Caffe model (the message names the file and the fix)."""


@dataclass
class CaffeLayer:
    """One layer of a ``.caffemodel``: its name, its type as written (a string for the current
    format, the enum name for the legacy one) and its blobs (float32, Caffe's layouts)."""

    name: str
    type: str
    blobs: list[np.ndarray] = field(default_factory=list)


def _file_descriptor():
    from google.protobuf import descriptor_pb2

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="repro/caffe_subset.proto", package="caffe", syntax="proto2")

    def message(name, *fields, enums=()):
        msg = proto.message_type.add(name=name)
        for enum_name, values in enums:
            enum = msg.enum_type.add(name=enum_name)
            for value_name, number in values.items():
                enum.value.add(name=value_name, number=number)
        for fname, number, label, ftype, type_name, packed in fields:
            f = msg.field.add(name=fname, number=number, label=label, type=ftype)
            if type_name:
                f.type_name = type_name
            if packed:
                f.options.packed = True
        return msg

    OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("BlobShape", ("dim", 1, REP, F.TYPE_INT64, None, True))
    message(
        "BlobProto",
        ("shape", 7, OPT, F.TYPE_MESSAGE, ".caffe.BlobShape", False),
        ("data", 5, REP, F.TYPE_FLOAT, None, True),
        ("double_data", 8, REP, F.TYPE_DOUBLE, None, True),
        ("num", 1, OPT, F.TYPE_INT32, None, False),
        ("channels", 2, OPT, F.TYPE_INT32, None, False),
        ("height", 3, OPT, F.TYPE_INT32, None, False),
        ("width", 4, OPT, F.TYPE_INT32, None, False),
    )
    message(
        "LayerParameter",
        ("name", 1, OPT, F.TYPE_STRING, None, False),
        ("type", 2, OPT, F.TYPE_STRING, None, False),
        ("blobs", 7, REP, F.TYPE_MESSAGE, ".caffe.BlobProto", False),
    )
    message(
        "V0LayerParameter",
        ("name", 1, OPT, F.TYPE_STRING, None, False),
        ("type", 2, OPT, F.TYPE_STRING, None, False),
        ("blobs", 50, REP, F.TYPE_MESSAGE, ".caffe.BlobProto", False),
    )
    message(
        "V1LayerParameter",
        ("layer", 1, OPT, F.TYPE_MESSAGE, ".caffe.V0LayerParameter", False),
        ("name", 4, OPT, F.TYPE_STRING, None, False),
        ("type", 5, OPT, F.TYPE_ENUM, ".caffe.V1LayerParameter.LayerType", False),
        ("blobs", 6, REP, F.TYPE_MESSAGE, ".caffe.BlobProto", False),
        enums=(("LayerType", V1_LAYER_TYPES),),
    )
    message(
        "NetParameter",
        ("name", 1, OPT, F.TYPE_STRING, None, False),
        ("layers", 2, REP, F.TYPE_MESSAGE, ".caffe.V1LayerParameter", False),
        ("layer", 100, REP, F.TYPE_MESSAGE, ".caffe.LayerParameter", False),
    )
    return proto


@functools.cache
def messages() -> dict:
    """The compiled message classes, by name (``NetParameter``, ``BlobProto``, ...)."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()  # private: no clash with an installed caffe_pb2
    pool.Add(_file_descriptor())
    # GetMessageClass: protobuf >= 4.22; MessageFactory.GetPrototype before (removed since).
    get = getattr(message_factory, "GetMessageClass", None) or \
        message_factory.MessageFactory(pool).GetPrototype
    names = ("BlobShape", "BlobProto", "LayerParameter", "V0LayerParameter", "V1LayerParameter",
             "NetParameter")
    return {n: get(pool.FindMessageTypeByName(f"caffe.{n}")) for n in names}


# ---------------------------------------------------------------------------------------------
# Reading


def _blob_array(blob, where: str) -> np.ndarray:
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    else:  # legacy 4-D blob
        shape = (blob.num, blob.channels, blob.height, blob.width)
    data = np.array(blob.data, dtype=np.float32) if len(blob.data) else \
        np.array(blob.double_data, dtype=np.float64).astype(np.float32)
    count = int(np.prod(shape)) if shape else 1
    if data.size != count:
        raise CaffeFormatError(
            f"{where} holds {data.size} values for its shape {shape} ({count}): the file is "
            "truncated or damaged; download it again.")
    return data.reshape(shape)


def read_layers(path: str | os.PathLike) -> list[CaffeLayer]:
    """Every layer of a ``.caffemodel`` (both formats), in file order, with its blobs."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Caffe model {path} does not exist: give the path of the "
                                "released .caffemodel file (`repro weights` lists them).")
    from google.protobuf.message import DecodeError

    net = messages()["NetParameter"]()
    try:
        net.ParseFromString(path.read_bytes())
    except DecodeError as e:
        raise CaffeFormatError(f"{path} is not a Caffe model (protobuf: {e}); give the "
                               ".caffemodel file itself, not a prototxt or a converted file."
                               ) from None
    if len(net.layer) and len(net.layers):
        raise CaffeFormatError(f"{path} mixes the current (`layer`) and the legacy (`layers`) "
                               "format, which Caffe refuses too; the file is damaged.")
    enum = messages()["V1LayerParameter"].DESCRIPTOR.enum_types_by_name["LayerType"]
    layers = []
    for layer in net.layer:
        layers.append(CaffeLayer(layer.name, layer.type, [
            _blob_array(b, f"{path}: layer {layer.name!r} blob {i}")
            for i, b in enumerate(layer.blobs)]))
    for v1 in net.layers:
        if v1.HasField("layer") and not v1.name:  # V0, nested
            name, kind, blobs = v1.layer.name, v1.layer.type, v1.layer.blobs
        else:
            name, kind, blobs = v1.name, enum.values_by_number[v1.type].name, v1.blobs
        layers.append(CaffeLayer(name, kind, [
            _blob_array(b, f"{path}: layer {name!r} blob {i}") for i, b in enumerate(blobs)]))
    if not any(layer.blobs for layer in layers):
        raise CaffeFormatError(f"{path} holds no layer with weights: it is not a trained Caffe "
                               "model (a prototxt or an empty net?).")
    return layers


def read_caffemodel(path: str | os.PathLike) -> OrderedDict[str, list[np.ndarray]]:
    """``{layer name: [blobs]}`` for the layers that carry weights, in file order. A name used
    by two layers with weights is an error (Caffe would share or reject them)."""
    out: OrderedDict[str, list[np.ndarray]] = OrderedDict()
    for layer in read_layers(path):
        if not layer.blobs:
            continue  # ReLU, pooling, crop, ...: names may repeat ('crop', 'fuse')
        if layer.name in out:
            raise CaffeFormatError(f"{path}: two layers with weights are named {layer.name!r}; "
                                   "the file is not a model the harness can map by name.")
        out[layer.name] = layer.blobs
    return out


# ---------------------------------------------------------------------------------------------
# Writing


def _fill_blob(blob, array: np.ndarray, legacy: bool) -> None:
    array = np.ascontiguousarray(array, dtype=np.float32)
    if legacy:
        if array.ndim > 4:
            raise ValueError(f"A legacy blob has at most 4 axes, got shape {array.shape}.")
        blob.num, blob.channels, blob.height, blob.width = (1,) * (4 - array.ndim) + array.shape
    else:
        blob.shape.dim.extend(array.shape)
    blob.data.extend(memoryview(array.reshape(-1)))


def write_caffemodel(path: str | os.PathLike, layers: Mapping[str, Sequence[np.ndarray]], *,
                     types: Mapping[str, str] | None = None, legacy: bool = False,
                     name: str = "") -> Path:
    """Write ``{layer name: [blobs]}`` as a ``.caffemodel`` (atomically: temporary file, then
    rename). ``types``: the layer types (current-format strings such as ``"Convolution"``;
    default ``"Convolution"``). ``legacy``: write the V1 ``layers`` format with 4-D blob shapes
    (fewer axes are padded with leading 1s, as old Caffe stored biases: ``1 x 1 x 1 x N``)."""
    path = Path(path)
    msgs = messages()
    net = msgs["NetParameter"](name=name)
    enum = msgs["V1LayerParameter"].DESCRIPTOR.enum_types_by_name["LayerType"]
    for layer_name, blobs in layers.items():
        kind = (types or {}).get(layer_name, "Convolution")
        if legacy:
            v1_name = _V1_NAMES.get(kind, kind.upper())
            number = enum.values_by_name[v1_name].number if v1_name in enum.values_by_name \
                else 0
            layer = net.layers.add(name=layer_name, type=number)
        else:
            layer = net.layer.add(name=layer_name, type=kind)
        for array in blobs:
            _fill_blob(layer.blobs.add(), np.asarray(array), legacy)
    return atomic_write_bytes(path, net.SerializeToString())
