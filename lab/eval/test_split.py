"""The headline numbers of the docs, measured on the test split: prompts and seeds no default was chosen on.

Every default (augmentation, guidance, plausibility, steps) was chosen on :data:`lab.eval.guided.EVAL_PAIRS` and
seeds below 10,000 (the dev split). This script runs the *shipped* defaults, exactly as a user gets them (no
argument but the prompt and the seed), on the other 16 colour–shape pairs and on seeds 10,000 and up, and lets the
independent judge (:mod:`clipedit.judge`) say whether the prompt's colour and shape are in each image.

    python -m lab.eval.test_split      # writes lab/results/guided_test.json and generated_test.json
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import torch

from clipedit.data.shapes import COLOUR_NAMES, SHAPES
from clipedit.judge import judge
from lab.eval.guided import EVAL_PAIRS, prompt_for

#: The test prompts: every colour-shape pair that no default was chosen on.
TEST_PAIRS: tuple[tuple[str, str], ...] = tuple((c, s) for c in COLOUR_NAMES for s in SHAPES if (c, s) not in EVAL_PAIRS)
TEST_SEED0 = 10_000


def judged(run: Callable[[str, int], torch.Tensor], seeds: range) -> dict:
    """Rates of colour, shape and both right over :data:`TEST_PAIRS` x ``seeds`` (every image of a run counts)."""
    c = s = b = n = 0
    t0 = time.perf_counter()
    for colour, shape in TEST_PAIRS:
        for seed in seeds:
            v = judge(run(prompt_for(colour, shape), seed))
            for jc, js in zip(v.colour, v.shape):
                c, s, b, n = c + (jc == colour), s + (js == shape), b + (jc == colour and js == shape), n + 1
    runs = len(TEST_PAIRS) * len(seeds)
    return {"colour": c / n, "shape": s / n, "both": b / n, "n": n,
            "s_per_run": round((time.perf_counter() - t0) / runs, 2)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--guide-seeds", type=int, default=4, help="test seeds per prompt for guide_image (default 4)")
    p.add_argument("--generate-seeds", type=int, default=5, help="test seeds per prompt for generate (default 5)")
    a = p.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    from clipedit.defaults import GENERATE, GUIDE
    from clipedit.masked import generate
    from clipedit.text_to_image import guide_image
    from lab.common import write_results

    split = (f"{len(TEST_PAIRS)} test prompts (the colour-shape pairs outside the 20 dev prompts) x test seeds "
             f"{TEST_SEED0}-")
    gen_seeds = range(TEST_SEED0, TEST_SEED0 + a.generate_seeds)
    g = judged(lambda prompt, seed: generate(prompt, seed=seed, n=4, progress=False).images, gen_seeds)
    print(f"generate: {g}", flush=True)
    write_results("generated_test", [{"setting": f"the defaults: guidance {GENERATE.guidance:g}, plausibility "
                                      f"{GENERATE.plausibility:g}, {GENERATE.steps} steps, 4 images per run", **g}],
                  split="test", notes=split + f"{gen_seeds[-1]}, 4 images per run; the defaults were chosen on the "
                  "dev prompts and seeds 0-7.")
    guide_seeds = range(TEST_SEED0, TEST_SEED0 + a.guide_seeds)
    r = judged(lambda prompt, seed: guide_image(prompt, seed=seed, progress=False).image, guide_seeds)
    print(f"guide_image: {r}", flush=True)
    write_results("guided_test", [{"setting": f"the defaults: {GUIDE.augment} (x{GUIDE.n_augs}), {GUIDE.steps} steps",
                                   **r}],
                  split="test", notes=split + f"{guide_seeds[-1]}; the defaults were chosen on the dev prompts and "
                  "seeds 0-1.")


if __name__ == "__main__":
    main()
