"""Differentiable augmentation pipelines for CLIP guidance, built on kornia.

Each pipeline turns a batch ``(B, 3, H, W)`` in ``[0, 1]`` into ``n`` random
views per image, ``(B * n, 3, size, size)`` in ``[0, 1]`` (views of image ``b``
are rows ``b * n … b * n + n - 1``), differentiable with respect to the input.
Optimising against many random views instead of the image itself is what stops
the optimisation from finding adversarial pixel patterns that fool CLIP.

Registered pipelines (:func:`make_augment`):

``none``
    resize only (evaluation);
``clipdraw``
    CLIPDraw's: ``RandomPerspective(0.5)`` with white fill, then
    ``RandomResizedCrop(size, scale=(0.7, 0.9))``;
``cutouts``
    random square cutouts of varying size (VQGAN-CLIP / big-sleep style), each
    area-pooled to ``size``, plus small noise;
``affine_jitter``
    StyleTransferCLIP's: random affine (rotation, translation, scale) and
    colour jitter, then a resized crop.
"""
from __future__ import annotations

from typing import Callable

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Centre-crop to a square (shorter side) and resize to ``size``; differentiable.

    Args:
        images: ``(B, 3, H, W)``.
    Returns:
        ``(B, 3, size, size)``.
    """
    h, w = images.shape[-2:]
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        images = images[..., top:top + s, left:left + s]
    if images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class Augment(nn.Module):
    """Base class, as kornia's ``AugmentationBase2D``: the base owns ``forward``, a subclass implements one method.

    ``forward(images, n)`` checks its input, repeats every image ``n`` times (views of image ``b`` are rows
    ``b * n … b * n + n - 1``) and hands the batch to :meth:`views`, which draws one random view per row at
    ``self.size``. Subclasses implement :meth:`views` only.

    >>> aug = make_augment("cutouts", 32)
    >>> tuple(aug(torch.rand(2, 3, 64, 64), n=4).shape)
    (8, 3, 32, 32)
    """

    name = "base"

    def __init__(self, size: int) -> None:
        super().__init__()
        if int(size) < 1:
            raise ValueError(f"augmentation size must be >= 1, got {size}")
        self.size = int(size)

    def views(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """One random view per row: ``(N, 3, H, W)`` -> ``(N, 3, size, size)``, differentiable."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor, n: int = 1) -> torch.Tensor:
        if n < 1:
            raise ValueError(f"number of augmentations must be >= 1, got {n}")
        if images.dim() != 4:
            raise ValueError(f"augmentations take (B, 3, H, W) images, got shape {tuple(images.shape)}")
        return self.views(images.repeat_interleave(n, dim=0))

    def extra_repr(self) -> str:
        return f"size={self.size}"


class NoAugment(Augment):
    """Resize only: every view is the whole image (use for evaluation)."""

    name = "none"

    def views(self, images: torch.Tensor) -> torch.Tensor:
        return resize_square(images, self.size)


class CLIPDrawAugment(Augment):
    """CLIPDraw (Frans et al. 2021): perspective with white fill, then a resized crop."""

    name = "clipdraw"

    def __init__(self, size: int, distortion: float = 0.5, crop_scale: tuple[float, float] = (0.7, 0.9)) -> None:
        super().__init__(size)
        self.perspective = K.RandomPerspective(distortion, p=1.0)
        self.crop = K.RandomResizedCrop((self.size, self.size), scale=crop_scale)

    def views(self, images: torch.Tensor) -> torch.Tensor:
        # kornia pads with zeros and has no fill value; warping (x - 1) and adding
        # 1 back is the same bilinear warp with white (1.0) padding.
        warped = self.perspective(images - 1.0) + 1.0
        return self.crop(warped)


class CutoutsAugment(Augment):
    """Random square cutouts of varying size, area-pooled to ``size`` (VQGAN-CLIP style).

    Cutout side = ``min_frac * S + u**cut_pow * (S - min_frac * S)`` for ``u ~ U(0, 1)``
    with ``S = min(H, W)``; ``cut_pow > 1`` favours small cutouts (detail).
    """

    name = "cutouts"

    def __init__(self, size: int, cut_pow: float = 1.0, min_frac: float = 0.25, noise: float = 0.02) -> None:
        super().__init__(size)
        self.cut_pow, self.min_frac, self.noise = cut_pow, min_frac, noise
        self.flip = K.RandomHorizontalFlip(p=0.5)

    def views(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        side = min(h, w)
        lo = max(1, int(self.min_frac * side))
        out = []
        # One crop size per view, so the views cannot share one batched crop; a loop over the rows is cheap next
        # to the CLIP forward.
        for i in range(images.shape[0]):
            s = int(lo + torch.rand(()).item() ** self.cut_pow * (side - lo))
            y = int(torch.randint(0, h - s + 1, ()).item())
            x = int(torch.randint(0, w - s + 1, ()).item())
            crop = images[i:i + 1, :, y:y + s, x:x + s]
            out.append(F.adaptive_avg_pool2d(crop, self.size) if s >= self.size else
                       F.interpolate(crop, size=(self.size, self.size), mode="bilinear", align_corners=False))
        views = self.flip(torch.cat(out, 0))
        if self.noise > 0:
            views = views + self.noise * torch.randn_like(views)
        return views.clamp(0, 1)


class AffineJitterAugment(Augment):
    """StyleTransferCLIP-style: random affine + colour jitter, then a resized crop."""

    name = "affine_jitter"

    def __init__(self, size: int, degrees: float = 15.0, translate: float = 0.1,
                 scale: tuple[float, float] = (0.8, 1.2), jitter: float = 0.1,
                 crop_scale: tuple[float, float] = (0.6, 1.0)) -> None:
        super().__init__(size)
        self.pipe = nn.Sequential(
            K.RandomAffine(degrees, translate=(translate, translate), scale=scale, padding_mode="reflection", p=1.0),
            K.ColorJitter(jitter, jitter, jitter, jitter / 4, p=1.0),
            K.RandomResizedCrop((self.size, self.size), scale=crop_scale),
        )

    def views(self, images: torch.Tensor) -> torch.Tensor:
        return self.pipe(images).clamp(0, 1)


AUGMENTS: dict[str, Callable[..., Augment]] = {
    "none": NoAugment,
    "clipdraw": CLIPDrawAugment,
    "cutouts": CutoutsAugment,
    "affine_jitter": AffineJitterAugment,
}


def make_augment(name: str | Augment, size: int, **kwargs) -> Augment:
    """Build a registered augmentation pipeline producing ``size`` x ``size`` views.

    ``name`` may already be an :class:`Augment`: it is returned as it is, never rebuilt with other settings (its
    views keep their own size; :func:`clipedit.guidance.preprocess` resizes them to each model's input).
    Extra keyword arguments go to the pipeline's constructor (an error with an instance).

    >>> mine = CutoutsAugment(48, cut_pow=2.0)
    >>> make_augment(mine, 224) is mine
    True
    >>> make_augment("clipdraw", 32).name
    'clipdraw'
    """
    if isinstance(name, Augment):
        if kwargs:
            raise ValueError(f"an Augment instance is used as it is; build it with {sorted(kwargs)} instead")
        return name
    try:
        return AUGMENTS[name](size, **kwargs)
    except KeyError:
        raise ValueError(f"unknown augmentation {name!r}; choose from {sorted(AUGMENTS)}") from None
