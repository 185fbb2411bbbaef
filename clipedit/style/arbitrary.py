"""Arbitrary style transfer (Magenta) and StyleTransferCLIP: a style described by words.

* :func:`load_arbitrary_style` — the style prediction network ``SP`` and transfer network ``T`` from
  Magenta's TFLite release (found in the data folder, the cache, or downloaded and checked);
* :func:`stylize` — ``T(C, s * SP(style) + (1 - s) * SP(C))``: strength ``s`` interpolates between the
  content's own embedding and the style's;
* :func:`mix_styles` — interpolate several styles by mixing their embeddings (conditional instance
  norm makes ``γ, β`` linear in ``E``);
* :func:`style_transfer_clip` — StyleTransferCLIP: start at ``E0 = SP(style)`` (or ``SP(content)``),
  optimise ``E`` with the CLIP guide against a text prompt (affine + colour-jitter + crop views),
  optionally ``λ ||E - E0||²``; ``result.at(t)`` interpolates between ``E0`` and ``E*``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from typing_extensions import Unpack

from clipedit.defaults import STYLE_TEXT, STYLIZE
from clipedit.device import select_device
from clipedit.guidance.guide import CLIPGuide, PromptLike
from clipedit.imageio import ImageLike, as_image_batch, load_image
from clipedit.optim import OptimResult, RunFrames, RunOptions, optimize, seed_everything
from clipedit.models.magenta import MAGENTA_SUBDIR, magenta_file  # noqa: F401 (old import path)
from clipedit.models.magenta import MAGENTA_ROWS, StylePredictor, StyleTransformer
from clipedit.weights import WeightFile, get_weights

#: Magenta's TFLite files: rows of the one weights table (:mod:`clipedit.weights`).
MAGENTA_FILES: dict[str, WeightFile] = {k: get_weights(v) for k, v in MAGENTA_ROWS.items()}


class ArbitraryStyleNet(nn.Module):
    """``SP`` and ``T`` together. ``embed(style) -> (B, 100)``; ``forward(content, E) -> (B, 3, H, W)`` in [0, 1]."""

    def __init__(self, predictor: StylePredictor, transformer: StyleTransformer) -> None:
        super().__init__()
        self.predictor, self.transformer = predictor, transformer
        self.requires_grad_(False).eval()

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    def embed(self, style: torch.Tensor) -> torch.Tensor:
        return self.predictor(as_image_batch(style, "style image").to(self.device))

    def forward(self, content: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return self.transformer(as_image_batch(content, "content image").to(self.device), embedding.to(self.device))


_NETS: dict[tuple[str, str], ArbitraryStyleNet] = {}


def load_arbitrary_style(transfer: str = STYLIZE.transfer, device: str | torch.device | None = None,
                         download_ok: bool = True) -> ArbitraryStyleNet:
    """Magenta's networks in float32 on ``device`` (cached per process). ``transfer``: ``"fp16"`` or ``"int8"``."""
    if transfer not in ("fp16", "int8"):
        raise ValueError(f"transfer must be 'fp16' or 'int8', got {transfer!r}")
    dev = select_device(device)
    key = (transfer, str(dev))
    if key not in _NETS:
        net = ArbitraryStyleNet(StylePredictor.from_tflite(magenta_file("predict", download_ok)),
                                StyleTransformer.from_tflite(magenta_file(transfer, download_ok)))
        _NETS[key] = net.to(dev)
    return _NETS[key]


@torch.no_grad()
def stylize(content: ImageLike, style: ImageLike, strength: float = STYLIZE.strength, content_size: int | None = STYLIZE.content_size,
            net: ArbitraryStyleNet | None = None, device: str | torch.device | None = None, mask=None,
            feather: int = 8) -> torch.Tensor:
    """Render ``content`` in the style of ``style``.

    Args:
        content, style: paths, PIL images, arrays or ``(B, 3, H, W)`` tensors in [0, 1].
        strength: 0 = the content's own embedding (nearly the content), 1 = the style's; values in between mix.
        content_size: shorter side the content is resized to (``None``: as given).
        mask: stylise only this region (:mod:`clipedit.masks`), blended into the content over a ``feather`` px edge
            inside it; pixels where the mask is 0 are exactly the (resized) content.
    Returns:
        ``(1, 3, H, W)`` in [0, 1] on the network's device.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    net = net or load_arbitrary_style(device=device)
    c = load_image(content, content_size, net.device)
    s = load_image(style, None, net.device)
    e = strength * net.embed(s) + (1 - strength) * net.embed(c)
    out = net(c, e)
    if mask is not None:
        from clipedit.masks import paste

        out = paste(out, c, mask, feather)
    return out


@torch.no_grad()
def mix_styles(content: ImageLike, styles: Sequence[ImageLike], weights: Sequence[float] | None = None,
               content_size: int | None = 384, net: ArbitraryStyleNet | None = None,
               device: str | torch.device | None = None) -> torch.Tensor:
    """Stylise with a weighted mix of several styles' embeddings (weights default to equal, normalised to 1)."""
    if not styles:
        raise ValueError("give at least one style image")
    w = torch.tensor(weights if weights is not None else [1.0] * len(styles), dtype=torch.float32)
    if len(w) != len(styles) or w.sum() <= 0:
        raise ValueError("one non-negative weight per style, not all zero")
    w = w / w.sum()
    net = net or load_arbitrary_style(device=device)
    c = load_image(content, content_size, net.device)
    e = sum(wi * net.embed(load_image(s, None, net.device)) for wi, s in zip(w.tolist(), styles))
    return net(c, e)


