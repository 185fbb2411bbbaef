"""The independent judge on CLIPDraw results drawn with the offline guide.

``python -m lab.eval.drawn`` draws each of the 20 evaluation prompts (:data:`lab.eval.guided.EVAL_PAIRS`)
with 2 seeds through :func:`clipedit.draw.clipdraw` on ``clipedit/shapes``, with CLIPDraw's augmentation and
without any, and prints how often the judge (:mod:`clipedit.judge`) sees the prompt's colour and shape.
``--renderer torch diffvg`` repeats the augmented runs on each renderer (same prompts and seeds) and prints each
seed's rate, so a difference between renderers can be set against the spread between seeds.
"""
from __future__ import annotations

import argparse
from typing import Callable

import torch

from lab.common import write_results
from lab.eval.guided import (EVAL_PAIRS, TABLE_HEADER, evaluate_guided, print_failures, report_row, score_row,
                                  save_seed0_grid)


def draw_runner(augment: str, n_augs: int, steps: int = 300, canvas: int = 128, num_paths: int = 128,
                keep: list | None = None, renderer: str = "torch") -> Callable[[str, int], torch.Tensor]:
    from clipedit.draw import clipdraw

    def run(prompt: str, seed: int) -> torch.Tensor:
        img = clipdraw(prompt, model="clipedit/shapes", steps=steps, canvas=canvas, num_paths=num_paths,
                       augment=augment, n_augs=n_augs, seed=seed, renderer=renderer, progress=False).image
        if keep is not None:
            keep.append(img)
        return img
    return run


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--canvas", type=int, default=128)
    p.add_argument("--paths", type=int, default=128)
    p.add_argument("--n-augs", type=int, default=4)
    p.add_argument("--grid", default=None, help="write a PNG grid of the augmented runs (seed 0) here")
    p.add_argument("--renderer", nargs="+", default=["torch"], choices=["torch", "diffvg"],
                   help="renderers for the augmented runs (default torch)")
    p.add_argument("--no-plain", action="store_true", help="skip the runs without augmentation")
    a = p.parse_args(argv)
    print(f"judge on CLIPDraw results: {len(EVAL_PAIRS)} prompts x 2 seeds, {a.paths} paths, {a.canvas}px canvas, "
          f"{a.steps} steps, offline guide")
    print(TABLE_HEADER)
    images: list[torch.Tensor] = []
    failures = []
    runs = [("clipdraw", a.n_augs, r) for r in a.renderer] + ([] if a.no_plain else [("none", 1, "torch")])
    per_seed, rows = [], []
    for aug, n, rend in runs:
        run = draw_runner(aug, n, a.steps, a.canvas, a.paths, keep=images if not images and aug == "clipdraw" else None,
                          renderer=rend)
        label = f"{aug} (x{n})" + (f", {rend}" if len(a.renderer) > 1 and aug == "clipdraw" else "")
        score = evaluate_guided(run)
        failures.append(report_row(label, score))
        rows.append(score_row(label, score))
        rates = [sum(r["judged_colour"] == r["colour"] and r["judged_shape"] == r["shape"] for r in score.rows
                     if r["seed"] == s) / len(EVAL_PAIRS) for s in (0, 1)]
        per_seed.append(f"{label}: both, seed 0 {rates[0]:.0%}, seed 1 {rates[1]:.0%}")
    print("\n" + "\n".join(per_seed))
    print_failures(failures)
    save_seed0_grid(images, a.grid)
    write_results("drawn", rows, split="dev", notes=f"{len(EVAL_PAIRS)} prompts x seeds 0-1; {a.paths} paths, "
                  f"{a.canvas} px canvas, {a.steps} steps, the offline guide; judged by clipedit.judge.")


if __name__ == "__main__":
    main()
