"""StyleCLIP latent optimisation (Patashnik et al. 2021) and a StyleGAN2 projector for real images.

``w* = argmin_w L_CLIP(G(w), text) + λ_L2 ||w - w_s||² + λ_ID (1 - cos(ArcFace(G(w)), ArcFace(G(w_s))))``

in W+ (one ``w`` per generator layer) or W, with the shared :class:`~clipedit.guidance.CLIPGuide` (no
augmentation by default, as in StyleCLIP) and the shared :func:`~clipedit.optim.optimize` loop with StyleCLIP's
learning-rate ramp (``warmup_cosine``).
"""
from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from typing_extensions import Unpack

from clipedit.defaults import EDIT, INVERT
from clipedit.device import select_device
from clipedit.guidance import CLIPGuide
from clipedit.guidance.guide import PromptLike
from clipedit.imageio import ImageLike, load_image
from clipedit.losses import VGGFeatures
from clipedit.optim import OptimResult, RunFrames, RunOptions, optimize, seed_everything
from clipedit.styleclip.identity import IdentityLoss
from clipedit.styleclip.loaders import guide_for, load_generator
from clipedit.styleclip.stylegan2 import Generator, to_unit


@dataclass
class LatentEdit(RunFrames):
    """Result of :func:`styleclip_edit` / :func:`project`: images ``(1, 3, H, W)`` in [0, 1] (CPU), the optimised
    latent (W+ ``(1, n_latent, D)``), the start latent, and the run (loss history, snapshots)."""

    image: torch.Tensor
    before: torch.Tensor
    latent: torch.Tensor
    start: torch.Tensor
    run: OptimResult
    noise: list[torch.Tensor] | None = None
    #: with a mask: the mean absolute change of the pixels outside it (a latent edit cannot keep them exactly)
    outside_change: float | None = None

    @property
    def history(self) -> list[dict[str, float]]:
        return self.run.history


def save_latents(path: str | os.PathLike, **tensors: torch.Tensor) -> Path:
    """Write latents (``latent=``, and ``start=``, ``noise=`` … as clipedit's commands keep them) as one
    ``.safetensors`` file that :func:`load_latents` reads; a list (the noise maps) is stored entry by entry."""
    from safetensors.torch import save_file

    flat: dict[str, torch.Tensor] = {}
    for k, v in tensors.items():
        for i, t in enumerate(v) if isinstance(v, (list, tuple)) else [(None, v)]:
            flat[k if i is None else f"{k}.{i}"] = t.detach().to("cpu").contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(flat, str(path))
    return path


def load_latents(path: str | os.PathLike, index: int = 0, generator: Generator | None = None) -> torch.Tensor:
    """A latent from clipedit's ``.latent.safetensors`` (what ``invert`` and ``edit`` write) or from an e4e/pSp/StyleCLIP
    ``.pt`` file (tensor ``(N, n_latent, D)``, ``(n_latent, D)`` or ``(D,)``, or a dict with
    ``"latent"``/``"latents"``/``"w"``) as ``(1, n_latent, D)`` or ``(1, D)``."""
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import load_file

        obj = load_file(str(path))
    else:  # the encoders' own files (third-party): tensors and plain containers only, never code
        obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        obj = next((obj[k] for k in ("latent", "latents", "w", "w_plus") if k in obj), None)
    if not isinstance(obj, torch.Tensor):
        raise ValueError(f"{path}: no latent tensor found")
    t = obj.float()
    if t.ndim == 3:
        if not 0 <= index < t.shape[0]:
            raise ValueError(f"{path} holds {t.shape[0]} latents; index {index} is out of range")
        t = t[index: index + 1]
    elif t.ndim in (1, 2):
        t = t[None]
    if generator is not None:
        want = (generator.n_latent, generator.style_dim)
        if t.shape[-1] != generator.style_dim or (t.ndim == 3 and tuple(t.shape[1:]) != want):
            raise ValueError(f"latent shape {tuple(t.shape)} does not fit this generator (W+ {want})")
    return t


def _generator(generator: str | os.PathLike | Generator | None, device) -> Generator:
    if isinstance(generator, Generator):
        return generator.to(device).eval().requires_grad_(False)
    return load_generator(generator, device=device)


def _identity(identity, G: Generator, id_lambda: float, device) -> IdentityLoss | None:
    if id_lambda <= 0 or identity is None:
        return None
    if isinstance(identity, IdentityLoss):
        return identity.to(device)
    if identity == "auto" and G.size < 128:
        return None  # the identity network is a face recogniser; the small demo generator draws shapes
    return IdentityLoss().to(device)


