"""StyleCLIP's latent mapper (Patashnik et al. 2021, §5): a network per prompt that edits any ``w`` in one pass.

:class:`LevelsMapper` has StyleCLIP's structure: three sub-mappers for the coarse (W+ vectors 0-3), medium (4-7) and
fine (8-) layers, each a pixel norm and four equalised-lr fully connected layers (lr multiplier 0.01, leaky ReLU).
The edit is ``w + 0.1 · M(w)``. The last layer of each sub-mapper starts at zero, so an untrained mapper returns
``w`` unchanged (StyleCLIP starts from a random mapper; starting from the identity edit keeps the early steps
inside the generator's latent distribution). :func:`train_mapper` trains one for a prompt on sampled latents, with
the CLIP loss of the shared guide + ``λ_L2 ‖0.1 M(w)‖²`` (+ ``λ_ID`` identity for faces), on the shared training
loop (:func:`clipedit.training.loop.train_loop`): seeded, time- or step-budgeted, resumable.

>>> import torch
>>> M = LevelsMapper(n_latent=8, style_dim=16)
>>> w = torch.randn(2, 8, 16)
>>> torch.equal(M.edit(w), w)          # at initialisation the mapper gives w back
True
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from clipedit.defaults import MAPPER
from clipedit.styleclip.stylegan2 import EqualLinear, Generator, PixelNorm, to_unit

LEVELS = {"coarse": (0, 4), "medium": (4, 8), "fine": (8, None)}  # W+ index ranges, StyleCLIP's split of 18


class SubMapper(nn.Module):
    """Pixel norm + ``layers`` equalised linear layers (leaky ReLU), the last zero-initialised: ``(B, k, D)``."""

    def __init__(self, style_dim: int, layers: int = 4, lr_mul: float = 0.01) -> None:
        super().__init__()
        self.net = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mul, activation="fused_lrelu")
                                                for _ in range(layers)])
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.net(w.reshape(-1, w.shape[-1])).view_as(w)  # each W+ vector on its own (pixel norm over D)


class LevelsMapper(nn.Module):
    """``M(w)`` for W+ latents ``(B, n_latent, D)``: one :class:`SubMapper` per level that has W+ vectors (the demo
    generator's 8 vectors have coarse and medium levels, FFHQ's 18 all three); ``levels`` chooses which are used
    (a level left out gives zero)."""

    def __init__(self, n_latent: int, style_dim: int, layers: int = 4, levels: tuple[str, ...] = tuple(LEVELS)) -> None:
        super().__init__()
        bad = set(levels) - set(LEVELS)
        if bad:
            raise ValueError(f"unknown levels {sorted(bad)}: choose from {list(LEVELS)}")
        self.n_latent, self.style_dim, self.layers, self.levels = n_latent, style_dim, layers, tuple(levels)
        self.mappers = nn.ModuleDict({name: SubMapper(style_dim, layers) for name in levels
                                      if LEVELS[name][0] < n_latent})

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if w.ndim != 3 or w.shape[1:] != (self.n_latent, self.style_dim):
            raise ValueError(f"expected W+ latents (B, {self.n_latent}, {self.style_dim}), got {tuple(w.shape)}")
        parts = []
        for name, (lo, hi) in LEVELS.items():
            hi = self.n_latent if hi is None else min(hi, self.n_latent)
            if lo >= hi:
                continue
            chunk = w[:, lo:hi]
            parts.append(self.mappers[name](chunk) if name in self.mappers else torch.zeros_like(chunk))
        return torch.cat(parts, 1)

    def edit(self, w: torch.Tensor) -> torch.Tensor:
        """``w + 0.1 · M(w)`` (StyleCLIP's step size)."""
        return w + 0.1 * self(w)

    def config(self) -> dict:
        return {"n_latent": self.n_latent, "style_dim": self.style_dim, "layers": self.layers, "levels": list(self.levels)}


KIND = "latent-mapper"


def save_mapper(mapper: LevelsMapper, path: str | os.PathLike, prompt: str, meta: dict | None = None) -> Path:
    """Write ``mapper`` as a model folder (:mod:`clipedit.hub`: ``model.safetensors``, ``config.json`` with its
    architecture, prompt and training record, a model card); returns the folder."""
    from clipedit.hub import save_pretrained

    meta = dict(meta or {})
    generator, steps, model = meta.get("generator", "not recorded"), meta.get("steps", "?"), meta.get("model", "?")
    card = (f"A StyleCLIP latent mapper (clipedit) for the edit \"{prompt}\": `w + 0.1·M(w)` in one forward pass.\n\n"
            f"Generator: {generator}. Trained {steps} steps, guided by {model}.\n\n"
            f"Use it: `clipedit edit \"{prompt}\" --method mapper --mapper {Path(path).name}`")
    return save_pretrained(path, mapper.state_dict(), {"architecture": mapper.config(), "prompt": prompt,
                                                       "trained": meta}, kind=KIND, card=card)


def load_mapper(path: str | os.PathLike, device: str | torch.device | None = None) -> tuple[LevelsMapper, str]:
    """A trained mapper and its prompt from a model folder (or Hub repo id) written by :func:`save_mapper` /
    ``clipedit mapper train``."""
    from clipedit.hub import load_pretrained

    if not Path(path).expanduser().exists() and "/" not in os.fspath(path).strip("/"):
        raise FileNotFoundError(f"mapper not found: {path} (train one with `clipedit mapper train PROMPT --out DIR`)")
    tensors, config = load_pretrained(path, KIND)
    cfg = config["architecture"]
    m = LevelsMapper(cfg["n_latent"], cfg["style_dim"], cfg.get("layers", 4), tuple(cfg.get("levels", LEVELS)))
    m.load_state_dict(tensors)
    return m.to(device or "cpu").eval(), config.get("prompt", "")


@dataclass
class MapperRun:
    mapper: LevelsMapper
    log: list[dict]
    seconds: float
    steps: int


def train_mapper(prompt: str, generator: Generator, guide: Callable, *, steps: int = MAPPER.steps, batch: int = MAPPER.batch,
                 lr: float = MAPPER.lr, l2_lambda: float = MAPPER.l2_lambda, id_lambda: float = MAPPER.id_lambda, identity=None,
                 truncation: float = 0.7, seed: int = 0, minutes: float | None = None,
                 state: str | os.PathLike | None = None, resume: bool = False, layers: int = 4,
                 progress: bool | None = None) -> MapperRun:
    """Train a :class:`LevelsMapper` for ``prompt`` on ``batch`` fresh latents per step (``w`` from the mapping network,
    truncated by ``truncation``, as W+). Loss: ``guide(G(w')).loss + l2_lambda · mean((w' - w)²)`` (+ ``id_lambda``
    times ``identity(G(w'), ref)``), ``w' = w + 0.1 M(w)``; StyleCLIP's weights (CLIP 1, L2 0.8, ID 0.1 for faces)
    and lr 0.5 (on equalised-lr layers with multiplier 0.01). ``guide`` is a :class:`~clipedit.guidance.CLIPGuide`
    made for ``prompt``."""
    from clipedit.training.loop import LoopConfig, TrainState, train_loop

    if not prompt.strip():
        raise ValueError("the prompt is empty: describe the edit, e.g. 'a blue circle'")
    if steps < 1 or batch < 1:
        raise ValueError("steps and batch must be >= 1")
    dev = next(generator.parameters()).device
    G = generator.eval().requires_grad_(False)
    mapper = LevelsMapper(G.n_latent, G.style_dim, layers).to(dev)
    opt = torch.optim.Adam(mapper.parameters(), lr=lr)

    def step(st: TrainState) -> dict[str, float]:
        g = st.generators["data"]
        z = torch.randn(batch, G.style_dim, generator=g).to(dev)
        with torch.no_grad():
            w = G.mapping(z)
            avg = G.w_avg()
            w = G.to_wplus(avg + truncation * (w - avg))
            ref = identity.embed(G.synthesis(w)) if identity is not None and id_lambda > 0 else None
        w_hat = st.modules["mapper"](w) * 0.1 + w
        img = G.synthesis(w_hat)
        clip_loss = guide(to_unit(img)).loss
        l2 = (w_hat - w).pow(2).mean()
        loss = clip_loss + l2_lambda * l2
        logs = {"clip_loss": float(clip_loss.detach()), "l2": float(l2.detach())}
        if ref is not None:
            idl = identity(img, ref_embedding=ref)
            loss = loss + id_lambda * idl
            logs["id_loss"] = float(idl.detach())
        st.optimizers["opt"].zero_grad(set_to_none=True)
        st.backward(loss)
        st.optimizers["opt"].step()
        return logs

    cfg = LoopConfig(steps=steps if minutes is None else None, minutes=minutes, seed=seed,
                     state_dir=Path(state) if state else None, resume=resume, log_every=max(1, steps // 10),
                     checkpoint_every=max(1, steps // 4), progress=progress)
    st = train_loop(step, {"mapper": mapper}, {"opt": opt}, cfg, generators={"data": torch.Generator()},
                    desc=f"mapper {prompt!r}")
    m = st.unwrap("mapper").eval()
    return MapperRun(m, st.log, st.seconds, st.step)
