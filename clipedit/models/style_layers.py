"""Layers shared by the style networks: TensorFlow 'SAME' padding and (conditional) instance norm.

>>> import torch
>>> cin = ConditionalInstanceNorm2d(4)
>>> x, g, b = torch.randn(2, 4, 8, 8), torch.ones(2, 4), torch.zeros(2, 4)
>>> y = cin(x, g, b)                              # unit gamma, zero beta: plain instance norm
>>> y.shape, bool(y.mean((2, 3)).abs().max() < 1e-5)
(torch.Size([2, 4, 8, 8]), True)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def same_pad(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    """Zero-pad ``(B, C, H, W)`` like TensorFlow's 'SAME' for kernel ``k``, stride ``s``.

    TF puts the odd extra pixel at the bottom/right, which torch's symmetric ``padding`` cannot express.
    """
    h, w = x.shape[-2:]
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def instance_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
    """``γ (x - μ) / sqrt(σ² + eps) + β`` over each sample's channel; ``γ, β`` of shape ``(C,)`` or ``(B, C)``."""
    mean = x.mean((-2, -1), keepdim=True)
    var = (x - mean).pow(2).mean((-2, -1), keepdim=True)
    if gamma.dim() == 1:
        gamma, beta = gamma[None], beta[None]
    return (x - mean) * torch.rsqrt(var + eps) * gamma[..., None, None] + beta[..., None, None]


class ConditionalInstanceNorm2d(nn.Module):
    """Instance norm whose scale and shift are given per sample (Dumoulin et al. 2017).

    ``forward(x (B, C, H, W), gamma (B, C), beta (B, C))``. A network trained for ``N`` styles keeps an
    ``(N, C)`` table of ``γ, β`` and picks (or mixes) rows; Magenta's arbitrary-style network predicts
    them from a style embedding instead (:class:`clipedit.models.magenta.StyleTransformer`). Because
    the output is linear in ``γ, β``, mixing two styles' parameters interpolates the styles.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return instance_norm(x, gamma, beta, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"
