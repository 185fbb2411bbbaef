"""Classic texture statistics: Gabor responses follow orientation analytically; both statistics tell the paintings'
textures apart far above chance."""
from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import needs_data
from clipedit.style.texture import FREQUENCIES, N_THETA, gabor_features, lbp_histogram, nearest_neighbour_accuracy

pytest.importorskip("skimage")


def stripes(angle_index: int, period: int = 5, size: int = 96) -> torch.Tensor:
    """Sinusoidal stripes whose wave vector points at θ = π·k/4 (the filter bank's orientations)."""
    theta = math.pi * angle_index / N_THETA
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    wave = 0.5 + 0.5 * torch.cos(2 * math.pi / period * (xx * math.cos(theta) + yy * math.sin(theta)))
    return wave.expand(3, -1, -1)[None]


@pytest.mark.parametrize("k", range(N_THETA))
def test_the_gabor_filter_of_the_stripes_orientation_responds_most(k):
    means = gabor_features(stripes(k))[0::2].view(len(FREQUENCIES), N_THETA)  # mean magnitude per (freq, θ)
    f = min(range(len(FREQUENCIES)), key=lambda i: abs(FREQUENCIES[i] - 1 / 5))  # the frequency nearest 1/period
    assert int(means[f].argmax()) == k, means[f]


def test_lbp_histogram_is_a_rotation_invariant_distribution():
    img = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    h = lbp_histogram(img)
    assert abs(float(h.sum()) - 1) < 1e-5
    # Rotation-invariant uniform codes, 8 neighbours at radius 1: a quarter turn permutes the neighbours exactly.
    assert torch.allclose(lbp_histogram(img.rot90(1, (-2, -1))), h, atol=1e-6)


@needs_data("images/styles")
def test_texture_statistics_separate_the_paintings():
    from clipedit.data.paths import example_image
    from clipedit.data.photos import random_crops
    from clipedit.imageio import load_image
    from clipedit.style.texture import texture_features

    names = ["starry_night", "the_scream", "great_wave", "shipwreck", "three_fishing_boats", "udnie", "woman_with_hat"]
    feats, labels = [], []
    for i, name in enumerate(names):
        img = load_image(example_image("styles", name), 256)[0]
        for crop in random_crops([img], 6, 96, torch.Generator().manual_seed(i), scales=(0.4, 0.6)):
            feats.append(texture_features(crop))
            labels.append(i)
    acc = nearest_neighbour_accuracy(torch.stack(feats), torch.tensor(labels))
    assert acc >= 0.6, acc  # docs/style.md: measured 86 % (Gabor alone 69 %, LBP alone 95 %); chance 14 %
