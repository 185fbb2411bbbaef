"""Identity loss: ArcFace IR-SE50 (``model_ir_se50.pth``, TreB1eN/InsightFace_Pytorch, as used by StyleCLIP).

:class:`IRSE50` reproduces the checkpoint's module names (``input_layer``, ``body.N.res_layer``/``shortcut_layer``
with squeeze-excitation, ``output_layer``) so the file loads with ``load_state_dict``. :class:`IdentityLoss`
applies StyleCLIP's face preprocessing — resize to 256, crop ``[35:223, 32:220]``, pool to 112 — and returns
``1 - cos(f(x), f(x_ref))``. Any embedding network and crop can be plugged in (``net=``, ``crop=``, ``size=``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.weights import get_weights, resolve

#: ArcFace IR-SE50 (StyleCLIP's identity network): a row of the one weights table.
ARCFACE = get_weights("arcface-ir-se50")


class SEModule(nn.Module):
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x):
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return x * s


class BottleneckIRSE(nn.Module):
    def __init__(self, cin: int, depth: int, stride: int) -> None:
        super().__init__()
        if cin == depth:
            self.shortcut_layer = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
                                       nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth),
                                       SEModule(depth))

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


def _units(num_layers: int) -> list[tuple[int, int, int]]:
    counts = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}[num_layers]
    out, cin = [], 64
    for depth, n in zip((64, 128, 256, 512), counts):
        out += [(cin, depth, 2)] + [(depth, depth, 1)] * (n - 1)
        cin = depth
    return out


class IRSE50(nn.Module):
    """ArcFace backbone (IR-SE, 50 layers by default): ``(B, 3, 112, 112)`` in [-1, 1] -> ``(B, 512)`` unit vectors."""

    def __init__(self, num_layers: int = 50, drop: float = 0.6) -> None:
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        self.body = nn.Sequential(*[BottleneckIRSE(*u) for u in _units(num_layers)])
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(drop), nn.Flatten(), nn.Linear(512 * 7 * 7, 512),
                                          nn.BatchNorm1d(512))

    def forward(self, x):
        return F.normalize(self.output_layer(self.body(self.input_layer(x))), dim=1)


def load_arcface(path: str | os.PathLike | None = None, device: str | torch.device | None = None,
                 download: bool = True) -> IRSE50:
    """IR-SE50 from ``path`` or the cache (downloading when allowed), eval mode, frozen."""
    from clipedit.device import select_device

    p = Path(path) if path is not None else resolve(ARCFACE, download_ok=download)
    if not p.is_file():
        raise FileNotFoundError(f"ArcFace weights not found: {p}")
    net = IRSE50()
    net.load_state_dict(torch.load(p, map_location="cpu", weights_only=True))
    return net.to(select_device(device)).eval().requires_grad_(False)


class IdentityLoss(nn.Module):
    """``1 - cos(f(crop(x)), f(crop(ref)))`` averaged over the batch; 0 for identical images.

    Args:
        net: embedding network taking ``(B, 3, size, size)`` in [-1, 1] (default: :func:`load_arcface`).
        crop: ``(top, bottom, left, right)`` applied after resizing to ``resize`` (StyleCLIP's face crop);
            ``None`` keeps the whole image.
        resize, size: resize side before cropping, network input side.
    Images ``(B, 3, H, W)`` in [-1, 1] (generator output).
    """

    def __init__(self, net: nn.Module | Callable[[torch.Tensor], torch.Tensor] | None = None,
                 crop: tuple[int, int, int, int] | None = (35, 223, 32, 220), resize: int = 256, size: int = 112) -> None:
        super().__init__()
        self.net = net if net is not None else load_arcface()
        self.crop, self.resize, self.size = crop, resize, size

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.resize or x.shape[-2] != self.resize:
            x = F.adaptive_avg_pool2d(x, (self.resize, self.resize))
        if self.crop is not None:
            t, b, l, r = self.crop
            x = x[:, :, t:b, l:r]
        x = F.adaptive_avg_pool2d(x, (self.size, self.size))
        return F.normalize(self.net(x), dim=1)

    def forward(self, x: torch.Tensor, ref: torch.Tensor | None = None, ref_embedding: torch.Tensor | None = None) -> torch.Tensor:
        e = self.embed(x)
        r = ref_embedding if ref_embedding is not None else self.embed(ref).detach()
        return (1 - (e * r).sum(1)).mean()
