"""Sampling in a learnt style: the one masked-token sampler with StyleDrop's two-scale guidance.

Prompts get the style descriptor the adapters were trained with (``"… in {style} style"``); the adapters are
attached for the call and detached after it, so a shared backbone is left as it was.

>>> from clipedit.models.muse import load_masked_generator
>>> gen = load_masked_generator("clipedit/shapes-muse", device="cpu")
>>> out = sample_style(gen, None, "a blue star", n=2, steps=4, seed=0, progress=False)   # no style: the base model
>>> tuple(out.images.shape), out.prompts[0]
((2, 3, 32, 32), 'a blue star')
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from clipedit.defaults import STYLEDROP_SAMPLE
from clipedit.models.adapters import attached
from clipedit.models.muse import MaskedGenerator
from clipedit.sampler import DEFAULT_PLAUSIBILITY
from clipedit.styledrop.guidance import DEFAULT_LAMBDA_A, DEFAULT_LAMBDA_B, check_lambdas, two_scale_logits_fn
from clipedit.styledrop.train import TrainedStyle, style_prompt


@dataclass
class StyledSamples:
    """``images (N, 3, H, W)`` in ``[0, 1]``, ``tokens (N, h, w)`` (CPU), the prompts used and the settings."""

    images: torch.Tensor
    tokens: torch.Tensor
    prompts: list[str]
    settings: dict[str, Any]
    #: the decoding as an animation (``frames_every``): ``(N, 3, H, W)`` per kept step, first all masked, last ``images``
    frames: list[torch.Tensor] = field(default_factory=list)


def sample_style(gen: MaskedGenerator, style: TrainedStyle | None, contents: str | Sequence[str], *, n: int = STYLEDROP_SAMPLE.n,
                 lambda_a: float = DEFAULT_LAMBDA_A, lambda_b: float = DEFAULT_LAMBDA_B, steps: int = STYLEDROP_SAMPLE.steps,
                 temperature: float = 1.0, randomness: float = 4.5, seed: int | None = 0,
                 plausibility: float | None = None, callback: Callable[[int, torch.Tensor, Mapping[str, float]], Any] | None = None,
                 progress: bool | None = None, frames_every: int | None = None, init: torch.Tensor | None = None,
                 mask=None) -> StyledSamples:
    """``n`` images per content prompt in ``style`` (``None``: the base model, where ``λ_A`` has no effect and
    ``λ_B`` is the plain classifier-free guidance scale). ``plausibility``: see
    :func:`~clipedit.styledrop.guidance.two_scale_logits_fn` (``None``: the sampler's default). ``frames_every``:
    keep the decoding as an animation, a frame every this many steps (``result.frames``). ``init``, ``mask``:
    inpaint a region of ``init`` in the style (:meth:`~clipedit.models.muse.MaskedGenerator.inpainting`); pixels
    where the mask is 0 are exactly ``init``'s."""
    contents = [contents] if isinstance(contents, str) else list(contents)
    if not contents or any(not isinstance(c, str) or not c.strip() for c in contents):
        raise ValueError('the prompt is empty: describe the content, e.g. "a blue star"')
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    check_lambdas(lambda_a, lambda_b)
    prompts = [style_prompt(c, style.meta["style"]) if style is not None else c for c in contents for _ in range(n)]
    text = gen.encode_text(prompts)
    frames: list[torch.Tensor] | None = [] if frames_every else None
    if (init is None) != (mask is None):
        raise ValueError("inpainting needs both init= (the image) and mask= (the region that may change)")
    ctx = attached(style.adapters, gen.transformer) if style is not None else nullcontext(None)
    with ctx as adapters:
        fn = two_scale_logits_fn(gen, adapters, text, lambda_a, lambda_b,
                                 plausibility=DEFAULT_PLAUSIBILITY if plausibility is None else plausibility)
        images, tokens = gen.sample(fn, len(prompts), steps=steps, temperature=temperature, randomness=randomness,
                                    seed=seed, callback=callback, progress=progress, desc="styledrop", frames=frames,
                                    frames_every=frames_every or 1, init=init, mask=mask)
    return StyledSamples(images, tokens, prompts, {"lambda_a": lambda_a, "lambda_b": lambda_b, "steps": steps,
                                                   "seed": seed, "style": style.meta["style"] if style else None},
                         frames or [])
