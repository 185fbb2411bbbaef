"""Benchmark: the vector renderers and a full CLIPDraw step.

Scenes: 256 random CLIPDraw-initialised paths at 224x224 with widths 1-3 px and with widths 1-50 px (CLIPDraw's
range), and 1024 paths at 512x512 with widths 1-50 px. For every available device and renderer (``torch``;
``diffvg`` when ``pydiffvg`` imports) forward and forward+backward seconds, peak memory, and the ratio to the
diffvg figures in the issue (2-core CPU, 2x2 supersampling: 0.29 s / 1.44 s / 2.75 s / 9.1 s). Then one full
CLIPDraw step at the defaults: render 256 paths at 224 -> 4 CLIPDraw views -> CLIP ViT-B/32 (random init, the
real shape) forward + backward -> Adam on points/widths/colours. Each row runs in a fresh subprocess.

    python benchmarks/bench_draw.py
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from bench_guidance import machine, timed  # noqa: E402

SCENES = {"256 @224, w 1-3": (256, 224, 3.0), "256 @224, w 1-50": (256, 224, 50.0), "1024 @512, w 1-50": (1024, 512, 50.0)}
DIFFVG_CPU = {"256 @224, w 1-3": (0.29, 1.44), "256 @224, w 1-50": (None, 2.75), "1024 @512, w 1-50": (None, 9.1)}


def scene_for(name: str, device: str):
    import torch

    from clipedit.draw import random_strokes

    n, size, wmax = SCENES[name]
    s = random_strokes(n, size, size, seed=0)
    g = torch.Generator().manual_seed(0)
    for p in s.paths:  # widths uniform in [1, wmax], like a CLIPDraw drawing part-way through
        p.width = 1 + torch.rand((), generator=g) * (wmax - 1)
    return s.to(device).requires_grad_()


def peak(device: str) -> float:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_render(name: str, renderer: str, device: str, reps: int) -> dict:
    import torch

    from clipedit.draw import make_renderer

    scene, render = scene_for(name, device), make_renderer(renderer)

    def fwd():
        with torch.no_grad():
            render(scene)

    def fwd_bwd():
        render(scene).mean().backward()

    return {"fwd": timed(fwd, reps, device) / 1000, "fwd_bwd": timed(fwd_bwd, reps, device) / 1000, "peak": peak(device)}


def one_step(renderer: str, device: str, reps: int) -> dict:
    import torch

    from clipedit.draw import make_renderer
    from clipedit.guidance import CLIPGuide
    from clipedit.models import KNOWN_CONFIGS, ClipModel, build_clip

    torch.manual_seed(0)
    cfg = KNOWN_CONFIGS["ViT-B/32"]
    model = ClipModel(build_clip(cfg), "ViT-B/32 (random init)", cfg).to(device)
    guide = CLIPGuide("a drawing of a cat", models=model, augment="clipdraw", n_augs=4)
    scene, render = scene_for("256 @224, w 1-50", device), make_renderer(renderer)
    opt = torch.optim.Adam([{"params": scene.parameters("points"), "lr": 1.0},
                            {"params": scene.parameters("widths"), "lr": 0.1},
                            {"params": scene.parameters("colors"), "lr": 0.01}])
    parts = {}

    def step():
        opt.zero_grad()
        guide(render(scene)).loss.backward()
        opt.step()

    def clip_only():
        x = torch.rand(1, 3, 224, 224, device=device, requires_grad=True)
        guide(x).loss.backward()

    parts["step"] = timed(step, reps, device) / 1000
    parts["clip"] = timed(clip_only, reps, device) / 1000
    parts["peak"] = peak(device)
    return parts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", nargs="*", default=None)
    p.add_argument("--_one", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._one:
        kind, name, dev, reps = a._one
        out = one_step(name, dev, int(reps)) if kind == "step" else one_render(name.replace("_", " "), kind, dev, int(reps))
        print(json.dumps(out))
        return
    import torch

    from clipedit.draw import diffvg_available

    devices = a.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    renderers = ["torch"] + (["diffvg"] if diffvg_available() else [])
    env = dict(os.environ, CLIPEDIT_OFFLINE="1")

    def sub(*args):
        r = subprocess.run([sys.executable, __file__, "--_one", *map(str, args)], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
        return json.loads(r.stdout.strip().splitlines()[-1])

    print(f"machine: {machine()}")
    print(f"renderers: {', '.join(renderers)} (diffvg {'installed' if 'diffvg' in renderers else 'not installed'})\n")
    print("| device | renderer | scene | forward (s) | fwd+bwd (s) | peak memory (MiB) | diffvg CPU figure fwd / fwd+bwd (s) | fwd+bwd vs that |")
    print("|---|---|---|---|---|---|---|---|")
    for dev in devices:
        for rend in renderers:
            for name in SCENES:
                reps = 3 if dev != "cpu" or "224" in name else 1
                r = sub(rend, name.replace(" ", "_"), dev, reps)
                if "error" in r:
                    print(f"| {dev} | {rend} | {name} | failed: {r['error']} | | | | |", flush=True)
                    continue
                ref_f, ref_fb = DIFFVG_CPU[name]
                ref = f"{ref_f if ref_f else '-'} / {ref_fb}"
                print(f"| {dev} | {rend} | {name} | {r['fwd']:.3f} | {r['fwd_bwd']:.3f} | {r['peak']:.0f} | {ref} | "
                      f"{r['fwd_bwd'] / ref_fb:.2f}x |", flush=True)
    print("\n| device | renderer | full CLIPDraw step, 256 paths @224, 4 views, ViT-B/32 (s) | of which CLIP fwd+bwd (s) | rendering share |")
    print("|---|---|---|---|---|")
    for dev in devices:
        for rend in renderers:
            r = sub("step", rend, dev, 3)
            if "error" in r:
                print(f"| {dev} | {rend} | failed: {r['error']} | | |")
                continue
            print(f"| {dev} | {rend} | {r['step']:.3f} | {r['clip']:.3f} | {max(0.0, 1 - r['clip'] / r['step']):.0%} |", flush=True)


if __name__ == "__main__":
    main()
