"""Vector scenes: cubic Bézier paths with widths and RGBA colours, in pixel coordinates.

A :class:`Path` is either an open stroke (``3 * S + 1`` points: start, then two control points and an end
point per segment, drawn with round caps/joins at ``width`` pixels) or a closed filled shape (``3 * S``
points; the last segment returns to the first point). Colours are straight (not premultiplied) RGBA in
``[0, 1]``. A :class:`Scene` draws its paths in order over a background, like SVG and diffvg.

>>> import torch
>>> from clipedit.draw import TorchRenderer, read_svg, to_svg
>>> line = Path(torch.tensor([[8., 16.], [12., 16.], [20., 16.], [24., 16.]]), torch.tensor([1., 0., 0., 1.]),
...             torch.tensor(4.0))
>>> scene = Scene(32, 32, [line])
>>> image = TorchRenderer()(scene)             # (1, 3, H, W) in [0, 1], differentiable in points/widths/colours
>>> tuple(image.shape), image[0, :, 16, 16].tolist()   # red on the stroke
((1, 3, 32, 32), [1.0, 0.0, 0.0])
>>> image[0, :, 2, 2].tolist()                  # white background elsewhere
[1.0, 1.0, 1.0]
>>> torch.allclose(TorchRenderer()(read_svg(to_svg(scene))), image, atol=1e-3)   # SVG round trip
True
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

import torch


def _as_tensor(x, shape: tuple[int, ...] | None = None, name: str = "value") -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float32)
    if not t.is_floating_point():
        t = t.float()
    if shape is not None and tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    return t


@dataclass
class Path:
    """One cubic Bézier path.

    Args:
        points: ``(N, 2)`` float tensor, ``(x, y)`` in pixels (origin top-left, y down). Open: ``N = 3S+1``;
            closed: ``N = 3S``.
        color: ``(4,)`` straight RGBA in ``[0, 1]`` (stroke colour when open, fill colour when closed).
        width: the **full** stroke width in pixels, edge to edge (scalar tensor; ignored for closed paths). This is
            SVG's ``stroke-width``; diffvg's ``stroke_width`` is half of it (the distance from the centre line), and
            the diffvg backend converts. CLIPDraw's published widths are diffvg's, so its "1 px" strokes are 2 px here.
        closed: closed paths are filled (non-zero winding unless ``fill_rule="evenodd"``), not stroked.
    """

    points: torch.Tensor
    color: torch.Tensor
    width: torch.Tensor = field(default_factory=lambda: torch.tensor(1.0))
    closed: bool = False
    fill_rule: str = "nonzero"

    def __post_init__(self) -> None:
        self.points = _as_tensor(self.points, name="points")
        self.color = _as_tensor(self.color, (4,), "color")
        self.width = _as_tensor(self.width, (), "width")
        if self.points.ndim != 2 or self.points.shape[1] != 2:
            raise ValueError(f"points must be (N, 2), got {tuple(self.points.shape)}")
        n = self.points.shape[0]
        if self.closed and (n < 3 or n % 3):
            raise ValueError(f"a closed path needs 3*S points (S >= 1 segments), got {n}")
        if not self.closed and (n < 4 or (n - 1) % 3):
            raise ValueError(f"an open path needs 3*S+1 points (S >= 1 segments), got {n}")
        if self.fill_rule not in ("nonzero", "evenodd"):
            raise ValueError(f"fill_rule must be 'nonzero' or 'evenodd', got {self.fill_rule!r}")

    @property
    def num_segments(self) -> int:
        n = self.points.shape[0]
        return n // 3 if self.closed else (n - 1) // 3

    def parameters(self) -> list[torch.Tensor]:
        return [self.points, self.width, self.color]


@dataclass
class Scene:
    """Paths drawn in order over ``background`` (``(3,)`` colour or ``(3, H, W)`` image in [0, 1])."""

    width: int
    height: int
    paths: list[Path] = field(default_factory=list)
    background: torch.Tensor = field(default_factory=lambda: torch.ones(3))

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"canvas must be at least 1x1, got {self.width}x{self.height}")
        self.background = _as_tensor(self.background, name="background")

    def parameters(self, which: str = "all") -> list[torch.Tensor]:
        """Leaf tensors: ``"points"``, ``"widths"``, ``"colors"`` or ``"all"``."""
        pick = {"points": lambda p: [p.points], "widths": lambda p: [p.width], "colors": lambda p: [p.color],
                "all": Path.parameters}[which]
        return [t for p in self.paths for t in pick(p)]

    def requires_grad_(self, flag: bool = True) -> "Scene":
        for t in self.parameters():
            t.requires_grad_(flag)
        return self

    def to(self, device: str | torch.device) -> "Scene":
        """A copy on ``device`` (leaf tensors stay leaves)."""
        def mv(t):
            return t.detach().to(device).requires_grad_(t.requires_grad)
        paths = [Path(mv(p.points), mv(p.color), mv(p.width), p.closed, p.fill_rule) for p in self.paths]
        return Scene(self.width, self.height, paths, self.background.to(device))

    def detach(self) -> "Scene":
        paths = [Path(p.points.detach().clone(), p.color.detach().clone(), p.width.detach().clone(), p.closed,
                      p.fill_rule) for p in self.paths]
        return Scene(self.width, self.height, paths, self.background.detach().clone())

    def scaled(self, factor: float) -> "Scene":
        """The same drawing on a canvas ``factor`` times larger: points and widths scale, colours don't."""
        if factor <= 0:
            raise ValueError(f"scale factor must be positive, got {factor}")
        w, h = max(1, round(self.width * factor)), max(1, round(self.height * factor))
        bg = self.background.detach()
        if bg.ndim == 3:
            bg = torch.nn.functional.interpolate(bg[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        paths = [Path(p.points.detach() * factor, p.color.detach().clone(), p.width.detach() * factor, p.closed,
                      p.fill_rule) for p in self.paths]
        return Scene(w, h, paths, bg)


def random_strokes(num_paths: int = 256, width: int = 224, height: int = 224, *, segments: tuple[int, int] = (1, 3),
                   radius: float = 0.1, stroke_width: float = 2.0, seed: int | None = None,
                   background: Sequence[float] = (1.0, 1.0, 1.0)) -> Scene:
    """CLIPDraw's initialisation: each path starts at a uniform random point and takes 1–3 segments whose
    control points each wander by ``radius * U(-0.5, 0.5)`` of the canvas; full width 2 px (diffvg's half-width 1),
    random RGBA colour."""
    if num_paths < 1:
        raise ValueError(f"num_paths must be >= 1, got {num_paths}")
    rng = random.Random(seed)
    paths = []
    for _ in range(num_paths):
        x, y = rng.random(), rng.random()
        pts = [(x, y)]
        for _ in range(rng.randint(*segments)):
            for _ in range(3):
                x, y = x + radius * (rng.random() - 0.5), y + radius * (rng.random() - 0.5)
                pts.append((x, y))
        p = torch.tensor(pts, dtype=torch.float32) * torch.tensor([width, height], dtype=torch.float32)
        color = torch.tensor([rng.random() for _ in range(4)], dtype=torch.float32)
        paths.append(Path(p, color, torch.tensor(float(stroke_width))))
    return Scene(width, height, paths, torch.tensor(background, dtype=torch.float32))
