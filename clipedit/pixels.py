"""Guide an image straight from a text prompt: image parameterisations + :func:`guide_image`.

This is clipedit's main job (``clipedit guide "a red circle"``) and the
simplest use of the shared pieces: a :class:`~clipedit.guidance.CLIPGuide`,
an image parameterisation and :func:`~clipedit.optim.optimize`.

Parameterisations (all return ``(B, 3, size, size)`` in ``[0, 1]`` via a sigmoid):

``pixels``
    free logits at ``low_res`` upsampled bilinearly to ``size``; low resolution keeps the
    optimisation from inventing high-frequency adversarial patterns;
``pyramid``
    a sum of logits at resolutions ``4, 8, … size`` (each upsampled), coarse levels scaled up,
    so large colour regions and shapes form first (Lucid-style multi-scale parameterisation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.device import select_device
from clipedit.guidance.guide import CLIPGuide, PromptLike
from clipedit.imageio import as_image_batch
from clipedit.optim import OptimResult, optimize, seed_everything


class ImageParam(nn.Module):
    """An optimisable image: ``forward()`` returns ``(B, 3, size, size)`` in ``[0, 1]``."""

    size: int


class PixelImage(ImageParam):
    """Logits on a ``low_res`` grid, bilinearly upsampled to ``size`` (an int for a square, or ``(H, W)``)."""

    def __init__(self, size: int | tuple[int, int], batch: int = 1, low_res: int | tuple[int, int] | None = None,
                 std: float = 0.1) -> None:
        super().__init__()
        self.hw = (size, size) if isinstance(size, int) else tuple(size)
        self.size = max(self.hw)
        lr = low_res or self.hw
        self.low_hw = (lr, lr) if isinstance(lr, int) else tuple(lr)
        self.logits = nn.Parameter(torch.randn(batch, 3, *self.low_hw) * std)

    def forward(self) -> torch.Tensor:
        x = self.logits
        if self.low_hw != self.hw:
            x = F.interpolate(x, size=self.hw, mode="bilinear", align_corners=False)
        return torch.sigmoid(x)

    @torch.no_grad()
    def set_image(self, image: torch.Tensor) -> None:
        """Start from ``image`` ``(B, 3, H, W)`` in ``[0, 1]``."""
        x = F.interpolate(as_image_batch(image), size=self.low_hw, mode="bilinear", antialias=True)
        self.logits.copy_(torch.logit(x.clamp(0.02, 0.98)).expand_as(self.logits))


class PyramidImage(ImageParam):
    """Sum of upsampled logit grids at ``4, 8, …, size`` (coarse levels weighted by ``coarse_gain``)."""

    def __init__(self, size: int, batch: int = 1, min_res: int = 4, std: float = 0.05, coarse_gain: float = 2.0) -> None:
        super().__init__()
        self.size = int(size)
        res, sizes = self.size, []
        while res >= min_res:
            sizes.append(res)
            res //= 2
        self.sizes = sizes[::-1]  # coarse to fine
        self.gains = [coarse_gain ** (len(self.sizes) - 1 - i) / len(self.sizes) for i in range(len(self.sizes))]
        self.levels = nn.ParameterList([nn.Parameter(torch.randn(batch, 3, s, s) * std) for s in self.sizes])

    def forward(self) -> torch.Tensor:
        total = 0
        for g, p in zip(self.gains, self.levels):
            if p.shape[-1] != self.size:
                p = F.interpolate(p, size=(self.size, self.size), mode="bilinear", align_corners=False)
            total = total + g * p
        return torch.sigmoid(total)

    @torch.no_grad()
    def set_image(self, image: torch.Tensor) -> None:
        """Start from ``image``: its logits go to the finest level, the others are zeroed."""
        x = F.interpolate(as_image_batch(image), size=(self.size,) * 2, mode="bilinear", antialias=True)
        for p in self.levels:
            p.zero_()
        self.levels[-1].copy_((torch.logit(x.clamp(0.02, 0.98)) / self.gains[-1]).expand_as(self.levels[-1]))


PARAMS: dict[str, Callable[..., ImageParam]] = {"pixels": PixelImage, "pyramid": PyramidImage}


def make_image_param(kind: str, size: int, batch: int = 1, **kwargs) -> ImageParam:
    """Build a registered image parameterisation (``"pixels"`` or ``"pyramid"``)."""
    if kind not in PARAMS:
        raise ValueError(f"unknown image parameterisation {kind!r}; choose from {sorted(PARAMS)}")
    if size < 8:
        raise ValueError(f"image size must be at least 8, got {size}")
    return PARAMS[kind](size, batch, **kwargs)


@dataclass
class GuidedImage:
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
    steps: int = 200,
    size: int | None = None,
    param: str = "pixels",
    augment: str = "cutouts",
    n_augs: int = 8,
    lr: float = 0.1,
    loss: str = "cosine",
    seed: int | None = 0,
    init: torch.Tensor | None = None,
    device: str | torch.device | None = None,
    guide: CLIPGuide | None = None,
    callback=None,
    callback_every: int = 10,
    keep_snapshots: bool = False,
    progress: bool = True,
    stop=None,
) -> GuidedImage:
    """Optimise an image so CLIP sees ``prompt`` in it.

    Args:
        prompt: text, ``(text, weight)``, :class:`~clipedit.guidance.Prompt` or a list of them.
        negatives: prompts to avoid (weight 0.3 each unless given).
        model: CLIP model name(s) for :func:`~clipedit.models.load_clip` (``"auto"`` falls back to the
            offline guide).
        steps: optimisation steps. size: output side (default: twice the model's input, at most 256).
        param: ``"pixels"`` (default; measured best with the offline guide) or ``"pyramid"``.
        augment, n_augs: see :mod:`clipedit.guidance.augment`.
        seed: seeds the initialisation and the augmentations (``None``: not seeded).
        init: optional start image ``(1, 3, H, W)`` in ``[0, 1]``.
        guide: a ready :class:`CLIPGuide` (then ``prompt``/``negatives``/``model``/``augment`` are ignored).
        callback, callback_every, keep_snapshots, progress, stop: passed to :func:`~clipedit.optim.optimize`.
    """
    dev = select_device(device)
    seed_everything(seed)
    if guide is None:
        guide = CLIPGuide(prompt, negatives=negatives, models=model, augment=augment, n_augs=n_augs, loss=loss,
                          device=dev)
    if size is None:
        size = min(256, 2 * max(m.input_resolution for m in guide.models))
    image = make_image_param(param, size).to(dev)
    if init is not None:
        image.set_image(init.to(dev))

    def closure(step: int):
        out = guide(image())
        return out.loss, out.similarities

    run = optimize(image.parameters(), closure, steps, lr=lr, render=image, callback=callback,
                   callback_every=callback_every, keep_snapshots=keep_snapshots, progress=progress,
                   desc="guide", stop=stop)
    return GuidedImage(run.image.detach().cpu(), run, guide)
