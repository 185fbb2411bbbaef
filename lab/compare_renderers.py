"""Compare renderers with each other and with the truth: reference scenes, pixel agreement, exact coverage,
and point gradients against finite differences.

``python -m lab.compare_renderers`` prints the tables of the renderer section of docs/draw.md: the torch renderer against
diffvg (when ``pydiffvg`` imports) on :func:`reference_scenes`, both against a 16×16-supersampled exact coverage
(and headless Chromium's rendering of the SVG, when Chromium is installed) on thin straight strokes, and each
renderer's point gradients against central finite differences of its own image.

>>> scenes = reference_scenes()
>>> sorted(scenes)
['256 CLIPDraw paths', 'even-odd fills', 'long curves', 'semi-transparent on colour', 'thick 20-60 px', 'thin 1-3 px']
>>> from clipedit.draw import TorchRenderer
>>> img = TorchRenderer()(scenes["thin 1-3 px"])
>>> agreement(img, img)
{'mean_abs': 0.0, 'off_0.1': 0.0}
"""
from __future__ import annotations

import argparse
import math
import random
import shutil
import subprocess
import tempfile
from pathlib import Path as FilePath
from typing import Callable

import torch

from clipedit.draw.scene import Path, Scene, random_strokes

Renderer = Callable[[Scene], torch.Tensor]


def _recolour(scene: Scene, rng: random.Random, widths: tuple[float, float] | None, alpha: tuple[float, float]) -> Scene:
    for p in scene.paths:
        if widths is not None:
            p.width = torch.tensor(rng.uniform(*widths))
        p.color = torch.tensor([rng.random(), rng.random(), rng.random(), rng.uniform(*alpha)])
    return scene


def curvy_shape(cx: float, cy: float, radius: float, lobes: int, rng: random.Random) -> torch.Tensor:
    """``(3 · 2·lobes, 2)`` control points of a closed star with curved, self-crossing edges."""
    pts = []
    n = 2 * lobes
    for k in range(n):
        r = radius * (1.0 if k % 2 == 0 else rng.uniform(0.2, 0.5))
        a0, a1 = 2 * math.pi * k / n, 2 * math.pi * (k + 1) / n
        pts.append((cx + r * math.cos(a0), cy + r * math.sin(a0)))
        for f in (1 / 3, 2 / 3):  # control points pushed outwards and across, so edges curve and cross
            a = a0 + f * (a1 - a0) + rng.uniform(-0.6, 0.6)
            rr = radius * rng.uniform(0.3, 1.2)
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return torch.tensor(pts, dtype=torch.float32)


def reference_scenes(seed: int = 0) -> dict[str, Scene]:
    """The scenes two renderers are compared on (float32, CPU), by name."""
    rng = random.Random(seed)
    scenes = {
        "thin 1-3 px": _recolour(random_strokes(64, 128, 128, seed=seed), rng, (1.0, 3.0), (1.0, 1.0)),
        "thick 20-60 px": _recolour(random_strokes(24, 128, 128, seed=seed + 1), rng, (20.0, 60.0), (1.0, 1.0)),
        "256 CLIPDraw paths": random_strokes(256, 224, 224, seed=seed + 2),
        "long curves": _recolour(random_strokes(128, 224, 224, radius=0.6, seed=seed + 3), rng, (2.0, 6.0), (0.6, 1.0)),
        "semi-transparent on colour": _recolour(random_strokes(48, 128, 128, seed=seed + 4, background=(0.2, 0.5, 0.8)),
                                                rng, (2.0, 12.0), (0.2, 0.7)),
    }
    fills = [Path(curvy_shape(rng.uniform(30, 98), rng.uniform(30, 98), rng.uniform(18, 40), rng.randint(3, 6), rng),
                  torch.tensor([rng.random(), rng.random(), rng.random(), rng.uniform(0.5, 1.0)]), closed=True,
                  fill_rule="evenodd") for _ in range(8)]
    scenes["even-odd fills"] = Scene(128, 128, fills, torch.tensor([1.0, 0.95, 0.85]))
    return scenes


def agreement(a: torch.Tensor, b: torch.Tensor, threshold: float = 0.1) -> dict[str, float]:
    """Mean absolute difference of two ``(1, 3, H, W)`` images and the fraction of values off by > ``threshold``."""
    d = (a.detach().float() - b.detach().float()).abs()
    return {"mean_abs": round(float(d.mean()), 5), f"off_{threshold:g}": round(float((d > threshold).float().mean()), 5)}


