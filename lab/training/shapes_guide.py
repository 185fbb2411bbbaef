"""Train the offline guide ``clipedit/shapes``: a small CLIP on procedural shapes.

Run once by a developer; the weights file it writes is committed inside the
package (the model folder ``clipedit/assets/shapes-guide``)::

    python -m lab.training.shapes_guide --minutes 45 --out runs/shapes-guide

What makes *shape* (not only colour) come through, measured against a
prototype that learnt colour but not shape:

* 64x64 images and a convolutional image tower (CLIP's ModifiedResNet, width 16);
* hard negatives: every caption also appears with its shape word swapped and
  with its colour word swapped, so the text tower must read both words;
* in-batch false negatives (same colour and shape) are masked out of the softmax;
* CLIPDraw-like augmentations (perspective, resized crops) so the guide sees
  what guidance shows it;
* FGSM adversarial training (small epsilon) for gradients that draw shapes
  instead of adversarial noise when images are optimised against the guide.

An optional later phase (``--colour --init GUIDE``, :func:`colour_finetune`) teaches a trained guide to read an
object's colour by its distance to the palette colours, so that gradient steps on a colour lead to the colour a
prompt names (:func:`rgb_descent` and :func:`colour_paths` measure it). It writes ``clipedit/shapes-colour``, the
guide the StyleGAN demo generators are edited with (docs/guidance.md).
"""
from __future__ import annotations

import argparse
import math
import random
import re
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from clipedit.hub import save_checkpoint
from clipedit.models.registry import COMPACT_KIND
from clipedit.data.shapes import COLOUR_NAMES, COLOURS, HELD_OUT, SHAPES, sample_batch
from clipedit.guidance.augment import make_augment
from clipedit.models.openai_clip import CLIP_MEAN, CLIP_STD, ClipConfig, ClipModel, build_clip
from lab.common import add_out, state_for

GUIDE_CONFIG = ClipConfig(
    embed_dim=128, image_resolution=64, vision_layers=(2, 2, 2, 2), vision_width=16, vision_patch_size=None,
    context_length=20, vocab_size=49408, transformer_width=128, transformer_heads=2, transformer_layers=3,
)

#: width of the colour phase's palette weights (:func:`palette_weights`), in RGB units; the nearest palette colours
#: are 0.32 (yellow - orange) to 1.1 apart. Narrower leaves far colours without a gradient toward the target.
SIGMA = 0.5
#: the object colours ``(6, 3)`` in :data:`~clipedit.data.shapes.COLOUR_NAMES` order.
PALETTE = torch.tensor([COLOURS[c] for c in COLOUR_NAMES])
_ARTICLE_FIX = (re.compile(r"\ba (?=[aeiou])"), re.compile(r"\ban (?=[^aeiou])"))


def _fix_articles(text: str) -> str:
    text = _ARTICLE_FIX[0].sub("an ", text)
    return _ARTICLE_FIX[1].sub("a ", text)


def hard_negatives(captions: list[str], colours: list[int], shapes: list[int], rng: random.Random) -> list[str]:
    """For each caption, one copy with the shape word swapped and one with the colour word swapped."""
    shape_swapped, colour_swapped = [], []
    for cap, c, s in zip(captions, colours, shapes):
        cname, sname = COLOUR_NAMES[c], SHAPES[s]
        # Held-out pairs must not appear even as negatives (that would teach "never this pair").
        s2 = rng.choice([x for x in SHAPES if x != sname and (cname, x) not in HELD_OUT])
        c2 = rng.choice([x for x in COLOUR_NAMES if x != cname and (x, sname) not in HELD_OUT])
        shape_swapped.append(_fix_articles(cap.replace(f"{cname} {sname}", f"{cname} {s2}")))
        colour_swapped.append(_fix_articles(cap.replace(f"{cname} {sname}", f"{c2} {sname}")))
    return shape_swapped + colour_swapped


