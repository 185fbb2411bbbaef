"""Image parameterisations: optimisable images for every method that optimises pixels.

Each returns ``(B, 3, size, size)`` in ``[0, 1]`` (via a sigmoid) from ``forward()``, on the device of its
parameters, and can start from an image with ``set_image``:

``pixels``
    free logits at ``low_res`` upsampled bilinearly to ``size``; low resolution keeps the
    optimisation from inventing high-frequency adversarial patterns;
``pyramid``
    a sum of logits at resolutions ``4, 8, … size`` (each upsampled), coarse levels scaled up,
    so large colour regions and shapes form first (Lucid-style multi-scale parameterisation).

>>> image = make_image_param("pixels", 32, low_res=16)
>>> x = image()
>>> tuple(x.shape), bool(x.min() >= 0 and x.max() <= 1)
((1, 3, 32, 32), True)
>>> image.set_image(torch.full((1, 3, 32, 32), 0.25)); round(float(image().detach().mean()), 2)
0.25
>>> len(make_image_param("pyramid", 32).levels)   # logits at 4, 8, 16, 32
4
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.imageio import as_image_batch


class ImageParam(nn.Module):
    """An optimisable image: ``forward()`` returns ``(B, 3, size, size)`` in ``[0, 1]``."""

    size: int


class PixelImage(ImageParam):
    """Logits on a ``low_res`` grid, bilinearly upsampled to ``size`` (an int for a square, or ``(H, W)``)."""

    def __init__(self, size: int | tuple[int, int], batch: int = 1, low_res: int | tuple[int, int] | None = None,
                 std: float = 0.1) -> None:
        super().__init__()
        self.hw = (size, size) if isinstance(size, int) else tuple(size)
        self.size = max(self.hw)
        lr = low_res or self.hw
        self.low_hw = (lr, lr) if isinstance(lr, int) else tuple(lr)
        self.logits = nn.Parameter(torch.randn(batch, 3, *self.low_hw) * std)

    def forward(self) -> torch.Tensor:
        x = self.logits
        if self.low_hw != self.hw:
            x = F.interpolate(x, size=self.hw, mode="bilinear", align_corners=False)
        return torch.sigmoid(x)

    @torch.no_grad()
    def set_image(self, image: torch.Tensor) -> None:
        """Start from ``image`` ``(B, 3, H, W)`` in ``[0, 1]``."""
        x = F.interpolate(as_image_batch(image), size=self.low_hw, mode="bilinear", antialias=True)
        self.logits.copy_(torch.logit(x.clamp(0.02, 0.98)).expand_as(self.logits))


class PyramidImage(ImageParam):
    """Sum of upsampled logit grids at ``4, 8, …, size`` (coarse levels weighted by ``coarse_gain``)."""

    def __init__(self, size: int, batch: int = 1, min_res: int = 4, std: float = 0.05, coarse_gain: float = 2.0) -> None:
        super().__init__()
        self.size = int(size)
        res, sizes = self.size, []
        while res >= min_res:
            sizes.append(res)
            res //= 2
        self.sizes = sizes[::-1]  # coarse to fine
        self.gains = [coarse_gain ** (len(self.sizes) - 1 - i) / len(self.sizes) for i in range(len(self.sizes))]
        self.levels = nn.ParameterList([nn.Parameter(torch.randn(batch, 3, s, s) * std) for s in self.sizes])

    def forward(self) -> torch.Tensor:
        total = 0
        for g, p in zip(self.gains, self.levels):
            if p.shape[-1] != self.size:
                p = F.interpolate(p, size=(self.size, self.size), mode="bilinear", align_corners=False)
            total = total + g * p
        return torch.sigmoid(total)

    @torch.no_grad()
    def set_image(self, image: torch.Tensor) -> None:
        """Start from ``image``: its logits go to the finest level, the others are zeroed."""
        x = F.interpolate(as_image_batch(image), size=(self.size,) * 2, mode="bilinear", antialias=True)
        for p in self.levels:
            p.zero_()
        self.levels[-1].copy_((torch.logit(x.clamp(0.02, 0.98)) / self.gains[-1]).expand_as(self.levels[-1]))


PARAMS: dict[str, Callable[..., ImageParam]] = {"pixels": PixelImage, "pyramid": PyramidImage}


def make_image_param(kind: str, size: int, batch: int = 1, **kwargs) -> ImageParam:
    """Build a registered image parameterisation (``"pixels"`` or ``"pyramid"``)."""
    if kind not in PARAMS:
        raise ValueError(f"unknown image parameterisation {kind!r}; choose from {sorted(PARAMS)}")
    if size < 8:
        raise ValueError(f"image size must be at least 8, got {size}")
    return PARAMS[kind](size, batch, **kwargs)