def straight_strokes(n: int = 24, size: int = 64, widths: tuple[float, float] = (1.0, 3.0), seed: int = 0) -> Scene:
    """Opaque straight strokes (control points on the chord), for which exact coverage is easy to compute."""
    rng = random.Random(seed)
    paths = []
    for _ in range(n):
        a = torch.tensor([rng.uniform(4, size - 4), rng.uniform(4, size - 4)])
        b = torch.tensor([rng.uniform(4, size - 4), rng.uniform(4, size - 4)])
        pts = torch.stack([a, a + (b - a) / 3, a + 2 * (b - a) / 3, b])
        paths.append(Path(pts, torch.tensor([rng.random(), rng.random(), rng.random(), 1.0]),
                          torch.tensor(rng.uniform(*widths))))
    return Scene(size, size, paths)


def exact_coverage(scene: Scene, samples: int = 16) -> torch.Tensor:
    """The box-filtered image of a scene of straight opaque strokes: ``samples²`` point samples per pixel, each
    taking the colour of the last stroke whose capsule (distance to the chord <= width / 2) contains it.

    Independent of both renderers: no flattening, no coverage ramp, no compositing formula. ``(1, 3, H, W)``.
    """
    h, w = scene.height, scene.width
    ys = (torch.arange(h * samples, dtype=torch.float64) + 0.5) / samples
    xs = (torch.arange(w * samples, dtype=torch.float64) + 0.5) / samples
    p = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)
    out = scene.background.to(torch.float64).view(1, 1, 3).expand(h * samples, w * samples, 3).clone()
    for path in scene.paths:
        a, b = path.points[0].double(), path.points[-1].double()
        ab = b - a
        t = (((p - a) @ ab) / max(float(ab @ ab), 1e-12)).clamp(0, 1)
        inside = (p - (a + t[..., None] * ab)).norm(dim=-1) <= float(path.width) / 2
        out[inside] = path.color[:3].double()
    return out.reshape(h, samples, w, samples, 3).mean((1, 3)).permute(2, 0, 1).unsqueeze(0).float()


def chromium_render(scene: Scene, browser: str | None = None) -> torch.Tensor | None:
    """Headless Chromium's rendering of ``to_svg(scene)`` as ``(1, 3, H, W)``, or ``None`` without Chromium."""
    import numpy as np
    from PIL import Image

    from clipedit.draw.svg import save_svg

    browser = browser or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        svg = save_svg(scene, FilePath(tmp) / "scene.svg")
        png = FilePath(tmp) / "shot.png"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
               "--disable-background-networking", "--disable-component-update", "--no-first-run",
               f"--user-data-dir={tmp}/profile", "--force-device-scale-factor=1", f"--screenshot={png}",
               f"--window-size={scene.width},{scene.height}", svg.as_uri()]
        subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        if not png.is_file():
            return None
        arr = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)


def gradient_check(render: Renderer, scene: Scene, eps: float, weight_seed: int = 0) -> dict[str, float]:
    """Point gradients of ``sum(render(scene) · W)`` (``W`` a fixed random weight) against central finite
    differences of the same function with step ``eps`` px.

    Returns ``slope`` (least-squares fit ``autograd ≈ slope · fd``; 1 is exact), ``cosine`` and ``coords`` (how many
    point coordinates were compared). ``render`` must be deterministic (fix a sampling renderer's seed inside it).
    """
    scene = scene.detach()
    weight = torch.rand(1, 3, scene.height, scene.width, generator=torch.Generator().manual_seed(weight_seed))
    points = [p.points.requires_grad_() for p in scene.paths]

    def f() -> torch.Tensor:
        return (render(scene) * weight.to(scene.background.dtype)).sum()

    f().backward()
    auto = torch.cat([p.grad.reshape(-1) for p in points]).double()
    fd = []
    with torch.no_grad():
        for p in points:
            flat = p.view(-1)
            for i in range(flat.numel()):
                old = float(flat[i])
                flat[i] = old + eps
                up = float(f())
                flat[i] = old - eps
                down = float(f())
                flat[i] = old
                fd.append((up - down) / (2 * eps))
    fd_t = torch.tensor(fd, dtype=torch.float64)
    slope = float(auto @ fd_t / (fd_t @ fd_t))
    cosine = float(auto @ fd_t / (auto.norm() * fd_t.norm()))
    return {"slope": round(slope, 3), "cosine": round(cosine, 3), "coords": len(fd)}


