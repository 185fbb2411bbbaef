"""Vector drawing: scenes of Bézier strokes, renderers (pure PyTorch; diffvg when installed), SVG, CLIPDraw."""
from clipedit.draw.clipdraw import (CLIPDRAW_LRS, CLIPDRAW_WIDTH, CLIPDRAW_WIDTH_RANGE, DrawResult, clipdraw, draw,
                                   styleclipdraw)
from clipedit.draw.raster import TorchRenderer
from clipedit.draw.render import RENDERERS, Renderer, diffvg_available, make_renderer, register_renderer
from clipedit.draw.scene import Path, Scene, random_strokes
from clipedit.draw.svg import read_svg, save_svg, to_svg

__all__ = ["CLIPDRAW_LRS", "CLIPDRAW_WIDTH", "CLIPDRAW_WIDTH_RANGE", "DrawResult", "clipdraw", "draw", "styleclipdraw",
           "TorchRenderer", "RENDERERS",
           "Renderer", "diffvg_available", "make_renderer", "register_renderer", "Path", "Scene", "random_strokes",
           "read_svg", "save_svg", "to_svg"]