def distractors(n: int, gen: torch.Generator, rng: random.Random, resolution: int = 64) -> torch.Tensor:
    """Images that no caption describes, used as extra negatives for every caption (text -> image softmax):
    two shapes of different colours, plain colour fields, and random colour blobs (what unguided
    optimisation tends to paint). They teach the text tower that colour alone is not a match."""
    k = n // 3
    a = sample_batch(k, resolution, gen, rng=rng, exclude=())
    b = sample_batch(k, resolution, gen, rng=rng, exclude=())
    # Two objects: paste b's object (pixels far from b's background colour) onto a.
    bg_b = b.images[:, :, :1, :1]
    mask = ((b.images - bg_b).abs().sum(1, keepdim=True) > 0.3).float()
    two = a.images * (1 - mask) + b.images * mask
    cols = torch.tensor([COLOURS[c] for c in COLOUR_NAMES])
    pick = torch.randint(0, len(COLOUR_NAMES), (k,), generator=gen)
    field = cols[pick][:, :, None, None].expand(k, 3, resolution, resolution)
    field = (field + 0.05 * torch.randn(k, 3, resolution, resolution, generator=gen)).clamp(0, 1)
    m = n - 2 * k
    grid = torch.randint(0, len(COLOUR_NAMES) + 2, (m, 6, 6), generator=gen)
    palette = torch.cat([cols, torch.tensor([[0.97, 0.97, 0.97], [0.5, 0.5, 0.5]])])
    blobs = palette[grid].permute(0, 3, 1, 2)
    blobs = F.interpolate(blobs, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return torch.cat([two, field, blobs]).clamp(0, 1)


def zero_shot(model: ClipModel, pairs, n: int = 600, seed: int = 1234) -> dict[str, float]:
    """Zero-shot accuracy over all 36 ``"a {colour} {shape}"`` prompts on images of ``pairs``."""
    from clipedit.guidance.guide import preprocess

    prompts = [(c, s) for c in COLOUR_NAMES for s in SHAPES]
    texts = [_fix_articles(f"a {c} {s}") for c, s in prompts]
    batch = sample_batch(n, model.input_resolution, torch.Generator().manual_seed(seed), only=pairs)
    with torch.no_grad():
        t = F.normalize(model.encode_text(model.tokenize(texts)), dim=-1)
        im = F.normalize(model.encode_image(preprocess(batch.images, model)), dim=-1)
    pred = (im @ t.T).argmax(-1)
    pc = torch.tensor([COLOUR_NAMES.index(prompts[i][0]) for i in pred])
    ps = torch.tensor([SHAPES.index(prompts[i][1]) for i in pred])
    colour_ok, shape_ok = pc == batch.colour, ps == batch.shape
    return {
        "both": float((colour_ok & shape_ok).float().mean()),
        "colour": float(colour_ok.float().mean()),
        "shape": float(shape_ok.float().mean()),
    }


def save_guide(model: ClipModel, path: Path, meta: dict) -> None:
    """Write the compact checkpoint: token-embedding rows never trained are dropped."""
    sd = {k: v.detach().cpu().clone() for k, v in model.model.state_dict().items()}
    emb = sd.pop("token_embedding.weight")
    used = emb.abs().sum(1).nonzero()[:, 0]
    save_checkpoint(path, {
        "format": "clipedit-compact-clip/1",
        "config": asdict(GUIDE_CONFIG),
        "state_dict": sd,
        "token_ids": used,
        "token_rows": emb[used].clone(),
        "meta": meta,
    }, kind=COMPACT_KIND, card="clipedit's small offline CLIP guide for the shapes world (trained token rows only).")


def train(minutes: float, out: Path, batch: int = 256, lr: float = 1e-3, adv_eps: float = 8 / 255,
          seed: int = 0, eval_every: int = 200, max_steps: int | None = None, init: Path | None = None,
          n_distractors: int = 0, warmup: int = 100, state_dir: Path | None = None,
          progress: bool | None = None) -> ClipModel:
    """Train on the shared loop (:func:`clipedit.training.loop.train_loop`): ``minutes`` of wall clock (or
    ``max_steps``), a held-out zero-shot evaluation and a checkpoint every ``eval_every`` steps, resumable from
    ``state_dir``."""
    from clipedit.training.loop import LoopConfig, TrainState, train_loop

    rng = random.Random()
    net = build_clip(GUIDE_CONFIG)
    used_rows = torch.zeros(GUIDE_CONFIG.vocab_size, dtype=torch.bool)
    if init is not None:  # continue from a checkpoint (e.g. a second phase with distractors)
        from clipedit.models.registry import read_state_dict

        net.load_state_dict(read_state_dict(init))
        used_rows |= net.token_embedding.weight.abs().sum(1) > 0
    model = ClipModel(net, "clipedit/shapes", GUIDE_CONFIG)
    model.model.requires_grad_(True).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    augment = make_augment("clipdraw", GUIDE_CONFIG.image_resolution, crop_scale=(0.7, 1.0))
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    budget = minutes * 60
    log: list[dict] = []

    def step(state: TrainState) -> dict[str, float]:
        if state.accelerator.num_processes > 1:
            # The towers are called through encode_image/encode_text, not forward(): DDP would not sync gradients.
            raise RuntimeError("the offline-guide trainer runs in one process (no `accelerate launch` across devices)")
        gen = state.generators["data"]
        progress_ = min(1.0, (state.seconds / budget) if max_steps is None else state.step / max_steps)
        warm = min(1.0, (state.step + 1) / warmup)
        for g in opt.param_groups:
            g["lr"] = lr * warm * 0.5 * (1 + math.cos(math.pi * progress_))
        b = sample_batch(batch, 64, gen, rng=rng)
        with torch.no_grad():
            views = augment(b.images, 1)
            if n_distractors:
                views = torch.cat([views, augment(distractors(n_distractors, gen, rng), 1)])
        negs = hard_negatives(b.captions, b.colour.tolist(), b.shape.tolist(), rng)
        tokens = model.tokenize(b.captions + negs)
        used_rows[tokens.unique()] = True
        same = (b.colour[:, None] == b.colour[None]) & (b.shape[:, None] == b.shape[None])
        same.fill_diagonal_(False)
        targets = torch.arange(batch)

        def loss_fn(x: torch.Tensor, tx: torch.Tensor) -> torch.Tensor:
            im_all = F.normalize(net.encode_image((x - mean) / std), dim=-1)
            im = im_all[:batch]
            scale = net.logit_scale.exp().clamp(max=100)
            logits = scale * im @ tx.T  # (B, 3B): positives, shape-swapped, colour-swapped
            logits[:, :batch] = logits[:, :batch].masked_fill(same, -1e4)
            t2i = scale * tx[:batch] @ im_all.T  # (B, B + distractors)
            t2i[:, :batch] = t2i[:, :batch].masked_fill(same, -1e4)
            return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(t2i, targets))

        x = views
        text = F.normalize(net.encode_text(tokens), dim=-1)
        if adv_eps > 0:
            # FGSM with a random start (Wong et al. 2020): cheap adversarial training.
            delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * adv_eps
            delta.requires_grad_(True)
            grad, = torch.autograd.grad(loss_fn((x + delta).clamp(0, 1), text.detach()), delta)
            x = (x + (delta + 1.25 * adv_eps * grad.sign()).clamp(-adv_eps, adv_eps)).clamp(0, 1).detach()
        loss = loss_fn(x, text)
        state.optimizers["opt"].zero_grad(set_to_none=True)
        state.backward(loss)
        state.optimizers["opt"].step()
        with torch.no_grad():  # keep never-seen token rows at exactly zero (weight decay would not move them anyway)
            net.token_embedding.weight[~used_rows] = 0
        return {"loss": loss.item(), "scale": net.logit_scale.exp().item(), "lr": opt.param_groups[0]["lr"]}

    def evaluate(state: TrainState) -> None:
        net.eval()
        zs = zero_shot(model, HELD_OUT)
        net.train()
        log.append({"step": state.step, "time": state.seconds, **zs})
        print(f"  held-out zero-shot: {zs}", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_guide(model, out, {"steps": state.step, "log": log})

    cfg = LoopConfig(steps=max_steps, minutes=None if max_steps is not None else minutes, seed=seed,
                     state_dir=state_dir, checkpoint_every=eval_every, log_every=20, progress=progress)
    state = train_loop(step, {"net": net}, {"opt": opt}, cfg, generators={"data": torch.Generator(), "captions": rng},
                       on_checkpoint=evaluate, desc="shapes guide")
    net.eval().requires_grad_(False)
    held = zero_shot(model, HELD_OUT, n=1200, seed=99)
    seen = zero_shot(model, [(c, s) for c in COLOUR_NAMES for s in SHAPES if (c, s) not in HELD_OUT], n=1200, seed=98)
    meta = {"steps": state.step, "seconds": state.seconds, "batch": batch, "adv_eps": adv_eps, "init": str(init),
            "n_distractors": n_distractors,
            "held_out_zero_shot": held, "seen_zero_shot": seen, "log": log}
    print("final held-out:", held, "seen:", seen, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_guide(model, out, meta)
    return model


def palette_weights(rgb: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """How much of each palette colour an RGB colour is: ``softmax(-|rgb - p_k|² / σ²)`` over the six palette
    colours ``p_k``. ``rgb`` ``(B, 3)`` in ``[0, 1]`` -> ``(B, 6)``, rows summing to 1.

    >>> w = palette_weights(torch.tensor([COLOURS["blue"]]))
    >>> COLOUR_NAMES[int(w.argmax())], round(float(w.sum()), 4)
    ('blue', 1.0)
    """
    palette = PALETTE.to(rgb.device)
    return torch.softmax(-((rgb[:, None] - palette[None]) ** 2).sum(-1) / sigma ** 2, 1)


def colour_target(weights: torch.Tensor, palette_embeddings: torch.Tensor) -> torch.Tensor:
    """The embedding the colour phase fits a scene to: ``normalise(Σ_k w_k e_k)``, from :func:`palette_weights`
    ``(B, 6)`` and the frozen guide's unit embeddings of the scene in each palette colour ``(6, B, D)``. Returns
    ``(B, D)``, unit rows.

    >>> e = torch.nn.functional.normalize(torch.randn(6, 2, 4), dim=-1)
    >>> bool(torch.allclose(colour_target(torch.eye(6)[[3, 5]], e), e[[3, 5], [0, 1]]))  # one colour: its embedding
    True
    """
    return F.normalize(torch.einsum("bk,kbd->bd", weights, palette_embeddings), dim=-1)


def colour_views(batch, gen: torch.Generator, sigma: float = SIGMA) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each scene of a :class:`~clipedit.data.shapes.ShapeBatch`: the scene with its object in a random RGB
    colour ``x`` (40 %: a random blend of the whole palette; 40 %: a point on the straight line from its palette
    colour to another; 20 %: near its own colour; plus a little noise), and the same scene in each of the six
    palette colours. Returns the images ``(B, 3, H, W)``, the palette renders ``(6, B, 3, H, W)`` (both in
    ``[0, 1]``) and :func:`palette_weights` of ``x`` ``(B, 6)``."""
    from clipedit.data.shapes import BACKGROUND_NAMES, BACKGROUNDS, render_shapes

    n, res, k = batch.images.shape[0], batch.images.shape[-1], len(COLOUR_NAMES)
    palette = PALETTE
    other = (batch.colour + torch.randint(1, k, (n,), generator=gen)) % k
    t = torch.rand(n, 1, generator=gen)
    on_line = (1 - t) * palette[batch.colour] + t * palette[other]
    # a Dirichlet(1) blend, drawn as normalised exponentials (torch.distributions takes no generator)
    blend = -torch.log(torch.rand(n, k, generator=gen).clamp(min=1e-6))
    anywhere = (blend / blend.sum(1, keepdim=True)) @ palette
    near = palette[batch.colour] + 0.1 * torch.randn(n, 3, generator=gen)
    kind = torch.rand(n, 1, generator=gen)
    x = torch.where(kind < 0.4, anywhere, torch.where(kind < 0.8, on_line, near))
    x = (x + 0.03 * torch.randn(n, 3, generator=gen)).clamp(0, 1)
    bg = torch.tensor([BACKGROUNDS[b] for b in BACKGROUND_NAMES])[batch.background]
    draw = [render_shapes(batch.shape, rgb, bg, batch.center, batch.size, batch.rotation, res)
            for rgb in (x, *(palette[j].expand(n, 3) for j in range(k)))]
    return draw[0], torch.stack(draw[1:]), palette_weights(x, sigma)


@torch.no_grad()
def colour_paths(model: ClipModel, steps: int = 11, rise: float = 0.02) -> dict[str, float]:
    """How a guide reads the straight RGB paths between palette colours: for every ordered pair ``a -> b`` (30) on
    every shape (a centred object on white), the guide's loss for ``"a {b} {shape}"`` along the object colour
    ``(1 - t) a + t b`` at ``steps`` points. Returns ``monotone``, the fraction of the 180 paths along which the
    loss never rises by more than ``rise`` from one point to the next (an edit from ``a`` can follow the path all
    the way to ``b``), and ``barrier``, the mean over paths of the largest rise above the path's start."""
    from clipedit.data.shapes import render_shapes
    from clipedit.guidance import CLIPGuide

    t = torch.linspace(0, 1, steps)[:, None]
    palette = PALETTE
    ok, bars, n = 0, 0.0, 0
    for si, shape in enumerate(SHAPES):
        for bi, b in enumerate(COLOUR_NAMES):
            guide = CLIPGuide(_fix_articles(f"a {b} {shape}"), models=model, augment="none", n_augs=1)
            for ai in range(len(COLOUR_NAMES)):
                if ai == bi:
                    continue
                rgb = (1 - t) * palette[ai] + t * palette[bi]
                img = render_shapes(torch.full((steps,), si), rgb, torch.full((steps, 3), 0.97),
                                    torch.zeros(steps, 2), torch.full((steps,), 0.4), torch.zeros(steps), 32)
                loss = guide(img).per_image
                ok += bool((loss.diff() <= rise).all())
                bars += float((loss.max() - loss[0]).clamp(min=0))
                n += 1
    return {"monotone": ok / n, "barrier": bars / n}


def rgb_descent(model: ClipModel, steps: int = 100, lr: float = 0.02) -> float:
    """Whether a guide's loss leads an object's colour to the colour a prompt names: for every shape (a centred
    object on white) and ordered pair of palette colours ``a -> b`` (180 cases), Adam optimises the object's RGB
    colour from ``a`` for ``"a {b} {shape}"``. Returns the fraction of cases that end nearer ``b`` than any other
    palette colour (plain geometry: no classifier involved). The bundled guide: 0.33; its colour phase: 0.72."""
    from clipedit.data.shapes import render_shapes
    from clipedit.guidance import CLIPGuide

    palette = PALETTE
    k, hits = len(COLOUR_NAMES), 0
    for si, shape in enumerate(SHAPES):
        mask = render_shapes(torch.full((k - 1,), si), torch.ones(k - 1, 3), torch.zeros(k - 1, 3),
                             torch.zeros(k - 1, 2), torch.full((k - 1,), 0.4), torch.zeros(k - 1), 32)[:, :1]
        for bi, b in enumerate(COLOUR_NAMES):
            guide = CLIPGuide(_fix_articles(f"a {b} {shape}"), models=model, augment="none", n_augs=1)
            x = palette[[a for a in range(k) if a != bi]].clone().requires_grad_(True)
            opt = torch.optim.Adam([x], lr=lr)
            for _ in range(steps):
                loss = guide(0.97 * (1 - mask) + x.clamp(0, 1)[:, :, None, None] * mask).loss
                opt.zero_grad()
                loss.backward()
                opt.step()
            hits += int((palette_weights(x.detach().clamp(0, 1)).argmax(1) == bi).sum())  # the nearest colour
    return hits / (len(SHAPES) * k * (k - 1))


def colour_finetune(minutes: float, init: Path, out: Path, batch: int = 64, lr: float = 2e-4, seed: int = 0,
                    max_steps: int | None = None, state_dir: Path | None = None, progress: bool | None = None,
                    eval_every: int = 200, sigma: float = SIGMA) -> ClipModel:
    """Teach a trained guide (``init``) to read colour as a *distance* to the palette colours, keeping what it reads
    everywhere else: the image tower of a copy is fitted so that (1) every training image (the clipdraw views the
    guide was trained on) embeds as the frozen guide embeds it, and (2) a scene whose object has any RGB colour
    ``x`` in the palette's hull (:func:`colour_views`) embeds as ``normalise(Σ_k w_k(x) e_k)``, where ``e_k`` is
    the frozen guide's embedding of the scene in palette colour ``k`` and ``w = palette_weights(x, sigma)``. The
    text tower is frozen. Then the guide's loss for a colour falls as the object's colour nears it, from anywhere:
    gradient steps on the object colour lead to the target (:func:`rgb_descent`). The bundled guide reads
    in-between colours as plateaus and steps (halfway from yellow to purple its loss for purple is 0.52 *above*
    yellow's: :func:`colour_paths`), so a gradient edit from one colour toward another stops on the way (docs/guidance.md).
    On the shared loop; resumable from ``state_dir``."""
    import copy

    from clipedit.models.registry import read_state_dict
    from clipedit.training.loop import LoopConfig, TrainState, train_loop

    net = build_clip(GUIDE_CONFIG)
    net.load_state_dict(read_state_dict(init))
    teacher = copy.deepcopy(net).eval().requires_grad_(False)
    model = ClipModel(net, "clipedit/shapes", GUIDE_CONFIG)
    net.requires_grad_(False)
    net.visual.requires_grad_(True)
    net.eval()  # trained in eval mode: its batch norms keep the frozen guide's statistics
    opt = torch.optim.AdamW(net.visual.parameters(), lr=lr, weight_decay=0.0)
    augment = make_augment("clipdraw", GUIDE_CONFIG.image_resolution, crop_scale=(0.7, 1.0))
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    log: list[dict] = []

    def embed(m, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(m.encode_image((x - mean) / std), dim=-1)

    def step(state: TrainState) -> dict[str, float]:
        if state.accelerator.num_processes > 1:
            raise RuntimeError("the offline-guide trainer runs in one process (no `accelerate launch` across devices)")
        gen = state.generators["data"]
        b = sample_batch(batch, 64, gen, exclude=())
        with torch.no_grad():
            views = augment(b.images, 1)
            xt, palette_views, w = colour_views(b, gen, sigma)
            keep_target = embed(teacher, views)
            e_k = embed(teacher, palette_views.flatten(0, 1)).unflatten(0, palette_views.shape[:2])  # (6, B, D)
            blend = colour_target(w, e_k)
        e = embed(net, torch.cat([views, xt]))
        keep = (1 - (e[:batch] * keep_target).sum(-1)).mean()
        blended = (1 - (e[batch:] * blend).sum(-1)).mean()
        loss = keep + blended
        state.optimizers["opt"].zero_grad(set_to_none=True)
        state.backward(loss)
        state.optimizers["opt"].step()
        return {"loss": loss.item(), "keep": keep.item(), "colour": blended.item()}

    def evaluate(state: TrainState) -> None:
        zs = zero_shot(model, HELD_OUT)
        log.append({"step": state.step, "time": state.seconds, **zs})
        print(f"  held-out zero-shot: {zs}", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_guide(model, out, {"steps": state.step, "log": log, "phase": "colour", "sigma": sigma, "init": str(init)})

    cfg = LoopConfig(steps=max_steps, minutes=None if max_steps is not None else minutes, seed=seed,
                     state_dir=state_dir, checkpoint_every=eval_every, log_every=20, progress=progress)
    state = train_loop(step, {"net": net}, {"opt": opt}, cfg, generators={"data": torch.Generator()},
                       on_checkpoint=evaluate, desc="shapes guide (colour phase)")
    net.eval().requires_grad_(False)
    evaluate(state)
    return model


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=45.0, help="wall-clock training budget")
    p.add_argument("--steps", type=int, default=None, help="fixed number of steps instead of a time budget")
    p.add_argument("--batch", type=int, default=None, help="images per step (default 256; with --colour 64)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-3; with --colour 2e-4)")
    p.add_argument("--adv-eps", type=float, default=8 / 255)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=200)
    add_out(p, "the guide")
    p.add_argument("--init", type=Path, default=None, help="continue from this checkpoint")
    p.add_argument("--distractors", type=int, default=0, help="distractor images per batch (extra negatives)")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--colour", action="store_true",
                   help="fine-tune --init to read colour by distance to the palette (colour_finetune; text tower frozen)")
    p.add_argument("--sigma", type=float, default=SIGMA, help="width of the colour phase's palette weights (RGB units)")
    a = p.parse_args(argv)
    if a.minutes <= 0 or (a.steps is not None and a.steps < 1) or (a.batch is not None and a.batch < 1):
        p.error("--minutes, --steps and --batch must be positive")
    if a.init is not None and not a.init.exists():
        p.error(f"--init: no such file {a.init}")
    if a.sigma <= 0:
        p.error("--sigma must be positive")
    a.state = state_for(a.out, a.state)
    if a.colour:
        if a.init is None:
            p.error("--colour fine-tunes a trained guide: give it --init")
        if a.distractors:
            p.error("--colour keeps the text tower frozen: --distractors does not apply")
        if a.out.resolve() == a.init.resolve():
            p.error("--colour: --out must differ from --init (the guide it starts from is its teacher on resume)")
        colour_finetune(a.minutes, a.init, a.out, a.batch or 64, a.lr or 2e-4, a.seed, a.steps, a.state,
                        eval_every=a.eval_every, sigma=a.sigma)
        return
    train(a.minutes, a.out, a.batch or 256, a.lr or 1e-3, a.adv_eps, a.seed, a.eval_every, a.steps, a.init,
          a.distractors, a.warmup, a.state)


if __name__ == "__main__":
    main()
