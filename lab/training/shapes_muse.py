"""Train ``clipedit/shapes-muse``: the offline masked generator (VQ model, then masked transformer) on the shapes world.

Run once by a developer, in two stages on the shared training loop (seeded, time/step-budgeted, resumable)::

    python -m lab.training.shapes_muse vq --steps 2500 --out runs/shapes-vq
    python -m lab.training.shapes_muse transformer --vq runs/shapes-vq --steps 3500 --out runs/shapes-tr
    python -m lab.training.shapes_muse bundle --vq runs/shapes-vq --transformer runs/shapes-tr --out runs/shapes-muse

Both stages draw the shapes world in its canonical colours (no colour jitter, no noise), so a flat region has one
colour and, with local codes, one code.

Stage 1, the VQ model (``diffusers.VQModel``, :data:`~clipedit.models.muse.SHAPES_VQ_CONFIG`) with *local codes*:
the code table is fixed first — k-means of the distinct 4×4 patches of 4,000 renders into 512 centroids, whose top 16
principal components are the codebook vectors — then the encoder is trained to land on its own patch's code and the
decoder to draw the image from the codes (L1 + MSE + Sobel-edge L1). See :func:`train_vq` for why.

Stage 2, the masked transformer (``diffusers.UVit2DModel``): images of the *training* pairs (the offline guide's six
held-out colour–shape pairs never appear, so they measure composition), each 4×4 patch tokenized to its k-means code
(the encoder's target; the centroids travel in the VQ file's metadata), captions encoded by the offline guide's text
tower; a mask ratio ``cos(π/2 · u)``, ``u ~ U(0, 1)`` (Muse's schedule), cross-entropy on the masked tokens, 10 % of
captions replaced by ``""`` for classifier-free guidance.

``bundle`` writes the shipped file from the two (the decoder may train on while the transformer does: the codes are
fixed by the table).
"""
from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.data.shapes import sample_batch
from clipedit.models.muse import (GuideTextEncoder, MaskedGenerator, build_shapes_transformer, build_shapes_vq,
                                  read_shapes_muse, save_shapes_muse)
from clipedit.sampler import mask_tokens
from lab.common import add_out, state_for

RESOLUTION = 32
PATCH = 4  # pixels per token side: 32 px / 8 tokens
JITTER = 0.0  # both stages draw the shapes world's canonical colours (see the module docstring)


def _sobel(x: torch.Tensor) -> torch.Tensor:
    import kornia

    return kornia.filters.spatial_gradient(x, mode="sobel")


