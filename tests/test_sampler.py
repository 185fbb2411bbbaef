"""The masked-token sampler: invariants that hold for any model (every token committed exactly once and never changed,
the cosine schedule, guidance algebra, seeds), checked on small stand-in models."""
from __future__ import annotations

import math

import pytest
import torch

from clipedit.sampler import guided_logits, masked_counts, masked_sample, restrict_plausible

K, MASK = 12, 12


def random_model(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(K, 4, 4, generator=g) * 3  # a fixed preference per position

    def logits_fn(tokens, conditional):
        out = table.expand(tokens.shape[0], -1, -1, -1).clone()
        seen = (tokens != MASK).float().mean((1, 2))  # depends on what is already committed
        return out + (1.0 if conditional else -1.0) * seen[:, None, None, None]
    return logits_fn


@pytest.mark.parametrize("n, steps", [(16, 1), (16, 5), (16, 16), (64, 12), (256, 20)])
def test_schedule_is_cosine_strictly_decreasing_and_ends_unmasked(n, steps):
    c = masked_counts(n, steps)
    assert len(c) == steps and c[-1] == 0 and all(a > b for a, b in zip([n] + c, c))
    for t, v in enumerate(c[:-1], 1):  # never above the cosine curve, below it only to fit one commit per step
        assert v <= math.floor(n * math.cos(math.pi / 2 * t / steps)) or v == steps - t


def test_bad_steps():
    with pytest.raises(ValueError):
        masked_counts(16, 0)
    with pytest.raises(ValueError):
        masked_counts(16, 17)
    with pytest.raises(ValueError):
        masked_sample(random_model(), (1, 4, 4), MASK, guidance=float("nan"))


@pytest.mark.parametrize("steps, guidance", [(1, 0.0), (6, 0.0), (6, 3.0), (16, 1.0)])
def test_every_token_is_committed_exactly_once_and_never_changes(steps, guidance):
    seen = []
    out = masked_sample(random_model(), (3, 4, 4), MASK, steps=steps, guidance=guidance,
                        generator=torch.Generator().manual_seed(1),
                        callback=lambda s, tok, m: seen.append((tok.clone(), m.clone())))
    assert len(seen) == steps and bool((out >= 0).all() and (out < K).all())
    committed_at = torch.full(out.shape, -1)
    prev_mask = torch.ones_like(out, dtype=torch.bool)
    for step, (tok, m) in enumerate(seen):
        newly = prev_mask & ~m
        assert not bool((~prev_mask & m).any())  # nothing is masked again once committed
        committed_at[newly] = step
        assert torch.equal(tok[newly], out[newly])  # a committed token is already its final value
        assert int(m[0].sum()) == masked_counts(16, steps)[step]  # the schedule, in every sample
        prev_mask = m
    assert bool((committed_at >= 0).all())


def test_guidance_zero_is_the_conditional_model_alone():
    cond, uncond = torch.randn(2, K, 4, 4), torch.randn(2, K, 4, 4)
    assert guided_logits(cond, uncond, 0.0) is cond
    assert torch.allclose(guided_logits(cond, uncond, 2.0), 3 * cond - 2 * uncond)
    calls = []

    def counting(tokens, conditional):
        calls.append(conditional)
        return random_model()(tokens, conditional)
    masked_sample(counting, (1, 4, 4), MASK, steps=4)
    assert calls == [True] * 4  # scale 0: no unconditional pass


def test_seeds_reproduce_and_differ():
    a = masked_sample(random_model(), (2, 4, 4), MASK, steps=6, generator=torch.Generator().manual_seed(3))
    b = masked_sample(random_model(), (2, 4, 4), MASK, steps=6, generator=torch.Generator().manual_seed(3))
    c = masked_sample(random_model(), (2, 4, 4), MASK, steps=6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_low_temperature_follows_a_confident_model():
    target = torch.randint(0, K, (4, 4), generator=torch.Generator().manual_seed(0))

    def sure(tokens, conditional):
        return torch.nn.functional.one_hot(target, K).permute(2, 0, 1).float()[None].expand(tokens.shape[0], -1, -1, -1) * 20
    out = masked_sample(sure, (2, 4, 4), MASK, steps=4, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, target.expand(2, -1, -1))


def test_plausibility_keeps_exactly_the_conditionally_likely_codes():
    cond, uncond = torch.randn(3, K, 4, 4) * 3, torch.randn(3, K, 4, 4) * 3
    guided = guided_logits(cond, uncond, 4.0)
    p = torch.softmax(cond, 1)
    for alpha in (0.05, 0.3):
        out = restrict_plausible(guided, cond, alpha)
        kept = p >= alpha * p.amax(1, keepdim=True)
        assert torch.equal(torch.isfinite(out), kept)  # the rule, position by position
        assert torch.equal(out[kept], guided[kept])  # kept codes keep their guided logit exactly
        assert bool(kept.any(1).all())  # the conditional's top code always survives
    assert restrict_plausible(guided, cond, 0.0) is guided


def test_sampled_codes_are_plausible_under_the_conditional_model():
    # the conditional model allows only codes 0-2 at every position; the unconditional one dislikes code 11 even
    # more, so plain guidance picks 11 everywhere, while the restricted sampler never leaves 0-2
    def model(tokens, conditional):
        base = torch.full((tokens.shape[0], K, 4, 4), -10.0)
        base[:, :3] = 2.0
        if not conditional:
            base[:, 11] = -30.0
        return base
    g = torch.Generator().manual_seed(0)
    plain = masked_sample(model, (2, 4, 4), MASK, steps=4, guidance=3.0, plausibility=0.0, generator=g)
    kept = masked_sample(model, (2, 4, 4), MASK, steps=4, guidance=3.0, plausibility=0.1, generator=g)
    assert bool((plain == 11).all()) and bool((kept < 3).all())
    with pytest.raises(ValueError):
        masked_sample(model, (1, 4, 4), MASK, guidance=3.0, plausibility=1.5)
