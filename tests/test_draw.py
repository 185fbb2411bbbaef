"""The pure-PyTorch rasteriser against analytic geometry, compositing algebra, finite differences,
SVG round trips and a real browser (headless Chromium)."""
from __future__ import annotations

import math
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from clipedit.draw import Path, Scene, TorchRenderer, make_renderer, random_strokes, read_svg, save_svg, to_svg

R = TorchRenderer()


def line(x0, y0, x1, y1, width, color=(1.0, 0.0, 0.0, 1.0), dtype=torch.float32) -> Path:
    """A straight stroke as a cubic with control points on the line."""
    p = torch.tensor([[x0, y0], [x0 + (x1 - x0) / 3, y0 + (y1 - y0) / 3],
                      [x0 + 2 * (x1 - x0) / 3, y0 + 2 * (y1 - y0) / 3], [x1, y1]], dtype=dtype)
    return Path(p, torch.tensor(color, dtype=dtype), torch.tensor(width, dtype=dtype))


def polygon(pts, color, rule="nonzero", dtype=torch.float32) -> Path:
    """A closed polygon as straight cubic segments."""
    out = []
    for i, a in enumerate(pts):
        b = pts[(i + 1) % len(pts)]
        out += [a, [a[0] + (b[0] - a[0]) / 3, a[1] + (b[1] - a[1]) / 3], [a[0] + 2 * (b[0] - a[0]) / 3, a[1] + 2 * (b[1] - a[1]) / 3]]
    return Path(torch.tensor(out, dtype=dtype), torch.tensor(color, dtype=dtype), closed=True, fill_rule=rule)


def ink(img: torch.Tensor) -> torch.Tensor:
    """Coverage of a red stroke on white: 1 - green channel."""
    return 1 - img[0, 1]


@pytest.mark.parametrize("x0,y0,x1,y1,w", [(10, 32, 50, 32, 10), (12.3, 15.7, 51.1, 47.9, 7.4), (30, 30, 30.0, 30.0, 20)])
def test_stroke_covers_the_analytic_capsule(x0, y0, x1, y1, w):
    img = R(Scene(64, 64, [line(x0, y0, x1, y1, w)]))
    r, length = w / 2, math.hypot(x1 - x0, y1 - y0)
    assert float(ink(img).sum()) == pytest.approx(math.pi * r * r + 2 * r * length, rel=0.01)
    # pixel by pixel: centres well inside are fully covered, well outside untouched
    yy, xx = torch.meshgrid(torch.arange(64.0) + 0.5, torch.arange(64.0) + 0.5, indexing="ij")
    a, b = torch.tensor([x0, y0], dtype=torch.float32), torch.tensor([x1, y1], dtype=torch.float32)
    p = torch.stack([xx, yy], -1)
    t = (((p - a) @ (b - a)) / max(float(((b - a) ** 2).sum()), 1e-9)).clamp(0, 1)
    d = (p - (a + t[..., None] * (b - a))).norm(dim=-1)
    assert torch.all(ink(img)[d < r - 0.75] > 0.999)
    assert torch.all(ink(img)[d > r + 0.75] < 1e-6)


def test_closed_fill_area_and_rules():
    sq = R(Scene(64, 64, [polygon([[10, 10], [40, 10], [40, 40], [10, 40]], (1, 0, 0, 1))]))
    assert float(ink(sq).sum()) == pytest.approx(900, rel=0.005)
    tri = R(Scene(64, 64, [polygon([[5.5, 5.2], [60.1, 12.7], [20.3, 58.8]], (1, 0, 0, 1))]))
    area = 0.5 * abs((60.1 - 5.5) * (58.8 - 5.2) - (20.3 - 5.5) * (12.7 - 5.2))
    assert float(ink(tri).sum()) == pytest.approx(area, rel=0.01)
    star = [[32 + 28 * math.sin(k * 4 * math.pi / 5), 32 - 28 * math.cos(k * 4 * math.pi / 5)] for k in range(5)]
    nonzero = R(Scene(64, 64, [polygon(star, (1, 0, 0, 1), "nonzero")]))
    evenodd = R(Scene(64, 64, [polygon(star, (1, 0, 0, 1), "evenodd")]))
    assert float(ink(nonzero)[32, 32]) == pytest.approx(1.0) and float(ink(evenodd)[32, 32]) == pytest.approx(0.0)
    assert float(ink(evenodd).sum()) < float(ink(nonzero).sum())


