"""Magenta's arbitrary image stylisation (Ghiasi et al. 2017) in PyTorch, from its TFLite release.

Two networks:

* :class:`StylePredictor` — MobileNetV2-based style prediction ``SP``: a style image
  ``(B, 3, 256, 256)`` in ``[0, 1]`` to the 100-d style embedding ``E`` (the "bottleneck").
  The release is int8; weights are dequantised and activations run in float32.
* :class:`StyleTransformer` — the transfer network ``T(C, E)``: three reflect-padded
  convolutions down, five residual blocks and three nearest-upsampling convolutions up, every
  normalisation a :class:`ConditionalInstanceNorm2d` whose ``γ, β`` are linear in ``E``; a sigmoid
  output in ``[0, 1]``. Fully convolutional: any content size works (output = input size).

Both are read from the ``.tflite`` files with :func:`clipedit.models.tflite_graph.read_tflite`
(tensor names, layouts and the fused activations come from the file), so the port follows the
published graph op for op; ``tests/test_magenta.py`` checks it against the TFLite interpreter.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clipedit.models.style_layers import ConditionalInstanceNorm2d, same_pad
from clipedit.models.tflite_graph import Graph, read_tflite

BOTTLENECK = 100
PREDICT_SIZE = 256


def _act(x: torch.Tensor, code: int) -> torch.Tensor:
    """TFLite fused activation: 0 none, 1 ReLU, 3 ReLU6."""
    if code == 0:
        return x
    if code == 1:
        return F.relu(x)
    if code == 3:
        return F.relu6(x)
    raise NotImplementedError(f"fused activation {code}")


class StyleConv(nn.Module):
    """Reflect pad -> conv (-> conditional instance norm with (γ, β) = linear(E)) -> activation."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, norm: bool = True,
                 act: str = "relu", upsample: int = 1, eps: float = 1e-5, cond_dim: int = BOTTLENECK,
                 film: float | None = None) -> None:
        super().__init__()
        self.k, self.stride, self.upsample, self.act, self.film = k, stride, upsample, act, film
        self.conv = nn.Conv2d(cin, cout, k, stride)
        self.norm = ConditionalInstanceNorm2d(cout, eps) if norm else None
        self.gamma = nn.Linear(cond_dim, cout) if norm else None
        self.beta = nn.Linear(cond_dim, cout) if norm else None

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        p = self.k // 2
        x = self.conv(F.pad(x, (p, p, p, p), mode="reflect"))
        if self.norm is not None:
            if self.film is None:  # Magenta: γ, β linear in the embedding
                x = self.norm(x, self.gamma(e), self.beta(e))
            else:  # YOTO's FiLM: γ = 1 + f·s(e), β = f·b(e), a small step away from plain instance norm
                x = self.norm(x, 1 + self.film * self.gamma(e), self.film * self.beta(e))
        if self.act == "relu":
            return F.relu(x)
        if self.act == "sigmoid":
            return torch.sigmoid(x)
        return x


