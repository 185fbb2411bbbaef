"""SVG export and import for :class:`~clipedit.draw.scene.Scene`.

Written with the standard library (``xml.etree``): every path becomes one ``<path>`` with absolute ``M``/``C``
commands (``Z`` when closed), colours as ``rgb(r%, g%, b%)`` plus an opacity so nothing is lost to 8-bit
rounding, strokes with round caps and joins — what the rasteriser draws. :func:`read_svg` reads those files
back, and simple SVGs from elsewhere (``M L C Z`` and their relative forms, ``rgb()``/hex/named colours).
"""
from __future__ import annotations

import base64
import io
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path as FilePath

import torch

from clipedit.draw.scene import Path, Scene

SVG_NS = "http://www.w3.org/2000/svg"
_NAMED = {"black": (0, 0, 0), "white": (1, 1, 1), "red": (1, 0, 0), "lime": (0, 1, 0), "green": (0, 128 / 255, 0),
          "blue": (0, 0, 1), "yellow": (1, 1, 0), "cyan": (0, 1, 1), "magenta": (1, 0, 1), "gray": (128 / 255,) * 3,
          "grey": (128 / 255,) * 3, "orange": (1, 165 / 255, 0), "purple": (128 / 255, 0, 128 / 255)}


def _fmt(v: float) -> str:
    s = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _rgb(c: torch.Tensor) -> str:
    r, g, b = (float(x) * 100 for x in c[:3].clamp(0, 1))
    return f"rgb({_fmt(r)}%, {_fmt(g)}%, {_fmt(b)}%)"


def path_data(p: Path) -> str:
    pts = p.points.detach().cpu().tolist()
    n = len(pts)
    out = [f"M {_fmt(pts[0][0])} {_fmt(pts[0][1])}"]
    for s in range(p.num_segments):
        c = [pts[(3 * s + k) % n] for k in (1, 2, 3)]
        out.append("C " + " ".join(f"{_fmt(x)} {_fmt(y)}" for x, y in c))
    if p.closed:
        out.append("Z")
    return " ".join(out)


def to_svg(scene: Scene) -> str:
    """The scene as an SVG document (string)."""
    w, h = scene.width, scene.height
    root = ET.Element("svg", {"xmlns": SVG_NS, "width": str(w), "height": str(h), "viewBox": f"0 0 {w} {h}",
                              "version": "1.1"})
    bg = scene.background.detach().cpu()
    if bg.ndim == 1:
        ET.SubElement(root, "rect", {"x": "0", "y": "0", "width": str(w), "height": str(h), "fill": _rgb(bg)})
    else:  # an image background is embedded as PNG
        from clipedit.imageio import to_pil
        buf = io.BytesIO()
        to_pil(bg[None]).save(buf, format="PNG")
        ET.SubElement(root, "image", {"x": "0", "y": "0", "width": str(w), "height": str(h),
                                      "href": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()})
    for p in scene.paths:
        c = p.color.detach().cpu().clamp(0, 1)
        if p.closed:
            attrs = {"fill": _rgb(c), "fill-opacity": _fmt(float(c[3])), "fill-rule": p.fill_rule, "stroke": "none"}
        else:
            attrs = {"fill": "none", "stroke": _rgb(c), "stroke-opacity": _fmt(float(c[3])),
                     "stroke-width": _fmt(float(p.width.detach().abs())), "stroke-linecap": "round",
                     "stroke-linejoin": "round"}
        ET.SubElement(root, "path", {"d": path_data(p), **attrs})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def save_svg(scene: Scene, path: str | os.PathLike) -> FilePath:
    path = FilePath(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True)
    path.write_text(to_svg(scene), encoding="utf-8")
    return path


def _color(text: str | None) -> tuple[float, float, float] | None:
    if text is None or text.strip() in ("none", "transparent"):
        return None
    t = text.strip().lower()
    if t in _NAMED:
        return _NAMED[t]
    m = re.fullmatch(r"#([0-9a-f]{3}|[0-9a-f]{6})", t)
    if m:
        hx = m.group(1)
        hx = "".join(ch * 2 for ch in hx) if len(hx) == 3 else hx
        return tuple(int(hx[i:i + 2], 16) / 255 for i in (0, 2, 4))
    m = re.fullmatch(r"rgba?\(([^)]*)\)", t)
    if m:
        parts = [x.strip() for x in re.split(r"[,\s]+", m.group(1).strip()) if x.strip()]
        return tuple(float(x[:-1]) / 100 if x.endswith("%") else float(x) / 255 for x in parts[:3])
    raise ValueError(f"unsupported SVG colour {text!r}")


def _style(el: ET.Element) -> dict[str, str]:
    attrs = dict(el.attrib)
    for item in el.attrib.get("style", "").split(";"):
        if ":" in item:
            k, v = item.split(":", 1)
            attrs[k.strip()] = v.strip()
    return attrs


