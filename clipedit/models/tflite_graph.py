"""Read TFLite flatbuffers into plain Python: tensors (dequantised to float32) and operators.

Uses the PyPI package ``tflite`` (a pure-Python flatbuffers reader; no TensorFlow). int8/int32
tensors with (per-tensor or per-channel) quantisation parameters are dequantised as
``(q - zero_point) * scale``; float16 tensors are widened to float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import tflite
except ImportError as err:  # pragma: no cover - tflite is a dependency
    raise ImportError("reading .tflite files needs the 'tflite' package: pip install tflite") from err

_OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_NP = {
    tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32, tflite.TensorType.INT8: np.int8, tflite.TensorType.UINT8: np.uint8,
    tflite.TensorType.INT64: np.int64,
}
_OPTIONS = {
    "CONV_2D": tflite.Conv2DOptions, "DEPTHWISE_CONV_2D": tflite.DepthwiseConv2DOptions,
    "ADD": tflite.AddOptions, "MUL": tflite.MulOptions, "SUB": tflite.SubOptions,
    "MIRROR_PAD": tflite.MirrorPadOptions, "MEAN": tflite.ReducerOptions,
    "RESIZE_NEAREST_NEIGHBOR": tflite.ResizeNearestNeighborOptions,
}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: Any
    data: np.ndarray | None  # float32 (dequantised) constant data, or None for activations


@dataclass
class Op:
    index: int
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]

    def by_name(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def const(self, i: int) -> np.ndarray:
        """Constant data of tensor ``i``, following a DEQUANTIZE op that produces it if needed."""
        t = self.tensors[i]
        if t.data is not None:
            return t.data
        for op in self.ops:
            if op.kind == "DEQUANTIZE" and op.outputs[0] == i:
                return self.const(op.inputs[0])
        raise ValueError(f"tensor {t.name} is not a constant")


def _options(op, kind: str) -> dict[str, Any]:
    cls = _OPTIONS.get(kind)
    if cls is None or op.BuiltinOptions() is None:
        return {}
    o = cls()
    bo = op.BuiltinOptions()
    o.Init(bo.Bytes, bo.Pos)
    out: dict[str, Any] = {}
    for name in ("StrideH", "StrideW", "Padding", "FusedActivationFunction", "DepthMultiplier", "Mode",
                 "KeepDims", "AlignCorners", "HalfPixelCenters", "DilationHFactor", "DilationWFactor"):
        if hasattr(o, name):
            out[name] = getattr(o, name)()
    return out


def read_tflite(path: str | Path) -> Graph:
    """Parse subgraph 0 of a ``.tflite`` file.

    Raises:
        FileNotFoundError: missing file. ValueError: not a TFLite flatbuffer.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TFLite model not found: {path}")
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ValueError(f"{path} is not a TFLite model (no TFL3 identifier)")
    model = tflite.Model.GetRootAsModel(buf, 0)
    g = model.Subgraphs(0)
    tensors = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        dtype = _NP.get(t.Type())
        raw = model.Buffers(t.Buffer()).DataAsNumpy() if t.Buffer() < model.BuffersLength() else 0
        data = None
        if not isinstance(raw, int) and raw is not None and len(raw) and dtype is not None:
            arr = np.frombuffer(raw.tobytes(), dtype=dtype).reshape(shape)
            q = t.Quantization()
            if q is not None and q.ScaleLength() and dtype in (np.int8, np.uint8, np.int32):
                scale, zero = q.ScaleAsNumpy().astype(np.float32), q.ZeroPointAsNumpy().astype(np.float32)
                bshape = [1] * arr.ndim
                if scale.size > 1:
                    bshape[q.QuantizedDimension()] = scale.size
                arr = (arr.astype(np.float32) - zero.reshape(bshape)) * scale.reshape(bshape)
            data = arr.astype(np.float32)
        tensors.append(Tensor(i, t.Name().decode(), shape, dtype, data))
    ops = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = _OPS.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        ops.append(Op(i, kind, [int(x) for x in op.InputsAsNumpy()], [int(x) for x in op.OutputsAsNumpy()],
                      _options(op, kind)))
    return Graph(tensors, ops, [int(x) for x in g.InputsAsNumpy()], [int(x) for x in g.OutputsAsNumpy()])
