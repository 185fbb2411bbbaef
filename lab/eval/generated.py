"""Honest evaluation of masked generation and VQGAN+CLIP with the independent judge.

``python -m lab.eval.generated`` prints the tables of docs/masked.md for ``clipedit/shapes-muse``:

1. generation: for the 20 evaluation prompts (all 6 held-out colour–shape pairs among them) × 4 seeds, the judge's
   colour / shape / both accuracy, seen and held-out pairs reported apart, at guidance 0, 1, 3, 5 and 8, plain and
   restricted to plausible codes (:func:`clipedit.sampler.restrict_plausible`);
2. diversity: for prompts that fix neither position, size nor background, the spread over 16 seeds of the object's
   centre and area and how many backgrounds appear, beside the same statistics of the training renders;
3. tokenizer: how much of a real render survives the VQ model: the judge on real renders, on the plain k-means
   centroid lookup of each patch (the code table alone, no decoder) and on encode → decode, per shape;
4. VQGAN+CLIP: 20 prompts × 2 seeds through the VQ decoder's latents, against
   :func:`~clipedit.text_to_image.guide_image`'s pixel parameterisation at the same number of steps.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from clipedit.data.shapes import BACKGROUND_NAMES, BACKGROUNDS, HELD_OUT, sample_batch
from lab.common import write_results
from lab.eval.guided import EVAL_PAIRS, GuidedScore, evaluate_guided, score_row
from clipedit.sampler import DEFAULT_PLAUSIBILITY

GUIDANCE_SWEEP = (0.0, 1.0, 3.0, 5.0, 8.0)
HEADER = ("| setting | colour right | shape right | both | seen pairs: both | held-out pairs: both | s/image |\n"
          "|---|---|---|---|---|---|---|")


def row(label: str, sc: GuidedScore) -> str:
    """One markdown row: overall rates, then ``both`` for seen and held-out pairs apart."""
    def both(rows):
        return sum(r["judged_colour"] == r["colour"] and r["judged_shape"] == r["shape"] for r in rows) / max(1, len(rows))

    seen = [r for r in sc.rows if not r["held_out"]]
    held = [r for r in sc.rows if r["held_out"]]
    return (f"| {label} | {sc.colour_rate:.0%} | {sc.shape_rate:.0%} | {sc.both_rate:.0%} | {both(seen):.0%} | "
            f"{both(held):.0%} | {sc.seconds / sc.n:.2f} |")


def generation_runner(guidance: float, steps: int = 12, model: str = "clipedit/shapes-muse",
                      plausibility: float | None = None) -> Callable[[str, int], torch.Tensor]:
    from clipedit.masked import generate
    from clipedit.models.muse import load_masked_generator

    gen = load_masked_generator(model, device="cpu")

    def run(prompt: str, seed: int) -> torch.Tensor:
        return generate(prompt, model=gen, steps=steps, guidance=guidance, seed=seed, plausibility=plausibility,
                        progress=False).images
    return run


def object_stats(images: torch.Tensor, threshold: float = 0.25) -> dict[str, torch.Tensor]:
    """Per image: background name index (nearest of the three, from the border), the object's centre ``(x, y)`` in
    ``[-1, 1]`` and its area fraction (pixels farther than ``threshold`` from the border colour)."""
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., :, 0], images[..., :, -1]], -1)
    bg = border.median(-1).values  # (B, 3)
    refs = torch.tensor([BACKGROUNDS[b] for b in BACKGROUND_NAMES])
    bg_idx = torch.cdist(bg, refs).argmin(-1)
    fg = ((images - bg[..., None, None]).abs().sum(1) > threshold).float()  # (B, H, W)
    h, w = fg.shape[-2:]
    ys = (torch.arange(h) + 0.5) / h * 2 - 1
    xs = (torch.arange(w) + 0.5) / w * 2 - 1
    area = fg.sum((-2, -1)).clamp(min=1)
    cx = (fg * xs[None, None]).sum((-2, -1)) / area
    cy = (fg * ys[None, :, None]).sum((-2, -1)) / area
    return {"background": bg_idx, "center": torch.stack([cx, cy], -1), "area": fg.mean((-2, -1))}


def diversity(images_per_prompt: Sequence[torch.Tensor]) -> dict[str, float]:
    """Mean over prompts of: centre spread (std of x and y, averaged), area spread (std / mean), backgrounds seen."""
    cs, ar, bgs = [], [], []
    for imgs in images_per_prompt:
        st = object_stats(imgs)
        cs.append(float(st["center"].std(0).mean()))
        ar.append(float(st["area"].std() / st["area"].mean().clamp(min=1e-6)))
        bgs.append(len(set(st["background"].tolist())))
    n = len(images_per_prompt)
    return {"center_std": sum(cs) / n, "area_cv": sum(ar) / n, "backgrounds": sum(bgs) / n}


def vqgan_runner(steps: int, n_augs: int = 32) -> Callable[[str, int], torch.Tensor]:
    from clipedit.masked import vqgan_clip

    def run(prompt: str, seed: int) -> torch.Tensor:
        return vqgan_clip(prompt, model="clipedit/shapes", steps=steps, n_augs=n_augs, seed=seed, progress=False,
                          device="cpu").image
    return run


def pixel_runner(steps: int, n_augs: int = 32, size: int = 128, loss: str = "spherical"
                 ) -> Callable[[str, int], torch.Tensor]:
    from clipedit.text_to_image import guide_image

    def run(prompt: str, seed: int) -> torch.Tensor:
        return guide_image(prompt, model="clipedit/shapes", steps=steps, size=size, n_augs=n_augs, loss=loss,
                           lr=0.1, seed=seed, progress=False, device="cpu").image
    return run


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=4, help="seeds per prompt for generation (default 4)")
    p.add_argument("--vqgan-steps", type=int, default=100)
    p.add_argument("--parts", default="generation,diversity,tokenizer,vqgan", help="which tables (comma-separated)")
    p.add_argument("--model", default="clipedit/shapes-muse", help="the masked generator to judge (a name or a file)")
    a = p.parse_args(argv)
    parts = set(a.parts.split(","))
    seeds = tuple(range(a.samples))
    if "generation" in parts:
        print(f"generation: {len(EVAL_PAIRS)} prompts ({len(HELD_OUT)} held-out pairs) x {a.samples} seeds, 12 steps")
        print(HEADER)
        rows = []
        for g in GUIDANCE_SWEEP:  # plain guidance, then restricted to plausible codes (scale 0: no guidance at all)
            for pl in ((0.0,) if g == 0 else (0.0, DEFAULT_PLAUSIBILITY)):
                sc = evaluate_guided(generation_runner(g, model=a.model, plausibility=pl), EVAL_PAIRS, seeds)
                label = f"guidance {g:g}" + (f", plausibility {pl:g}" if g else "")
                print(row(label, sc), flush=True)
                r = score_row(label, sc)
                rows.append({**{k: v for k, v in r.items() if k != "s_per_run"}, "s_per_image": r["s_per_run"]})
        write_results("generated", rows, split="dev", notes=f"{len(EVAL_PAIRS)} prompts x {a.samples} seeds, 12 "
                      "steps, temperature 1, randomness 4.5; judged by clipedit.judge.")
    if "diversity" in parts:
        print_diversity()
    if "tokenizer" in parts:
        print_tokenizer(a.model)
    if "vqgan" in parts:
        print_vqgan(a.vqgan_steps)


def print_diversity() -> None:
    from clipedit.masked import generate
    from clipedit.masked.generate import DEFAULT_GUIDANCE

    prompts = [("red", "circle"), ("blue", "star"), ("green", "square"), ("yellow", "heart"), ("purple", "cross"),
               ("orange", "triangle")]
    gen_imgs = [generate(f"a {c} {s}", n=16, seed=0, progress=False).images for c, s in prompts]
    g = torch.Generator().manual_seed(5)
    real = [sample_batch(16, 32, g, only=[pr], noise=0.0).images for pr in prompts]
    dg, dr = diversity(gen_imgs), diversity(real)
    print(f"\ndiversity over 16 seeds, prompts naming only colour and shape (guidance {DEFAULT_GUIDANCE:g}); "
          "mean over 6 prompts")
    print("| images | centre spread (std, x/y in [-1, 1]) | area spread (std/mean) | backgrounds seen (of 3) |\n"
          "|---|---|---|---|")
    for name, d in (("generated", dg), ("training renders", dr)):
        print(f"| {name} | {d['center_std']:.2f} | {d['area_cv']:.2f} | {d['backgrounds']:.1f} |")


def tokenizer_rates(model: str = "clipedit/shapes-muse", n: int = 600, seed: int = 7) -> dict[str, dict[str, float]]:
    """The judge's "both right" rate per shape (and ``"all"``) on ``n`` fresh renders of all 36 pairs at 32 px in
    canonical colours: ``"real"``, ``"centroids"`` (each 4×4 patch replaced by its k-means centroid: the code table
    alone; only for local-code models) and ``"decoded"`` (encode → quantise → decode)."""
    import torch.nn.functional as F

    from clipedit.data.shapes import COLOUR_NAMES, SHAPES
    from clipedit.judge import judge
    from clipedit.models.muse import SHAPES_MUSE, load_masked_generator, read_shapes_muse
    from clipedit.hub import is_pretrained_folder
    from clipedit.weights import get_weights, resolve
    from lab.training.shapes_muse import PATCH, PatchCodes

    gen = load_masked_generator(model, device="cpu")
    b = sample_batch(n, 32, torch.Generator().manual_seed(seed), exclude=(), noise=0.0, jitter=0.0)
    x = b.images

    def rates(images: torch.Tensor) -> dict[str, float]:
        v = judge(images)
        ok = torch.tensor([c == COLOUR_NAMES[i] and s == SHAPES[j]
                           for c, s, i, j in zip(v.colour, v.shape, b.colour.tolist(), b.shape.tolist())])
        return {"all": ok.float().mean().item(), **{s: ok[b.shape == i].float().mean().item()
                                                    for i, s in enumerate(SHAPES)}}

    with torch.no_grad():
        out = {"real": rates(x), "decoded": rates(gen.detokenize(gen.tokenize(x)))}
        path = resolve(get_weights(SHAPES_MUSE)) if model == SHAPES_MUSE else Path(model) if is_pretrained_folder(model) else None
        meta = read_shapes_muse(path)[2] if path is not None else {}
        if "centroids" in meta:  # the code table alone: each patch drawn as its own cluster's centroid
            codes = PatchCodes(len(meta["centroids"]))
            codes.centroids = meta["centroids"].float()
            look = codes.centroids[codes.assign(x).view(n, -1)].transpose(1, 2)  # (n, 3·PATCH², patches)
            out["centroids"] = rates(F.fold(look, x.shape[-2:], PATCH, stride=PATCH).clamp(0, 1))
    return out


def print_tokenizer(model: str) -> None:
    from clipedit.data.shapes import SHAPES

    r = tokenizer_rates(model)
    print("\ntokenizer: the judge reads colour and shape right (600 fresh renders of all 36 pairs, 32 px)")
    print("| images | all | " + " | ".join(SHAPES) + " |\n|---|---|" + "---|" * len(SHAPES))
    for name in ("real", "centroids", "decoded"):
        if name in r:
            print(f"| {name} | " + " | ".join(f"{r[name][k]:.0%}" for k in ("all", *SHAPES)) + " |")


def print_vqgan(steps: int) -> None:
    print(f"\nVQGAN+CLIP vs pixels: {len(EVAL_PAIRS)} prompts x 2 seeds, {steps} steps, "
          "32 cutouts, spherical loss, lr 0.1, guide clipedit/shapes")
    print(HEADER.replace("s/image", "s/run"))
    rows = []
    for label, run in (("VQGAN+CLIP (32 px, 8x8 latents)", vqgan_runner(steps)),
                       ("pixels (128 px)", pixel_runner(steps))):
        t0 = time.time()
        sc = evaluate_guided(run, EVAL_PAIRS, (0, 1))
        sc.seconds = time.time() - t0
        print(row(label, sc), flush=True)
        rows.append(score_row(label, sc))
    write_results("vqgan", rows, split="dev", notes=f"{len(EVAL_PAIRS)} prompts x seeds 0-1, {steps} steps, the "
                  "offline guide, 32 cutouts, spherical loss, lr 0.1; judged by clipedit.judge.")


if __name__ == "__main__":
    main()
