"""Text to image by iterative masked decoding (MaskGIT / Muse) with a :class:`~clipedit.models.muse.MaskedGenerator`.

>>> out = generate("a blue star", n=2, steps=4, seed=0, device="cpu")
>>> tuple(out.images.shape), tuple(out.tokens.shape), bool(out.images.min() >= 0 and out.images.max() <= 1)
((2, 3, 32, 32), (2, 8, 8), True)
>>> bool(torch.equal(out.tokens, generate("a blue star", n=2, steps=4, seed=0, device="cpu").tokens))  # seeded
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from clipedit.defaults import GENERATE
from clipedit.models.muse import TOKENS, MaskedGenerator, list_generators, load_masked_generator

#: Classifier-free guidance scale used when none is given (measured best on the offline model, with the sampler's
#: plausibility rule: both right 78 % at 3, 74 % at 5, 78 % at 8; docs/masked.md table).
DEFAULT_GUIDANCE = GENERATE.guidance


@dataclass
class Generation:
    """Result of :func:`generate`: ``images (N, 3, H, W)`` in ``[0, 1]`` and ``tokens (N, h, w)`` (CPU), with
    the prompt of each image and the settings used."""

    images: torch.Tensor
    tokens: torch.Tensor
    prompts: list[str]
    settings: dict[str, Any]
    #: the decoding as an animation (``frames_every``): ``(N, 3, H, W)`` per kept step, first all masked, last ``images``
    frames: list[torch.Tensor] = field(default_factory=list)


def check_generate_args(prompts: Sequence[str], steps: int, guidance: float, n: int = 1, temperature: float = 1.0,
                        model: str | Path | None = "clipedit/shapes-muse", plausibility: float | None = None) -> None:
    """Refuse bad input before any model loads (``ValueError`` with one line); ``model=None`` skips the name and
    token-count checks (a generator already loaded, whose token grid the caller checks)."""
    if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
        raise ValueError('the prompt is empty: describe what you want, e.g. "a blue star"')
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if not math.isfinite(guidance):
        raise ValueError(f"guidance must be a finite number, got {guidance}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if plausibility is not None and not 0 <= plausibility < 1:
        raise ValueError(f"plausibility must be in [0, 1), got {plausibility}")
    if model is None:
        return
    name = str(model)
    if name not in list_generators() and not Path(name).exists():
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(list_generators())}, "
                         "a folder in the aMUSEd layout or a clipedit model folder")
    if name in TOKENS and int(steps) > TOKENS[name]:
        raise ValueError(f"steps must be at most the number of tokens ({TOKENS[name]}), got {steps}")


def preview_tokens(gen: MaskedGenerator, tokens: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Decode a partly masked token grid for display (:meth:`MaskedGenerator.preview`)."""
    return gen.preview(tokens, masked)


def generate(prompt: str | Sequence[str], *, model: str | Path | MaskedGenerator = GENERATE.model,
             n: int = GENERATE.n, steps: int = GENERATE.steps, guidance: float = GENERATE.guidance, temperature: float = GENERATE.temperature,
             randomness: float = 4.5, plausibility: float | None = GENERATE.plausibility, negative: str | None = None,
             seed: int | None = 0,
             device: str | torch.device | None = None,
             callback: Callable[[int, torch.Tensor | None, Mapping[str, float]], Any] | None = None,
             progress: bool | None = None, frames_every: int | None = None, init: torch.Tensor | None = None,
             mask: Any = None) -> Generation:
    """Generate ``n`` images per prompt.

    Args:
        prompt: a prompt or a list of them.
        model: ``"clipedit/shapes-muse"`` (bundled, 32×32), ``"amused/amused-256"``, a folder in the aMUSEd layout,
            a clipedit model folder, or a loaded :class:`~clipedit.models.muse.MaskedGenerator`.
        steps: decoding steps (1 … number of tokens; 12 as in Muse/aMUSEd).
        guidance: classifier-free guidance scale, ``cond + s·(cond − uncond)`` (0: conditional only).
        temperature, randomness: token sampling temperature; Gumbel noise on the confidences, annealed to 0.
        plausibility: with guidance, only codes at least this fraction as likely as the conditional model's top
            code are sampled (``None``: :data:`clipedit.sampler.DEFAULT_PLAUSIBILITY`; 0: plain guidance).
        negative: the unconditional branch's prompt (default: the empty prompt).
        seed: seeds the sampler's generator (``None``: not seeded).
        callback: ``callback(step, preview, logs)`` after every step; ``preview`` is :func:`preview_tokens`
            (matches :meth:`clipedit.widgets.PromptPanel.callback`).
        progress: a bar over the steps (``None``: on a terminal or in a notebook).
        frames_every: keep the decoding as an animation, a frame every this many steps (``result.frames``).
        init, mask: inpainting, as MaskGIT does: ``init`` ``(1, 3, H, W)`` in ``[0, 1]`` is tokenized, the tokens of
            every cell the mask touches (:mod:`clipedit.masks`, 1 = may change) are masked and sampled, the others stay;
            the result is composited with ``init``, so pixels where the mask is 0 are exactly ``init``'s.
    """
    from clipedit.device import select_device

    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    loaded = isinstance(model, MaskedGenerator)
    # A loaded generator may carry any name: only names and paths are checked against the known ones.
    check_generate_args(prompts, steps, guidance, n, temperature, None if loaded else model, plausibility)
    gen = model if loaded else load_masked_generator(model, device=select_device(device))
    h, w = gen.token_grid
    if steps > h * w:
        raise ValueError(f"steps must be at most the number of tokens ({h * w}), got {steps}")
    all_prompts = [p for p in prompts for _ in range(n)]
    frames: list[torch.Tensor] | None = [] if frames_every else None
    if (init is None) != (mask is None):
        raise ValueError("inpainting needs both init= (the image) and mask= (the region that may change)")
    text = gen.encode_text(all_prompts)
    neg = gen.encode_text([negative] * len(all_prompts)) if negative else None
    images, tokens = gen.sample(gen.logits_fn(text, neg), len(all_prompts), steps=steps, guidance=guidance,
                                temperature=temperature, randomness=randomness, seed=seed,
                                plausibility=plausibility, callback=callback, progress=progress,
                                frames=frames, frames_every=frames_every or 1, init=init, mask=mask)
    return Generation(images, tokens, all_prompts,
                      {"model": gen.name, "steps": steps, "guidance": guidance, "temperature": temperature,
                       "randomness": randomness, "plausibility": plausibility, "seed": seed, "negative": negative},
                      frames or [])
