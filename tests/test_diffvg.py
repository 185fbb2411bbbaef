"""The diffvg backend against a real diffvg build, pixel for pixel. Runs only where ``pydiffvg`` imports (it is
built from source, never from a package index; see docs/draw.md). Elsewhere the stand-in tests in test_draw.py
pin the conversions."""
from __future__ import annotations

import pytest
import torch

from clipedit.draw import Path, Scene, TorchRenderer, make_renderer
from lab.compare_renderers import (agreement, exact_coverage, gradient_check, gradient_scene, reference_scenes,
                                   straight_strokes)

pytest.importorskip("pydiffvg", reason="diffvg is not installed (build it from source to run these)")

R = TorchRenderer()
SCENES = reference_scenes(0)


@pytest.mark.parametrize("name", sorted(SCENES))
def test_torch_renderer_and_diffvg_agree(name):
    scene = SCENES[name]
    with torch.no_grad():
        ours, theirs = R(scene), make_renderer("diffvg", samples=8)(scene)
    r = agreement(ours, theirs)
    assert r["mean_abs"] <= 0.01 and r["off_0.1"] <= 0.02, r
    blank = agreement(theirs, scene.background.view(1, 3, 1, 1).expand_as(theirs))
    assert blank["mean_abs"] > 5 * r["mean_abs"]  # not two blank images


def test_diffvg_converges_to_exact_coverage_on_straight_strokes():
    scene = straight_strokes(seed=1)
    truth = exact_coverage(scene)
    errors = [agreement(make_renderer("diffvg", samples=n)(scene), truth)["mean_abs"] for n in (2, 8, 32)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.002, errors


def test_thin_coloured_stroke_edges_over_a_coloured_background():
    scene = Scene(40, 40, [Path(torch.tensor([[4.0, 20.3], [15.0, 17.0], [25.0, 23.5], [36.0, 20.3]]),
                                torch.tensor([1.0, 0.85, 0.0, 1.0]), torch.tensor(1.5))], torch.tensor([0.0, 0.25, 1.0]))
    ours, theirs = R(scene), make_renderer("diffvg", samples=8)(scene)
    edge = (ours - scene.background.view(1, 3, 1, 1)).abs().amax(1) > 0.02  # pixels the stroke touches
    assert edge.sum() > 30
    assert (ours - theirs).abs().amax(1)[edge].mean() < 0.03


def test_seeds_dtypes_and_gradients_through_diffvg():
    scene = SCENES["thin 1-3 px"]
    dv = make_renderer("diffvg", samples=2, seed=3)
    first = [dv(scene) for _ in range(2)]
    assert not torch.equal(first[0], first[1])  # a fresh sample pattern per call
    dv.manual_seed(3)
    assert torch.equal(dv(scene), first[0])  # reproducible from the seed
    d64 = gradient_scene(torch.float64).requires_grad_()
    out = make_renderer("diffvg", samples=4)(d64)
    assert out.dtype == torch.float64
    out.sum().backward()
    assert all(torch.isfinite(p.points.grad).all() and p.points.grad.abs().sum() > 0 for p in d64.paths)


def test_point_gradients_against_finite_differences():
    exact = gradient_check(R, gradient_scene(torch.float64), eps=1e-4)
    assert exact["slope"] == pytest.approx(1.0, abs=2e-3) and exact["cosine"] > 0.999
    dv = make_renderer("diffvg", samples=8)

    def fixed(scene):
        dv.manual_seed(0)
        return dv(scene)

    sampled = gradient_check(fixed, gradient_scene(), eps=0.5)
    assert sampled["cosine"] > 0.5  # diffvg's edge sampling: right direction, noisy magnitude (docs/draw.md table)
