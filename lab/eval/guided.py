"""Honest evaluation of the offline guide: zero-shot accuracy and the judge's verdict on guided results.

``python -m lab.eval.guided`` prints the tables that docs/guidance.md reports:

1. zero-shot caption accuracy of ``clipedit/shapes`` on (colour, shape) pairs held out of
   its training, against all 36 ``"a {colour} {shape}"`` captions;
2. for 20 prompts x 2 seeds, with and without augmentations, whether the independent
   judge (:mod:`clipedit.judge`) sees the prompt's colour and shape in the image
   that :func:`clipedit.text_to_image.guide_image` produced.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from clipedit.data.shapes import COLOUR_NAMES, HELD_OUT, SHAPES
from clipedit.judge import judge

#: 20 evaluation prompts: every shape and colour, including all 6 held-out pairs.
EVAL_PAIRS: tuple[tuple[str, str], ...] = HELD_OUT + (
    ("red", "circle"), ("green", "square"), ("blue", "triangle"), ("yellow", "star"),
    ("purple", "cross"), ("orange", "heart"), ("blue", "circle"), ("red", "square"),
    ("green", "triangle"), ("purple", "star"), ("yellow", "cross"), ("red", "heart"),
    ("orange", "circle"), ("green", "star"),
)


def prompt_for(colour: str, shape: str) -> str:
    return f"a {colour} {shape}"


@dataclass
class GuidedScore:
    colour_rate: float
    shape_rate: float
    both_rate: float
    n: int
    seconds: float
    rows: list[dict]


def evaluate_guided(
    run: Callable[[str, int], torch.Tensor],
    pairs: Sequence[tuple[str, str]] = EVAL_PAIRS,
    seeds: Sequence[int] = (0, 1),
) -> GuidedScore:
    """Judge ``run(prompt, seed) -> image (1, 3, H, W)`` over ``pairs`` x ``seeds``."""
    rows, t0 = [], time.time()
    for colour, shape in pairs:
        for seed in seeds:
            img = run(prompt_for(colour, shape), seed)
            v = judge(img)
            rows.append({"colour": colour, "shape": shape, "seed": seed,
                         "judged_colour": v.colour[0], "judged_shape": v.shape[0],
                         "held_out": (colour, shape) in HELD_OUT})
    n = len(rows)
    c = sum(r["judged_colour"] == r["colour"] for r in rows) / n
    s = sum(r["judged_shape"] == r["shape"] for r in rows) / n
    b = sum(r["judged_colour"] == r["colour"] and r["judged_shape"] == r["shape"] for r in rows) / n
    return GuidedScore(c, s, b, n, time.time() - t0, rows)


def guided_runner(augment: str, n_augs: int = 8, steps: int = 150, size: int = 128,
                  param: str = "pixels", lr: float = 0.1, device: str | None = None) -> Callable[[str, int], torch.Tensor]:
    from clipedit.text_to_image import guide_image

    def run(prompt: str, seed: int) -> torch.Tensor:
        return guide_image(prompt, model="clipedit/shapes", steps=steps, size=size, param=param, augment=augment,
                           n_augs=n_augs, lr=lr, seed=seed, progress=False, device=device).image
    return run


TABLE_HEADER = "| augmentation | colour right | shape right | both | held-out pairs: both | s/run |\n|---|---|---|---|---|---|"


def _both(rows) -> float:
    return sum(r["judged_colour"] == r["colour"] and r["judged_shape"] == r["shape"] for r in rows) / max(1, len(rows))


def score_row(label: str, sc: GuidedScore) -> dict:
    """One results row (the data file's) for ``sc``: rates overall, for seen and held-out pairs, n, seconds."""
    return {"setting": label, "colour": sc.colour_rate, "shape": sc.shape_rate, "both": sc.both_rate,
            "seen_both": _both([r for r in sc.rows if not r["held_out"]]),
            "held_out_both": _both([r for r in sc.rows if r["held_out"]]), "n": sc.n,
            "s_per_run": round(sc.seconds / max(1, sc.n), 2)}


def report_row(label: str, sc: GuidedScore) -> str:
    """Print one markdown table row for ``sc``; returns the misjudged runs as one line."""
    ho = [r for r in sc.rows if r["held_out"]]
    ho_both = sum(r["judged_colour"] == r["colour"] and r["judged_shape"] == r["shape"] for r in ho) / max(1, len(ho))
    print(f"| {label} | {sc.colour_rate:.0%} | {sc.shape_rate:.0%} | {sc.both_rate:.0%} | {ho_both:.0%} | "
          f"{sc.seconds / sc.n:.1f} |", flush=True)
    misses = [f"{r['colour']} {r['shape']}/{r['seed']} -> {r['judged_colour']} {r['judged_shape']}"
              for r in sc.rows if (r["judged_colour"], r["judged_shape"]) != (r["colour"], r["shape"])]
    return f"{label}: " + "; ".join(misses)


def print_failures(lines: Sequence[str]) -> None:
    print("\nmisjudged (prompt/seed -> judge):")
    for line in lines:
        print(" ", line)


def save_seed0_grid(images: Sequence[torch.Tensor], path: str | None) -> None:
    """Write every other image (seed 0 of the 2 seeds) as a 10-wide grid."""
    if path and images:
        from torchvision.utils import save_image

        save_image(torch.cat(list(images)[::2]), path, nrow=10, padding=2, pad_value=1.0)
        print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--n-augs", type=int, default=8)
    p.add_argument("--grid", default=None, help="write a PNG grid of the guided results here")
    a = p.parse_args(argv)
    from clipedit.models.registry import load_clip
    from lab.training.shapes_guide import zero_shot

    from lab.common import write_results

    model = load_clip("clipedit/shapes", device="cpu")
    held = zero_shot(model, HELD_OUT, n=1200, seed=99)
    seen = zero_shot(model, [(c, s) for c in COLOUR_NAMES for s in SHAPES if (c, s) not in HELD_OUT], n=1200, seed=98)
    print("zero-shot accuracy over 36 captions (1200 images each)")
    print("| pairs | colour+shape | colour | shape |\n|---|---|---|---|")
    for name, r in (("held out of training (6)", held), ("seen in training (30)", seen)):
        print(f"| {name} | {r['both']:.1%} | {r['colour']:.1%} | {r['shape']:.1%} |")
    write_results("zero_shot", [{"pairs": name, "both": r["both"], "colour": r["colour"], "shape": r["shape"],
                                 "n": 1200} for name, r in (("held out of training (6)", held),
                                                             ("seen in training (30)", seen))], split="dev",
                  notes="Each image classified among all 36 captions 'a {colour} {shape}'; chance 2.8 %.")
    print()
    print(f"judge on guided results: {len(EVAL_PAIRS)} prompts x 2 seeds, {a.steps} steps, {a.size}px pixels, lr 0.1")
    print(TABLE_HEADER)
    images, failures, rows = [], [], []
    for aug, n in (("none", 1), ("cutouts", a.n_augs), ("clipdraw", a.n_augs)):
        run = guided_runner(aug, n, a.steps, a.size)
        if a.grid and aug == "cutouts":
            base = run

            def run(prompt, seed, base=base):  # keep the images for the grid
                img = base(prompt, seed)
                images.append(img)
                return img
        score = evaluate_guided(run)
        failures.append(report_row(f"{aug} (x{n})", score))
        rows.append(score_row(f"{aug} (x{n})" + (", the default" if aug == "cutouts" else ""), score))
    print_failures(failures)
    write_results("guided", rows, split="dev", notes=f"{len(EVAL_PAIRS)} prompts x seeds 0-1; {a.size} px pixels, "
                  f"Adam lr 0.1, {a.steps} steps; the offline guide clipedit/shapes; judged by clipedit.judge.")
    save_seed0_grid(images, a.grid)


if __name__ == "__main__":
    main()
