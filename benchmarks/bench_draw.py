"""Benchmark: the vector renderers and a full CLIPDraw step, every figure from this run.

Scenes: 256 random CLIPDraw-initialised paths at 224x224 with full widths 1-3 px and 1-50 px, and 1024 paths at
512x512 with widths 1-50 px. For every available device: the torch renderer's forward and forward+backward
seconds and peak memory, and diffvg's in the same run when ``pydiffvg`` imports (2x2 samples, its default);
without it the diffvg columns say "not measured". Then one full CLIPDraw step at the defaults: render 256 paths at
224 -> 4 CLIPDraw views -> CLIP ViT-B/32 (random init, the real shape) forward + backward -> Adam on
points/widths/colours, against CLIP's own forward + backward on the same views (the step's floor). Each row runs
in a fresh subprocess.

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

    from clipedit.draw import CLIPDRAW_LRS, make_renderer
    from clipedit.guidance import CLIPGuide
    from clipedit.models import KNOWN_CONFIGS, ClipModel, build_clip

    torch.manual_seed(0)
    cfg = KNOWN_CONFIGS["ViT-B/32"]
    model = ClipModel(build_clip(cfg), "ViT-B/32 (random init)", cfg).to(device)
    guide = CLIPGuide("a drawing of a cat", models=model, augment="clipdraw", n_augs=4)
    scene, render = scene_for("256 @224, w 1-50", device), make_renderer(renderer)
    opt = torch.optim.Adam([{"params": scene.parameters(k), "lr": v} for k, v in CLIPDRAW_LRS.items()])
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
    print(f"renderers: {', '.join(renderers)} (diffvg {'imported' if 'diffvg' in renderers else 'not installed: not measured'})\n")
    print("| device | scene | torch fwd (s) | torch fwd+bwd (s) | torch peak (MiB) | diffvg fwd (s) | diffvg fwd+bwd (s) "
          "| diffvg peak (MiB) | torch / diffvg: fwd, fwd+bwd |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dev in devices:
        for name in SCENES:
            reps = 3 if dev != "cpu" or "224" in name else 1
            cells = []
            res = {}
            for rend in ("torch", "diffvg"):
                if rend not in renderers:
                    cells += ["not measured"] * 3
                    continue
                r = res[rend] = sub(rend, name.replace(" ", "_"), dev, reps)
                cells += [f"failed: {r['error']}", "", ""] if "error" in r else [
                    f"{r['fwd']:.3f}", f"{r['fwd_bwd']:.3f}", f"{r['peak']:.0f}"]
            ok = all(k in res and "error" not in res[k] for k in ("torch", "diffvg"))
            ratio = (f"{res['torch']['fwd'] / res['diffvg']['fwd']:.2f}x, {res['torch']['fwd_bwd'] / res['diffvg']['fwd_bwd']:.2f}x"
                     if ok else "not measured")
            print(f"| {dev} | {name} | " + " | ".join(cells) + f" | {ratio} |", flush=True)
    print("\n| device | renderer | full CLIPDraw step, 256 paths @224, 4 views, ViT-B/32 (s) | CLIP fwd+bwd, the floor (s) "
          "| step / floor |")
    print("|---|---|---|---|---|")
    for dev in devices:
        for rend in renderers:
            r = sub("step", rend, dev, 3)
            if "error" in r:
                print(f"| {dev} | {rend} | failed: {r['error']} | | |")
                continue
            print(f"| {dev} | {rend} | {r['step']:.3f} | {r['clip']:.3f} | {r['step'] / r['clip']:.2f} |", flush=True)
        if "diffvg" not in renderers:
            print(f"| {dev} | diffvg | not measured | not measured | not measured |")


if __name__ == "__main__":
    main()
