"""Distances between CLIP embeddings used as guidance losses.

All functions take embeddings ``a`` of shape ``(N, D)`` and ``b`` of shape
``(M, D)`` (any norm: they are L2-normalised here) and return an ``(N, M)``
matrix. Lower is "more alike" for both losses.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity ``(N, M)`` in ``[-1, 1]``."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def negative_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``-cos(a, b)``, in ``[-1, 1]`` (CLIPDraw's loss)."""
    return -cosine_similarity_matrix(a, b)


def spherical_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared great-circle distance ``2 * arcsin(|a - b| / 2)**2`` between unit vectors, in ``[0, pi**2 / 2]``.

    (VQGAN-CLIP's ``spherical_dist_loss``.) Computed from the cosine so it is
    exact for every pair: ``|a - b| = sqrt(2 - 2 cos)``.
    """
    cos = cosine_similarity_matrix(a, b)
    chord = (2 - 2 * cos).clamp(min=1e-12).sqrt()
    return 2 * torch.arcsin((chord / 2).clamp(max=1.0)) ** 2


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cosine": negative_cosine,
    "spherical": spherical_distance,
}
