"""Benchmark: milliseconds per CLIP-guidance step (augment + CLIP forward + backward to the pixels).

Models: ViT-B/32- and RN50-shaped CLIP (random init, the real shapes; no weights needed) and the
offline guide ``clipedit/shapes``; N = 4, 8, 32 cutouts; every available device (CPU, and CUDA when
present). Each configuration runs in a fresh subprocess so its peak memory is its own (CPU: peak RSS
of that process; GPU: ``torch.cuda.max_memory_allocated``).

    python benchmarks/bench_guidance.py            # full table
    python benchmarks/bench_guidance.py --quick    # N = 4 and 8 only, one repeat
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"GPU: {gpu}, Python {platform.python_version()}")


def timed(fn, repeats: int, device: str) -> float:
    """Milliseconds per call of ``fn`` after one warm-up call (CUDA synchronised; peak memory stats reset)."""
    import torch

    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeats * 1000


def one(model_name: str, n: int, device: str, repeats: int) -> dict:
    """Run inside the subprocess: time ``repeats`` guidance steps after one warm-up."""
    import torch

    from clipedit.guidance import CLIPGuide
    from clipedit.models import KNOWN_CONFIGS, ClipModel, build_clip, load_clip

    torch.manual_seed(0)
    if model_name in KNOWN_CONFIGS:
        cfg = KNOWN_CONFIGS[model_name]
        model = ClipModel(build_clip(cfg), model_name + " (random init)", cfg).to(device)
    else:
        model = load_clip(model_name, device=device)
    guide = CLIPGuide("a red circle", models=model, augment="cutouts", n_augs=n)
    x = torch.rand(1, 3, 256, 256, device=device, requires_grad=True)

    def step():
        x.grad = None
        guide(x).loss.backward()

    ms = timed(step, repeats, device)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"ms": ms, "peak_mib": peak}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--devices", nargs="*", default=None)
    p.add_argument("--_one", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._one:
        name, n, dev, reps = a._one
        print(json.dumps(one(name, int(n), dev, int(reps))))
        return
    import torch

    devices = a.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    ns = (4, 8) if a.quick else (4, 8, 32)
    models = ("ViT-B/32", "RN50", "clipedit/shapes")
    print(f"machine: {machine()}")
    print("guidance step = cutouts of a 256x256 image -> CLIP forward -> backward to the pixels\n")
    print("| device | model | N cutouts | ms / step | peak memory (MiB) | vs offline guide |")
    print("|---|---|---|---|---|---|")
    for dev in devices:
        rows = {}
        for n in ns:
            for name in models:
                reps = 1 if a.quick or (dev == "cpu" and n == 32 and name != "clipedit/shapes") else 3
                r = subprocess.run([sys.executable, __file__, "--_one", name, str(n), dev, str(reps)],
                                   capture_output=True, text=True, env=dict(os.environ, CLIPEDIT_OFFLINE="1"))
                if r.returncode != 0:
                    print(f"| {dev} | {name} | {n} | failed: {r.stderr.strip().splitlines()[-1]} | | |")
                    continue
                rows[(name, n)] = json.loads(r.stdout.strip().splitlines()[-1])
            base = rows.get(("clipedit/shapes", n), {}).get("ms")
            for name in models:
                if (name, n) in rows:
                    r = rows[(name, n)]
                    ratio = f"{r['ms'] / base:.1f}x" if base else "-"
                    print(f"| {dev} | {name} | {n} | {r['ms']:.0f} | {r['peak_mib']:.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
