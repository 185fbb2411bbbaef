"""Benchmark: StyleTransferCLIP steps, arbitrary stylisation (Magenta networks from ../shared) and the 26-style network.

* ms per StyleTransferCLIP step (T(C, E) -> 8 affine+jitter views -> CLIP forward -> backward to E -> Adam)
  at content 256 and 384, with a ViT-B/32-shaped CLIP (random init) and with the offline guide;
* ms per arbitrary stylisation (SP(style) + T(C, E)) at content 384 and 1024.

On every available device. Needs the Magenta TFLite files (CLIPEDIT_DATA_DIR or ../shared).

    python benchmarks/bench_style.py
"""
from __future__ import annotations

import argparse
import sys
import os
from pathlib import Path

# The checkout's ../shared holds the example images and Magenta's networks (the library only reads CLIPEDIT_DATA_DIR).
_SHARED = Path(__file__).resolve().parents[2] / "shared"
if _SHARED.is_dir():
    os.environ.setdefault("CLIPEDIT_DATA_DIR", str(_SHARED))

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_guidance import machine, timed  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    from clipedit.guidance import CLIPGuide
    from clipedit.models import KNOWN_CONFIGS, ClipModel, build_clip, load_clip
    from clipedit.style.arbitrary import load_arbitrary_style

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"machine: {machine()}\n")
    print("| device | what | size | ms | vs offline guide |\n|---|---|---|---|---|")
    for dev in devices:
        net = load_arbitrary_style(device=dev)
        vit = ClipModel(build_clip(KNOWN_CONFIGS["ViT-B/32"]), "ViT-B/32 (random init)", KNOWN_CONFIGS["ViT-B/32"]).to(dev)
        shapes = load_clip("clipedit/shapes", device=dev)
        for size in (256, 384):
            c = torch.rand(1, 3, size, size, device=dev)
            times = {}
            for name, model in (("clipedit/shapes", shapes), ("ViT-B/32", vit)):
                guide = CLIPGuide("a mosaic of blue and green glass", models=model, augment="affine_jitter", n_augs=8)
                e = torch.zeros(1, 100, device=dev, requires_grad=True)
                opt = torch.optim.Adam([e], lr=0.05)

                def step():
                    opt.zero_grad()
                    guide(net(c, e)).loss.backward()
                    opt.step()
                times[name] = timed(step, a.repeats, dev)
            for name, ms in times.items():
                print(f"| {dev} | StyleTransferCLIP step, 8 views, {name} | {size} | {ms:.0f} | "
                      f"{ms / times['clipedit/shapes']:.1f}x |", flush=True)
        style = torch.rand(1, 3, 256, 256, device=dev)
        for size in (384, 1024):
            c = torch.rand(1, 3, size, size, device=dev)
            with torch.no_grad():
                ms = timed(lambda: net(c, net.embed(style)), a.repeats, dev)
            print(f"| {dev} | arbitrary stylisation (SP + T) | {size} | {ms:.0f} | - |", flush=True)
        feed_forward(net, dev, a.repeats)


def feed_forward(net, dev: str, repeats: int) -> None:
    """One forward pass of each feed-forward network, as a ratio to Magenta's transfer network T at the same size."""
    from clipedit.style.adjustable import load_adjustable, loss_weights

    nets = {"Magenta T (E given)": lambda c, e=net.embed(torch.rand(1, 3, 256, 256, device=dev)): net(c, e)}
    adj = load_adjustable(device=dev)
    lam = loss_weights(1.0, 3.0).to(dev)
    nets["adjustable (loss-conditional)"] = lambda c: adj(c, lam)
    try:
        from clipedit.style.multistyle import load_multistyle, style_weights

        multi, wts = load_multistyle(dev), style_weights([3, 19], [0.5, 0.5]).to(dev)
        nets["26-style network, a 2-style mix"] = lambda c: multi(c, wts)
    except ImportError as err:  # the styles extra is optional
        print(f"(26-style network skipped: {err})")
    print("\n| device | feed-forward network | size | ms per image | vs Magenta T |\n|---|---|---|---|---|")
    for size in (256, 512, 1024):
        c = torch.rand(1, 3, size, size, device=dev)
        base = None
        for name, f in nets.items():
            with torch.no_grad():
                ms = timed(lambda: f(c), repeats, dev)
            base = base or ms
            print(f"| {dev} | {name} | {size} | {ms:.0f} | {ms / base:.2f}x |", flush=True)

if __name__ == "__main__":
    main()
