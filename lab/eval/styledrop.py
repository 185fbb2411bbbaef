"""Honest evaluation of StyleDrop on the offline backbone: does the style transfer, and does the content stay?

``python -m lab.eval.styledrop`` prints the tables of docs/styledrop.md. For each style reference (a shapes-world image in
a rendering style the base model never produces, :mod:`clipedit.data.styles`):

* base model, round 1 (adapters), round 1 with LoRA at an equal parameter budget, and round 2 (feedback), each
  sampled for the evaluation prompts (:data:`~lab.eval.guided.EVAL_PAIRS` without the reference's own pair:
  content the style image does not show) × 4 seeds;
* **content kept**: the independent judge's colour / shape / both accuracy;
* **style taken**: the mean distance between Magenta style embeddings (real weights) of each sample and the
  reference (lower is closer), and of each sample and the base model's sample of the same prompt and seed (how far
  the adapters moved it);
* round 2 picks its images by the guide's text score and the Magenta style distance; the judge only reports.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Iterator

import torch

from clipedit.data.shapes import HELD_OUT
from lab.eval.guided import EVAL_PAIRS, prompt_for

#: (style, colour, shape, descriptor) of each reference image.
REFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("stripes", "red", "circle", "striped"),
    ("shadow", "blue", "square", "drop shadow"),
)
HEADER = ("| style | model | colour right | shape right | both | style distance to reference | "
          "distance from base sample | train min |\n|---|---|---|---|---|---|---|---|")


@dataclass
class Row:
    label: str
    colour: float
    shape: float
    both: float
    to_reference: float
    from_base: float
    minutes: float


def judge_rows(images: torch.Tensor, pairs: list[tuple[str, str]], seeds: int) -> tuple[float, float, float]:
    from clipedit.judge import judge

    want = [p for p in pairs for _ in range(seeds)]
    v = judge(images)
    c = sum(a == w[0] for a, w in zip(v.colour, want)) / len(want)
    s = sum(a == w[1] for a, w in zip(v.shape, want)) / len(want)
    b = sum(a == w[0] and x == w[1] for a, x, w in zip(v.colour, v.shape, want)) / len(want)
    return c, s, b


def evaluate_style(style: str, colour: str, shape: str, descriptor: str, seeds: int = 4, steps: int | None = None,
                   progress: bool | None = False) -> Iterator[Row]:
    """Rows for one reference, each yielded as soon as it is measured."""
    from clipedit.data.styles import render_styled
    from clipedit.models.adapters import lora_rank_for
    from clipedit.models.magenta import load_style_predictor, style_distance
    from clipedit.models.muse import load_masked_generator
    from clipedit.styledrop import StyleDropSettings, collect_feedback, retrain_with_feedback, sample_style, train_style
    from clipedit.styledrop.feedback import default_feedback_contents

    gen = load_masked_generator("clipedit/shapes-muse", device="cpu")
    ref = render_styled(colour, shape, style)
    content = prompt_for(colour, shape)
    pairs = [p for p in EVAL_PAIRS if p != (colour, shape)]
    prompts = [prompt_for(c, s) for c, s in pairs]
    sp = load_style_predictor("cpu")
    e_ref = sp(ref)
    settings = StyleDropSettings(**({"steps": steps} if steps else {}))

    def run(label: str, style_obj, minutes: float) -> tuple[Row, torch.Tensor]:
        out = sample_style(gen, style_obj, prompts, n=seeds, seed=0, progress=progress)
        return Row(label, *judge_rows(out.images, pairs, seeds), float(style_distance(out.images, e_ref, sp).mean()),
                   0.0, minutes), out.images

    base_row, base_imgs = run("base model", None, 0.0)
    yield base_row
    e_base = sp(base_imgs)

    def with_base(row: Row, imgs: torch.Tensor) -> Row:
        row.from_base = float((sp(imgs) - e_base).norm(dim=-1).mean())
        return row

    r1 = train_style(gen, ref, [content], descriptor, settings, progress=progress)
    yield with_base(*run(f"round 1 (adapter, rank {settings.rank}, {r1.adapters.num_parameters():,} params)", r1,
                         r1.meta["minutes"]))
    lora_rank = lora_rank_for(gen.transformer, r1.adapters.num_parameters())
    lora_settings = StyleDropSettings(**{**settings.__dict__, "kind": "lora", "rank": lora_rank})
    r1_lora = train_style(gen, ref, [content], descriptor, lora_settings, progress=progress)
    yield with_base(*run(f"round 1 (LoRA, rank {lora_rank}, {r1_lora.adapters.num_parameters():,} params)", r1_lora,
                         r1_lora.meta["minutes"]))
    t0 = time.time()
    fb = collect_feedback(gen, r1, ref, default_feedback_contents(gen, content), seed=1, progress=progress)
    r2 = retrain_with_feedback(gen, r1, ref, content, fb, progress=progress)
    yield with_base(*run(f"round 2 (feedback: {len(fb.kept)} of {len(fb.contents)} kept)", r2,
                         (time.time() - t0) / 60))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--steps", type=int, default=None, help="adapter training steps (default: the library's)")
    p.add_argument("--styles", default=",".join(r[0] for r in REFERENCES), help="which references (comma-separated)")
    a = p.parse_args(argv)
    held = sum(1 for pr in EVAL_PAIRS if pr in HELD_OUT)
    print(f"StyleDrop on clipedit/shapes-muse: {len(EVAL_PAIRS) - 1} content prompts ({held} of them pairs held out "
          f"of the backbone's training) x {a.seeds} seeds, λ_A 2, λ_B 3, 12 steps")
    print(HEADER)
    from lab.common import write_results

    rows = []
    for style, colour, shape, descriptor in [r for r in REFERENCES if r[0] in a.styles.split(",")]:
        for r in evaluate_style(style, colour, shape, descriptor, a.seeds, a.steps):
            print(f"| {descriptor} ({colour} {shape}) | {r.label} | {r.colour:.0%} | {r.shape:.0%} | {r.both:.0%} | "
                  f"{r.to_reference:.2f} | {r.from_base:.2f} | {r.minutes:.1f} |", flush=True)
            rows.append({"style": f"{descriptor} ({colour} {shape})", "model": r.label, "colour": r.colour,
                         "shape": r.shape, "both": r.both, "style_distance": round(r.to_reference, 2),
                         "from_base": round(r.from_base, 2), "n": (len(EVAL_PAIRS) - 1) * a.seeds,
                         "train_minutes": round(r.minutes, 1)})
    write_results("styledrop", rows, split="dev", notes=f"{len(EVAL_PAIRS) - 1} evaluation prompts (not the "
                  f"reference's own) x {a.seeds} seeds, lambda_A 2, lambda_B 3, 12 steps; style distance: Magenta style "
                  "embeddings, lower is closer.")


if __name__ == "__main__":
    main()
