"""Renderer interface and registry: ``make_renderer("auto" | "torch" | "diffvg")``.

A renderer is a callable ``renderer(scene) -> (1, 3, H, W)`` image in [0, 1] on the scene's device,
differentiable w.r.t. the scene's points, widths and colours.
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch

from clipedit.draw.diffvg_backend import DiffvgRenderer, diffvg_available
from clipedit.draw.raster import TorchRenderer
from clipedit.draw.scene import Scene


class Renderer(Protocol):
    """``renderer(scene) -> (1, 3, H, W)``. A renderer that samples (diffvg) may also offer
    ``manual_seed(seed)``; :func:`clipedit.draw.draw` calls it with the run's seed when present."""

    name: str

    def __call__(self, scene: Scene) -> torch.Tensor: ...


RENDERERS: dict[str, Callable[..., Renderer]] = {"torch": TorchRenderer, "diffvg": DiffvgRenderer}


def register_renderer(name: str, factory: Callable[..., Renderer]) -> None:
    """Add a backend under ``name``."""
    RENDERERS[name] = factory


def make_renderer(name: str | Renderer = "auto", **kwargs) -> Renderer:
    """A renderer by name. ``"auto"`` is ``"torch"``: it needs nothing compiled, its coverage is analytic and
    its point gradients are exact (``python -m lab.compare_renderers``); ask for ``"diffvg"`` explicitly when it is
    installed. Speed against diffvg: ``benchmarks/bench_draw.py`` measures both in one run (docs/benchmarks.md table)."""
    if not isinstance(name, str):
        return name
    if name == "auto":
        name = "torch"
    if name not in RENDERERS:
        raise ValueError(f"unknown renderer {name!r}; choose from {['auto', *RENDERERS]}")
    return RENDERERS[name](**kwargs)


__all__ = ["Renderer", "RENDERERS", "register_renderer", "make_renderer", "diffvg_available"]