class PatchCodes(nn.Module):
    """The k-means centroids ``(k, 3·PATCH²)`` that define the local codes (saved with the training state)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.register_buffer("centroids", torch.zeros(k, 3 * PATCH * PATCH))

    def assign(self, images: torch.Tensor) -> torch.Tensor:
        """Each patch's code ``(B, H/PATCH, W/PATCH)`` for images ``(B, 3, H, W)``."""
        p = patches(images)
        return torch.cdist(p, self.centroids.to(p.device)).argmin(1).view(
            images.shape[0], images.shape[-2] // PATCH, images.shape[-1] // PATCH)


def vq_batch(n: int, g: torch.Generator, styled: float = 0.0) -> torch.Tensor:
    """The VQ model's training images ``(n, 3, 32, 32)``: the plain shapes world, and a fraction ``styled`` of the
    same world drawn in the rendering styles of :mod:`clipedit.data.styles` (a general tokenizer must be able to
    draw styles the text-to-token model never produces: StyleDrop tunes only the transformer)."""
    from clipedit.data.shapes import BACKGROUND_NAMES, COLOUR_NAMES, SHAPES
    from clipedit.data.styles import STYLES, render_styled

    k = int(round(n * styled))
    if k == 0:
        return sample_batch(n, RESOLUTION, g, exclude=(), noise=0.0, jitter=JITTER).images
    x = sample_batch(n - k, RESOLUTION, g, exclude=(), noise=0.0, jitter=JITTER).images
    pick = torch.randint(0, 10**6, (k, 5), generator=g).tolist()
    sty = [render_styled(COLOUR_NAMES[a % 6], SHAPES[b % 6], STYLES[c % len(STYLES)], 1, RESOLUTION,
                         BACKGROUND_NAMES[d % 3], seed=e, center=None, size=None) for a, b, c, d, e in pick]
    return torch.cat([x, *sty])[torch.randperm(n, generator=g)]


def patches(images: torch.Tensor) -> torch.Tensor:
    """Non-overlapping ``PATCH``×``PATCH`` patches ``(B·h·w, 3·PATCH²)`` of images ``(B, 3, H, W)``, row-major."""
    return F.unfold(images, PATCH, stride=PATCH).transpose(1, 2).reshape(-1, 3 * PATCH * PATCH)


def patch_kmeans(x: torch.Tensor, k: int, iters: int, g: torch.Generator) -> torch.Tensor:
    """Lloyd's k-means of rows ``x`` ``(N, D)`` into ``(k, D)`` centroids (empty clusters re-seeded from the rows
    farthest from their centroid). Hand-written: a few lines of torch, and scikit-learn is not a dependency."""
    c = x[torch.randperm(len(x), generator=g)[:k]].clone()
    for _ in range(iters):
        d, a = (torch.cat(t) for t in zip(*(torch.cdist(ch, c).min(1) for ch in x.split(65536))))
        cnt = torch.bincount(a, minlength=k)
        c = torch.zeros_like(c).index_add_(0, a, x) / cnt.clamp(min=1)[:, None]
        empty = (cnt == 0).nonzero()[:, 0]
        if len(empty):
            c[empty] = x[d.topk(len(empty)).indices]
    return c


def local_codebook(k: int, dim: int, n_images: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The local code table: k-means centroids ``(k, 3·PATCH²)`` of the shapes world's patches, and their
    ``(k, dim)`` codebook vectors (the centroids' top ``dim`` principal components, unit variance overall), so
    patches that look alike get nearby vectors (VQGAN+CLIP moves through that space)."""
    x = patches(vq_batch(n_images, g))
    x = torch.unique((x * 255).round(), dim=0) / 255  # each distinct patch once: edges, not flat colour, get the codes
    cents = patch_kmeans(x, k, 25, g)
    mean = cents.mean(0)
    _, _, v = torch.linalg.svd(cents - mean, full_matrices=False)
    emb = (cents - mean) @ v[:dim].T
    return cents, emb / emb.std()


def train_vq(steps: int | None = 3000, minutes: float | None = None, batch: int = 32, seed: int = 0,
             out: Path = Path("shapes-vq"), state: Path | None = None,
             lr: float = 2e-3, styled: float = 0.0, kmeans_images: int = 4000, init: Path | None = None,
             decoder_only: bool = False, perceptual: float = 0.0, progress: bool | None = None) -> nn.Module:
    """Stage 1: a VQ model whose codes are *local*: each token is the k-means cluster of its own 4×4 patch.

    A VQ model trained end to end spreads one flat background over a hundred context-dependent codes (measured:
    136 codes, 5.5 bits for exact-white patches), which the transformer then has to guess. Here the code table is
    fixed first (:func:`local_codebook`); the encoder is trained to land on its patch's code (MSE to the vector +
    cross-entropy over negative squared distances, so ``quantize``'s nearest code is the patch's cluster), and the
    decoder to draw the image from the codes (L1 + MSE + Sobel edges), with its 3×3 context to sharpen edges.
    Writes a VQ-only file in the bundled format to ``out`` at every checkpoint.

    ``init`` warm-starts from a bundled-format file (its VQ model and its code table); ``decoder_only`` then trains
    only ``post_quant_conv`` and the decoder, so every image keeps its tokens and a transformer trained on them stays
    valid (the way to sharpen the shipped model's drawing without retraining its transformer).

    ``perceptual`` weighs a semantic term: the cosine distance between the frozen offline guide's image embeddings
    of the reconstruction and of the render. Pixel losses reward the average of what a code could have been (a
    rounded star point); the guide was trained on captions that name the shape, so its embedding tells a star from
    a blob. (The judge, which scores the result, never takes part.)
    """
    from clipedit.training.loop import LoopConfig, TrainState, _has_state, train_loop

    torch.manual_seed(seed)
    vq = build_shapes_vq()
    k, dim = vq.config.num_vq_embeddings, vq.config.vq_embed_dim
    book = vq.quantize.embedding.weight
    book.requires_grad_(False)
    codes = PatchCodes(k)
    init_meta: dict = {}
    if init is not None:
        vq0, _, init_meta = read_shapes_muse(init)
        if "centroids" not in init_meta:
            raise ValueError(f"{init} has no local code table (metadata 'centroids')")
        vq.load_state_dict(vq0.state_dict())
        codes.centroids = init_meta["centroids"].float()
    elif not _has_state(state):  # a resumed run restores both from its state
        codes.centroids, emb = local_codebook(k, dim, kmeans_images, torch.Generator().manual_seed(seed))
        book.data.copy_(emb)
    if decoder_only:
        if init is None:
            raise ValueError("decoder_only needs init: a trained encoder to keep")
        vq.encoder.requires_grad_(False)
        vq.quant_conv.requires_grad_(False)
    opt = torch.optim.AdamW([q for q in vq.parameters() if q.requires_grad], lr=lr, betas=(0.9, 0.99),
                            weight_decay=0.0)
    total = steps or 10**9
    embed = _guide_embedder() if perceptual else None

    def step(st: TrainState) -> dict[str, float]:
        if st.accelerator.num_processes > 1:
            # The VQ model is driven through encode/quantize/decoder, not forward(): DDP would not sync its gradients.
            raise RuntimeError("the VQ stage runs in one process (the transformer stage runs under `accelerate launch`)")
        m = st.unwrap("vq")
        for grp in opt.param_groups:  # short warm-up, then cosine decay to 10 %
            t = st.step / total
            grp["lr"] = lr * min(1.0, (st.step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1))))
        x = vq_batch(batch, st.generators["data"], styled).to(st.device)
        tgt = codes.assign(x)  # (B, h, w)
        cb = m.quantize.embedding.weight
        with torch.set_grad_enabled(not decoder_only):
            h = m.encode(x).latents  # (B, dim, h, w)
            flat = h.permute(0, 2, 3, 1).reshape(-1, dim)
            dist = torch.cdist(flat, cb) ** 2
            loss_enc = F.mse_loss(flat, cb[tgt.view(-1)]) + 0.1 * F.cross_entropy(-dist, tgt.view(-1))
        z = cb[tgt.view(-1)].view(x.shape[0], *tgt.shape[1:], dim).permute(0, 3, 1, 2)
        rec = m.decoder(m.post_quant_conv(z), z if m.config.norm_type == "spatial" else None)
        loss_rec = (rec - x).abs().mean() + F.mse_loss(rec, x)
        loss_edge = (_sobel(rec) - _sobel(x)).abs().mean()
        loss = loss_rec + 0.5 * loss_edge + loss_enc
        logs = {}
        if embed is not None:
            with torch.no_grad():
                e_x = embed(x)
            loss_sem = (1 - (embed(rec.clamp(0, 1)) * e_x).sum(-1)).mean()
            loss = loss + perceptual * loss_sem
            logs["sem"] = loss_sem.item()
        o = st.optimizers["opt"]
        o.zero_grad(set_to_none=True)
        st.backward(loss)
        o.step()
        agree = (dist.argmin(1) == tgt.view(-1)).float().mean()
        return {"loss": loss.item(), "l1": (rec - x).abs().mean().item(), "enc": loss_enc.item(),
                "agree": agree.item(), **logs}

    def checkpoint(st: TrainState) -> None:
        # a warm start counts its starting file's VQ steps and minutes in (a bundled file keeps them under vq_*)
        steps0 = init_meta.get("vq_steps", init_meta.get("steps", 0)) or 0
        minutes0 = init_meta.get("vq_minutes", init_meta.get("minutes", 0.0)) or 0.0
        save_shapes_muse(out, st.unwrap("vq"), None, {
            "stage": "vq", "tokenizer": "local 4x4 k-means codes", "steps": steps0 + st.step,
            "minutes": round(minutes0 + st.seconds / 60, 1), "seed": seed, "resolution": RESOLUTION,
            "styled": styled, "jitter": JITTER, "centroids": codes.centroids.clone(), "perceptual": perceptual,
            **({"init": str(init), "init_steps": steps0, "finetune_steps": st.step, "decoder_only": decoder_only}
               if init else {})}, half=False)

    cfg = LoopConfig(steps=steps, minutes=minutes, seed=seed, state_dir=state, checkpoint_every=250, log_every=50,
                     progress=progress)
    st = train_loop(step, {"vq": vq}, {"opt": opt}, cfg, generators={"data": torch.Generator()},
                    on_checkpoint=checkpoint, desc="shapes-muse VQ", extra_state={"codes": codes})
    return st.unwrap("vq")


def _guide_embedder():
    """The frozen offline guide's image tower as ``f(images (B, 3, H, W) in [0, 1]) -> (B, D)`` unit embeddings."""
    from clipedit.guidance import clip_embed
    from clipedit.models.registry import load_clip

    clip = load_clip("clipedit/shapes", device="cpu").requires_grad_(False)
    return lambda images: clip_embed(clip, images)


def train_transformer(vq_path: Path, steps: int | None = 6000, minutes: float | None = None, batch: int = 64,
                      seed: int = 1, out: Path = Path("shapes-muse"), state: Path | None = None,
                      lr: float = 6e-4, drop_text: float = 0.1, object_weight: float = 1.0,
                      init: Path | None = None, progress: bool | None = None) -> nn.Module:
    """Stage 2: train the masked transformer on the frozen VQ model's tokens; writes the bundled file.

    ``object_weight`` multiplies the cross-entropy of masked tokens that are not their image's background code (the
    most frequent one): about 82 % of the tokens are flat background, predicted right 99.5 % of the time, so with
    equal weights most of the gradient goes to cells the model already knows. ``init`` warm-starts the transformer
    from a bundled-format file (e.g. the shipped one) instead of a fresh initialisation.
    """
    from clipedit.models.registry import load_clip
    from clipedit.training.loop import LoopConfig, TrainState, train_loop

    vq, _, vq_meta = read_shapes_muse(vq_path)
    codes = None
    if "centroids" in vq_meta:  # local codes: train on each patch's own cluster, the encoder's target
        codes = PatchCodes(len(vq_meta["centroids"]))
        codes.centroids = vq_meta["centroids"].float()
    text = GuideTextEncoder(load_clip("clipedit/shapes", device="cpu"))
    tr = build_shapes_transformer()
    init_meta: dict = {}
    if init is not None:
        _, tr0, init_meta = read_shapes_muse(init)
        tr.load_state_dict(tr0.state_dict())
    gen = MaskedGenerator("training", vq, tr, text, RESOLUTION)
    opt = torch.optim.AdamW(tr.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    total = steps or 10**9

    def step(st: TrainState) -> dict[str, float]:
        for grp in opt.param_groups:
            t = st.step / total
            grp["lr"] = lr * min(1.0, (st.step + 1) / 300) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1))))
        g = st.generators["data"]
        b = sample_batch(batch, RESOLUTION, g, noise=0.0, jitter=JITTER, rng=st.generators["captions"])
        with torch.no_grad():
            tokens = codes.assign(b.images) if codes is not None else gen.tokenize(b.images)
            keep = torch.rand(batch, generator=g) >= drop_text
            emb = text([c if k else "" for c, k in zip(b.captions, keep.tolist())])
        inp, mask = mask_tokens(tokens, gen.mask_id, g)
        logits = st.modules["transformer"](inp, encoder_hidden_states=emb.hidden, pooled_text_emb=emb.pooled,
                                           micro_conds=gen.micro_conds(batch))
        ce = F.cross_entropy(logits.permute(0, 2, 3, 1)[mask], tokens[mask], reduction="none")
        obj = (tokens != tokens.flatten(1).mode(1).values[:, None, None])[mask]  # masked cells off the background
        if object_weight != 1.0:
            wgt = 1.0 + (object_weight - 1.0) * obj.float()
            loss = (ce * wgt).sum() / wgt.sum()
        else:
            loss = ce.mean()
        o = st.optimizers["opt"]
        o.zero_grad(set_to_none=True)
        st.backward(loss)
        torch.nn.utils.clip_grad_norm_(tr.parameters(), 1.0)
        o.step()
        with torch.no_grad():
            hit = logits.permute(0, 2, 3, 1)[mask].argmax(-1) == tokens[mask]
        return {"loss": loss.item(), "acc": hit.float().mean().item(),
                "object_acc": hit[obj].float().mean().item() if obj.any() else float("nan")}

    def checkpoint(st: TrainState) -> None:
        save_shapes_muse(out, vq, st.unwrap("transformer"), {
            "stage": "transformer", "resolution": RESOLUTION, "text_encoder": "clipedit/shapes",
            # a bundled file as --vq carries its VQ stage's figures under vq_*; a VQ-stage file under steps/minutes
            "vq_steps": vq_meta.get("vq_steps", vq_meta.get("steps")),
            "vq_minutes": vq_meta.get("vq_minutes", vq_meta.get("minutes")), "steps": st.step,
            **({"init_steps": init_meta.get("steps"), "init_minutes": init_meta.get("minutes")} if init else {}),
            "tokenizer": vq_meta.get("tokenizer", "end-to-end VQ"), "jitter": JITTER,
            "minutes": round(st.seconds / 60, 1), "seed": seed, "drop_text": drop_text,
            "object_weight": object_weight, "init": str(init) if init else None,
            **({"centroids": codes.centroids.clone()} if codes is not None else {})})

    cfg = LoopConfig(steps=steps, minutes=minutes, seed=seed, state_dir=state, checkpoint_every=250, log_every=50,
                     progress=progress)
    st = train_loop(step, {"transformer": tr}, {"opt": opt}, cfg,
                    generators={"data": torch.Generator(), "captions": random.Random()},
                    on_checkpoint=checkpoint, desc="shapes-muse transformer")
    return st.unwrap("transformer")


