"""StyleCLIP's global directions (Patashnik et al. 2021, §6): text -> a direction in StyleSpace, for any image.

StyleSpace ``S`` is the generator's per-layer modulation vectors (:meth:`Generator.styles`). Once per generator and
CLIP model, :func:`channel_directions` measures what each style channel does to the CLIP embedding: the channel is
moved by ``±k`` of its standard deviation over ``n`` sampled images, and the normalised differences of the two CLIP
image embeddings are averaged. StyleCLIP calls the resulting ``(channels, D)`` table ``fs3``; it leaves the
``to_rgb`` layers out, and so does this module. The table is cached to a file per generator and model.

An edit is then instant (:func:`global_edit`): the text direction ``Δt`` (:func:`text_direction`, the normalised
difference of the target and neutral text embeddings averaged over prompt templates) gives every channel a
relevance ``fs3 · Δt``; channels below ``β`` are zeroed, the rest are divided by the largest relevance and moved by
``α ·`` relevance ``·`` their standard deviation. ``β`` sets how many channels change (disentanglement), ``α`` how far.

>>> import torch
>>> from clipedit.models import build_clip, ClipModel, ClipConfig
>>> from clipedit.styleclip.stylegan2 import Generator, StyleGAN2Config
>>> G = Generator(StyleGAN2Config(size=8, style_dim=16, n_mlp=1, channels=((4, 8), (8, 4)))).eval()
>>> cfg = ClipConfig(embed_dim=16, image_resolution=32, vision_layers=1, vision_width=64, vision_patch_size=16,
...                  context_length=16, vocab_size=49408, transformer_width=32, transformer_heads=1,
...                  transformer_layers=1)
>>> clip = ClipModel(build_clip(cfg), "tiny", cfg)
>>> table = channel_directions(G, clip, n_samples=4, progress=False)
>>> tuple(table.fs3.shape)            # conv1 (8) + convs.0 (8) + convs.1 (4); no to_rgb layers
(20, 16)
>>> edit = global_edit(G, G.sample_w(1, seed=0), table, torch.nn.functional.normalize(torch.ones(16), dim=0),
...                    alpha=3.0, beta=0.0)
>>> tuple(edit.image.shape), edit.n_channels
((1, 3, 8, 8), 20)
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from clipedit.defaults import EDIT
from clipedit.guidance.guide import clip_embed
from clipedit.models.openai_clip import ClipModel
from clipedit.progress import progress_bar
from clipedit.styleclip.stylegan2 import Generator, to_unit

# Prompt templates for the text direction: StyleCLIP averages ImageNet's 80; these are the phrasings the offline
# guide was trained on (the demo's captions), and they read naturally for a real CLIP too.
TEMPLATES = ("{}", "a picture of {}", "a drawing of {}", "an image of {}", "a photo of {}")


@dataclass
class ChannelDirections:
    """The ``fs3`` table of a generator and a CLIP model.

    Attributes:
        fs3: ``(C, D)`` unit CLIP-space direction of every style channel of the included layers, in order.
        layers: indices (into :meth:`Generator.style_layers`) of the included layers (every non-``to_rgb`` layer).
        std: per included layer, the channels' standard deviation ``(C_l,)`` over the sampled images.
        meta: how it was measured (samples, ``k``, seed, generator fingerprint, model name).
    """

    fs3: torch.Tensor
    layers: list[int]
    std: list[torch.Tensor]
    meta: dict = field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return [len(s) for s in self.std]

    def split(self, values: torch.Tensor) -> list[torch.Tensor]:
        """A ``(C,)`` vector over all channels -> per included layer ``[(C_l,)]``."""
        return list(values.split(self.sizes))

    def save(self, path: str | os.PathLike) -> Path:
        """One ``.safetensors`` file: ``fs3`` and each layer's ``std`` as tensors, ``layers`` and ``meta`` as JSON in
        its metadata (no pickle)."""
        import json

        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"fs3": self.fs3.contiguous(), **{f"std.{i}": s.contiguous() for i, s in enumerate(self.std)}}
        save_file(tensors, str(path), metadata={"layers": json.dumps(self.layers), "meta": json.dumps(self.meta)})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ChannelDirections":
        import json

        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            std = [f.get_tensor(f"std.{i}") for i in range(len(json.loads(meta["layers"])))]
            return cls(f.get_tensor("fs3"), json.loads(meta["layers"]), std, json.loads(meta["meta"]))


def fingerprint(G: Generator) -> str:
    """A short hash of the generator's weights (names the cache file)."""
    h = hashlib.sha256()
    for name, t in sorted(G.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def style_layers_for_edit(G: Generator) -> list[int]:
    """Indices of the style layers global directions manipulate: all but ``to_rgb``."""
    return [i for i, (name, _, _) in enumerate(G.style_layers()) if "rgb" not in name]


@torch.no_grad()
def channel_directions(G: Generator, model: ClipModel, n_samples: int = 200, k: float = 5.0, batch: int = 256,
                       seed: int = 0, truncation: float = 1.0, progress: bool | None = None) -> ChannelDirections:
    """Measure ``fs3`` (see module docstring): StyleCLIP's ``k = 5`` standard deviations, ``n_samples`` images.

    Costs ``2 · n_samples`` renders and CLIP encodings per channel (608 channels on the demo generator: about
    a minute on a CPU per 100 samples; FFHQ's 6,048 channels want a GPU).
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    dev = next(G.parameters()).device
    w = G.sample_w(n_samples, truncation=truncation, seed=seed)
    styles = G.styles(w)
    layers = style_layers_for_edit(G)
    std = [styles[i].std(0) for i in layers]
    per = max(1, batch // (2 * n_samples))  # channels per forward pass
    jobs = [(li, c) for li in layers for c in range(styles[li].shape[1])]
    rows: list[torch.Tensor] = []
    bar = progress_bar(range(0, len(jobs), per), desc="fs3", progress=progress)
    for start in bar:
        chunk = jobs[start:start + per]
        m = len(chunk)
        batch_styles = [s.repeat(2 * m, 1) for s in styles]  # (2 m n, C_l): [+k, -k] per channel, n samples each
        for j, (li, c) in enumerate(chunk):
            delta = k * styles[li][:, c].std()
            lo = 2 * j * n_samples
            batch_styles[li][lo:lo + n_samples, c] += delta
            batch_styles[li][lo + n_samples:lo + 2 * n_samples, c] -= delta
        emb = clip_embed(model, to_unit(G.synthesis(None, styles=batch_styles))).view(m, 2, n_samples, -1)
        diff = F.normalize(emb[:, 0] - emb[:, 1], dim=-1)  # (m, n, D)
        rows.append(F.normalize(diff.mean(1), dim=-1))
    bar.close()
    meta = {"n_samples": n_samples, "k": k, "seed": seed, "truncation": truncation, "generator": fingerprint(G),
            "model": getattr(model, "name", "?"), "device": str(dev)}
    return ChannelDirections(torch.cat(rows).cpu(), layers, [s.cpu() for s in std], meta)


def cached_channel_directions(G: Generator, model: ClipModel, cache: str | os.PathLike | None = None,
                              **kwargs) -> ChannelDirections:
    """:func:`channel_directions`, cached in ``cache`` (default: the clipedit cache folder) under a name made of the
    generator's fingerprint, the model's name and the settings; computed once, loaded after."""
    from clipedit.weights import cache_dir

    n, k, seed = kwargs.get("n_samples", 200), kwargs.get("k", 5.0), kwargs.get("seed", 0)
    name = getattr(model, "name", "model").replace("/", "-").replace(" ", "_")
    folder = Path(cache) if cache is not None else cache_dir() / "fs3"
    path = folder / f"fs3-{fingerprint(G)}-{name}-n{n}-k{k:g}-s{seed}.safetensors"
    if path.is_file():
        return ChannelDirections.load(path)
    table = channel_directions(G, model, **kwargs)
    table.save(path)
    return table


@torch.no_grad()
def text_direction(model: ClipModel, target: str, neutral: str, templates: Sequence[str] = TEMPLATES) -> torch.Tensor:
    """``Δt`` ``(D,)``, unit: the target's and the neutral text's embeddings, each averaged over ``templates`` (unit
    vectors, mean, renormalised), differenced and normalised. ``target == neutral`` is refused."""
    if not target.strip() or not neutral.strip():
        raise ValueError("target and neutral texts must not be empty")
    if target.strip() == neutral.strip():
        raise ValueError(f"target and neutral texts are the same ({target!r}): there is no direction between them")

    def embed(text: str) -> torch.Tensor:
        e = F.normalize(model.encode_text(model.tokenize([t.format(text) for t in templates])).float(), dim=-1)
        return F.normalize(e.mean(0), dim=0)

    return F.normalize(embed(target) - embed(neutral), dim=0).cpu()


@dataclass
class GlobalEdit:
    """An edit by a global direction: ``image`` ``(B, 3, H, W)`` in ``[0, 1]`` (CPU), ``styles`` the edited S vectors,
    ``n_channels`` how many channels moved, ``relevance`` the per-channel ``fs3 · Δt`` ``(C,)``, and the ``alpha``
    and ``beta`` it used."""

    image: torch.Tensor
    styles: list[torch.Tensor]
    n_channels: int
    relevance: torch.Tensor
    alpha: float = 4.1
    beta: float = 0.15


def style_delta(table: ChannelDirections, direction: torch.Tensor, alpha: float = 4.1, beta: float = 0.15
                ) -> tuple[list[torch.Tensor], int, torch.Tensor]:
    """Per included layer the change of ``s`` ``[(C_l,)]``, the number of channels changed and the relevance.
    Channels with ``|fs3 · Δt| < beta`` stay; the others move by ``alpha · relevance / max|relevance| · std``."""
    if not 0 <= beta <= 1:
        raise ValueError(f"beta is a cosine threshold in [0, 1], got {beta}")
    rel = table.fs3 @ direction.to(table.fs3)
    ds = torch.where(rel.abs() >= beta, rel, torch.zeros_like(rel))
    n = int((ds != 0).sum())
    if n:
        ds = ds / ds.abs().max()
    return [alpha * d * s for d, s in zip(table.split(ds), table.std)], n, rel


@torch.no_grad()
def global_edit(G: Generator, w: torch.Tensor, table: ChannelDirections, direction: torch.Tensor,
                alpha: float = 4.1, beta: float = 0.15, noise_mode: str = "const") -> GlobalEdit:
    """Edit the images of ``w`` (``(B, D)`` or W+) along ``direction`` (a unit ``Δt``, :func:`text_direction`).
    StyleCLIP's interactive defaults: ``alpha = 4.1``, ``beta = 0.15``."""
    styles = G.styles(w.to(next(G.parameters()).device))
    deltas, n, rel = style_delta(table, direction, alpha, beta)
    for li, d in zip(table.layers, deltas):
        styles[li] = styles[li] + d.to(styles[li])
    image = to_unit(G.synthesis(None, styles=styles, noise_mode=noise_mode)).cpu()
    return GlobalEdit(image, [s.cpu() for s in styles], n, rel, alpha, beta)


#: StyleCLIP's global-direction strength α and threshold β, tuned for FFHQ and real CLIP: the default for a generator
#: that recommends none.
STYLECLIP_ALPHA_BETA = (4.1, 0.15)


def default_neutral(generator: str | os.PathLike | Generator | None) -> str:
    """The neutral text when none is given: the generator's recommended ``neutral``, else ``"a face"`` (StyleCLIP's).

    >>> default_neutral(None), default_neutral("stylegan2-ffhq-config-f")
    ('a shape', 'a face')
    """
    from clipedit.styleclip.loaders import recommended_settings

    return recommended_settings(generator).get("neutral", "a face")


def default_alpha_beta(generator: str | os.PathLike | Generator | None) -> tuple[float, float]:
    """``(α, β)`` when none are given: the generator's recommended ``global_alpha_beta``, else StyleCLIP's.

    >>> default_alpha_beta(None), default_alpha_beta("stylegan2-ffhq-config-f")
    ((2.0, 0.4), (4.1, 0.15))
    """
    from clipedit.styleclip.loaders import recommended_settings

    a, b = recommended_settings(generator).get("global_alpha_beta", STYLECLIP_ALPHA_BETA)
    return float(a), float(b)


def edit_global(prompt: str, *, neutral: str | None = None, generator: str | os.PathLike | Generator | None = None,
                latent: torch.Tensor | None = None, seed: int = 0, truncation: float = EDIT.truncation, model: str = "auto",
                alpha: float | None = None, beta: float | None = None, n_samples: int = EDIT.n_samples,
                cache: str | os.PathLike | None = None, device: str | torch.device | None = None,
                progress: bool | None = None) -> tuple[GlobalEdit, torch.Tensor]:
    """The one-call global-directions edit behind ``clipedit edit --method global``: loads the generator and the
    CLIP model, measures (or loads the cached) ``fs3``, and edits ``latent`` (default: a seeded truncated sample).
    ``neutral``, ``alpha`` and ``beta`` default to :func:`default_neutral` / :func:`default_alpha_beta` (the generator's own settings),
    ``model="auto"`` to :func:`~clipedit.styleclip.loaders.guide_for`.
    Returns the edit and the image before ``(1, 3, H, W)`` in ``[0, 1]``."""
    from clipedit.device import select_device
    from clipedit.models.registry import load_clip
    from clipedit.styleclip.loaders import guide_for, load_generator

    dev = select_device(device)
    G = generator.to(dev).eval() if isinstance(generator, Generator) else load_generator(generator, device=dev)
    clip = load_clip(guide_for(G, model), device=dev)
    neutral = neutral or default_neutral(G)
    if neutral.strip() == prompt.strip():
        raise ValueError(f"the prompt and the neutral text are the same ({neutral!r}): there is no direction")
    d_alpha, d_beta = default_alpha_beta(G)
    alpha, beta = d_alpha if alpha is None else alpha, d_beta if beta is None else beta
    table = cached_channel_directions(G, clip, cache=cache, n_samples=n_samples, progress=progress)
    w = G.sample_w(1, truncation=truncation, seed=seed) if latent is None else latent.to(dev)
    with torch.no_grad():
        before = to_unit(G.synthesis(w)).cpu()
    return global_edit(G, w, table, text_direction(clip, prompt, neutral), alpha=alpha, beta=beta), before
