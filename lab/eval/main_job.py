"""Choose and judge the README's main job: ``clipedit generate PROMPT --n 4``, the first picture a newcomer sees.

The prompt is chosen on dev seeds (0-3) among a few candidates by the judge's both-right rate; the chosen command
is then judged on test seeds (10,000 and up) that took no part in the choice, and its picture written for the
README (the command's own output at its default seed).

    python -m lab.eval.main_job            # writes lab/results/main_job.json and docs/main_job.png
"""
from __future__ import annotations

import argparse
import time

import torch

from clipedit.judge import judge

CANDIDATES = ("a green circle", "a purple square", "a yellow triangle", "a red heart", "a blue cross")
DEV_SEEDS = range(0, 4)
N = 4  # images per run, as the README command asks


def both_right(prompt: str, seeds, n: int = N) -> tuple[int, int, float]:
    """(right, total, seconds per run) of ``generate(prompt, n=n, seed=s)`` over ``seeds``, judged."""
    from clipedit.masked import generate

    colour, shape = prompt.split()[-2:]
    right = total = 0
    t0 = time.perf_counter()
    for s in seeds:
        v = judge(generate(prompt, n=n, seed=s, progress=False).images)
        right += sum(c == colour and x == shape for c, x in zip(v.colour, v.shape))
        total += n
    return right, total, (time.perf_counter() - t0) / len(seeds)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test-runs", type=int, default=25, help="test seeds 10,000 … (default 25 runs of 4 images)")
    p.add_argument("--picture", default="docs/main_job.png")
    a = p.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    dev = {c: both_right(c, DEV_SEEDS) for c in CANDIDATES}
    for c, (r, t, _) in dev.items():
        print(f"dev  {c!r}: {r}/{t}")
    chosen = max(CANDIDATES, key=lambda c: dev[c][0])  # first of the best: candidates are in a fixed order
    r, t, s = both_right(chosen, range(10_000, 10_000 + a.test_runs))
    print(f"test {chosen!r}: {r}/{t} both right, {s:.2f} s per run")

    import shutil
    import tempfile
    from pathlib import Path

    from clipedit.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:  # the command writes each image and a report beside the grid
        assert cli(["generate", chosen, "--n", str(N), "--out", f"{tmp}/main_job.png", "--quiet"]) == 0
        shutil.copy(Path(tmp) / "main_job.png", a.picture)
    from lab.common import write_results

    write_results("main_job", [{"command": f'clipedit generate "{chosen}" --n {N}', "both": r / t, "n": t,
                                "s_per_run": round(s, 2), "dev_both": dev[chosen][0] / dev[chosen][1],
                                "dev_n": dev[chosen][1]}],
                  split="test", notes=f"Prompt chosen among {list(CANDIDATES)} on dev seeds 0-3 ({N} images each); "
                  f"judged on test seeds 10000-{10_000 + a.test_runs - 1}, never used for the choice.")


if __name__ == "__main__":
    main()
