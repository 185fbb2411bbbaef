"""Benchmark: seconds per StyleCLIP latent-optimisation step.

Generator: StyleGAN2 config-f at 256 and 1024 px (random init, the real shapes: 30.4 M parameters at 1024),
W+ latent; one step = synthesis -> CLIP ViT-B/32 (random init, real shape; no augmentation, as StyleCLIP) ->
L2 term [-> ArcFace IR-SE50 identity term (random init, real shape)] -> backward -> Adam. With and without the
identity term, on every available device, each row in a fresh subprocess (CPU: peak RSS of that process; GPU:
``torch.cuda.max_memory_allocated``).

    python benchmarks/bench_styleclip.py
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from bench_draw import peak  # noqa: E402
from bench_guidance import machine, timed  # noqa: E402


def one(size: int, identity: bool, device: str, reps: int) -> dict:
    import torch

    from clipedit.guidance import CLIPGuide
    from clipedit.models import KNOWN_CONFIGS, ClipModel, build_clip
    from clipedit.styleclip import IRSE50, Generator, IdentityLoss, StyleGAN2Config, styleclip_edit

    torch.manual_seed(0)
    G = Generator(StyleGAN2Config(size=size)).to(device).eval().requires_grad_(False)
    G.latent_avg.normal_()
    cfg = KNOWN_CONFIGS["ViT-B/32"]
    guide = CLIPGuide("a person with purple hair", models=ClipModel(build_clip(cfg), "ViT-B/32", cfg).to(device),
                      augment="none", n_augs=1)
    ident = IdentityLoss(IRSE50().to(device).eval().requires_grad_(False)) if identity else None

    def run(steps: int):
        styleclip_edit("a person with purple hair", generator=G, guide=guide, steps=steps, identity=ident,
                       id_lambda=0.005 if identity else 0.0, progress=False, device=device)

    # setup (start image, identity reference) is the same for both runs and cancels in the difference
    t1 = timed(lambda: run(1), 1, device)
    tn = timed(lambda: run(reps + 1), 1, device)
    return {"s_per_step": (tn - t1) / 1000 / reps, "peak": peak(device)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", nargs="*", default=None)
    p.add_argument("--_one", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._one:
        size, ident, dev, reps = a._one
        print(json.dumps(one(int(size), ident == "1", dev, int(reps))))
        return
    import torch

    devices = a.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    print(f"machine: {machine()}\n")
    print("| device | resolution | identity term | s / step | peak memory (MiB) | vs without identity |")
    print("|---|---|---|---|---|---|")
    for dev in devices:
        for size in (256, 1024):
            base = None
            for ident in (0, 1):
                reps = 10 if dev != "cpu" else (3 if size == 256 else 2)
                r = subprocess.run([sys.executable, __file__, "--_one", str(size), str(ident), dev, str(reps)],
                                   capture_output=True, text=True, env=dict(os.environ, CLIPEDIT_OFFLINE="1"))
                if r.returncode != 0:
                    print(f"| {dev} | {size} | {'yes' if ident else 'no'} | failed: {r.stderr.strip().splitlines()[-1]} | | |")
                    continue
                row = json.loads(r.stdout.strip().splitlines()[-1])
                base = base or row["s_per_step"]
                print(f"| {dev} | {size} | {'yes' if ident else 'no'} | {row['s_per_step']:.2f} | {row['peak']:.0f} | "
                      f"{row['s_per_step'] / base:.2f}x |", flush=True)
    # The identity term on its own (it is smaller than the step-to-step spread of the rows above).
    from clipedit.styleclip import IRSE50, IdentityLoss

    for dev in devices:
        loss = IdentityLoss(IRSE50().to(dev).eval().requires_grad_(False))
        ref = loss.embed(torch.rand(1, 3, 256, 256, device=dev))
        x = torch.rand(1, 3, 1024, 1024, device=dev, requires_grad=True)
        ms = timed(lambda: loss(x, ref_embedding=ref).backward(), 3, dev)
        print(f"\n{dev}: ArcFace IR-SE50 identity term alone (1024 image -> 256 -> crop -> 112, forward + backward): {ms / 1000:.2f} s")


if __name__ == "__main__":
    main()
