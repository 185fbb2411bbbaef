"""Style losses on feature sets: STROTSS (Kolkin et al. 2019) as StyleCLIPDraw uses it, relaxed EMD, moments.

:class:`StyleLoss` scores an image against a fixed style image on VGG-16 hypercolumns (``"strotss"``) or Gram
matrices (``"gram"``); the pieces work on any ``(N, C)`` feature sets.

>>> x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
>>> float(relaxed_emd(x, x)) < 1e-5, float(moment_loss(x, x)) < 1e-6
(True, True)
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.imageio import as_image_batch
from clipedit.losses.perceptual import VGGFeatures, gram_loss, gram_matrix

STROTSS_LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_3", "relu5_3")
_YUV = torch.tensor([[0.577350, 0.577350, 0.577350], [-0.577350, 0.788675, -0.211325], [-0.577350, -0.211325, 0.788675]])


def hypercolumns(image: torch.Tensor, feats: Mapping[str, torch.Tensor], xy: torch.Tensor) -> torch.Tensor:
    """Features at ``N`` positions: ``(N, 3 + Σ C_l)`` — the RGB pixel then every layer, bilinearly sampled.

    ``image`` ``(1, 3, H, W)``; ``feats`` maps layer -> ``(1, C_l, h_l, w_l)``; ``xy`` ``(N, 2)`` in ``[-1, 1]``.
    """
    grid = xy.view(1, 1, -1, 2).to(image)
    cols = [F.grid_sample(t, grid, mode="bilinear", align_corners=False)[0, :, 0] for t in (image, *feats.values())]
    return torch.cat(cols, 0).t()


def _cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 1 - F.normalize(x, dim=1, eps=1e-8) @ F.normalize(y, dim=1, eps=1e-8).t()


def relaxed_emd(x: torch.Tensor, y: torch.Tensor, l2: bool = False) -> torch.Tensor:
    """Relaxed earth mover's distance between feature sets ``(N, C)`` and ``(M, C)`` under cosine cost
    (plus Euclidean cost when ``l2``): ``max(mean_i min_j C_ij, mean_j min_i C_ij)``."""
    cost = _cosine_cost(x, y)
    if l2:
        cost = cost + torch.cdist(x, y).clamp_min(1e-5) / x.shape[1] ** 0.5
    return torch.maximum(cost.min(1).values.mean(), cost.min(0).values.mean())


def moment_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the means and of the covariance matrices of ``(N, C)`` and ``(M, C)``."""
    mx, my = x.mean(0, keepdim=True), y.mean(0, keepdim=True)
    cx = (x - mx).t() @ (x - mx) / max(1, x.shape[0] - 1)
    cy = (y - my).t() @ (y - my) / max(1, y.shape[0] - 1)
    return (mx - my).abs().mean() + (cx - cy).abs().mean()


def strotss_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """STROTSS style loss between hypercolumn sets (first 3 columns RGB): relaxed EMD over all features +
    moment matching over the VGG features + a palette term (relaxed EMD on YUV colours, cosine + L2),
    normalised as in StyleCLIPDraw with content weight 0: ``(remd + moments + palette) / 2``."""
    yuv = _YUV.to(x)
    remd = relaxed_emd(x, y)
    moments = moment_loss(x[:, 3:], y[:, 3:])
    palette = relaxed_emd(x[:, :3] @ yuv.t(), y[:, :3] @ yuv.t(), l2=True)
    return (remd + moments + palette) / 2


class StyleLoss(nn.Module):
    """Style loss of an image against a fixed style image, on VGG-16 features.

    Args:
        style: ``(1, 3, H, W)`` style image in [0, 1].
        kind: ``"strotss"`` (relaxed EMD + moments + palette on hypercolumns, StyleCLIPDraw's loss) or
            ``"gram"`` (Gram matrices at relu1_2/2_2/3_3/4_3).
        vgg: a ready :class:`VGGFeatures` (VGG-16 with the needed layers) or ``weights`` for a new one
            (``"imagenet"``, ``None`` random init, or a path).
        samples: positions sampled from the image per call (``"strotss"``); the style keeps 5x as many.
        size: the style image's long side is resized to this.
    ``forward(image (1, 3, H, W)) -> scalar``; positions are drawn from torch's global RNG (seed it).
    """

    GRAM_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")

    def __init__(self, style: torch.Tensor, kind: str = "strotss", vgg: VGGFeatures | None = None,
                 weights: str | Path | None = "imagenet", samples: int = 1024, size: int = 224) -> None:
        super().__init__()
        if kind not in ("strotss", "gram"):
            raise ValueError(f"style loss kind must be 'strotss' or 'gram', got {kind!r}")
        layers = STROTSS_LAYERS if kind == "strotss" else self.GRAM_LAYERS
        self.vgg = vgg if vgg is not None else VGGFeatures(layers, arch="vgg16", weights=weights)
        missing = set(layers) - set(self.vgg.layers)
        if self.vgg.arch != "vgg16" or missing:
            raise ValueError(f"the style loss needs VGG-16 layers {layers}; got {self.vgg.arch} with {self.vgg.layers}")
        self.kind, self.samples, self.layers = kind, samples, layers
        s = as_image_batch(style, "style image")[:1]
        h, w = s.shape[-2:]
        k = size / max(h, w)
        s = F.interpolate(s, size=(max(8, round(h * k)), max(8, round(w * k))), mode="bilinear", antialias=True,
                          align_corners=False).to(self.vgg.mean.device)
        with torch.no_grad():
            feats = self._feats(s)
            if kind == "gram":
                self.target = {n: gram_matrix(feats[n]) for n in layers}
            else:
                g = torch.Generator().manual_seed(0)
                xy = torch.rand(5 * samples, 2, generator=g) * 2 - 1
                self.target = hypercolumns(s, feats, xy)

    def _feats(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.vgg(x)
        return {n: f[n] for n in self.layers}

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = as_image_batch(image, "image")
        feats = self._feats(x)
        if self.kind == "gram":
            return gram_loss(feats, self.target) * 1e3  # Gram entries are ~1e-3: bring the loss near 1
        xy = torch.rand(self.samples, 2, device=x.device) * 2 - 1
        return strotss_loss(hypercolumns(x[:1], feats, xy), self.target.to(x.device))
