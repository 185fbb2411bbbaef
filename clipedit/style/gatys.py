"""Gatys et al. (2016): optimise the image itself so its VGG features match the content image and its
Gram matrices match the style image. Uses clipedit's shared pieces: :class:`VGGFeatures`, the Gram and
content losses, :class:`~clipedit.params.PixelImage` and :func:`~clipedit.optim.optimize`."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import torch
from typing_extensions import Unpack

from clipedit.device import select_device
from clipedit.imageio import ImageLike, load_image
from clipedit.losses import GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS, VGGFeatures, content_loss, gram_loss, gram_matrix
from clipedit.optim import OptimResult, RunFrames, RunOptions, optimize, seed_everything
from clipedit.params import PixelImage


@functools.lru_cache(maxsize=2)
def _default_vgg(layers: tuple[str, ...]) -> VGGFeatures:
    """ImageNet VGG-19 with average pooling, built once per process (not on every call)."""
    return VGGFeatures(layers, "vgg19", pool="avg")


@dataclass
class GatysResult(RunFrames):
    image: torch.Tensor
    run: OptimResult


def gatys(
    content: ImageLike,
    style: ImageLike,
    *,
    steps: int = 300,
    size: int = 256,
    style_weight: float = 1e5,
    content_weight: float = 1.0,
    lr: float = 0.05,
    init: str = "content",
    vgg: VGGFeatures | None = None,
    style_layers: Sequence[str] = GATYS_STYLE_LAYERS,
    content_layers: Sequence[str] = GATYS_CONTENT_LAYERS,
    seed: int | None = 0,
    device: str | torch.device | None = None,
    **control: Unpack[RunOptions],
) -> GatysResult:
    """Neural style transfer by image optimisation.

    Args:
        content, style: images (paths, PIL, arrays, tensors in [0, 1]); the content's shorter side is resized
            to ``size``, the style to the same shorter side.
        init: ``"content"`` (converges fastest) or ``"noise"`` (as in the paper).
        vgg: a ready :class:`VGGFeatures` (default: VGG-19 with ImageNet weights and average pooling).
    Returns:
        :class:`GatysResult`; ``run.history`` logs ``content`` and ``style`` losses per step.
    """
    if init not in ("content", "noise"):
        raise ValueError(f"init must be 'content' or 'noise', got {init!r}")
    dev = select_device(device)
    seed_everything(seed)
    vgg = (vgg or _default_vgg(tuple(style_layers) + tuple(content_layers))).to(dev)
    c = load_image(content, size, dev)
    s = load_image(style, size, dev)
    with torch.no_grad():
        style_targets = {n: gram_matrix(f) for n, f in vgg(s).items() if n in style_layers}
        content_targets = {n: f for n, f in vgg(c).items() if n in content_layers}
    image = PixelImage(tuple(c.shape[-2:])).to(dev)
    if init == "content":
        image.set_image(c)

    def closure(step: int):
        feats = vgg(image())
        lc = content_weight * content_loss(feats, content_targets)
        ls = style_weight * gram_loss(feats, style_targets)
        return lc + ls, {"content": float(lc.detach()), "style": float(ls.detach())}

    run = optimize(image.parameters(), closure, steps, lr=lr, render=image, **control, desc="gatys")
    return GatysResult(run.image.detach().cpu(), run)