def styleclip_edit(
    prompt: PromptLike | Sequence[PromptLike],
    *,
    generator: str | os.PathLike | Generator | None = None,
    latent: torch.Tensor | str | os.PathLike | None = None,
    mode: str = EDIT.mode,
    seed: int | None = 0,
    steps: int = EDIT.steps,
    lr: float = EDIT.lr,
    l2_lambda: float = EDIT.l2_lambda,
    id_lambda: float = EDIT.id_lambda,
    truncation: float = EDIT.truncation,
    space: str = EDIT.space,
    model: str | Sequence[str] = "auto",
    negatives: PromptLike | Sequence[PromptLike] | None = None,
    augment: str = "none",
    n_augs: int = 1,
    identity: IdentityLoss | str | None = "auto",
    noise_mode: str = "const",
    device: str | torch.device | None = None,
    guide: CLIPGuide | None = None,
    mask=None,
    mask_lambda: float = EDIT.mask_lambda,
    **control: Unpack[RunOptions],
) -> LatentEdit:
    """Edit a StyleGAN2 latent so the image matches ``prompt`` (StyleCLIP latent optimisation).

    Args:
        generator: name, checkpoint path or module (default: the offline demo ``clipedit/shapes-renderer``).
        latent: start latent ``w_s`` (``(1, D)`` W, ``(1, n_latent, D)`` W+, or a ``.pt`` file from e4e/pSp/
            :func:`project`); default: a truncated random ``w`` from ``seed``.
        mode: ``"edit"`` (CLIP + L2 + identity, from ``w_s``) or ``"free_generation"`` (CLIP only).
        steps, lr, l2_lambda, id_lambda, truncation: StyleCLIP's defaults (300, 0.1, 0.008, 0.005, 0.7).
        space: ``"w+"`` (one w per layer, StyleCLIP's choice) or ``"w"``.
        identity: ``"auto"`` (ArcFace IR-SE50 for face-sized generators, off for the demo), an
            :class:`IdentityLoss` (any embedding network), or ``None``.
        augment, n_augs: CLIP views (StyleCLIP used none).
        mask: edit mostly this region (:mod:`clipedit.masks`): ``mask_lambda`` times the mean squared change of the
            pixels outside it joins the loss, and ``result.outside_change`` reports their mean absolute change.
    """
    if mode not in ("edit", "free_generation"):
        raise ValueError(f"mode must be 'edit' or 'free_generation', got {mode!r}")
    if space not in ("w", "w+"):
        raise ValueError(f"space must be 'w' or 'w+', got {space!r}")
    if isinstance(prompt, str) and not prompt.strip():
        raise ValueError("the prompt is empty: describe the edit, e.g. 'a person with purple hair'")
    if l2_lambda < 0 or id_lambda < 0:
        raise ValueError("l2_lambda and id_lambda must be >= 0")
    dev = select_device(device)
    seed_everything(seed)
    G = _generator(generator, dev)
    if guide is None:
        guide = CLIPGuide(prompt, negatives=negatives, models=guide_for(G, model), augment=augment, n_augs=n_augs,
                          device=dev)
    if latent is None:
        start = G.sample_w(1, truncation=truncation, seed=seed)
    else:
        start = load_latents(latent, generator=G) if not isinstance(latent, torch.Tensor) else latent.float()
        start = start.to(dev)
        if start.ndim == 1:
            start = start[None]
    start = start.detach()
    if space == "w+":
        start = G.to_wplus(start)
    elif start.ndim == 3:
        raise ValueError("a W+ start latent cannot be optimised in W: pass space='w+'")
    w = start.clone().requires_grad_(True)
    ident = _identity(identity, G, id_lambda if mode == "edit" else 0.0, dev)
    with torch.no_grad():
        before_raw = G.synthesis(start, noise_mode=noise_mode)
        ref_emb = ident.embed(before_raw) if ident is not None else None
    keep = None
    if mask is not None:  # a latent edit moves every pixel a little: penalise change outside the region, report it
        from clipedit.masks import as_mask

        keep = 1 - as_mask(mask, tuple(before_raw.shape[-2:])).to(dev)

    def closure(step: int):
        img = G.synthesis(w, noise_mode=noise_mode)
        out = guide(to_unit(img))
        loss, logs = out.loss, {**out.similarities, "clip_loss": float(out.loss.detach())}
        if mode == "edit":
            l2 = ((w - start) ** 2).flatten(1).sum(1).mean()  # per latent, averaged like the CLIP term
            loss = loss + l2_lambda * l2
            logs["l2"] = float(l2.detach())
            if ident is not None:
                idl = ident(img, ref_embedding=ref_emb)
                loss = loss + id_lambda * idl
                logs["id_loss"] = float(idl.detach())
        if keep is not None:
            outside = (keep * (img - before_raw) ** 2).sum() / (keep.sum() * img.shape[1]).clamp(min=1)
            loss = loss + mask_lambda * outside
            logs["outside_mse"] = float(outside.detach())
        return loss, logs

    def render():
        return to_unit(G.synthesis(w, noise_mode=noise_mode))

    run = optimize([w], closure, steps, lr=lr, schedule="warmup_cosine", render=render, **control, desc="styleclip")
    change = None
    if keep is not None:
        from clipedit.masks import outside_change

        change = outside_change(to_unit(before_raw).cpu(), run.image.detach().cpu(), (1 - keep).cpu())
    return LatentEdit(run.image.detach().cpu(), to_unit(before_raw).cpu(), G.to_wplus(w.detach()).cpu(),
                      G.to_wplus(start).cpu(), run, outside_change=change)


