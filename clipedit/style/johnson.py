"""Johnson et al. (2016) feed-forward style networks, with a loader for trained TensorFlow weights.

:class:`JohnsonNet` is the transformation network of Logan Engstrom's ``fast-style-transfer``:
9x9 conv 3->32, two stride-2 3x3 convs (->64, ->128), five residual blocks of two 3x3 128->128
convs, two stride-2 transposed convs (->64, ->32) and a 9x9 conv ->3; instance norm (eps 1e-3)
after every conv, ReLU after every norm but the last (residual blocks: after the first conv only);
no conv biases; TensorFlow 'SAME' zero padding; pixels in [0, 255] in, ``tanh(x) * 150 + 127.5``
out. clipedit's interface is [0, 1] in and out (clamped).

``fast_stylize(content, "wave")`` finds ``weights/fast-style/wave.npz`` in the data folder
(``$CLIPEDIT_DATA_DIR`` or ``../shared``): 48 arrays ``Variable`` … ``Variable_47``, three per
layer (kernel ``[kh, kw, in, out]`` — transposed convs ``[kh, kw, out, in]`` —, IN shift, IN scale).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from clipedit.data.paths import data_dirs, find_data
from clipedit.device import select_device
from clipedit.imageio import ImageLike, load_image
from clipedit.models.style_layers import instance_norm, same_pad

FAST_STYLES = ("la_muse", "mathura", "rain_princess", "the_scream", "udnie", "wave", "wreck")
_EPS = 1e-3


class JConv(nn.Module):
    """'SAME' conv (or stride-2 transposed conv) -> instance norm -> optional ReLU; no bias."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, transpose: bool = False, relu: bool = True) -> None:
        super().__init__()
        self.k, self.stride, self.transpose, self.relu = k, stride, transpose, relu
        shape = (cin, cout, k, k) if transpose else (cout, cin, k, k)
        self.weight = nn.Parameter(torch.randn(shape) * (2 / (cin * k * k)) ** 0.5)
        self.shift = nn.Parameter(torch.zeros(cout))
        self.scale = nn.Parameter(torch.ones(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transpose:
            # TF conv2d_transpose 'SAME', stride 2: the full transposed conv, cropped to 2x the input at the
            # top-left (TF's forward 'SAME' pads 0 before, 1 after, so nothing is cut at the start).
            h, w = x.shape[-2:]
            x = F.conv_transpose2d(x, self.weight, stride=self.stride)[..., : h * self.stride, : w * self.stride]
        else:
            x = F.conv2d(same_pad(x, self.k, self.stride), self.weight, stride=self.stride)
        x = instance_norm(x, self.scale, self.shift, _EPS)
        return F.relu(x) if self.relu else x


class JohnsonNet(nn.Module):
    """Fast style transfer network: ``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, H', W')`` in [0, 1] (H' = H rounded up to 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([JConv(3, 32, 9), JConv(32, 64, 3, 2), JConv(64, 128, 3, 2)])
        self.res = nn.ModuleList([nn.ModuleList([JConv(128, 128, 3), JConv(128, 128, 3, relu=False)]) for _ in range(5)])
        self.up = nn.ModuleList([JConv(128, 64, 3, 2, transpose=True), JConv(64, 32, 3, 2, transpose=True),
                                 JConv(32, 3, 9, relu=False)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 255.0
        for layer in self.layers:
            x = layer(x)
        for a, b in self.res:
            x = x + b(a(x))
        for layer in self.up:
            x = layer(x)
        return ((torch.tanh(x) * 150 + 255 / 2) / 255).clamp(0, 1)

    def ordered_layers(self) -> list[JConv]:
        """Layers in TensorFlow creation order (the order of ``Variable_*`` in the checkpoints)."""
        out = list(self.layers)
        for a, b in self.res:
            out += [a, b]
        return out + list(self.up)

    @classmethod
    def from_npz(cls, path: str | Path) -> "JohnsonNet":
        """Load a trained network from an ``.npz`` of ``Variable``, ``Variable_1``, … (TF layout, see module doc)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"fast-style weights not found: {path}")
        arrays = np.load(path)
        names = ["Variable"] + [f"Variable_{i}" for i in range(1, 48)]
        missing = [n for n in names if n not in arrays]
        if missing:
            raise ValueError(f"{path} is not a fast-style checkpoint (missing {missing[:3]}…)")
        net = cls()
        for i, layer in enumerate(net.ordered_layers()):
            kernel, shift, scale = (torch.from_numpy(np.asarray(arrays[names[3 * i + j]], dtype=np.float32))
                                    for j in range(3))
            # TF kernels [kh, kw, in, out] (transposed: [kh, kw, out, in]) -> torch [out, in, kh, kw]
            # (transposed: [in, out, kh, kw]); the same axis permutation in both cases.
            w = kernel.permute(3, 2, 0, 1).contiguous()
            if w.shape != layer.weight.shape:
                raise ValueError(f"{path}: layer {i} kernel {tuple(kernel.shape)} does not fit {tuple(layer.weight.shape)}")
            layer.weight.data, layer.shift.data, layer.scale.data = w, shift.reshape(-1), scale.reshape(-1)
        return net.eval().requires_grad_(False)


def fast_style_path(name: str) -> Path:
    """``weights/fast-style/<name>.npz`` in the data folder, or a path to an ``.npz``."""
    p = Path(name)
    if p.suffix == ".npz":
        return p
    if name not in FAST_STYLES:
        raise ValueError(f"unknown fast style {name!r}; choose from {FAST_STYLES} or pass an .npz path")
    found = find_data(f"weights/fast-style/{name}.npz")
    if found is None:
        raise FileNotFoundError(
            f"fast-style weights {name}.npz not found in {data_dirs() or 'any data folder'}: set CLIPEDIT_DATA_DIR "
            "to the folder holding weights/fast-style/ (Logan Engstrom's fast-style-transfer checkpoints, exported "
            "as .npz), or pass the .npz path")
    return found


_NETS: dict[tuple[str, str], JohnsonNet] = {}


@torch.no_grad()
def fast_stylize(content: ImageLike, style: str = "wave", content_size: int | None = 512,
                 device: str | torch.device | None = None) -> torch.Tensor:
    """Stylise ``content`` with a trained feed-forward network (one forward pass).

    Returns ``(1, 3, H, W)`` in [0, 1] (cropped back to the content size).
    """
    dev = select_device(device)
    key = (str(fast_style_path(style)), str(dev))
    if key not in _NETS:
        _NETS[key] = JohnsonNet.from_npz(key[0]).to(dev)
    c = load_image(content, content_size, dev)
    h, w = c.shape[-2:]
    return _NETS[key](c)[..., :h, :w]
