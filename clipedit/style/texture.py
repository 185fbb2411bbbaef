"""Classic texture statistics (before deep features): Gabor filter banks and local binary patterns, computed with
scikit-image (the ``notebooks`` extra; imported when called).

* :func:`gabor_features` — mean and standard deviation of the magnitude of a bank of Gabor filters (``n_freq``
  frequencies × ``n_theta`` orientations) over a grey image (Manjunath & Ma 1996);
* :func:`lbp_histogram` — the histogram of rotation-invariant uniform local binary patterns (Ojala et al. 2002);
* :func:`texture_features` — both, concatenated: one vector per image, comparable across images of any size.

>>> import torch
>>> stripes = torch.zeros(1, 3, 64, 64); stripes[..., ::4] = 1        # vertical lines
>>> f = texture_features(stripes)
>>> f.shape, bool(torch.isfinite(f).all())
(torch.Size([42]), True)
"""
from __future__ import annotations

import numpy as np
import torch

FREQUENCIES = (0.1, 0.2, 0.3, 0.4)
N_THETA = 4
LBP_POINTS, LBP_RADIUS = 8, 1


def _grey(image: torch.Tensor) -> np.ndarray:
    """``(1|3, H, W)`` or ``(1, 3, H, W)`` in [0, 1] -> ``(H, W)`` float64 luminance."""
    from skimage.color import rgb2gray

    x = image[0] if image.dim() == 4 else image
    arr = x.detach().cpu().permute(1, 2, 0).numpy().astype(np.float64)
    return rgb2gray(arr) if arr.shape[-1] == 3 else arr[..., 0]


def gabor_features(image: torch.Tensor, frequencies=FREQUENCIES, n_theta: int = N_THETA) -> torch.Tensor:
    """``(2 · len(frequencies) · n_theta,)``: mean and std of each Gabor filter's response magnitude."""
    from scipy.signal import fftconvolve
    from skimage.filters import gabor_kernel

    grey = _grey(image)
    grey = (grey - grey.mean()) / (grey.std() + 1e-8)  # contrast-normalised, as in the classic texture papers
    feats = []
    for f in frequencies:
        for k in range(n_theta):
            kern = gabor_kernel(f, theta=np.pi * k / n_theta)
            mag = np.abs(fftconvolve(grey, kern, mode="valid"))  # complex kernel: |real + i imag| in one pass
            feats += [mag.mean(), mag.std()]
    return torch.tensor(feats, dtype=torch.float32)


def lbp_histogram(image: torch.Tensor, points: int = LBP_POINTS, radius: float = LBP_RADIUS) -> torch.Tensor:
    """``(points + 2,)``: the normalised histogram of rotation-invariant uniform LBP codes."""
    from skimage.feature import local_binary_pattern

    grey = (_grey(image) * 255).astype(np.uint8)
    codes = local_binary_pattern(grey, points, radius, method="uniform")
    hist, _ = np.histogram(codes, bins=np.arange(points + 3), density=True)
    return torch.tensor(hist, dtype=torch.float32)


def texture_features(image: torch.Tensor) -> torch.Tensor:
    """Gabor statistics then the LBP histogram: ``(42,)`` with the defaults."""
    return torch.cat([gabor_features(image), lbp_histogram(image)])


def nearest_neighbour_accuracy(features: torch.Tensor, labels: torch.Tensor) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy of ``features`` ``(N, D)`` (each dimension standardised) against
    ``labels`` ``(N,)``: how well the statistics tell the textures apart."""
    z = (features - features.mean(0)) / (features.std(0) + 1e-8)
    d = torch.cdist(z, z)
    d.fill_diagonal_(float("inf"))
    return float((labels[d.argmin(1)] == labels).float().mean())