def test_compositing_order_and_alpha():
    red, blue = (1.0, 0.0, 0.0, 0.6), (0.0, 0.0, 1.0, 0.5)
    a = polygon([[4, 4], [24, 4], [24, 24], [4, 24]], red)
    b = polygon([[14, 14], [30, 14], [30, 30], [14, 30]], blue)
    bg = torch.tensor([0.2, 0.8, 0.4])
    img = R(Scene(32, 32, [a, b], bg))[0, :, 18, 18]
    expect = bg * 0.4 * 0.5 + torch.tensor(red[:3]) * 0.6 * 0.5 + torch.tensor(blue[:3]) * 0.5
    assert torch.allclose(img, expect, atol=1e-6)
    swapped = R(Scene(32, 32, [b, a], bg))[0, :, 18, 18]
    expect2 = bg * 0.4 * 0.5 + torch.tensor(blue[:3]) * 0.5 * 0.4 + torch.tensor(red[:3]) * 0.6
    assert torch.allclose(swapped, expect2, atol=1e-6)
    opaque = R(Scene(32, 32, [polygon([[0, 0], [32, 0], [32, 32], [0, 32]], (0, 1, 0, 1)), b], bg))[0, :, 2, 2]
    assert torch.allclose(opaque, torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)


def test_tiles_chunks_and_odd_canvas_do_not_change_the_image():
    scene = random_strokes(40, 50, 37, seed=3)
    for i, p in enumerate(scene.paths):
        p.width = torch.tensor(1.0 + (i * 7) % 20)
    scene.paths.append(polygon([[3, 3], [45, 6], [20, 33]], (0.1, 0.6, 0.3, 0.7)))
    ref = R(scene)
    assert ref.shape == (1, 3, 37, 50)
    for other in (TorchRenderer(tile=8), TorchRenderer(tile=32, max_pairs=37), TorchRenderer(tile=7)):
        assert torch.allclose(other(scene), ref, atol=1e-5)


def test_chunked_passes_do_not_change_the_gradients():
    """``max_pairs`` bounds the coverage's passes, forward and backward (the backward's candidates per pass are
    ``max_pairs`` × tile²): one pair per pass gives the same image and gradients as one pass for everything."""
    g = torch.Generator().manual_seed(4)
    base = random_strokes(25, 48, 40, seed=4)
    paths = [Path(p.points.double(), p.color.double(), (1 + torch.rand((), generator=g) * 15).double())
             for p in base.paths]
    scene = Scene(48, 40, paths, torch.ones(3, dtype=torch.float64)).requires_grad_()
    weight = torch.rand(1, 3, 40, 48, generator=g, dtype=torch.float64)
    out = []
    for renderer in (TorchRenderer(), TorchRenderer(max_pairs=1)):
        for t in scene.parameters():
            t.grad = None
        img = renderer(scene)
        (img * weight).sum().backward()
        out.append((img.detach(), torch.cat([t.grad.reshape(-1) for t in scene.parameters()])))
    assert torch.equal(out[0][0], out[1][0])
    assert torch.allclose(out[0][1], out[1][1], rtol=1e-9, atol=1e-12) and out[0][1].abs().sum() > 0


def test_background_image_and_empty_scene():
    bg = torch.rand(3, 20, 30)
    assert torch.allclose(R(Scene(30, 20, [], bg))[0], bg)
    img = R(Scene(30, 20, [line(-50, -50, -40, -40, 5)], bg))  # entirely off-canvas
    assert torch.allclose(img[0], bg)


def test_gradients_are_finite_nonzero_and_match_finite_differences():
    d = torch.float64
    scene = Scene(24, 24, [line(4.3, 5.1, 19.2, 17.6, 4.2, (0.9, 0.2, 0.1, 0.8), d),
                           polygon([[6.2, 15.3], [17.4, 4.6], [20.7, 19.1]], (0.1, 0.3, 0.9, 0.6), dtype=d)],
                  torch.ones(3, dtype=d))
    with torch.no_grad():  # bend the stroke so every control point matters
        scene.paths[0].points[1] += torch.tensor([3.1, -2.7], dtype=d)
        scene.paths[0].points[2] += torch.tensor([-1.9, 3.3], dtype=d)
    scene.requires_grad_()
    weight = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0), dtype=d)

    def f() -> torch.Tensor:
        return (R(scene) * weight).sum()

    f().backward()
    for t in [*scene.paths[0].parameters(), scene.paths[1].points, scene.paths[1].color]:  # a fill has no width
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
        for i in range(t.numel()):
            flat = t.detach().view(-1)
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + 1e-4
                up = float(f())
                flat[i] = old - 1e-4
                down = float(f())
                flat[i] = old
            assert float(t.grad.view(-1)[i]) == pytest.approx((up - down) / 2e-4, rel=2e-3, abs=2e-3)


