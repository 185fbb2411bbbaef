"""The procedural shapes world, checked against analytic geometry."""
from __future__ import annotations

import math

import pytest
import torch

from clipedit.data.shapes import COLOUR_NAMES, HELD_OUT, SHAPES, make_caption, render_shapes, sample_batch

# Areas in units of radius^2 of the inside-tests in clipedit.data.shapes, derived by hand.
STAR_R, STAR_r = 1.1, 0.45
AREAS = {
    "circle": math.pi,
    "square": (2 * 0.82) ** 2,
    "triangle": 3 * math.sqrt(3) * 0.55**2,  # equilateral triangle with inradius 0.55
    "star": 10 * 0.5 * STAR_R * STAR_r * math.sin(math.pi / 5),  # 10 triangles (tip, inner vertex)
    "cross": 2 * (0.6 * 1.9) - 0.6 * 0.6,
}


@pytest.mark.parametrize("name", list(AREAS))
def test_shape_areas_match_geometry(name):
    n, res, size = 1, 256, 0.5
    img = render_shapes(torch.tensor([SHAPES.index(name)]), torch.ones(n, 3), torch.zeros(n, 3),
                        torch.zeros(n, 2), torch.full((n,), size), torch.zeros(n), res, supersample=2)
    covered = float(img[0, 0].sum()) / res**2 * 4  # image area is 2x2 in [-1, 1] units
    assert covered == pytest.approx(AREAS[name] * size**2, rel=0.02)


def test_centre_rotation_and_colours():
    img = render_shapes(torch.tensor([0]), torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]]),
                        torch.tensor([[0.5, -0.5]]), torch.tensor([0.2]), torch.tensor([0.3]), 64)
    mask = img[0, 0]
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    # Centre (0.5, -0.5) in [-1, 1] coordinates -> pixel (48, 16) (x right, y down).
    assert float(xs.float().mean()) == pytest.approx(47.5, abs=0.6)
    assert float(ys.float().mean()) == pytest.approx(15.5, abs=0.6)
    assert torch.allclose(img[0, :, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    # Rotating a square by 90 degrees gives the same square.
    args = (torch.tensor([1]), torch.ones(1, 3), torch.zeros(1, 3), torch.zeros(1, 2), torch.tensor([0.5]))
    a = render_shapes(*args, torch.tensor([0.0]), 64)
    b = render_shapes(*args, torch.tensor([math.pi / 2]), 64)
    assert (a - b).abs().mean() < 0.01


def test_batches_respect_held_out_pairs_and_captions():
    b = sample_batch(500, 32, torch.Generator().manual_seed(0))
    pairs = {(COLOUR_NAMES[c], SHAPES[s]) for c, s in zip(b.colour.tolist(), b.shape.tolist())}
    assert not pairs & set(HELD_OUT) and len(pairs) == 30
    for cap, c, s in zip(b.captions, b.colour.tolist(), b.shape.tolist()):
        assert f"{COLOUR_NAMES[c]} {SHAPES[s]}" in cap
    only = sample_batch(50, 32, torch.Generator().manual_seed(0), only=HELD_OUT)
    assert {(COLOUR_NAMES[c], SHAPES[s]) for c, s in zip(only.colour.tolist(), only.shape.tolist())} <= set(HELD_OUT)
    assert b.images.shape == (500, 3, 32, 32) and 0 <= float(b.images.min()) and float(b.images.max()) <= 1
    assert make_caption("orange", "star").split(" orange")[0].endswith("an")


def test_a_batch_carries_every_parameter_needed_to_render_it_again():
    b = sample_batch(64, 32, torch.Generator().manual_seed(4), exclude=(), noise=0.0)
    again = render_shapes(b.shape, b.colour_rgb, b.background_rgb, b.center, b.size, b.rotation, 32)
    assert torch.equal(again, b.images)
    assert float(b.rotation.abs().max()) <= math.radians(20) + 1e-6
    assert b.colour_rgb.shape == b.background_rgb.shape == (64, 3)