_TOKEN = re.compile(r"[MmLlCcZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _parse_d(d: str) -> list[tuple[list[list[float]], bool]]:
    """Subpaths of ``d`` as lists of cubic control points (``3S+1``) and a closed flag."""
    tokens = _TOKEN.findall(d)
    out, pts, cur, start, cmd, i = [], [], [0.0, 0.0], [0.0, 0.0], None, 0

    def take(k):
        nonlocal i
        vals = [float(v) for v in tokens[i:i + k]]
        if len(vals) < k or any(not re.match(r"[-+.\d]", v) for v in tokens[i:i + k]):
            raise ValueError(f"malformed path data near token {i}: {d[:60]!r}")
        i += k
        return vals

    while i < len(tokens):
        if tokens[i] in "MmLlCcZz":
            cmd = tokens[i]
            i += 1
        elif cmd is None:
            raise ValueError(f"path data must start with M: {d[:60]!r}")
        rel = cmd.islower()
        base = cur if rel else [0.0, 0.0]
        if cmd in "Mm":
            if len(pts) > 1:
                out.append((pts, False))
            x, y = take(2)
            cur = [base[0] + x, base[1] + y]
            start, pts = list(cur), [list(cur)]
            cmd = "l" if rel else "L"  # further pairs are line-tos
        elif cmd in "Ll":
            x, y = take(2)
            nxt = [base[0] + x, base[1] + y]
            pts += [[cur[0] + (nxt[0] - cur[0]) / 3, cur[1] + (nxt[1] - cur[1]) / 3],
                    [cur[0] + 2 * (nxt[0] - cur[0]) / 3, cur[1] + 2 * (nxt[1] - cur[1]) / 3], nxt]
            cur = nxt
        elif cmd in "Cc":
            v = take(6)
            c = [[base[0] + v[k], base[1] + v[k + 1]] for k in (0, 2, 4)]
            pts += c
            cur = c[2]
        elif cmd in "Zz":
            if pts and (abs(cur[0] - start[0]) > 1e-6 or abs(cur[1] - start[1]) > 1e-6):
                pts += [[cur[0] + (start[0] - cur[0]) / 3, cur[1] + (start[1] - cur[1]) / 3],
                        [cur[0] + 2 * (start[0] - cur[0]) / 3, cur[1] + 2 * (start[1] - cur[1]) / 3], list(start)]
            if len(pts) > 1:
                out.append((pts[:-1], True))  # the closing point is the first point again
            pts, cur, cmd = [], list(start), None
    if len(pts) > 1:
        out.append((pts, False))
    return out


def read_svg(source: str | os.PathLike) -> Scene:
    """Read an SVG file (or SVG text) into a :class:`Scene`: ``<path>`` elements and a full-canvas ``<rect>``
    background. Transforms, gradients and other elements are not supported (a clear error names them)."""
    text = str(source)
    if not text.lstrip().startswith("<"):
        p = FilePath(source)
        if not p.is_file():
            raise FileNotFoundError(f"SVG file not found: {p}")
        text = p.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    vb = root.get("viewBox")
    if vb:
        _, _, w, h = (float(v) for v in re.split(r"[,\s]+", vb.strip()))
    else:
        w, h = float(re.sub(r"px$", "", root.get("width", "0"))), float(re.sub(r"px$", "", root.get("height", "0")))
    if w <= 0 or h <= 0:
        raise ValueError("the SVG has no usable width/height or viewBox")
    scene = Scene(round(w), round(h))
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        a = _style(el)
        if "transform" in el.attrib:
            raise ValueError("SVG transforms are not supported")
        if tag == "rect" and not scene.paths:
            fill = _color(a.get("fill", "black"))
            if fill is not None:
                scene.background = torch.tensor(fill, dtype=torch.float32)
        elif tag == "path":
            fill, stroke = _color(a.get("fill", "black")), _color(a.get("stroke"))
            opacity = float(a.get("opacity", 1))
            for pts, closed in _parse_d(a.get("d", "")):
                if stroke is not None and (not closed or fill is None):
                    if closed:  # a stroked closed outline: keep it as a stroke through the first point again
                        pts = pts + [pts[0]]
                    col = [*stroke, float(a.get("stroke-opacity", 1)) * opacity]
                    width = float(a.get("stroke-width", 1))
                    scene.paths.append(Path(torch.tensor(pts), torch.tensor(col), torch.tensor(width), closed=False))
                elif closed and fill is not None:
                    col = [*fill, float(a.get("fill-opacity", 1)) * opacity]
                    rule = a.get("fill-rule", "nonzero")
                    scene.paths.append(Path(torch.tensor(pts), torch.tensor(col), closed=True, fill_rule=rule))
        elif tag not in ("svg", "rect", "g", "title", "desc", "metadata", "defs", "image"):
            raise ValueError(f"unsupported SVG element <{tag}>")
    return scene
