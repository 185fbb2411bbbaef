"""The one masked-token sampler: MaskGIT / Muse iterative parallel decoding (Chang et al. 2022; Chang et al. 2023),
and the training mask that goes with it (:func:`mask_tokens`).

Start with every token masked. At each of ``steps`` steps, the model predicts logits for every position; a token is
sampled at each masked position (softmax at ``temperature``); each gets a confidence (its probability, plus Gumbel
noise scaled by ``randomness`` that anneals linearly to 0); the most confident are committed and stay fixed, and the
rest are masked again so that the masked fraction follows the cosine schedule ``cos(π/2 · t/T)``. After the last step
no token is masked. Classifier-free guidance mixes a conditional and an unconditional pass:
``cond + scale · (cond − uncond)`` (scale 0 is the conditional model alone, and skips the second pass), over the
tokens the conditional model finds plausible (:func:`restrict_plausible`).

The model is any ``logits_fn(tokens (B, H, W) long, conditional: bool) -> (B, K, H, W)`` float logits over the
``K`` codebook entries, so the same sampler serves every masked transformer.

>>> import torch
>>> K, MASK = 16, 16
>>> def uniform(tokens, conditional):                   # a model with no opinion
...     return torch.zeros(tokens.shape[0], K, *tokens.shape[1:])
>>> out = masked_sample(uniform, (2, 4, 4), MASK, steps=5, generator=torch.Generator().manual_seed(0))
>>> out.shape, bool((out < K).all())                  # every token committed, none left masked
(torch.Size([2, 4, 4]), True)
>>> masked_counts(16, 5)                               # tokens still masked after each step
[15, 12, 9, 4, 0]
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from clipedit.defaults import GENERATE

LogitsFn = Callable[[torch.Tensor, bool], torch.Tensor]
StepCallback = Callable[[int, torch.Tensor, torch.Tensor], None]


def masked_counts(n_tokens: int, steps: int) -> list[int]:
    """How many of ``n_tokens`` stay masked after each step under the cosine schedule; strictly decreasing (at least
    one token is committed per step, so ``steps`` may not exceed ``n_tokens``), ending at 0."""
    if not 1 <= steps <= n_tokens:
        raise ValueError(f"steps must be between 1 and the number of tokens ({n_tokens}), got {steps}")
    counts, prev = [], n_tokens
    for t in range(1, steps + 1):
        c = math.floor(n_tokens * math.cos(math.pi / 2 * t / steps))
        c = max(0, min(c, prev - 1)) if t < steps else 0
        counts.append(c)
        prev = c
    # Leave room for one commit per remaining step: walk back up from the end where the schedule is too steep.
    for i in range(steps - 2, -1, -1):
        counts[i] = max(counts[i], counts[i + 1] + 1)
    return counts


#: Guidance re-ranks only the tokens whose conditional probability is at least this fraction of the most likely
#: token's (measured on the offline model, docs/masked.md: without it guidance turns background cells into the other
#: backgrounds' codes; judged both right 62 → 78 % at scale 3, 41 → 74 % at 5; 0.3–0.5 cost colour).
DEFAULT_PLAUSIBILITY = GENERATE.plausibility


def restrict_plausible(guided: torch.Tensor, cond: torch.Tensor, alpha: float) -> torch.Tensor:
    """``guided`` logits ``(B, K, ...)`` with every code whose *conditional* probability is below ``alpha`` times
    that of the conditional model's most likely code set to ``-inf`` (``alpha = 0``: unchanged).

    Classifier-free guidance amplifies ``cond − uncond`` for every code, including codes both branches find
    near-impossible: a code at ``log p = −8`` under the prompt and ``−12`` without it gains ``4·s`` and can win at
    ``s = 3``. Keeping only the conditionally plausible codes is the adaptive plausibility constraint of
    contrastive decoding (Li et al. 2023), applied per position.

    >>> cond = torch.tensor([[2.0, 0.0, -8.0]]).T[None]    # (1, K=3, 1)
    >>> uncond = torch.tensor([[2.0, 0.0, -12.0]]).T[None]
    >>> g = guided_logits(cond, uncond, 3.0)
    >>> int(g.argmax(1)), int(restrict_plausible(g, cond, 0.1).argmax(1))
    (2, 0)
    """
    if alpha <= 0:
        return guided
    lp = torch.log_softmax(cond.float(), 1)
    return guided.masked_fill(lp < lp.amax(1, keepdim=True) + math.log(alpha), float("-inf"))


def guided_logits(cond: torch.Tensor, uncond: torch.Tensor | None, scale: float) -> torch.Tensor:
    """``cond + scale · (cond − uncond)``; ``scale == 0`` returns ``cond`` itself (no unconditional pass needed)."""
    if scale == 0 or uncond is None:
        return cond
    return cond + scale * (cond - uncond)


@torch.no_grad()
def masked_sample(logits_fn: LogitsFn, shape: tuple[int, int, int], mask_id: int, steps: int = 12,
                  guidance: float = 0.0, temperature: float = 1.0, randomness: float = 4.5,
                  plausibility: float = DEFAULT_PLAUSIBILITY, generator: torch.Generator | None = None,
                  device: str | torch.device = "cpu",
                  callback: StepCallback | None = None, init: torch.Tensor | None = None) -> torch.Tensor:
    """Decode a ``shape = (B, H, W)`` grid of tokens from all-masked in ``steps`` steps, or fill in the masked
    positions of ``init`` (inpainting, as MaskGIT does: the other tokens stay fixed).

    Args:
        logits_fn: the model, ``(tokens, conditional) -> (B, K, H, W)`` logits; masked positions hold ``mask_id``.
        mask_id: the mask token's id (not one of the ``K`` codebook entries a sample can take).
        steps: decoding steps, 1 … H·W.
        guidance: classifier-free guidance scale (0: conditional only).
        plausibility: with guidance, only codes whose conditional probability is at least this fraction of the top
            code's can be sampled (:func:`restrict_plausible`; 0 turns it off). Unused when ``guidance`` is 0.
        temperature: softmax temperature for sampling tokens (> 0).
        randomness: scale of the Gumbel noise added to the confidences, annealed linearly to 0 by the last step.
        generator: for reproducible samples (on ``device``).
        callback: ``callback(step, tokens, still_masked)`` after every step (e.g. to decode and show the image).
        init: ``(B, H, W)`` tokens to start from, ``mask_id`` where a token is to be sampled (the same number in every
            row); ``steps`` is then at most that number.
    Returns:
        ``(B, H, W)`` long tokens, all in ``[0, K)``.
    """
    if not math.isfinite(guidance) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"guidance must be finite and temperature > 0, got {guidance}, {temperature}")
    if not 0 <= plausibility < 1:
        raise ValueError(f"plausibility must be in [0, 1), got {plausibility}")
    b, h, w = shape
    n = h * w
    to_fill = n  # how many tokens are sampled: all, or the masked ones of init
    if init is None:
        tokens = torch.full((b, n), mask_id, dtype=torch.long, device=device)
    else:
        tokens = init.to(device=device, dtype=torch.long).reshape(b, n).clone()
        per_row = (tokens == mask_id).sum(1)
        if per_row.min() != per_row.max() or int(per_row[0]) < 1:
            raise ValueError("init must mask at least one token, the same number in every row")
        to_fill = int(per_row[0])
        steps = min(steps, to_fill)
    counts = masked_counts(to_fill, steps)
    for step in range(steps):
        masked = tokens == mask_id
        grid = tokens.view(b, h, w)
        cond = logits_fn(grid, True)
        uncond = logits_fn(grid, False) if guidance != 0 else None
        logits = guided_logits(cond, uncond, guidance)
        if uncond is not None:
            logits = restrict_plausible(logits, cond, plausibility)
        logits = logits.float().flatten(2).transpose(1, 2)  # (B, N, K)
        probs = torch.softmax(logits / temperature, -1)
        sampled = torch.multinomial(probs.view(-1, probs.shape[-1]), 1, generator=generator).view(b, n)
        confidence = probs.gather(-1, sampled[..., None])[..., 0].log()
        anneal = randomness * (1 - (step + 1) / steps)
        if anneal > 0:
            u = torch.rand(confidence.shape, generator=generator, device=device).clamp_(1e-20, 1 - 1e-7)
            confidence = confidence + anneal * -torch.log(-torch.log(u))
        confidence = confidence.masked_fill(~masked, float("inf"))  # committed tokens never move
        keep_masked = counts[step]
        order = confidence.argsort(-1)  # least confident first
        remask = torch.zeros_like(masked)
        remask.scatter_(1, order[:, :keep_masked], True)
        tokens = torch.where(masked & ~remask, sampled, tokens)
        if callback is not None:
            callback(step, tokens.view(b, h, w), (tokens == mask_id).view(b, h, w))
    return tokens.view(b, h, w)


def mask_tokens(tokens: torch.Tensor, mask_id: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Muse's training mask (the sampler's schedule seen from training): per image a ratio ``cos(π/2 · u)``, ``u ~ U(0, 1)``, of its tokens (at least one)
    replaced by ``mask_id``. Returns ``(masked tokens, bool mask)``, both ``(B, h, w)``.

    >>> t = torch.zeros(3, 4, 4, dtype=torch.long)
    >>> inp, m = mask_tokens(t, 99, torch.Generator().manual_seed(0))
    >>> bool((inp[m] == 99).all() and (inp[~m] == 0).all() and (m.flatten(1).sum(1) >= 1).all())
    True
    """
    b = tokens.shape[0]
    n = tokens[0].numel()
    ratio = torch.cos(math.pi / 2 * torch.rand(b, generator=g))
    k = (ratio * n).ceil().clamp(1, n).long()
    scores = torch.rand(b, n, generator=g)
    rank = scores.argsort(1).argsort(1)
    mask = (rank < k[:, None]).view_as(tokens).to(tokens.device)
    return torch.where(mask, torch.full_like(tokens, mask_id), tokens), mask