class StyleTransformer(nn.Module):
    """Magenta's transfer network ``T(content, E)``: ``(B, 3, H, W)`` in [0, 1], ``(B, 100)`` -> ``(B, 3, H, W)``.

    The defaults are Magenta's (widths 8/16/32, 100-d ``E``, unnormalised contracting convs, ``γ, β`` linear in
    ``E``). Other widths, a conditioning size ``cond_dim``, normalised contracting convs (``norm_contract``) and
    FiLM-style conditioning (``film``, see :class:`StyleConv`) give the same shape of network for other
    conditionings, e.g. the loss weights of :mod:`clipedit.style.adjustable`.
    """

    def __init__(self, eps: float = 1e-5, widths: tuple[int, int, int] = (8, 16, 32), cond_dim: int = BOTTLENECK,
                 film: float | None = None, norm_contract: bool = False) -> None:
        super().__init__()
        a, b, c = widths
        self.cond_dim = cond_dim
        kw = {"eps": eps, "cond_dim": cond_dim, "film": film}
        self.contract = nn.ModuleList([StyleConv(3, a, 9, 1, norm=norm_contract, **kw),
                                       StyleConv(a, b, 3, 2, norm=norm_contract, **kw),
                                       StyleConv(b, c, 3, 2, norm=norm_contract, **kw)])
        self.residual = nn.ModuleList([
            nn.ModuleList([StyleConv(c, c, 3, **kw), StyleConv(c, c, 3, act="none", **kw)])
            for _ in range(5)
        ])
        self.expand = nn.ModuleList([StyleConv(c, b, 3, upsample=2, **kw), StyleConv(b, a, 3, upsample=2, **kw),
                                     StyleConv(a, 3, 9, act="sigmoid", **kw)])

    def forward(self, content: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h, w = content.shape[-2:]
        e = embedding.reshape(embedding.shape[0], self.cond_dim).to(content.dtype)
        x = content
        for layer in self.contract:
            x = layer(x, e)
        for a, b in self.residual:
            x = x + b(a(x, e), e)
        for layer in self.expand[:2]:
            x = layer(x, e)
        # The last layer "resizes" to the content size (TF: resize_nearest to the input size): an
        # identity for sizes divisible by 4; other sizes are matched here.
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="nearest")
        return self.expand[2](x, e)

    @classmethod
    def from_tflite(cls, path: str | Path) -> "StyleTransformer":
        """Build from ``style_transfer_*.tflite`` (fp16 or int8 weights, dequantised to float32)."""
        g = read_tflite(path)
        eps_t = [t for t in g.tensors if t.name.endswith("StyleNorm/batchnorm/add/y") and t.data is not None]
        model = cls(eps=float(eps_t[0].data) if eps_t else 1e-5)

        def conv_weights(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            conv = next(o for o in g.ops if o.kind == "CONV_2D" and g.tensors[o.inputs[1]].name.startswith(prefix + "weights"))
            w, b = g.const(conv.inputs[1]), g.const(conv.inputs[2])
            return w, b

        def set_conv(mod: StyleConv, prefix: str) -> None:
            w, b = conv_weights(prefix)
            mod.conv.weight.data = torch.from_numpy(w).permute(0, 3, 1, 2).contiguous()  # OHWI -> OIHW
            mod.conv.bias.data = torch.from_numpy(b).clone()
            if mod.norm is not None:
                for lin, sub in ((mod.beta, "Conv"), (mod.gamma, "Conv_1")):
                    wp, bp = conv_weights(f"style_params/{prefix}StyleNorm/{sub}/")
                    lin.weight.data = torch.from_numpy(wp.reshape(wp.shape[0], -1)).clone()
                    lin.bias.data = torch.from_numpy(bp).clone()

        for i, m in enumerate(model.contract, 1):
            set_conv(m, f"transformer/contract/conv{i}/")
        for i, (a, b) in enumerate(model.residual, 1):
            set_conv(a, f"transformer/residual/residual{i}/conv1/")
            set_conv(b, f"transformer/residual/residual{i}/conv2/")
        for i, m in enumerate(model.expand, 1):
            set_conv(m, f"transformer/expand/conv{i}/conv/")
        _check_roles(g)
        return model.eval()


def _check_roles(g: Graph) -> None:
    """Fail loudly if the file's StyleNorm is not ``γ = Conv_1(E)`` (multiplies rsqrt), ``β = Conv(E)``."""
    for op in g.ops:
        if op.kind == "MUL":
            names = [g.tensors[i].name for i in op.inputs]
            if any(n.endswith("batchnorm/Rsqrt") for n in names):
                other = [n for n in names if not n.endswith("Rsqrt")][0]
                if not re.search(r"StyleNorm/Conv_1/BiasAdd$", other):
                    raise ValueError(f"unexpected style-norm layout in the TFLite graph: {other}")


class StylePredictor(nn.Module):
    """Magenta's style prediction network ``SP``: ``(B, 3, H, W)`` in [0, 1] -> ``(B, 100)``.

    The style image is resized to 256x256 (as Magenta does). The int8 TFLite graph (MobileNetV2 and a
    1x1 bottleneck convolution) is replayed op by op with dequantised weights in float32: the graph
    is a plain chain of CONV_2D / DEPTHWISE_CONV_2D / ADD / MEAN, so a small executor reproduces it
    exactly without hand-writing MobileNetV2's 17 blocks.
    """

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.steps: list[tuple] = []
        self.input = graph.inputs[0]
        self.output = graph.outputs[0]
        self.tensor_ids = {t.name: i for i, t in enumerate(graph.tensors)}
        n = 0
        for op in graph.ops:
            if op.kind in ("QUANTIZE", "DEQUANTIZE"):  # activations stay float: identity
                self.steps.append(("id", op.inputs[0], op.outputs[0]))
            elif op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = torch.from_numpy(graph.const(op.inputs[1]))
                b = torch.from_numpy(graph.const(op.inputs[2]))
                if op.kind == "CONV_2D":
                    w, groups = w.permute(0, 3, 1, 2).contiguous(), 1  # OHWI -> OIHW
                else:
                    w = w.permute(3, 0, 1, 2).contiguous()  # 1HWC -> C1HW
                    groups = w.shape[0]
                self.register_buffer(f"w{n}", w)
                self.register_buffer(f"b{n}", b)
                o = op.options
                self.steps.append(("conv", op.inputs[0], op.outputs[0], n, groups, o["StrideH"], o["Padding"],
                                   o["FusedActivationFunction"]))
                n += 1
            elif op.kind == "ADD":
                self.steps.append(("add", op.inputs[0], op.inputs[1], op.outputs[0], op.options["FusedActivationFunction"]))
            elif op.kind == "MEAN":
                self.steps.append(("mean", op.inputs[0], op.outputs[0]))
            else:
                raise NotImplementedError(f"op {op.kind} in the style predictor")

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        x = style
        if x.shape[-2:] != (PREDICT_SIZE, PREDICT_SIZE):
            x = F.interpolate(x, size=(PREDICT_SIZE, PREDICT_SIZE), mode="bilinear", align_corners=False,
                              antialias=True)
        return self._run({self.input: x}, [self.output])[self.output].flatten(1)

    def activations(self, images: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        """Intermediate activations of ``images`` ``(B, 3, H, W)`` in [0, 1], at their own size (no resize), by
        TFLite tensor name (e.g. ``"MobilenetV2/expanded_conv_2/expand/Relu6"``): ``{name: (B, C, H/s, W/s)}``.
        The graph runs only as far as the deepest name asked for. Used as a perceptual loss network (the
        trained MobileNetV2 of Magenta's distilled style predictor: real features, and no VGG download)."""
        ids = {}
        for n in names:
            if n not in self.tensor_ids:
                raise KeyError(f"no tensor {n!r} in the style predictor")
            ids[self.tensor_ids[n]] = n
        out = self._run({self.input: images}, list(ids))
        return {ids[i]: out[i] for i in ids}

    def _run(self, env: dict[int, torch.Tensor], wanted: list[int]) -> dict[int, torch.Tensor]:
        todo = set(wanted)
        for st in self.steps:
            if not todo:
                break
            kind = st[0]
            if kind == "id":
                env[st[2]] = env[st[1]]
            elif kind == "conv":
                _, i, o, n, groups, stride, padding, act = st
                w, b = getattr(self, f"w{n}"), getattr(self, f"b{n}")
                inp = env[i]
                if padding == 0:  # SAME
                    inp = same_pad(inp, w.shape[-1], stride)
                env[o] = _act(F.conv2d(inp, w, b, stride, groups=groups), act)
            elif kind == "add":
                env[st[3]] = _act(env[st[1]] + env[st[2]], st[4])
            elif kind == "mean":
                env[st[2]] = env[st[1]].mean((-2, -1), keepdim=True)
            todo.discard(st[-1] if kind in ("id", "mean") else (st[2] if kind == "conv" else st[3]))
        return {i: env[i] for i in wanted}

    @classmethod
    def from_tflite(cls, path: str | Path) -> "StylePredictor":
        return cls(read_tflite(path)).eval()


#: The folder of Magenta's TFLite files inside the data folder (``../shared`` in development).
MAGENTA_SUBDIR = "weights/magenta-arbitrary-stylization"
#: Row names of the one weights table (:mod:`clipedit.weights`) for each file.
MAGENTA_ROWS = {"predict": "magenta/predict-int8", "fp16": "magenta/transfer-fp16", "int8": "magenta/transfer-int8"}


def magenta_file(kind: str, download_ok: bool = True) -> Path:
    """Path of a Magenta TFLite file (``"predict"``, ``"fp16"``, ``"int8"``): data folder, cache, or download."""
    from clipedit.data.paths import find_data
    from clipedit.weights import get_weights, resolve

    local = find_data(MAGENTA_SUBDIR)
    return resolve(get_weights(MAGENTA_ROWS[kind]), download_ok, search=[local] if local else [])


_PREDICTORS: dict[str, StylePredictor] = {}


def load_style_predictor(device: str | torch.device = "cpu", download_ok: bool = True) -> StylePredictor:
    """Magenta's style prediction network ``SP`` (real weights), frozen, float32 on ``device``; cached per device."""
    key = str(device)
    if key not in _PREDICTORS:
        _PREDICTORS[key] = StylePredictor.from_tflite(magenta_file("predict", download_ok)).requires_grad_(False).to(device)
    return _PREDICTORS[key]


@torch.no_grad()
def style_distance(images: torch.Tensor, reference: torch.Tensor, predictor: StylePredictor | None = None
                   ) -> torch.Tensor:
    """Distance in Magenta's style space: ``‖SP(image) − SP(reference)‖₂`` per image.

    Args:
        images: ``(B, 3, H, W)`` in ``[0, 1]`` (resized to 256 inside ``SP``).
        reference: ``(1, 3, H, W)`` or ``(B, 3, H, W)`` in ``[0, 1]``, or precomputed ``(1|B, 100)`` embeddings.
    Returns:
        ``(B,)`` float distances on the images' device; 0 for an image against itself.
    """
    sp = predictor or load_style_predictor(images.device)
    dev = next(sp.buffers()).device  # the port keeps its weights as buffers
    e = sp(images.to(dev))
    r = reference.to(dev) if reference.dim() == 2 else sp(reference.to(dev))
    return (e - r).norm(dim=-1).to(images.device)
