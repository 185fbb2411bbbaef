"""Editing only a region: one mask convention for every method that takes ``mask=``.

A mask is ``(1, 1, H, W)`` float in ``[0, 1]``: 1 = may change, 0 = keep, soft values blend. It comes from an image
file (its grey level), an array or a tensor; a mask of another size is resized to the image (bilinear). Methods
composite their result with the input, ``mask · result + (1 − mask) · input``, so pixels where the mask is 0 are
exactly the input's.

>>> import torch
>>> m = as_mask(torch.tensor([[0.0, 1.0], [0.5, 0.0]]), size=(4, 4))
>>> tuple(m.shape), float(m.min()) >= 0, float(m.max()) <= 1
((1, 1, 4, 4), True, True)
>>> composite(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4)).abs().sum().item()
0.0
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

MaskLike = Any  # a path, a PIL image, an array or a tensor


def as_mask(mask: MaskLike, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``mask`` as ``(1, 1, H, W)`` float in ``[0, 1]`` on the CPU, resized to ``size`` (H, W) when given.

    Raises:
        ValueError: values outside ``[0, 1]`` (a tensor or array), NaN, or a mask that is zero everywhere (nothing
            may change) — one line each.
    """
    if isinstance(mask, (str, os.PathLike)):
        from PIL import Image

        with Image.open(Path(mask)) as im:
            arr = torch.frombuffer(bytearray(im.convert("L").tobytes()), dtype=torch.uint8)
            m = arr.view(im.height, im.width).float() / 255
    elif hasattr(mask, "convert") and hasattr(mask, "size"):  # a PIL image
        m = torch.as_tensor(list(mask.convert("L").getdata()), dtype=torch.float32).view(mask.height, mask.width) / 255
    else:
        m = torch.as_tensor(mask, dtype=torch.float32).detach().cpu()
        if not torch.isfinite(m).all() or float(m.min()) < 0 or float(m.max()) > 1:
            raise ValueError("a mask holds values in [0, 1] (1 = may change, 0 = keep); this one has values outside")
    while m.dim() < 4:
        m = m[None]
    if m.shape[1] != 1:
        m = m.mean(1, keepdim=True)
    if float(m.max()) == 0:
        raise ValueError("the mask is zero everywhere: nothing may change (1 = may change, 0 = keep)")
    if size is not None and tuple(m.shape[-2:]) != tuple(size):
        m = F.interpolate(m, size=tuple(size), mode="bilinear", align_corners=False).clamp(0, 1)
    return m


def feather(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """A soft edge ``radius`` px wide inside the region (a box blur of the mask, kept 0 wherever the mask is 0)."""
    if radius <= 0:
        return mask
    k = 2 * radius + 1
    soft = F.avg_pool2d(F.pad(mask, (radius,) * 4, mode="replicate"), k, stride=1)
    return torch.minimum(soft, mask)


def composite(result: torch.Tensor, original: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mask · result + (1 − mask) · original``: exactly ``original`` where the mask is 0."""
    m = mask.to(result.device, result.dtype)
    return m * result + (1 - m) * original.to(result.device, result.dtype)


def region_for(mask: MaskLike, like: torch.Tensor, feather_px: int = 0) -> torch.Tensor:
    """The mask at ``like``'s size and device, ``(1, 1, H, W)`` in ``[0, 1]``, softened over ``feather_px`` inside."""
    return feather(as_mask(mask, tuple(like.shape[-2:])), feather_px).to(like.device)


def paste(result: torch.Tensor, original: torch.Tensor, mask: MaskLike, feather_px: int = 0) -> torch.Tensor:
    """``result`` inside ``mask`` (softened over ``feather_px``), exactly ``original`` where the mask is 0.

    >>> paste(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.tensor([[1.0, 0.0], [0.0, 0.0]]))[0, 0, 3, 3].item()
    0.0
    """
    return composite(result, original, region_for(mask, original, feather_px))


def outside_change(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean absolute change over the pixels the mask keeps (mask 0), in ``[0, 1]`` units (0 when none are kept)."""
    keep = (mask.to(before.device) == 0).expand_as(before)
    return float((after - before).abs()[keep].mean()) if keep.any() else 0.0


__all__ = ["as_mask", "feather", "composite", "region_for", "paste", "outside_change"]
