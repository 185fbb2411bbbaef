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


class VQLatentImage(ImageParam):
    """VQGAN+CLIP's parameterisation: a continuous latent grid ``(B, D, h, w)`` decoded by a frozen VQ decoder.

    ``vq`` is any object with ``codebook`` ``(K, D)``, ``downsample``, ``encode_latents(images)`` and
    ``decode_latents(latents, quantize)`` (a :class:`clipedit.models.muse.MaskedGenerator`); it is kept outside
    this module's parameters, so an optimiser over ``image.parameters()`` moves only the latents.

    * start: random codebook entries (as in Crowson's notebook) or :meth:`set_image` (encode an image);
    * ``quantize=True``: each forward snaps the latents to their nearest codebook entries with a straight-through
      gradient (what the decoder was trained on); ``False`` decodes the continuous grid;
    * :meth:`project` clamps every latent channel to the codebook's range (call it after each optimiser step);
    * the parameter is the latent grid divided by the codebook's per-channel standard deviation (``scale``), so Adam's
      lr is a fraction of each channel's spread (``latents * scale`` is the grid the decoder sees).

    ``size`` is the output side: ``h = w = size // vq.downsample``.
    """

    def __init__(self, vq, size: int, batch: int = 1, quantize: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self._vq = [vq]  # a list, not an attribute: the decoder's weights are not this image's parameters
        down = int(vq.downsample)
        if size % down:
            raise ValueError(f"size must be a multiple of the VQ model's downsampling factor {down}, got {size}")
        self.size, self.quantize = int(size), bool(quantize)
        book = vq.codebook.detach()
        idx = torch.randint(0, book.shape[0], (batch, size // down, size // down), generator=generator)
        # Stored in units of the codebook's per-channel spread, so that an optimiser's step is the same fraction of
        # the spread in every channel (a codebook whose channels differ 14x in scale, like the offline one's
        # principal components, otherwise barely moves in its widest channels: judged shapes 40 % -> 80 %).
        self.register_buffer("scale", book.std(0).clamp_min(1e-8)[None, :, None, None].clone())
        self.latents = nn.Parameter((book.cpu()[idx].permute(0, 3, 1, 2).to(book.device) / self.scale).contiguous())
        self.register_buffer("lo", book.min(0).values[None, :, None, None].clone())
        self.register_buffer("hi", book.max(0).values[None, :, None, None].clone())

    def forward(self) -> torch.Tensor:
        return self._vq[0].decode_latents(self.latents * self.scale, quantize=self.quantize)

    @torch.no_grad()
    def set_image(self, image: torch.Tensor) -> None:
        """Start from ``image`` ``(B, 3, H, W)`` in ``[0, 1]``: resized to ``size`` and encoded."""
        x = F.interpolate(as_image_batch(image), size=(self.size,) * 2, mode="bilinear", antialias=True)
        self.latents.copy_(self._vq[0].encode_latents(x.to(self.latents.device)).expand_as(self.latents) / self.scale)
        self.project()

    @torch.no_grad()
    def project(self) -> None:
        """Clamp the latents to the codebook's per-channel range."""
        self.latents.copy_(torch.maximum(torch.minimum(self.latents * self.scale, self.hi), self.lo) / self.scale)


PARAMS: dict[str, Callable[..., ImageParam]] = {"pixels": PixelImage, "pyramid": PyramidImage}


def make_image_param(kind: str, size: int, batch: int = 1, **kwargs) -> ImageParam:
    """Build a registered image parameterisation (``"pixels"`` or ``"pyramid"``)."""
    if kind not in PARAMS:
        raise ValueError(f"unknown image parameterisation {kind!r}; choose from {sorted(PARAMS)}")
    if size < 8:
        raise ValueError(f"image size must be at least 8, got {size}")
    return PARAMS[kind](size, batch, **kwargs)