@dataclass
class StyleCLIPResult(RunFrames):
    """StyleTransferCLIP outcome: ``image`` for ``E*``; ``embedding`` ``E*`` and ``start`` ``E0`` ``(1, 100)``."""

    image: torch.Tensor
    embedding: torch.Tensor
    start: torch.Tensor
    run: OptimResult
    content: torch.Tensor
    net: ArbitraryStyleNet
    guide: CLIPGuide

    @torch.no_grad()
    def at(self, t: float) -> torch.Tensor:
        """The content rendered with ``(1 - t) E0 + t E*`` (``t`` = 0: start style, 1: optimised)."""
        return self.net(self.content, (1 - t) * self.start + t * self.embedding).cpu()


def style_transfer_clip(
    content: ImageLike,
    prompt: PromptLike | Sequence[PromptLike],
    style: ImageLike | None = None,
    *,
    negatives: PromptLike | Sequence[PromptLike] | None = None,
    model: str = "auto",
    steps: int = STYLE_TEXT.steps,
    lr: float = STYLE_TEXT.lr,
    l2_weight: float = STYLE_TEXT.l2_weight,
    augment: str = STYLE_TEXT.augment,
    n_augs: int = STYLE_TEXT.n_augs,
    content_size: int | None = STYLE_TEXT.content_size,
    seed: int | None = 0,
    device: str | torch.device | None = None,
    net: ArbitraryStyleNet | None = None,
    guide: CLIPGuide | None = None,
    mask=None,
    **control: Unpack[RunOptions],
) -> StyleCLIPResult:
    """StyleTransferCLIP: optimise Magenta's style embedding so ``T(content, E)`` matches a text.

    Args:
        content: the image to restyle. prompt: text prompt(s) (weights allowed). style: optional start style
            (default: the content's own embedding, i.e. start from the content's look).
        l2_weight: ``λ`` of ``λ ||E - E0||²`` (keeps the result near the start style).
        augment, n_augs: views for the CLIP loss (StyleTransferCLIP used affine + colour jitter + crops).
        content_size: shorter side of the content during optimisation (the network is fully convolutional:
            render the final ``E*`` at any size with ``net(content, result.embedding)``).
        mask: restyle only this region (:mod:`clipedit.masks`, an 8 px feathered edge inside it): the guide sees the
            composite, and pixels where the mask is 0 stay exactly the content's.
    """
    dev = select_device(device)
    seed_everything(seed)
    if guide is None:
        guide = CLIPGuide(prompt, negatives=negatives, models=model, augment=augment, n_augs=n_augs, device=dev)
    net = net or load_arbitrary_style(device=dev)
    c = load_image(content, content_size, net.device)
    with torch.no_grad():
        e0 = net.embed(load_image(style, None, net.device) if style is not None else c)
    e = nn.Parameter(e0.clone())
    region = None
    if mask is not None:
        from clipedit.masks import region_for

        region = region_for(mask, c, 8)

    def render() -> torch.Tensor:  # with a mask, the guide sees (and the result is) the content outside the region
        out = net(c, e)
        return out if region is None else region * out + (1 - region) * c

    def closure(step: int):
        out = guide(render())
        loss = out.loss
        logs = dict(out.similarities)
        if l2_weight > 0:
            reg = l2_weight * (e - e0).pow(2).sum()
            loss = loss + reg
            logs["l2"] = float(reg.detach())
        return loss, logs

    run = optimize([e], closure, steps, lr=lr, render=render, **control, desc="style-text")
    return StyleCLIPResult(run.image.detach().cpu(), e.detach().clone(), e0, run, c, net, guide)
