"""Train the independent shapes judge (:mod:`clipedit.judge`) on all colour/shape pairs with corruptions.

    python -m lab.training.judge --out runs/judge [--steps 1200]
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from clipedit.data.shapes import COLOUR_NAMES, SHAPES, sample_batch
from clipedit.guidance.augment import make_augment
from clipedit.judge import Judge, judge


def _corrupt(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Training corruptions: textured backgrounds blended in, blur, noise."""
    b = x.shape[0]
    # Low-frequency random texture blended in for a third of the images.
    tex = F.interpolate(torch.rand(b, 3, 4, 4, generator=g), size=x.shape[-2:], mode="bilinear", align_corners=False)
    amt = (torch.rand(b, 1, 1, 1, generator=g) < 0.33).float() * torch.rand(b, 1, 1, 1, generator=g) * 0.35
    x = x * (1 - amt) + tex * amt
    # Blur a third of them.
    blur = torch.rand(b, generator=g) < 0.33
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None]) / 16
        xb = F.conv2d(F.pad(x[blur], (1, 1, 1, 1), mode="replicate"), k.expand(3, 1, 3, 3).contiguous(), groups=3)
        x = x.clone()
        x[blur] = xb
    sigma = torch.rand(b, 1, 1, 1, generator=g) * 0.12
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def train_judge(steps: int = 1200, batch: int = 128, seed: int = 12345, out: Path = Path("judge")) -> Judge:
    """Train the judge on all colour/shape pairs with corruptions; writes ``out``."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = Judge()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    aug = make_augment("clipdraw", 64, distortion=0.3, crop_scale=(0.6, 1.0))
    t0 = time.time()
    for step in range(steps):
        for grp in opt.param_groups:
            grp["lr"] = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
        b = sample_batch(batch, 64, g, exclude=(), noise=0.0)
        with torch.no_grad():
            x = aug(b.images, 1) if step % 2 else b.images
            x = _corrupt(x, g)
        lc, ls = model(x)
        loss = F.cross_entropy(lc, b.colour) + F.cross_entropy(ls, b.shape)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"judge step {step} loss {loss.item():.3f} t={time.time() - t0:.0f}s", flush=True)
    model.eval()
    test = sample_batch(2000, 64, torch.Generator().manual_seed(777), exclude=())
    v = judge(test.images, model)
    acc_c = float((torch.tensor([COLOUR_NAMES.index(c) for c in v.colour]) == test.colour).float().mean())
    acc_s = float((torch.tensor([SHAPES.index(s) for s in v.shape]) == test.shape).float().mean())
    print(f"judge clean accuracy: colour {acc_c:.3f} shape {acc_s:.3f} ({time.time() - t0:.0f}s)", flush=True)
    from clipedit.hub import save_checkpoint
    from clipedit.judge import KIND

    save_checkpoint(out, {"state_dict": model.state_dict(), "meta": {"steps": steps, "batch": batch, "seed": seed}},
                    kind=KIND, card="The independent shapes-world judge (colour and shape heads), trained by clipedit.")
    return model


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="train the independent shapes judge")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--out", type=Path, required=True, help="where to write the weights")
    a = p.parse_args()
    train_judge(a.steps, out=a.out)
