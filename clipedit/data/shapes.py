"""Procedural "shapes and colours" images with captions.

This is the world the offline guide (``clipedit/shapes``) and the independent
judge classifier are trained on: one coloured shape on a plain background,
with a caption such as ``"a small red star in the top left corner on a white
background"``. Images are rendered directly as tensors (vectorised inside-tests
on a supersampled grid, then average-pooled for anti-aliasing) so that a batch
of 256 images costs milliseconds and training needs no dataset on disk.

All images are float32 ``(B, 3, H, W)`` in ``[0, 1]`` on the requested device.

>>> import torch
>>> b = sample_batch(4, resolution=32, generator=torch.Generator().manual_seed(0))
>>> tuple(b.images.shape), bool(b.images.min() >= 0 and b.images.max() <= 1), len(b.captions)
((4, 3, 32, 32), True, 4)
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "heart")

#: Object colours with their nominal RGB in [0, 1].
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.10, 0.10),
    "green": (0.10, 0.65, 0.15),
    "blue": (0.10, 0.25, 0.90),
    "yellow": (0.95, 0.87, 0.10),
    "purple": (0.55, 0.15, 0.70),
    "orange": (0.97, 0.55, 0.08),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

BACKGROUNDS: dict[str, tuple[float, float, float]] = {
    "white": (0.97, 0.97, 0.97),
    "black": (0.04, 0.04, 0.04),
    "gray": (0.50, 0.50, 0.50),
}
BACKGROUND_NAMES: tuple[str, ...] = tuple(BACKGROUNDS)

#: (colour, shape) pairs never shown in training: zero-shot evaluation uses them.
HELD_OUT: tuple[tuple[str, str], ...] = (
    ("red", "star"),
    ("green", "heart"),
    ("blue", "cross"),
    ("yellow", "triangle"),
    ("purple", "circle"),
    ("orange", "square"),
)


@dataclass
class ShapeBatch:
    """A rendered batch and its labels.

    Attributes:
        images: ``(B, 3, H, W)`` float32 in ``[0, 1]``.
        shape: ``(B,)`` long, index into :data:`SHAPES`.
        colour: ``(B,)`` long, index into :data:`COLOUR_NAMES`.
        background: ``(B,)`` long, index into :data:`BACKGROUND_NAMES`.
        center: ``(B, 2)`` float, shape centre in ``[-1, 1]`` (x right, y down).
        size: ``(B,)`` float, shape radius as a fraction of the half-width.
        captions: one caption per image.
        rotation: ``(B,)`` float, radians counter-clockwise.
        colour_rgb: ``(B, 3)`` the object's jittered colour in ``[0, 1]``.
        background_rgb: ``(B, 3)`` the background's jittered colour in ``[0, 1]``.

    ``render_shapes(shape, colour_rgb, background_rgb, center, size, rotation, H)`` renders ``images`` again
    (without the pixel noise).
    """

    images: torch.Tensor
    shape: torch.Tensor
    colour: torch.Tensor
    background: torch.Tensor
    center: torch.Tensor
    size: torch.Tensor
    captions: list[str]
    rotation: torch.Tensor | None = None
    colour_rgb: torch.Tensor | None = None
    background_rgb: torch.Tensor | None = None


def _inside(kind: int, ux: torch.Tensor, uy: torch.Tensor) -> torch.Tensor:
    """Inside-test for shape ``SHAPES[kind]`` in local coordinates (unit = shape radius, y up).

    ``ux``/``uy`` are ``(B, S, S)``. Returns a bool mask of the same shape.
    """
    name = SHAPES[kind]
    if name == "circle":
        return ux * ux + uy * uy <= 1.0
    if name == "square":
        return torch.maximum(ux.abs(), uy.abs()) <= 0.82
    if name == "triangle":  # equilateral, pointing up, inradius 0.55
        m = uy >= -0.55
        for ang in (math.pi / 6, 5 * math.pi / 6):
            m = m & (ux * math.cos(ang) + uy * math.sin(ang) <= 0.55)
        return m
    if name == "star":
        # Fold the angle into one sector and test against the edge from a tip
        # (radius 1.1) to the neighbouring inner vertex (radius 0.45).
        r = torch.sqrt(ux * ux + uy * uy)
        sector = 2 * math.pi / 5
        d = torch.remainder(torch.atan2(uy, ux) - math.pi / 2, sector)
        t = torch.minimum(d, sector - d)
        qx, qy = r * torch.cos(t), r * torch.sin(t)
        tx, ty = 1.1, 0.0
        ix, iy = 0.45 * math.cos(math.pi / 5), 0.45 * math.sin(math.pi / 5)
        nx, ny = iy - ty, -(ix - tx)
        if nx * -tx + ny * -ty > 0:  # orient the normal away from the origin
            nx, ny = -nx, -ny
        return nx * (qx - tx) + ny * (qy - ty) <= 0
    if name == "cross":
        return ((ux.abs() <= 0.3) & (uy.abs() <= 0.95)) | ((uy.abs() <= 0.3) & (ux.abs() <= 0.95))
    if name == "heart":
        hx, hy = ux * 1.15, uy * 1.15 + 0.15
        return (hx * hx + hy * hy - 1) ** 3 - hx * hx * hy**3 <= 0
    raise ValueError(f"unknown shape index {kind}")


def render_shapes(
    shape: torch.Tensor,
    colour_rgb: torch.Tensor,
    background_rgb: torch.Tensor,
    center: torch.Tensor,
    size: torch.Tensor,
    rotation: torch.Tensor,
    resolution: int = 64,
    supersample: int = 2,
) -> torch.Tensor:
    """Render one shape per image.

    Args:
        shape: ``(B,)`` long shape indices.
        colour_rgb: ``(B, 3)`` object colour in ``[0, 1]``.
        background_rgb: ``(B, 3)`` background colour in ``[0, 1]``.
        center: ``(B, 2)`` centre in ``[-1, 1]`` image coordinates (x right, y down).
        size: ``(B,)`` radius as a fraction of the image half-width.
        rotation: ``(B,)`` radians, counter-clockwise.
        resolution: output side length ``H = W``.
        supersample: samples per pixel side for anti-aliasing.

    Returns:
        ``(B, 3, H, W)`` float32 in ``[0, 1]``, on ``shape``'s device.
    """
    dev = shape.device
    s = resolution * supersample
    lin = (torch.arange(s, device=dev, dtype=torch.float32) + 0.5) / s * 2 - 1
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    px = gx[None] - center[:, 0, None, None]
    py = -(gy[None] - center[:, 1, None, None])  # y up in local coordinates
    c, sn = torch.cos(-rotation)[:, None, None], torch.sin(-rotation)[:, None, None]
    rad = size[:, None, None]
    ux = (c * px - sn * py) / rad
    uy = (sn * px + c * py) / rad
    mask = torch.zeros(ux.shape, device=dev)
    for k in shape.unique().tolist():
        sel = shape == k
        mask[sel] = _inside(int(k), ux[sel], uy[sel]).float()
    mask = mask[:, None]
    mask = F.avg_pool2d(mask, supersample)
    img = background_rgb[:, :, None, None] * (1 - mask) + colour_rgb[:, :, None, None] * mask
    return img.clamp(0, 1)


def _position_phrase(cx: float, cy: float) -> str | None:
    col = "left" if cx < -0.3 else ("right" if cx > 0.3 else "center")
    row = "top" if cy < -0.3 else ("bottom" if cy > 0.3 else "middle")
    if col == "center" and row == "middle":
        return "in the center"
    if col == "center":
        return f"at the {row}"
    if row == "middle":
        return f"on the {col}"
    return f"in the {row} {col} corner"


_PREFIXES = ("a", "a", "a picture of a", "a drawing of a", "an image of a", "a photo of a")


def make_caption(
    colour: str, shape: str, background: str | None = None, size: float | None = None,
    position: tuple[float, float] | None = None, rng: random.Random | None = None,
) -> str:
    """Build a caption; optional parts are included at random when ``rng`` is given."""
    rng = rng or random.Random(0)
    prefix = rng.choice(_PREFIXES)
    size_word = ""
    if size is not None and rng.random() < 0.5:
        size_word = "small " if size < 0.3 else ("large " if size > 0.45 else "")
    words = f"{size_word}{colour} {shape}"
    if prefix.endswith(" a") or prefix == "a":
        article = "an" if words[0] in "aeiou" else "a"
        prefix = prefix[:-1] + article
    text = f"{prefix} {words}"
    if position is not None and rng.random() < 0.4:
        text += " " + _position_phrase(*position)
    if background is not None and rng.random() < 0.5:
        text += f" on a {background} background"
    return text


def sample_batch(
    n: int,
    resolution: int = 64,
    generator: torch.Generator | None = None,
    exclude: Sequence[tuple[str, str]] = HELD_OUT,
    only: Sequence[tuple[str, str]] | None = None,
    device: torch.device | str = "cpu",
    rng: random.Random | None = None,
    jitter: float = 0.08,
    noise: float = 0.03,
) -> ShapeBatch:
    """Sample ``n`` random shape images with labels and captions.

    Args:
        exclude: (colour, shape) pairs that are never sampled (training uses
            :data:`HELD_OUT`; pass ``()`` to sample everything).
        only: if given, sample only these pairs (evaluation on held-out pairs).
        jitter: per-channel uniform colour jitter amplitude.
        noise: std of additive Gaussian pixel noise.
    """
    g = generator or torch.Generator().manual_seed(0)
    rng = rng or random.Random(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    pairs = list(only) if only is not None else [
        (c, s) for c in COLOUR_NAMES for s in SHAPES if (c, s) not in set(exclude)
    ]
    pick = torch.randint(0, len(pairs), (n,), generator=g)
    colour = torch.tensor([COLOUR_NAMES.index(pairs[i][0]) for i in pick.tolist()])
    shape = torch.tensor([SHAPES.index(pairs[i][1]) for i in pick.tolist()])
    background = torch.randint(0, len(BACKGROUNDS), (n,), generator=g)
    size = 0.22 + torch.rand(n, generator=g) * 0.33
    margin = (1 - size * 1.1).clamp(min=0)
    center = (torch.rand(n, 2, generator=g) * 2 - 1) * margin[:, None]
    rotation = (torch.rand(n, generator=g) * 2 - 1) * math.radians(20)
    base = torch.tensor([COLOURS[c] for c in COLOUR_NAMES])[colour]
    col_rgb = (base + (torch.rand(n, 3, generator=g) * 2 - 1) * jitter).clamp(0, 1)
    bg_base = torch.tensor([BACKGROUNDS[b] for b in BACKGROUND_NAMES])[background]
    bg_rgb = (bg_base + (torch.rand(n, 1, generator=g) * 2 - 1) * jitter).clamp(0, 1)
    imgs = render_shapes(shape.to(device), col_rgb.to(device), bg_rgb.to(device), center.to(device),
                         size.to(device), rotation.to(device), resolution)
    if noise > 0:
        imgs = (imgs + noise * torch.randn(imgs.shape, generator=g).to(device)).clamp(0, 1)
    captions = [
        make_caption(COLOUR_NAMES[c], SHAPES[s], BACKGROUND_NAMES[b], float(z), (float(x), float(y)), rng)
        for c, s, b, z, (x, y) in zip(colour.tolist(), shape.tolist(), background.tolist(), size.tolist(), center.tolist())
    ]
    return ShapeBatch(imgs, shape.to(device), colour.to(device), background.to(device), center, size, captions,
                      rotation, col_rgb, bg_rgb)
