"""VQGAN+CLIP (Crowson 2021): optimise the continuous latent grid of a VQ decoder until CLIP sees the prompt.

The image is :class:`~clipedit.params.VQLatentImage` (latents snapped to the codebook with a straight-through
gradient, clamped to the codebook's range after each step), the loss the shared
:class:`~clipedit.guidance.CLIPGuide` with cutouts and the spherical distance, the loop the shared
:func:`~clipedit.optim.optimize` (through :func:`~clipedit.text_to_image.guide_image`). Defaults follow Crowson's
notebook and nerdyrodent/VQGAN-CLIP: Adam, lr 0.1, 32 cutouts, spherical distance loss; 500 steps there at 512 px,
here ``steps`` defaults to 300 (the offline model's images are 32×32).

>>> res = vqgan_clip("a yellow star", steps=2, n_augs=2, device="cpu")
>>> tuple(res.image.shape), len(res.history)
((1, 3, 32, 32), 2)
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
from typing_extensions import Unpack

from clipedit.defaults import VQGAN_CLIP
from clipedit.guidance.guide import CLIPGuide, PromptLike
from clipedit.models.muse import MaskedGenerator, list_generators, load_masked_generator
from clipedit.optim import RunOptions, seed_everything
from clipedit.params import VQLatentImage
from clipedit.text_to_image import GuidedImage, guide_image


def vqgan_clip(
    prompt: PromptLike | Sequence[PromptLike],
    *,
    negatives: PromptLike | Sequence[PromptLike] | None = None,
    generator: str | Path | MaskedGenerator = VQGAN_CLIP.generator,
    model: str | Sequence[str] = "auto",
    steps: int = VQGAN_CLIP.steps,
    size: int | None = None,
    lr: float = VQGAN_CLIP.lr,
    n_augs: int = VQGAN_CLIP.n_augs,
    augment: str = VQGAN_CLIP.augment,
    loss: str = VQGAN_CLIP.loss,
    quantize: bool = True,
    init: torch.Tensor | None = None,
    seed: int | None = 0,
    device: str | torch.device | None = None,
    guide: CLIPGuide | None = None,
    **control: Unpack[RunOptions],
) -> GuidedImage:
    """Generate (or, from ``init``, edit) an image through a VQ decoder's latent grid.

    Args:
        prompt, negatives, model, augment, n_augs, loss, guide: as for :func:`~clipedit.text_to_image.guide_image`.
        generator: whose VQ model decodes: ``"clipedit/shapes-muse"`` (32 px, 8×8 latents), ``"amused/amused-256"``,
            a folder in the aMUSEd layout, or a loaded :class:`~clipedit.models.muse.MaskedGenerator`.
        size: output side (a multiple of the VQ model's downsampling; default: the generator's resolution).
        quantize: snap latents to the codebook each forward (straight-through); ``False``: decode them as they are.
        init: start image ``(1, 3, H, W)`` in ``[0, 1]`` (encode → optimise → decode); default random codes.
        **control: run-control keywords of :func:`~clipedit.optim.optimize`.
    Returns:
        :class:`~clipedit.text_to_image.GuidedImage` (the image ``(1, 3, size, size)`` on the CPU).
    """
    from clipedit.device import select_device

    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be > 0, got {lr}")
    name = generator.name if isinstance(generator, MaskedGenerator) else str(generator)
    if not isinstance(generator, MaskedGenerator) and name not in list_generators() and not Path(name).exists():
        raise ValueError(f"unknown generator {name!r}; choose from {', '.join(list_generators())}")
    dev = select_device(device)
    if guide is None:  # built first: prompts are checked before the generator loads
        guide = CLIPGuide(prompt, negatives=negatives, models=model, augment=augment, n_augs=n_augs, loss=loss,
                          device=dev)
    gen = generator if isinstance(generator, MaskedGenerator) else load_masked_generator(generator, device=dev)
    size = int(size or gen.resolution)
    seed_everything(seed)
    g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    image = VQLatentImage(gen, size, quantize=quantize, generator=g)
    return guide_image(prompt, param=image, guide=guide, steps=steps, lr=lr, seed=seed, init=init, device=dev,
                       **control)