def bundle(vq_path: Path, transformer_path: Path, out: Path) -> dict:
    """Write the bundled file from a VQ stage and a transformer trained on its codes (both stages' files). Local codes
    are fixed by the k-means table, so the decoder may go on training while the transformer does; the centroids are
    kept in the file's metadata, so the transformer stage can be re-run from the bundled file itself."""
    vq, _, vmeta = read_shapes_muse(vq_path)
    _, tr, tmeta = read_shapes_muse(transformer_path)
    if tr is None:
        raise ValueError(f"{transformer_path} holds no transformer")
    if "centroids" in vmeta and "centroids" in tmeta and not torch.equal(vmeta["centroids"].float(),
                                                                        tmeta["centroids"].float()):
        raise ValueError(f"{vq_path} and {transformer_path} use different code tables: the tokens would not match")
    meta = dict(tmeta, vq_steps=vmeta.get("steps"), vq_minutes=vmeta.get("minutes"))
    if "finetune_steps" in vmeta:
        meta.update(vq_finetune_steps=vmeta["finetune_steps"], vq_decoder_only=vmeta.get("decoder_only"))
    if "centroids" in vmeta:
        meta["centroids"] = vmeta["centroids"]
    save_shapes_muse(out, vq, tr, meta)
    return meta


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=("vq", "transformer", "bundle"))
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--batch", type=int, default=None, help="32 (VQ) or 64 (transformer)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--vq", type=Path, default=None, help="stage 1's file (transformer and bundle input)")
    p.add_argument("--transformer", type=Path, default=None, help="bundle: the transformer stage's file")
    add_out(p, "this stage's file (bundle: the finished model)")
    p.add_argument("--object-weight", type=float, default=1.0,
                   help="transformer stage: weight of masked non-background tokens in the loss (default 1)")
    p.add_argument("--init", type=Path, default=None, help="warm start from this bundled file (either stage)")
    p.add_argument("--perceptual", type=float, default=0.0,
                   help="VQ stage: weight of the offline guide's image-embedding distance (default 0)")
    p.add_argument("--decoder-only", action="store_true",
                   help="VQ stage with --init: train only the decoder, so the tokens (and the transformer) stay valid")
    p.add_argument("--styled", type=float, default=0.0,
                   help="VQ stage: fraction of images drawn in clipedit.data.styles' rendering styles (default 0)")
    a = p.parse_args(argv)
    if a.stage == "bundle":
        if a.transformer is None or a.vq is None:
            p.error("bundle needs --vq and --transformer")
        meta = bundle(a.vq, a.transformer, a.out)
        print({k: v for k, v in meta.items() if k != "centroids"})
        return
    if a.steps is None and a.minutes is None:
        p.error("give --steps or --minutes")
    if a.stage == "transformer" and a.vq is None:
        p.error("the transformer stage needs --vq (stage 1's file)")
    t0 = time.time()
    if a.stage == "vq":
        train_vq(a.steps, a.minutes, a.batch or 32, 0 if a.seed is None else a.seed, a.out,
                 state_for(a.out, a.state), styled=a.styled, init=a.init, decoder_only=a.decoder_only,
                 perceptual=a.perceptual,
                 **({"lr": a.lr} if a.lr else {}))
    else:
        train_transformer(a.vq, a.steps, a.minutes, a.batch or 64, 1 if a.seed is None else a.seed, a.out,
                          state_for(a.out, a.state), object_weight=a.object_weight, init=a.init,
                          **({"lr": a.lr} if a.lr else {}))
    print(f"done in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
