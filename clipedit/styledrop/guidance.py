"""StyleDrop's two-scale classifier-free guidance (Sohn et al. 2023).

``l = l_adapt + λ_A · (l_adapt − l_cond) + λ_B · (l_cond − l_uncond)``: ``l_adapt`` are the logits of the
backbone with the style adapters on, ``l_cond`` and ``l_uncond`` those of the base backbone (adapters off) with the
prompt and with the empty prompt. ``λ_A`` pushes towards the style, ``λ_B`` towards the text. With ``λ_A = 0`` and
no adapters the formula is the base model's classifier-free guidance at scale ``λ_B``, computed in the same order
(:func:`clipedit.sampler.guided_logits`) and restricted to the same plausible codes
(:func:`clipedit.sampler.restrict_plausible`, here relative to ``l_adapt``), so the samples are identical.

>>> import torch
>>> a, c, u = torch.tensor([3.0]), torch.tensor([2.0]), torch.tensor([1.0])
>>> two_scale(a, c, u, lambda_a=2.0, lambda_b=5.0)
tensor([10.])
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from clipedit.defaults import STYLEDROP_SAMPLE
from clipedit.models.adapters import StyleAdapters
from clipedit.models.muse import MaskedGenerator, TextEmbedding
from clipedit.sampler import DEFAULT_PLAUSIBILITY, restrict_plausible

#: λ_A: StyleDrop-PyTorch's round-1 value (they report it works better than the paper's). λ_B: the offline
#: backbone's default classifier-free guidance scale, measured best with the plausibility rule (StyleDrop-PyTorch
#: uses 5 on its Muse; the offline model reads 74 % both at 5 against 78 % at 3, docs/masked.md table).
DEFAULT_LAMBDA_A = STYLEDROP_SAMPLE.lambda_a
DEFAULT_LAMBDA_B = STYLEDROP_SAMPLE.lambda_b


def two_scale(l_adapt: torch.Tensor, l_cond: torch.Tensor, l_uncond: torch.Tensor | None, lambda_a: float,
              lambda_b: float) -> torch.Tensor:
    """``l_adapt + λ_A (l_adapt − l_cond) + λ_B (l_cond − l_uncond)`` (terms with a zero scale are skipped)."""
    out = l_adapt
    if lambda_a != 0:
        out = out + lambda_a * (l_adapt - l_cond)
    if lambda_b != 0 and l_uncond is not None:
        out = out + lambda_b * (l_cond - l_uncond)
    return out


def check_lambdas(lambda_a: float, lambda_b: float) -> None:
    """Refuse non-finite guidance scales (one line)."""
    if not (math.isfinite(lambda_a) and math.isfinite(lambda_b)):
        raise ValueError(f"lambda_a and lambda_b must be finite numbers, got {lambda_a}, {lambda_b}")


def two_scale_logits_fn(gen: MaskedGenerator, adapters: StyleAdapters | None, text: TextEmbedding,
                        lambda_a: float = DEFAULT_LAMBDA_A, lambda_b: float = DEFAULT_LAMBDA_B,
                        uncond: TextEmbedding | None = None, plausibility: float = DEFAULT_PLAUSIBILITY
                        ) -> Callable[[torch.Tensor, bool], torch.Tensor]:
    """The sampler's ``logits_fn`` for two-scale guidance (use it with the sampler's own ``guidance=0``).

    ``adapters`` must be attached to ``gen.transformer`` (or ``None``: the base model, ``l_adapt = l_cond``).
    Passes per step: one with adapters, one without (skipped when ``λ_A = 0`` or no adapters), one unconditional
    (skipped when ``λ_B = 0``). Whenever a guidance term is on, only codes at least ``plausibility`` times as likely
    as ``l_adapt``'s favourite can be sampled (0: the formula alone).
    """
    check_lambdas(lambda_a, lambda_b)
    empty = uncond if uncond is not None else gen.empty_text(len(text))

    def base(tokens: torch.Tensor, emb: TextEmbedding) -> torch.Tensor:
        if adapters is None:
            return gen.logits(tokens, emb)
        with adapters.disabled():
            return gen.logits(tokens, emb)

    def fn(tokens: torch.Tensor, conditional: bool) -> torch.Tensor:
        if not conditional:  # the sampler asks for this only when its own guidance is non-zero
            return base(tokens, empty)
        if adapters is None:
            l_adapt = l_cond = gen.logits(tokens, text)
        else:
            l_adapt = gen.logits(tokens, text)
            l_cond = base(tokens, text) if lambda_a != 0 or lambda_b != 0 else l_adapt
        l_uncond = base(tokens, empty) if lambda_b != 0 else None
        out = two_scale(l_adapt, l_cond, l_uncond, lambda_a, lambda_b)
        guided = lambda_b != 0 or (adapters is not None and lambda_a != 0)
        return restrict_plausible(out, l_adapt, plausibility) if guided else out

    return fn