def gradient_scene(dtype: torch.dtype = torch.float32) -> Scene:
    """A bent stroke and a filled triangle on 32×32 in ``dtype``: every point coordinate moves ink."""
    bent = Path(torch.tensor([[5.3, 6.1], [15.0, 2.0], [12.0, 28.0], [26.2, 22.6]]), torch.tensor([0.9, 0.2, 0.1, 0.8]),
                torch.tensor(4.2))
    tri = Path(torch.tensor([[8.2, 20.3], [12.0, 14.0], [16.0, 9.0], [20.4, 5.6], [22.0, 13.0], [23.7, 21.1],
                             [24.7, 24.1], [17.0, 24.0], [12.0, 22.0]]), torch.tensor([0.1, 0.3, 0.9, 0.6]), closed=True)
    paths = [Path(q.points.to(dtype), q.color.to(dtype), q.width.to(dtype), q.closed) for q in (bent, tri)]
    return Scene(32, 32, paths, torch.ones(3, dtype=dtype))


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main(argv: list[str] | None = None) -> None:
    from clipedit.draw.diffvg_backend import diffvg_available
    from clipedit.draw.raster import TorchRenderer
    from clipedit.draw.render import make_renderer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch_r = TorchRenderer()
    have_dv = diffvg_available()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; diffvg "
          f"{'imported' if have_dv else 'not installed: its rows are not measured'}")
    scenes = reference_scenes(a.seed)
    if have_dv:
        dv2, dv8 = make_renderer("diffvg", samples=2, seed=a.seed), make_renderer("diffvg", samples=8, seed=a.seed)
        rows, data = [], []
        for name, scene in scenes.items():
            with torch.no_grad():
                ours = torch_r(scene)
                r2, r8 = agreement(ours, dv2(scene)), agreement(ours, dv8(scene))
            rows.append([name, f"{r8['mean_abs']:.4f}", f"{r8['off_0.1']:.2%}", f"{r2['mean_abs']:.4f}", f"{r2['off_0.1']:.2%}"])
            data.append({"scene": name, "mean_abs_8x8": round(r8["mean_abs"], 4), "off_8x8": round(r8["off_0.1"], 4),
                         "mean_abs_2x2": round(r2["mean_abs"], 4), "off_2x2": round(r2["off_0.1"], 4)})
        from lab.common import write_results

        write_results("renderers", data, split="n/a", notes="The torch renderer against diffvg at 8x8 and 2x2 samples "
                      "per pixel; 'off' is the share of pixels that differ by more than 0.1. Fixed reference scenes.")
        _table("torch renderer against diffvg (same scenes, same run)",
               ["scene", "8×8: mean abs", "8×8: px off > 0.1", "2×2: mean abs", "2×2: px off > 0.1"], rows)

    thin = straight_strokes(seed=a.seed)
    truth = exact_coverage(thin)
    candidates: dict[str, torch.Tensor | None] = {"torch renderer": torch_r(thin).detach()}
    if have_dv:
        candidates["diffvg 2×2"] = dv2(thin).detach()
        candidates["diffvg 8×8"] = dv8(thin).detach()
    candidates["Chromium (SVG)"] = chromium_render(thin)
    rows = []
    for name, img in candidates.items():
        if img is None:
            rows.append([name, "not measured", "not measured"])
            continue
        r = agreement(img, truth)
        rows.append([name, f"{r['mean_abs']:.4f}", f"{r['off_0.1']:.2%}"])
    _table("thin straight strokes (1-3 px, 64×64) against exact coverage (16×16 samples per pixel)",
           ["renderer", "mean abs", "px off > 0.1"], rows)

    g = gradient_scene()
    rows = []
    r = gradient_check(torch_r, gradient_scene(torch.float64), eps=1e-4)
    rows.append(["torch renderer (float64)", "1e-4 px", f"{r['slope']:.3f}", f"{r['cosine']:.3f}"])
    if have_dv:
        for samples in (2, 8):
            rend = make_renderer("diffvg", samples=samples)

            def fixed(scene: Scene, rend=rend) -> torch.Tensor:
                rend.manual_seed(a.seed)  # the same sample pattern for every finite-difference evaluation
                return rend(scene)
            r = gradient_check(fixed, g, eps=0.5)
            rows.append([f"diffvg {samples}×{samples}", "0.5 px", f"{r['slope']:.3f}", f"{r['cosine']:.3f}"])
    _table(f"point gradients against central finite differences ({r['coords']} coordinates, bent stroke + fill)",
           ["renderer", "FD step", "slope (1 = exact)", "cosine"], rows)


if __name__ == "__main__":
    main()
