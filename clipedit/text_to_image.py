"""Text to image: optimise an image parameterisation until CLIP sees the prompt in it (:func:`guide_image`).

This is clipedit's main job (``clipedit guide "a red circle"``) and the simplest use of the shared pieces: a
:class:`~clipedit.guidance.CLIPGuide`, an image parameterisation (:mod:`clipedit.params`) and
:func:`~clipedit.optim.optimize`.

>>> res = guide_image("a red circle", model="clipedit/shapes", steps=2, size=32, n_augs=2, device="cpu")
>>> tuple(res.image.shape), len(res.history)
((1, 3, 32, 32), 2)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from typing_extensions import Unpack

from clipedit.defaults import GUIDE
from clipedit.device import select_device
from clipedit.guidance.guide import CLIPGuide, PromptLike
from clipedit.optim import OptimResult, RunFrames, RunOptions, optimize, seed_everything
from clipedit.params import ImageParam, make_image_param


@dataclass
class GuidedImage(RunFrames):
    """Result of :func:`guide_image`: the image ``(1, 3, size, size)`` in ``[0, 1]`` (CPU), the run and the guide."""

    image: torch.Tensor
    run: OptimResult
    guide: CLIPGuide

    @property
    def history(self) -> list[dict[str, float]]:
        return self.run.history


def guide_image(
    prompt: PromptLike | Sequence[PromptLike],
    *,
    negatives: PromptLike | Sequence[PromptLike] | None = None,
    model: str | Sequence[str] = "auto",
    steps: int = GUIDE.steps,
    size: int | None = None,
    param: str | ImageParam = GUIDE.param,
    augment: str = GUIDE.augment,
    n_augs: int = GUIDE.n_augs,
    lr: float = GUIDE.lr,
    loss: str = GUIDE.loss,
    seed: int | None = GUIDE.seed,
    init: torch.Tensor | None = None,
    mask: torch.Tensor | str | None = None,
    device: str | torch.device | None = None,
    guide: CLIPGuide | None = None,
    **control: Unpack[RunOptions],
) -> GuidedImage:
    """Optimise an image so CLIP sees ``prompt`` in it.

    Args:
        prompt: text, ``(text, weight)``, :class:`~clipedit.guidance.Prompt` or a list of them.
        negatives: prompts to avoid (weight 0.3 each unless given).
        model: CLIP model name(s) for :func:`~clipedit.models.load_clip` (``"auto"`` falls back to the
            offline guide).
        steps: optimisation steps. size: output side (default: twice the model's input, at most 256).
        param: ``"pixels"`` (default; measured best with the offline guide), ``"pyramid"``, or a ready
            :class:`~clipedit.params.ImageParam` on ``device`` (then ``size`` is ignored; its ``project()``, if
            any, runs after every step: VQGAN+CLIP's latent clamp).
        augment, n_augs: see :mod:`clipedit.guidance.augment`.
        seed: seeds the initialisation and the augmentations (``None``: not seeded).
        init: optional start image ``(1, 3, H, W)`` in ``[0, 1]``.
        mask: with ``init``, the region that may change (:mod:`clipedit.masks`: 1 = may change, soft edges allowed);
            the image is composited with ``init`` at every step, so pixels where the mask is 0 stay exactly ``init``.
        guide: a ready :class:`CLIPGuide` (then ``prompt``/``negatives``/``model``/``augment`` are ignored).
        **control: run-control keywords for :func:`~clipedit.optim.optimize` (:class:`~clipedit.optim.RunOptions`).
    """
    dev = select_device(device)
    seed_everything(seed)
    if guide is None:
        guide = CLIPGuide(prompt, negatives=negatives, models=model, augment=augment, n_augs=n_augs, loss=loss,
                          device=dev)
    if isinstance(param, ImageParam):
        image = param
    else:
        if size is None:
            size = min(256, 2 * max(m.input_resolution for m in guide.models))
        image = make_image_param(param, size).to(dev)
    if init is not None:
        image.set_image(init.to(dev))
    render = image
    if mask is not None:
        if init is None:
            raise ValueError("mask= edits a region of an image: give init= too")
        from clipedit.masks import composite, region_for

        base = F.interpolate(init.to(dev), size=image().shape[-2:], mode="bilinear", antialias=True).clamp(0, 1) \
            if tuple(init.shape[-2:]) != tuple(image().shape[-2:]) else init.to(dev)
        region = region_for(mask, base)

        def render() -> torch.Tensor:  # the region from the parameters, the rest exactly the input
            return composite(image(), base, region)

    def closure(step: int):
        out = guide(render())
        return out.loss, out.similarities

    run = optimize(image.parameters(), closure, steps, lr=lr, render=render, post_step=getattr(image, "project", None),
                   **control, desc="guide")
    return GuidedImage(run.image.detach().cpu(), run, guide)
