"""StyleGAN-NADA (Gal et al. 2022): shift a generator's whole domain from a source text to a target text.

Two copies of the generator: a frozen one and a trainable one. For the same latents, the CLIP image embeddings of
the two should differ in the direction the texts do: the *directional* loss ``1 - cos(E(G_train(w)) - E(G_frozen(w)),
T(target) - T(source))`` (every embedding unit length, as in the reference implementation). Only a few synthesis
layers train: *adaptive layer selection* optimises a batch of W+ latents for a moment against the target text
alone (the global CLIP loss) and picks the ``k`` W+ vectors that moved most; the convolutions those vectors
modulate are unfrozen for the step, and the mapping network and every ``to_rgb`` stay frozen. The defaults are
rinongal/StyleGAN-nada's (Adam lr 0.002, betas (0, 0.99), style mixing 0.9, layer selection each step with one
iteration on 8 latents); its ~300 iterations at batch 2 become a time or step budget here. Training runs on the
shared loop (:func:`clipedit.training.loop.train_loop`).

>>> from clipedit.styleclip.stylegan2 import Generator, StyleGAN2Config
>>> G = Generator(StyleGAN2Config(size=16, style_dim=16, n_mlp=1, channels=((4, 8), (8, 8), (16, 8))))
>>> [type(m).__name__ for m in layer_modules(G, [0, 3])]     # W+ vector 0 -> conv1, 3 -> convs[2]
['StyledConv', 'StyledConv']
>>> layer_modules(G, [G.n_latent - 1])                       # the last vector only feeds a to_rgb: nothing trains
[]
"""
from __future__ import annotations

import copy
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.defaults import NADA
from clipedit.guidance.guide import clip_embed
from clipedit.models.openai_clip import ClipModel
from clipedit.styleclip.loaders import save_generator  # noqa: F401  (NADA's output is saved with it)
from clipedit.styleclip.stylegan2 import Generator, to_unit


def layer_modules(G: Generator, indices: Sequence[int]) -> list[nn.Module]:
    """The synthesis convolutions modulated by the W+ vectors ``indices`` (``to_rgb`` layers excluded): vector 0 ->
    ``conv1``, vector ``j >= 1`` -> ``convs[j - 1]`` (the last vector feeds only the last ``to_rgb``)."""
    out: list[nn.Module] = []
    for j in indices:
        if not 0 <= j < G.n_latent:
            raise ValueError(f"W+ index {j} out of range [0, {G.n_latent})")
        if j == 0:
            out.append(G.conv1)
        elif j - 1 < len(G.convs):
            out.append(G.convs[j - 1])
    return out


def text_embedding(model: ClipModel, text: str) -> torch.Tensor:
    with torch.no_grad():
        return F.normalize(model.encode_text(model.tokenize([text])).float(), dim=-1)[0]


