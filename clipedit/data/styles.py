"""Style references for the shapes world: the same coloured shape drawn in a rendering style the plain world never
uses, so that style and content can be told apart (StyleDrop's offline demonstration).

* ``"outline"`` — only the shape's rim, about 1/12 of the image wide, in the shape's colour;
* ``"stripes"`` — the shape filled with diagonal stripes of its colour and white;
* ``"dots"`` — the shape filled with a grid of dots of its colour on white;
* ``"noise"`` — the background and the shape both covered in coarse grey noise;
* ``"inked"`` — a thick black rim around the filled shape, like a cartoon's ink line;
* ``"shadow"`` — a hard drop shadow down and to the right.

The style is a texture or a drawing convention that no caption of the training world describes. The judge, trained
on filled shapes, reads the shadowed and ink-rimmed ones as it reads the plain world, the striped and outlined ones
about half the time, dotted ones rarely: content accuracy on styled images is measured against that.

>>> import torch
>>> img = render_styled("red", "circle", "stripes", resolution=32, seed=0)
>>> tuple(img.shape), bool(img.min() >= 0 and img.max() <= 1)
((1, 3, 32, 32), True)
>>> bool(torch.equal(img, render_styled("red", "circle", "stripes", resolution=32, seed=0)))   # seeded
True
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from clipedit.data.shapes import BACKGROUNDS, COLOURS, SHAPES, render_shapes

STYLES: tuple[str, ...] = ("outline", "stripes", "dots", "noise", "inked", "shadow")


def _mask(shape: str, center: torch.Tensor, size: torch.Tensor, rotation: torch.Tensor, resolution: int
          ) -> torch.Tensor:
    n = center.shape[0]
    white, black = torch.ones(n, 3), torch.zeros(n, 3)
    kind = torch.full((n,), SHAPES.index(shape), dtype=torch.long)
    return render_shapes(kind, white, black, center, size, rotation, resolution)[:, :1]  # (n, 1, H, W) coverage


def style_pattern(style: str, mask: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ink, paper)`` masks ``(n, 1, H, W)`` in ``[0, 1]`` for a coverage ``mask``: where the shape's colour goes
    and where white goes (the rest shows the background)."""
    n, _, h, w = mask.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    period = max(4.0, h / 8)
    if style == "outline":
        k = max(3, 2 * round(h / 24) + 1)
        inner = -F.max_pool2d(-mask, k, stride=1, padding=k // 2)  # erosion
        return (mask - inner).clamp(0, 1), torch.zeros_like(mask)
    if style == "stripes":
        phase = torch.rand(n, 1, 1, 1, generator=generator) * period
        on = (torch.remainder(xs + ys + phase, period) < period / 2).float()
        return mask * on, mask * (1 - on)
    if style == "dots":
        phase = torch.rand(n, 1, 2, 1, 1, generator=generator) * period
        dx = torch.remainder(xs + phase[:, :, 0], period) - period / 2
        dy = torch.remainder(ys + phase[:, :, 1], period) - period / 2
        on = (dx * dx + dy * dy <= (period * 0.3) ** 2).float()
        return mask * on, mask * (1 - on)
    if style in ("noise", "inked", "shadow"):
        return mask, torch.zeros_like(mask)
    raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")


def render_styled(colour: str, shape: str, style: str, n: int = 1, resolution: int = 32, background: str = "white",
                  seed: int = 0, center: tuple[float, float] | None = (0.0, 0.0), size: float | None = 0.6,
                  rotation: float = 0.0) -> torch.Tensor:
    """``n`` images ``(n, 3, H, W)`` in ``[0, 1]`` of a ``colour`` ``shape`` drawn in ``style`` (:data:`STYLES`).

    ``center`` / ``size`` ``None`` draw them at random (as the plain world does); the defaults give one centred,
    large shape, a clear style reference.
    """
    if colour not in COLOURS or shape not in SHAPES or background not in BACKGROUNDS:
        raise ValueError(f"unknown colour, shape or background: {colour!r}, {shape!r}, {background!r}")
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    g = torch.Generator().manual_seed(int(seed))
    sz = torch.full((n,), float(size)) if size is not None else 0.3 + torch.rand(n, generator=g) * 0.25
    margin = (1 - sz * 1.1).clamp(min=0)
    ctr = (torch.tensor([center] * n, dtype=torch.float32) if center is not None
           else (torch.rand(n, 2, generator=g) * 2 - 1) * margin[:, None])
    rot = torch.full((n,), math.radians(rotation))
    mask = _mask(shape, ctr, sz, rot, resolution)
    ink, paper = style_pattern(style, mask, g)
    col = torch.tensor(COLOURS[colour]).view(1, 3, 1, 1)
    bg = torch.tensor(BACKGROUNDS[background]).view(1, 3, 1, 1)
    img = bg * (1 - ink - paper) + col * ink + paper * 0.97
    if style == "inked":  # a thick black rim, like a cartoon's ink line
        k = max(3, 2 * round(resolution / 24) + 1)
        outer = F.max_pool2d(mask, k, stride=1, padding=k // 2)
        rim = (outer - -F.max_pool2d(-mask, k, stride=1, padding=k // 2)).clamp(0, 1)
        img = img * (1 - rim) + 0.05 * rim
    if style == "shadow":  # a hard drop shadow down and to the right
        off = max(2, round(resolution / 10))
        sh = F.pad(mask, (off, 0, off, 0))[..., :resolution, :resolution] * (1 - mask)
        img = img * (1 - 0.75 * sh)
    if style == "noise":
        cells = max(2, resolution // 4)
        grain = torch.rand(n, 1, cells, cells, generator=g)
        grain = F.interpolate(grain, size=(resolution, resolution), mode="nearest")
        img = img * (0.6 + 0.4 * grain) + 0.15 * (grain - 0.5)
    return img.clamp(0, 1)