def _noise_regularisation(noises: Sequence[torch.Tensor]) -> torch.Tensor:
    """StyleGAN2's projector penalty: squared autocorrelation of every noise map at shifts of one pixel, over
    a pyramid down to 8x8 (keeps the noise from encoding the image)."""
    total = noises[0].new_zeros(())
    for n in noises:
        while True:
            total = total + (n * torch.roll(n, 1, dims=3)).mean() ** 2 + (n * torch.roll(n, 1, dims=2)).mean() ** 2
            if n.shape[-1] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return total


def project(
    image: ImageLike,
    *,
    generator: str | os.PathLike | Generator | None = None,
    steps: int = INVERT.steps,
    lr: float = INVERT.lr,
    perceptual: float = INVERT.perceptual,
    mse: float = INVERT.mse,
    noise_reg: float = 1e5,
    initial_noise: float = 0.05,
    noise_ramp: float = 0.75,
    vgg_weights: str | os.PathLike | None = INVERT.vgg_weights,
    seed: int | None = 0,
    device: str | torch.device | None = None,
    **control: Unpack[RunOptions],
) -> LatentEdit:
    """Invert ``image`` into the generator: optimise a W+ latent and the noise maps to reconstruct it.

    In the spirit of the StyleGAN2 projector: start at the mean ``w``; loss = ``perceptual`` x VGG-16 feature
    distance (unit-normalised channels at relu1_2/2_2/3_3/4_3, LPIPS-like) + ``mse`` x pixel MSE +
    ``noise_reg`` x noise autocorrelation; a decaying random perturbation of ``w`` (``initial_noise`` x the w
    spread, over the first ``noise_ramp`` of the steps) explores early; noise maps renormalised every step.
    ``image`` is resized to the generator's size. Returns a :class:`LatentEdit` (``before`` = the target).
    """
    dev = select_device(device)
    seed_everything(seed)
    G = _generator(generator, dev)
    target = load_image(image, (G.size, G.size)).detach().to(dev)
    w_avg, w_std = G.latent_stats(10_000)
    w = G.to_wplus(w_avg[None]).clone().requires_grad_(True)
    noises = [n.detach().clone().normal_().requires_grad_(True) for n in G.noise_buffers()]
    layers = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    vgg = VGGFeatures(layers, arch="vgg16", weights=vgg_weights).to(dev) if perceptual > 0 else None
    side = min(256, max(128, G.size))

    def feats(x):
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=G.size > side)
        return {k: F.normalize(v, dim=1) for k, v in vgg(x).items()}

    with torch.no_grad():
        target_feats = feats(target) if vgg is not None else None

    def closure(step: int):
        t = step / max(1, steps)
        strength = w_std * initial_noise * max(0.0, 1 - t / noise_ramp) ** 2
        img = to_unit(G.synthesis(w + torch.randn_like(w) * strength, noise=noises))
        loss = mse * F.mse_loss(img, target)
        logs = {"mse": float(F.mse_loss(img.detach(), target))}
        if vgg is not None:
            f = feats(img)
            p = sum(((f[k] - target_feats[k]) ** 2).sum(1).mean() for k in layers)
            loss = loss + perceptual * p
            logs["perceptual"] = float(p.detach())
        reg = _noise_regularisation(noises)
        return loss + noise_reg * reg, logs

    def renormalise():
        for n in noises:
            n.sub_(n.mean()).div_(n.std() + 1e-8)

    def render():
        return to_unit(G.synthesis(w, noise=noises))

    run = optimize([w, *noises], closure, steps, lr=lr, schedule="warmup_cosine", render=render, desc="project",
                   post_step=renormalise, **control)
    return LatentEdit(run.image.detach().cpu(), target.cpu(), w.detach().cpu(), G.to_wplus(w_avg[None]).cpu(), run,
                      [n.detach().cpu() for n in noises])


__all__ = ["LatentEdit", "load_latents", "save_latents", "styleclip_edit", "project"]