def test_scaled_rendering_matches_downsampled():
    scene = random_strokes(30, 64, 64, seed=5)
    big = R(scene.scaled(4))
    assert big.shape == (1, 3, 256, 256)
    down = torch.nn.functional.avg_pool2d(big, 4)
    assert (down - R(scene)).abs().mean() < 0.01


def test_svg_round_trip_and_foreign_svg(tmp_path):
    scene = random_strokes(25, 64, 48, seed=2, background=(0.9, 0.95, 1.0))
    scene.paths.append(polygon([[10, 10], [50, 12], [30, 40]], (0.3, 0.2, 0.7, 0.5), "evenodd"))
    path = save_svg(scene, tmp_path / "d.svg")
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg") and len([e for e in root if e.tag.endswith("path")]) == 26
    back = read_svg(path)
    assert (back.width, back.height, len(back.paths)) == (64, 48, 26) and back.paths[-1].closed
    assert torch.allclose(R(back), R(scene), atol=1e-3)
    foreign = """<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">
      <path d="M5 5 L35 5 l0 30 Z" fill="#00f" />
      <path d="m5 35 c5 -5 10 -5 15 0" style="fill:none;stroke:red;stroke-width:3" /></svg>"""
    s = read_svg(foreign)
    assert len(s.paths) == 2 and s.paths[0].closed and not s.paths[1].closed
    img = R(s)
    assert float(img[0, 2, 10, 30]) == pytest.approx(1.0) and float(img[0, 0, 10, 30]) == pytest.approx(0.0)
    assert float(s.paths[1].width) == 3 and torch.allclose(s.paths[1].points[-1], torch.tensor([20.0, 35.0]))
    with pytest.raises(FileNotFoundError):
        read_svg(tmp_path / "missing.svg")
    with pytest.raises(ValueError, match="unsupported"):
        read_svg('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><circle r="2"/></svg>')


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed (.ci/run installs it)")
def test_svg_renders_the_same_in_a_browser(tmp_path):
    scene = random_strokes(40, 96, 96, seed=3)
    for i, p in enumerate(scene.paths):
        p.width = torch.tensor(1.0 + (i * 5) % 12)
    scene.paths.append(polygon([[20, 20], [70, 25], [45, 80]], (0.2, 0.5, 0.9, 0.7)))
    svg = save_svg(scene, tmp_path / "scene.svg")
    png = tmp_path / "chromium.png"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
           "--force-device-scale-factor=1", f"--screenshot={png}", "--window-size=96,96", svg.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert png.is_file(), "Chromium wrote no screenshot"
    browser = torch.from_numpy(np.asarray(Image.open(png).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
    ours = R(scene)[0]
    diff = (browser - ours).abs()
    assert diff.mean() < 0.01 and (diff > 0.1).float().mean() < 0.02
    blank = (browser - torch.ones_like(browser)).abs().mean()
    assert blank > 5 * diff.mean()  # the comparison is not between two blank images


class StandInDiffvg(types.ModuleType):
    """A stand-in ``pydiffvg`` that records what clipedit hands it and renders straight strokes and polygons by
    diffvg's rules: ``stroke_width`` is the distance from the centre line, each of ``sx × sy`` samples per pixel is
    composited over ``background_image``."""

    def __init__(self) -> None:
        super().__init__("pydiffvg")
        self.seen: dict = {"seeds": []}
        self.Path = lambda **kw: kw
        self.ShapeGroup = lambda **kw: kw
        self.set_use_gpu = lambda flag: self.seen.setdefault("gpu", flag)
        self.set_device = lambda dev: None
        stand_in = self

        class RenderFunction:
            @staticmethod
            def serialize_scene(w, h, shapes, groups):
                stand_in.seen.update(w=w, h=h, shapes=shapes, groups=groups)
                return [shapes, groups]

            @staticmethod
            def apply(w, h, sx, sy, seed, bg, shapes, groups):
                stand_in.seen.update(samples=(sx, sy), bg=bg)
                stand_in.seen["seeds"].append(seed)
                for t in (bg, *[sh["points"] for sh in shapes]):
                    assert t.dtype == torch.float32, "diffvg only takes float32"
                ys = (torch.arange(h * sy) + 0.5) / sy
                xs = (torch.arange(w * sx) + 0.5) / sx
                p = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (h*sy, w*sx, 2)
                out = bg.repeat_interleave(sy, 0).repeat_interleave(sx, 1)[..., :3]
                for sh, g in zip(shapes, groups):
                    pts = sh["points"]
                    if sh["is_closed"]:  # straight-edged polygon through every third point, even-odd
                        v = pts[::3]
                        inside = torch.zeros(p.shape[:2], dtype=torch.bool)
                        for a, b in zip(v, v.roll(-1, 0)):
                            crosses = ((a[1] > p[..., 1]) != (b[1] > p[..., 1])) & (
                                p[..., 0] < a[0] + (p[..., 1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1] + 1e-12))
                            inside ^= crosses
                        color = g["fill_color"]
                    else:  # a straight stroke from the first to the last point
                        a, b = pts[0], pts[-1]
                        t = (((p - a) @ (b - a)) / ((b - a) ** 2).sum()).clamp(0, 1)
                        inside = (p - (a + t[..., None] * (b - a))).norm(dim=-1) <= sh["stroke_width"]
                        color = g["stroke_color"]
                    alpha = inside[..., None] * color[3]
                    out = alpha * color[:3] + (1 - alpha) * out
                img = out.reshape(h, sy, w, sx, 3).mean((1, 3))
                return torch.cat([img, torch.ones(h, w, 1)], -1)

        self.RenderFunction = RenderFunction


def test_renderer_registry_and_diffvg_marshalling(monkeypatch):
    assert isinstance(make_renderer("auto"), TorchRenderer)
    with pytest.raises(ValueError, match="unknown renderer"):
        make_renderer("nope")
    monkeypatch.setitem(sys.modules, "pydiffvg", None)
    with pytest.raises(ImportError, match="build it from"):
        make_renderer("diffvg")
    fake = StandInDiffvg()
    monkeypatch.setitem(sys.modules, "pydiffvg", fake)
    scene = Scene(8, 6, [line(1, 1, 6, 5, 2.5, (0, 1, 0, 0.7)), polygon([[1, 1], [6, 1], [3, 5]], (0, 0, 1, 1), "evenodd")],
                  torch.tensor([0.0, 0.0, 1.0]))
    img = make_renderer("diffvg")(scene)
    p0, p1 = fake.seen["shapes"]
    # clipedit's width is the full width, diffvg's stroke_width the half-width
    assert p0["num_control_points"].tolist() == [2] and not p0["is_closed"] and float(p0["stroke_width"]) == 1.25
    assert p1["num_control_points"].tolist() == [2, 2, 2] and p1["is_closed"]
    g0, g1 = fake.seen["groups"]
    assert g0["fill_color"] is None and torch.allclose(g0["stroke_color"], torch.tensor([0, 1, 0, 0.7]))
    assert g1["stroke_color"] is None and g1["use_even_odd_rule"] and fake.seen["samples"] == (2, 2)
    # the background goes in as diffvg's opaque (H, W, 4) background image, so each sample is composited
    assert torch.equal(fake.seen["bg"], torch.tensor([0.0, 0.0, 1.0, 1.0]).expand(6, 8, 4))
    assert img.shape == (1, 3, 6, 8) and torch.allclose(img[0, :, 0, 7], torch.tensor([0.0, 0.0, 1.0]))


def test_diffvg_backend_width_compositing_seed_and_dtype(monkeypatch):
    fake = StandInDiffvg()
    monkeypatch.setitem(sys.modules, "pydiffvg", fake)
    dv = make_renderer("diffvg", samples=8)
    # the same straight strokes through the stand-in's half-width rule and the torch renderer's full width
    for w in (2.0, 5.0, 11.0):
        scene = Scene(32, 32, [line(6.2, 9.7, 25.4, 21.3, w, (0.9, 0.1, 0.2, 1.0))], torch.tensor([0.2, 0.7, 0.3]))
        ours, theirs = R(scene), dv(scene)
        assert (ours - theirs).abs().mean() < 0.01, w
        wrong = R(Scene(32, 32, [line(6.2, 9.7, 25.4, 21.3, 2 * w, (0.9, 0.1, 0.2, 1.0))], scene.background))
        assert (wrong - theirs).abs().mean() > 4 * (ours - theirs).abs().mean()  # the check can see a 2x width
    # a thin coloured stroke over a coloured background: per-sample compositing keeps its edges as bright as
    # the torch renderer's analytic coverage (compositing averaged RGBA afterwards darkens them)
    thin = Scene(24, 24, [line(3.0, 12.0, 21.0, 12.0, 1.5, (1.0, 0.9, 0.0, 1.0))], torch.tensor([0.0, 0.3, 1.0]))
    edge = (R(thin) - dv(thin))[0, :, 10:15, 5:19].abs()
    assert edge.mean() < 0.02
    # a fresh diffvg seed per call, reproducible from the renderer's seed
    fake.seen["seeds"].clear()
    dv.manual_seed(0)
    for _ in range(3):
        dv(thin)
    first = list(fake.seen["seeds"])
    assert len(set(first)) == 3
    fake.seen["seeds"].clear()
    dv.manual_seed(0)
    for _ in range(3):
        dv(thin)
    assert fake.seen["seeds"] == first
    # float64 scenes are converted at the boundary (gradients flow back); other dtypes get one line
    d64 = Scene(24, 24, [line(3.0, 12.0, 21.0, 12.0, 3.0, (1.0, 0.9, 0.0, 1.0), torch.float64)],
                torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64))
    out = dv(d64)
    d32 = Scene(24, 24, [line(3.0, 12.0, 21.0, 12.0, 3.0, (1.0, 0.9, 0.0, 1.0))], torch.tensor([0.0, 0.3, 1.0]))
    assert out.dtype == torch.float64 and torch.allclose(out.float(), dv(d32), atol=1e-6)
    half = Scene(24, 24, [line(3.0, 12.0, 21.0, 12.0, 3.0, (1.0, 0.9, 0.0, 1.0), torch.float16)],
                 torch.tensor([0.0, 0.3, 1.0]))
    with pytest.raises(TypeError, match="float32 or float64 scenes, got float16") as err:
        dv(half)
    assert "\n" not in str(err.value)


def test_scene_validation():
    with pytest.raises(ValueError, match="3\\*S\\+1"):
        Path(torch.zeros(3, 2), torch.ones(4))
    with pytest.raises(ValueError, match="3\\*S"):
        Path(torch.zeros(4, 2), torch.ones(4), closed=True)
    with pytest.raises(ValueError, match="shape"):
        Path(torch.zeros(4, 2), torch.ones(3))
    s = random_strokes(10, 32, 32, seed=0)
    assert len(s.parameters()) == 30 and all(1 <= p.num_segments <= 3 for p in s.paths)
    assert to_svg(s).count("<path") == 10


def test_adaptive_flattening_stays_within_its_tolerance():
    from clipedit.draw.raster import bezier_basis, flatten_paths

    g = torch.Generator().manual_seed(0)
    pts = torch.rand(24, 4, 2, generator=g) * torch.tensor([200.0, 120.0])  # wild cubics, some very bent
    paths = [Path(p, torch.tensor([0.0, 0.0, 0.0, 1.0]), torch.tensor(2.0)) for p in pts]
    scene = Scene(200, 120, paths)
    dense = bezier_basis(torch.linspace(0, 1, 1001))  # (1001, 4)
    for tol in (0.5, 0.1, 0.02):
        a, b, owner, _ = flatten_paths(scene, None, closed=False, tolerance=tol, cap=10_000)
        for k in range(len(paths)):
            curve = dense @ pts[k]  # (1001, 2): every curve point lies within tol of its polyline
            sa, sb = a[owner == k], b[owner == k]
            ab = sb - sa
            t = (((curve[:, None] - sa) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0, 1)
            dist = (curve[:, None] - (sa + t[..., None] * ab)).norm(dim=-1).amin(1)
            assert float(dist.max()) <= tol * 1.001, (tol, k)
            assert torch.allclose(sa[0], pts[k][0]) and torch.allclose(sb[-1], pts[k][3], atol=1e-4)
    few = flatten_paths(scene, None, closed=False, tolerance=0.1, cap=3)[0]
    fixed = flatten_paths(scene, 5, closed=False)[0]
    assert len(few) <= 3 * len(paths) and len(fixed) == 5 * len(paths)
    # straight lines need one piece, however long
    assert len(flatten_paths(Scene(99, 99, [line(0, 0, 90, 80, 2.0)]), None, closed=False)[0]) == 1


def test_thirds_cubics_are_reparameterised_for_diffvg_without_moving_the_curve():
    from clipedit.draw.diffvg_backend import straighten_degenerate
    from clipedit.draw.raster import bezier_basis

    straight = line(3.0, 4.0, 30.0, 17.0, 2.0).points  # control points at the thirds: linear in t
    bent = straight.clone()
    bent[1] += torch.tensor([0.0, 2.0])
    pts = torch.cat([straight, bent[1:]]).requires_grad_()  # a straight segment, then a bent one
    out = straighten_degenerate(pts, closed=False)
    assert not torch.allclose(out[1:3], pts[1:3]) and torch.equal(out[3:], pts[3:]) and torch.equal(out[0], pts[0])
    basis = bezier_basis(torch.linspace(0, 1, 101))
    on_chord = (basis @ out[:4]).detach()  # the moved segment still traces the same straight line from end to end
    d = on_chord - pts[0].detach()
    chord = (pts[3] - pts[0]).detach()
    assert float((d[:, 0] * chord[1] - d[:, 1] * chord[0]).abs().max()) < 1e-4
    assert torch.allclose(on_chord[[0, -1]], pts.detach()[[0, 3]])
    out.sum().backward()
    assert torch.all(pts.grad != 0)  # gradients reach every point, the inner ones included
    closed = polygon([[1, 1], [9, 1], [5, 8]], (0, 0, 0, 1)).points
    assert not torch.allclose(straighten_degenerate(closed, closed=True), closed)


@pytest.mark.parametrize("wmax,dense", [(3.0, True), (25.0, True), (70.0, True), (25.0, False)])
def test_culling_changes_neither_the_image_nor_its_gradients(wmax, dense, monkeypatch):
    import clipedit.draw.raster as raster

    if not dense:  # the sorted-keys path that scenes too large for a dense (tile, path) array take
        monkeypatch.setattr(raster, "DENSE_SLOTS", 0)
    g = torch.Generator().manual_seed(int(wmax))
    scene = random_strokes(30, 80, 72, seed=int(wmax), radius=0.3)
    paths = [Path(p.points.double(), p.color.double(), (1 + torch.rand((), generator=g) * (wmax - 1)).double())
             for p in scene.paths]
    scene = Scene(80, 72, paths, torch.ones(3, dtype=torch.float64)).requires_grad_()
    weight = torch.rand(1, 3, 72, 80, generator=g, dtype=torch.float64)
    results = []
    for renderer in (TorchRenderer(cull=True), TorchRenderer(cull=False)):
        for t in scene.parameters():
            t.grad = None
        img = renderer(scene)
        (img * weight).sum().backward()
        results.append((img.detach(), torch.cat([t.grad.reshape(-1) for t in scene.parameters()])))
    (culled, g1), (full, g2) = results
    assert torch.equal(culled, full)
    assert torch.allclose(g1, g2, rtol=1e-9, atol=1e-12) and g1.abs().sum() > 0


def test_box_segment_distance_against_dense_sampling():
    from clipedit.draw.raster import _capsule_parts, box_segment_distance

    g = torch.Generator().manual_seed(1)
    lo = torch.rand(400, 2, generator=g, dtype=torch.float64) * 40
    hi = lo + torch.rand(400, 2, generator=g, dtype=torch.float64) * 15
    a = torch.rand(400, 2, generator=g, dtype=torch.float64) * 60 - 5
    b = a + (torch.rand(400, 2, generator=g, dtype=torch.float64) - 0.5) * 40
    b[:20, 0] = a[:20, 0]  # vertical, horizontal and zero-length segments too
    b[20:40, 1] = a[20:40, 1]
    b[40:50] = a[40:50]
    corners = torch.stack([lo, torch.stack([hi[:, 0], lo[:, 1]], 1), torch.stack([lo[:, 0], hi[:, 1]], 1), hi], 1)
    corner_d = _capsule_parts(corners[..., 0], corners[..., 1], a, b)[3].amin(1)
    got = box_segment_distance(lo, hi, a, b, corner_d)
    u = torch.linspace(0, 1, 61, dtype=torch.float64)
    seg = a[:, None] + u[None, :, None] * (b - a)[:, None]  # (K, 61, 2) points on each segment
    box = lo[:, None] + torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)[None] * (hi - lo)[:, None]
    brute = torch.cdist(seg, box).amin((1, 2))  # (K,) dense approximation from above
    spacing = ((b - a).norm(dim=1) + (hi - lo).norm(dim=1)) / 60
    assert torch.all(got <= brute + 1e-9) and torch.all(brute - got <= spacing)
    assert (got == 0).sum() > 20 and (got > 0).sum() > 100  # both cases are exercised


def test_slot_coverage_splits_exact_ties_like_amax():
    """Two identical pieces in one slot: the slot's coverage and the summed gradient equal those of one piece (the
    gradient is split between exact ties, as torch's amax does), and a slot's gradient goes to its nearest piece."""
    from clipedit.draw.raster import SlotStrokeCoverage, _stroke_t_d

    torch.manual_seed(0)
    offs = torch.stack(torch.meshgrid(torch.arange(8.0) + 0.5, torch.arange(8.0) + 0.5, indexing="xy"), -1).view(-1, 2)
    origin = torch.zeros(1, 2, dtype=torch.float64)
    a0, b0 = torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[6.5, 5.0]], dtype=torch.float64)
    r = torch.tensor([[1.2]], dtype=torch.float64)
    offs = offs.double()
    g = torch.rand(1, 64, dtype=torch.float64)

    def grads(n):  # the same piece n times in one slot
        a, b, rr = a0.repeat(n, 1).requires_grad_(), b0.repeat(n, 1).requires_grad_(), r.clone().requires_grad_()
        cov = SlotStrokeCoverage.apply(origin.repeat(n, 1), offs, a, b, torch.zeros(n, dtype=torch.long), rr)
        (cov * g).sum().backward()
        return cov.detach(), a.grad.sum(0), b.grad.sum(0), rr.grad

    one, two = grads(1), grads(2)
    for x, y in zip(one, two):
        assert torch.allclose(x, y, atol=1e-12)
    # against autograd through the plain formula, one piece
    a, b, rr = a0.clone().requires_grad_(), b0.clone().requires_grad_(), r.clone().requires_grad_()
    p, ab = origin + offs, b - a  # the distance to the segment in plain differentiable ops
    t = (((p - a) * ab).sum(1) / (ab * ab).sum(1)).clamp(0, 1)
    d = (p - a - t[:, None] * ab).norm(dim=1)[None]
    assert torch.allclose(d, _stroke_t_d(origin, offs, a.detach(), b.detach())[1], atol=1e-9)
    ((rr + 0.5 - d).clamp(0, 1) * g).sum().backward()
    assert torch.allclose(one[1], a.grad[0], atol=1e-9) and torch.allclose(one[2], b.grad[0], atol=1e-9)
    assert torch.allclose(one[3], rr.grad, atol=1e-9)


@pytest.mark.parametrize("chunk", [1 << 20, 8])  # one pass, and one tile per pass
def test_compositing_backward_matches_finite_differences_with_opaque_layers(chunk, monkeypatch):
    from clipedit.draw.raster import OverComposite

    monkeypatch.setattr(OverComposite, "CHUNK", chunk)
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 5, 4, dtype=torch.float64, generator=g)  # coverage
    a[0, 2] = 1.0  # an opaque layer in the middle of a stack, and a column opaque at every depth
    a[1, :, 0] = 1.0
    rgba = torch.rand(3, 5, 4, dtype=torch.float64, generator=g)
    rgba[2, 1, 3] = 1.0  # an opaque colour over full coverage
    a[2, 1] = 1.0
    bg = torch.rand(3, 3, 4, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(OverComposite.apply, (a.requires_grad_(), rgba.requires_grad_(), bg.requires_grad_()))
