"""The offline StyleCLIP check: edit the demo generator's samples to another colour and let the judge look.

``python -m lab.eval.edited`` (1) rates the demo generator's samples (how many the independent judge reads
with confidence, vs real shapes-world images at the same size), (2) starts from samples the judge reads as
``(colour, shape)``, edits each with ``"a {new colour} {shape}"`` through :func:`clipedit.styleclip.styleclip_edit`
on the offline guide, and reports how often the judge sees the new colour, how often the shape survives, and
how much the object moved (IoU of the foreground masks before/after), for two λ_L2 values. Writes a grid.
"""
from __future__ import annotations

import argparse
import time

import torch

from clipedit.data.shapes import COLOUR_NAMES, sample_batch
from clipedit.judge import judge


def foreground(images: torch.Tensor, threshold: float = 0.3) -> torch.Tensor:
    """Object mask ``(B, H, W)``: pixels with chroma ``max(RGB) - min(RGB)`` above ``threshold``. Every object colour
    of the shapes world is saturated and every background (white, grey, black) is not, so the mask ignores
    background changes."""
    return (images.amax(1) - images.amin(1)) > threshold


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float().clamp_min(1)
    return inter / union


def confident(images: torch.Tensor | None = None, p: float = 0.9, verdict=None) -> torch.Tensor:
    """``(B,)`` bool: the judge's colour and shape probabilities both exceed ``p`` (pass a ready ``verdict`` to
    avoid judging twice)."""
    v = verdict if verdict is not None else judge(images)
    return (v.colour_prob.max(1).values > p) & (v.shape_prob.max(1).values > p)


def sample_quality(G, n: int = 512) -> dict[str, float]:
    from clipedit.styleclip import to_unit

    with torch.no_grad():
        fake = torch.cat([to_unit(G.synthesis(G.sample_w(64, truncation=0.7, seed=s))) for s in range(n // 64)])
        fake_full = torch.cat([to_unit(G.synthesis(G.sample_w(64, truncation=1.0, seed=100 + s))) for s in range(n // 64)])
    real = sample_batch(n, resolution=G.size, generator=torch.Generator().manual_seed(5), exclude=(), noise=0.0).images
    vf = judge(fake)
    return {"confident_trunc0.7": float(confident(fake).float().mean()), "confident_trunc1.0": float(confident(fake_full).float().mean()),
            "confident_real": float(confident(real).float().mean()),
            "distinct_pairs": len(set(zip(vf.colour, vf.shape)))}


def pick_starts(G, n: int, seed: int = 0):
    """``n`` seeded samples the judge reads confidently, spread over shapes: ``[(w, colour, shape)]``."""
    from clipedit.styleclip import to_unit

    out, seen, used = [], {}, set()
    for cap in (max(1, n // 6 + 1), n):  # spread over shapes first; fill up with any shape if the generator lacks some
        for s in range(seed, seed + 400):
            if len(out) >= n:
                return out
            if s in used:
                continue
            w = G.sample_w(1, truncation=0.7, seed=s)
            x = to_unit(G.synthesis(w))
            v = judge(x)
            if bool(confident(verdict=v)[0]) and seen.get(v.shape[0], 0) < cap:
                seen[v.shape[0]] = seen.get(v.shape[0], 0) + 1
                used.add(s)
                out.append((w, v.colour[0], v.shape[0]))
    return out


def evaluate_edits(G, starts, l2_lambda: float, steps: int = 300, keep: list | None = None, augment: str = "none",
                   n_augs: int = 1) -> dict:
    from clipedit.styleclip import styleclip_edit

    rows, t0 = [], time.time()
    for i, (w, colour, shape) in enumerate(starts):
        target = COLOUR_NAMES[(COLOUR_NAMES.index(colour) + 1 + i % 5) % len(COLOUR_NAMES)]
        r = styleclip_edit(f"a {target} {shape}", generator=G, latent=w, model="auto", steps=steps,
                           l2_lambda=l2_lambda, seed=0, progress=False, augment=augment, n_augs=n_augs)
        v = judge(r.image)
        rows.append({"from": f"{colour} {shape}", "to": target, "colour_ok": v.colour[0] == target,
                     "shape_kept": v.shape[0] == shape, "iou": float(iou(foreground(r.before), foreground(r.image))[0]),
                     "dw": float((r.latent - r.start).norm())})
        if keep is not None:
            keep += [r.before, r.image]
    n = len(rows)
    return {"n": n, "colour": sum(r["colour_ok"] for r in rows) / n, "shape": sum(r["shape_kept"] for r in rows) / n,
            "both": sum(r["colour_ok"] and r["shape_kept"] for r in rows) / n,
            "iou": sum(r["iou"] for r in rows) / n, "dw": sum(r["dw"] for r in rows) / n,
            "s_per_edit": (time.time() - t0) / n, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    from clipedit.styleclip import load_generator

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=12)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--grid", default=None)
    a = p.parse_args(argv)
    G = load_generator(None, device="cpu")
    q = sample_quality(G)
    print(f"demo generator samples read confidently by the judge (p>0.9 for colour and shape): "
          f"{q['confident_trunc0.7']:.0%} at truncation 0.7, {q['confident_trunc1.0']:.0%} at 1.0; real shapes-world "
          f"images at {G.size}px: {q['confident_real']:.0%}; distinct (colour, shape) readings in 512 samples: "
          f"{q['distinct_pairs']} of 36")
    starts = pick_starts(G, a.n)
    print(f"\nedits: {len(starts)} judged samples -> another colour, same shape ({a.steps} steps, offline guide)")
    print("| λ_L2 | new colour seen | shape kept | both | mask IoU before/after | ‖w − w_s‖ | s/edit |\n|---|---|---|---|---|---|---|")
    images: list[torch.Tensor] = []
    for lam in (0.008, 0.0):
        r = evaluate_edits(G, starts, lam, a.steps, keep=images if lam == 0.008 else None)
        print(f"| {lam} | {r['colour']:.0%} | {r['shape']:.0%} | {r['both']:.0%} | {r['iou']:.2f} | {r['dw']:.2f} | "
              f"{r['s_per_edit']:.1f} |", flush=True)
        print("  " + "; ".join(f"{x['from']} -> {x['to']}: {'ok' if x['colour_ok'] else 'no'}/"
                               f"{'kept' if x['shape_kept'] else 'lost'}/IoU {x['iou']:.2f}" for x in r["rows"]))
    if a.grid and images:
        import torch.nn.functional as F
        from torchvision.utils import save_image

        pairs = torch.cat(images)
        save_image(F.interpolate(pairs, scale_factor=4, mode="nearest"), a.grid, nrow=8, padding=2, pad_value=1.0)
        print(f"wrote {a.grid}")


if __name__ == "__main__":
    main()