def directional_loss(e_train: torch.Tensor, e_frozen: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    """``mean(1 - cos(e_train - e_frozen, dt))`` over the batch; embeddings ``(B, D)``, ``dt`` ``(D,)``."""
    return (1 - F.cosine_similarity(e_train - e_frozen, dt[None].to(e_train), dim=-1)).mean()


def sample_wplus(G: Generator, n: int, mixing: float, gen: torch.Generator, rng: random.Random) -> torch.Tensor:
    """``n`` W+ latents from the mapping network, with style mixing (probability ``mixing``) as NADA trains."""
    dev = next(G.parameters()).device
    z = torch.randn(2, n, G.style_dim, generator=gen).to(dev)
    with torch.no_grad():
        w = G.mapping(z.view(-1, G.style_dim)).view(2, n, -1)
    wp = G.to_wplus(w[0])
    if rng.random() < mixing:
        cut = rng.randint(1, G.n_latent - 1)
        wp = torch.cat([wp[:, :cut], G.to_wplus(w[1])[:, cut:]], 1)
    return wp


def select_layers(G: Generator, model: ClipModel, target: torch.Tensor, k: int, w: torch.Tensor, iters: int = 1,
                  lr: float = 0.01) -> list[int]:
    """NADA's adaptive layer selection: optimise the W+ latents ``w`` ``(B, n_latent, D)`` for ``iters`` Adam steps
    toward the target text embedding ``target`` (global CLIP loss ``1 - cos``) and return the ``k`` W+ indices
    whose vectors moved most (mean L2 norm of the change over the batch)."""
    if not 1 <= k <= G.n_latent:
        raise ValueError(f"k must be in [1, {G.n_latent}] (the generator's W+ vectors), got {k}")
    w0 = w.detach()
    x = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(iters):
        e = clip_embed(model, to_unit(G.synthesis(x)))
        loss = (1 - e @ target.to(e)).mean()
        (x.grad,) = torch.autograd.grad(loss, [x])  # the latents' gradient only, not the generator's
        opt.step()
    change = (x.detach() - w0).norm(dim=-1).mean(0)  # (n_latent,)
    return torch.topk(change, k).indices.tolist()


@dataclass
class NadaResult:
    """The adapted generator (``generator``, eval mode, CPU), the training log and what was trained."""

    generator: Generator
    log: list[dict]
    seconds: float
    steps: int
    layer_counts: dict[int, int]


def nada(generator: Generator, source: str, target: str, model: ClipModel, *, steps: int = NADA.steps, batch: int = NADA.batch,
         k: int | None = None, lr: float = NADA.lr, mixing: float = 0.9, select_batch: int = 8, select_iters: int = 1,
         augment: str = "none", n_augs: int = 1, seed: int = 0, minutes: float | None = None,
         state: str | os.PathLike | None = None, resume: bool = False, progress: bool | None = None,
         train_noise: bool = NADA.train_noise) -> NadaResult:
    """Adapt a copy of ``generator`` from ``source`` to ``target`` (see module docstring). ``k``: W+ vectors whose
    convolutions train each step (default: all; NADA's FFHQ setting is 18 of 18). ``augment``/``n_augs``: CLIP views
    (``"none"`` as NADA, ``"cutouts"`` or ``"clipdraw"``); the trained and the frozen image of a latent get the
    *same* random view, so the direction compares like with like. ``train_noise``: the per-layer noise strengths
    train with their convolutions, as in NADA's code; off by default, because on the demo the adaptation turned them
    up into a texture over the whole image that the offline guide rewarded (docs/research-notes.md). ``generator`` is not
    modified."""
    from clipedit.training.loop import LoopConfig, TrainState, train_loop

    if not source.strip() or not target.strip():
        raise ValueError("source and target texts must not be empty")
    if source.strip() == target.strip():
        raise ValueError(f"source and target are the same text ({source!r}): there is no direction to follow")
    if augment not in ("none", "cutouts", "clipdraw"):
        raise ValueError(f"augment must be none, cutouts or clipdraw (geometric views shared by both images), got {augment!r}")
    k = generator.n_latent if k is None else k
    if not 1 <= k <= generator.n_latent:
        raise ValueError(f"k must be in [1, {generator.n_latent}] (the generator's W+ vectors), got {k}")
    frozen = generator.eval().requires_grad_(False)
    trained = copy.deepcopy(frozen).train()
    trained.requires_grad_(False)
    convs = [trained.conv1, *trained.convs]
    params = [p for m in convs for n, p in m.named_parameters() if train_noise or not n.startswith("noise.")]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr, betas=(0.0, 0.99))
    dt = F.normalize(text_embedding(model, target) - text_embedding(model, source), dim=0)
    t_target = text_embedding(model, target)
    counts: dict[int, int] = {}
    rng = random.Random(seed)
    from clipedit.guidance.augment import make_augment

    aug = make_augment(augment, model.input_resolution) if augment != "none" else None

    def step(st: TrainState) -> dict[str, float]:
        g = st.generators["data"]
        if k < trained.n_latent:
            chosen = select_layers(trained, model, t_target, k, sample_wplus(trained, select_batch, mixing, g, rng),
                                   select_iters)
        else:
            chosen = list(range(trained.n_latent))
        for j in chosen:
            counts[j] = counts.get(j, 0) + 1
        active = {id(p) for m in layer_modules(trained, chosen) for n, p in m.named_parameters()
                  if train_noise or not n.startswith("noise.")}
        for p in params:
            p.requires_grad_(id(p) in active)
        w = sample_wplus(frozen, batch, mixing, g, rng)
        with torch.no_grad():
            x_frozen = to_unit(frozen.synthesis(w))
        x_train = to_unit(trained.synthesis(w))
        if aug is not None:  # one random view per latent and view index, shared by the two images (6 channels)
            both = aug(torch.cat([x_train, x_frozen], 1), n_augs)
            x_train, x_frozen = both[:, :3], both[:, 3:]
        e_frozen = clip_embed(model, x_frozen).detach()
        e_train = clip_embed(model, x_train)
        loss = directional_loss(e_train, e_frozen, dt)
        opt.zero_grad(set_to_none=True)
        st.backward(loss)
        opt.step()
        return {"loss": float(loss.detach()), "layers": float(len(chosen))}

    cfg = LoopConfig(steps=steps if minutes is None else None, minutes=minutes, seed=seed,
                     state_dir=Path(state) if state else None, resume=resume, log_every=max(1, steps // 10),
                     checkpoint_every=max(1, steps // 4), progress=progress)
    st = train_loop(step, {"trained": trained}, {"opt": opt}, cfg, generators={"data": torch.Generator()},
                    desc=f"NADA {source!r} -> {target!r}")
    out = trained.eval().requires_grad_(False)
    return NadaResult(out, st.log, st.seconds, st.step, dict(sorted(counts.items())))
