"""StyleDrop round 1: tune adapters of the masked transformer on ONE style image (Sohn et al. 2023).

Everything but the adapters stays frozen. The training prompt is the image's content description with a style
descriptor appended, ``"{content} in {style} style"``, as the paper does; the loss is the backbone's own masked-token
cross-entropy (Muse's cosine mask-ratio schedule, :func:`clipedit.sampler.mask_tokens`) on the image's tokens. Light
augmentation: small translations (a few pixels, edge-replicated), which keep the style and move the content.

>>> from clipedit.models.muse import load_masked_generator
>>> from clipedit.data.styles import render_styled
>>> gen = load_masked_generator("clipedit/shapes-muse", device="cpu")
>>> style = train_style(gen, render_styled("red", "circle", "stripes"), ["a red circle"], "striped",
...                     StyleDropSettings(steps=2, batch=2), progress=False)
>>> style.adapters.attached, style.meta["prompts"], style.adapters.num_parameters()  # handed back detached
(False, ['a red circle in striped style'], 8736)
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from clipedit.defaults import STYLEDROP_TRAIN
from clipedit.models.adapters import KINDS, StyleAdapters, attach_adapters, load_adapters
from clipedit.models.muse import MaskedGenerator
from clipedit.sampler import mask_tokens


@dataclass(frozen=True)
class StyleDropSettings:
    """How adapters are tuned. With the offline model the defaults take about 20 s on 2 CPU cores (a minute with
    round 2); :data:`PAPER` is the paper's scale (1000 steps, batch 8)."""

    steps: int = STYLEDROP_TRAIN.steps
    batch: int = STYLEDROP_TRAIN.batch
    lr: float = STYLEDROP_TRAIN.lr
    rank: int = STYLEDROP_TRAIN.rank
    kind: str = STYLEDROP_TRAIN.kind
    shift: int = 2  # translation augmentation, in pixels at 32 px (scaled with the image size)
    seed: int = 0

    def check(self) -> None:
        """Refuse bad settings before any work (one line)."""
        if self.steps < 1 or self.batch < 1 or self.rank < 1:
            raise ValueError(f"steps, batch and rank must be at least 1, got {self.steps}, {self.batch}, {self.rank}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.shift < 0:
            raise ValueError(f"shift must be >= 0, got {self.shift}")


#: The paper's scale for one style (1000 steps, batch 8); learning rate and rank stay ours.
PAPER = StyleDropSettings(steps=1000, batch=8)


def style_prompt(content: str, style: str) -> str:
    """``"{content} in {style} style"`` (StyleDrop's style descriptor appended to every prompt)."""
    return f"{content.strip()} in {style.strip()} style"


@dataclass
class TrainedStyle:
    """Adapters (detached) and what they were trained on: ``meta`` holds the style descriptor, the prompts, the
    settings, the backbone's name, the round and the time taken; ``log`` the training curve."""

    adapters: StyleAdapters
    meta: dict
    log: list[dict] = field(default_factory=list)

    def save(self, path: str | Path) -> Path:
        return self.adapters.save(path, self.meta)


def load_style(path: str | Path) -> TrainedStyle:
    """Read an adapter folder (or Hub repo id) written by :meth:`TrainedStyle.save` (detached; one-line ``ValueError``
    if bad)."""
    ad, meta = load_adapters(path)
    return TrainedStyle(ad, meta)


def _shifted_tokens(gen: MaskedGenerator, images: torch.Tensor, shift: int) -> torch.Tensor:
    """Tokens ``(N, S, h, w)`` of every image under each of ``S`` translations within ``±shift`` pixels."""
    offsets = [(dx, dy) for dx in range(-shift, shift + 1, max(1, shift)) for dy in range(-shift, shift + 1, max(1, shift))]
    out = []
    for dx, dy in offsets:
        p = max(abs(dx), abs(dy))
        x = F.pad(images, (p, p, p, p), mode="replicate") if p else images
        h, w = images.shape[-2:]
        x = x[..., p - dy:p - dy + h, p - dx:p - dx + w]
        out.append(gen.tokenize(x))
    return torch.stack(out, 1)


def train_style(gen: MaskedGenerator, images: torch.Tensor, contents: Sequence[str], style: str,
                settings: StyleDropSettings = StyleDropSettings(), *, progress: bool | None = None,
                state_dir: Path | None = None, round_: int = 1,
                callback: Callable[[int, Mapping[str, float], StyleAdapters], Any] | None = None) -> TrainedStyle:
    """Tune new adapters on ``images (N, 3, H, W)`` in ``[0, 1]`` (N = 1 in round 1), each with its content
    description; the prompts are ``style_prompt(content, style)``. The backbone is left unchanged (adapters are
    detached at the end, whatever happens).

    ``callback(step, logs, adapters)`` runs after every step with the adapters attached (e.g. to sample a live
    preview with :func:`~clipedit.styledrop.guidance.two_scale_logits_fn`)."""
    from clipedit.training.loop import LoopConfig, TrainState, train_loop

    settings.check()
    if images.dim() != 4 or images.shape[0] != len(contents) or images.shape[0] == 0:
        raise ValueError(f"give one content description per image, got {images.shape[0]} images and "
                         f"{len(contents)} descriptions")
    t0 = time.time()
    size = gen.resolution
    images = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False) \
        if images.shape[-1] != size or images.shape[-2] != size else images.float()
    shift = round(settings.shift * size / 32)
    prompts = [style_prompt(c, style) for c in contents]
    with torch.no_grad():
        tokens = _shifted_tokens(gen, images.to(gen.device), shift)  # (N, S, h, w)
        text = gen.encode_text(prompts)
    tr = gen.transformer
    tr.requires_grad_(False)
    adapters = attach_adapters(tr, settings.rank, settings.kind)
    try:
        params = adapters.trainable()
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
        n, s = tokens.shape[:2]

        def step(st: TrainState) -> dict[str, float]:
            g = st.generators["data"]
            i = torch.randint(0, n, (settings.batch,), generator=g)
            j = torch.randint(0, s, (settings.batch,), generator=g)
            target = tokens[i, j]  # (batch, h, w)
            inp, mask = mask_tokens(target, gen.mask_id, g)
            logits = gen.logits(inp, text[i.to(gen.device)])
            loss = F.cross_entropy(logits.permute(0, 2, 3, 1)[mask], target[mask])
            o = st.optimizers["opt"]
            o.zero_grad(set_to_none=True)
            st.backward(loss)
            o.step()
            logs = {"loss": loss.item()}
            if callback is not None:
                callback(st.step + 1, logs, adapters)
            return logs

        module = adapters if isinstance(adapters, torch.nn.Module) else tr
        cfg = LoopConfig(steps=settings.steps, seed=settings.seed, state_dir=state_dir, checkpoint_every=10**9,
                         log_every=max(1, settings.steps // 20), progress=progress,
                         cpu=gen.device.type == "cpu")  # accelerate must not move a CPU backbone's adapters to a GPU
        st = train_loop(step, {"adapters": module}, {"opt": opt}, cfg, generators={"data": torch.Generator()},
                        desc=f"styledrop round {round_}")
    finally:
        adapters.detach()
        tr.requires_grad_(False)
    meta = {"style": style, "contents": list(contents), "prompts": prompts, "model": gen.name,
            "settings": asdict(settings), "round": round_, "minutes": round((time.time() - t0) / 60, 2),
            "parameters": adapters.num_parameters()}
    return TrainedStyle(adapters, meta, list(st.log))


def with_settings(settings: StyleDropSettings, **changes) -> StyleDropSettings:
    """A copy with some fields changed (``None`` values are ignored: handy for CLI flags)."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})
