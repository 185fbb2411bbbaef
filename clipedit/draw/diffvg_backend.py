"""diffvg backend (optional extra ``clipedit[diffvg]``: ``pydiffvg`` must be built from source).

Converts a :class:`~clipedit.draw.scene.Scene` to diffvg shapes and renders with 2x2 supersampling, then
composites diffvg's straight-alpha RGBA over the scene background exactly as CLIPDraw does.
"""
from __future__ import annotations

import importlib

import torch

from clipedit.draw.scene import Scene


def diffvg_available() -> bool:
    try:
        importlib.import_module("pydiffvg")
        return True
    except Exception:  # ImportError, or a broken build raising at import
        return False


def to_diffvg(scene: Scene, pydiffvg):
    """``(shapes, shape_groups)`` for ``pydiffvg.RenderFunction.serialize_scene``."""
    shapes, groups = [], []
    for i, p in enumerate(scene.paths):
        ncp = torch.full((p.num_segments,), 2, dtype=torch.int32)
        shapes.append(pydiffvg.Path(num_control_points=ncp, points=p.points, stroke_width=p.width, is_closed=p.closed))
        color = p.color.clamp(0, 1)
        if p.closed:
            groups.append(pydiffvg.ShapeGroup(shape_ids=torch.tensor([i]), fill_color=color, stroke_color=None,
                                              use_even_odd_rule=p.fill_rule == "evenodd"))
        else:
            groups.append(pydiffvg.ShapeGroup(shape_ids=torch.tensor([i]), fill_color=None, stroke_color=color))
    return shapes, groups


class DiffvgRenderer:
    """Renders through diffvg (``samples`` x ``samples`` supersampling, diffvg's default box filter)."""

    name = "diffvg"

    def __init__(self, samples: int = 2, seed: int = 0) -> None:
        try:
            self.pydiffvg = importlib.import_module("pydiffvg")
        except ImportError as err:
            raise ImportError("the diffvg backend needs pydiffvg, which no package index carries: build it from "
                              "https://github.com/BachiLi/diffvg (cmake, pybind11; CUDA for GPU), or use "
                              "renderer='torch'") from err
        self.samples, self.seed = samples, seed

    def __repr__(self) -> str:
        return f"DiffvgRenderer(samples={self.samples})"

    def __call__(self, scene: Scene) -> torch.Tensor:
        return self.render(scene)

    def render(self, scene: Scene) -> torch.Tensor:
        """``(1, 3, H, W)`` in [0, 1], composited over ``scene.background``."""
        dv = self.pydiffvg
        dev = scene.background.device
        dv.set_use_gpu(dev.type == "cuda")
        dv.set_device(dev)
        shapes, groups = to_diffvg(scene, dv)
        args = dv.RenderFunction.serialize_scene(scene.width, scene.height, shapes, groups)
        rgba = dv.RenderFunction.apply(scene.width, scene.height, self.samples, self.samples, self.seed, None, *args)
        rgba = rgba.to(dev)
        bg = scene.background.to(rgba)
        bg = bg.view(1, 1, 3) if bg.ndim == 1 else bg.permute(1, 2, 0)
        img = rgba[..., 3:4] * rgba[..., :3] + (1 - rgba[..., 3:4]) * bg
        return img.permute(2, 0, 1).unsqueeze(0)
