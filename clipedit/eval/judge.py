"""An independent judge for the shapes world: a plain CNN classifier of colour and shape.

The judge checks what guided optimisation *produced*, so it must not share
anything with the guide that produced it: different architecture (a plain
VGG-style CNN with two softmax heads, no attention, no text tower), different
objective (supervised classification, not contrastive), different seed and
augmentations, trained by :func:`train_judge` on all colour/shape pairs
(``python -m clipedit.eval.judge``; weights in ``clipedit/assets/judge.pt``).

It is trained with heavy corruptions (noise, blur, textured backgrounds,
perspective, crops) so that it reads the *dominant object's* colour and shape
in images that do not look like clean renders.

>>> import torch
>>> from clipedit.data.shapes import sample_batch
>>> clean = sample_batch(8, resolution=64, generator=torch.Generator().manual_seed(1), exclude=())
>>> verdict = judge(clean.images)
>>> sum(c == COLOUR_NAMES[i] for c, i in zip(verdict.colour, clean.colour.tolist())) >= 7
True
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.data.shapes import COLOUR_NAMES, SHAPES, sample_batch
from clipedit.guidance.augment import make_augment, resize_square

JUDGE_PATH = Path(__file__).resolve().parents[1] / "assets" / "judge.pt"


class Judge(nn.Module):
    """Plain CNN: 4 x (conv3x3-BN-ReLU, conv3x3-BN-ReLU, maxpool) -> global average -> colour and shape heads.

    Input ``(B, 3, H, W)`` in ``[0, 1]`` (resized to 64x64). Output logits ``(B, 6)`` and ``(B, 6)``.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        layers, c = [], 3
        for w in (width, width * 2, width * 4, width * 4):
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.colour_head = nn.Linear(c, len(COLOUR_NAMES))
        self.shape_head = nn.Linear(c, len(SHAPES))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = resize_square(images, 64)
        f = self.features((x - 0.5) / 0.25).mean((-2, -1))
        return self.colour_head(f), self.shape_head(f)


@dataclass
class Verdict:
    """Judge's reading of a batch: names, indices and probabilities."""

    colour: list[str]
    shape: list[str]
    colour_prob: torch.Tensor
    shape_prob: torch.Tensor


_JUDGE: Judge | None = None


def load_judge(path: Path = JUDGE_PATH) -> Judge:
    """The trained judge in eval mode on the CPU (cached)."""
    global _JUDGE
    if _JUDGE is None or path != JUDGE_PATH:
        if not Path(path).is_file():
            raise FileNotFoundError(f"judge weights not found at {path}: run python -m clipedit.eval.judge")
        j = Judge()
        j.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        j.eval().requires_grad_(False)
        if path != JUDGE_PATH:
            return j
        _JUDGE = j
    return _JUDGE


@torch.no_grad()
def judge(images: torch.Tensor, model: Judge | None = None) -> Verdict:
    """Classify colour and shape of ``(B, 3, H, W)`` images in ``[0, 1]``."""
    m = model or load_judge()
    lc, ls = m(images.detach().float().cpu())
    pc, ps = lc.softmax(-1), ls.softmax(-1)
    return Verdict([COLOUR_NAMES[i] for i in pc.argmax(-1)], [SHAPES[i] for i in ps.argmax(-1)], pc, ps)


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


def train_judge(steps: int = 1200, batch: int = 128, seed: int = 12345, out: Path = JUDGE_PATH) -> Judge:
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
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    return model


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="train the independent shapes judge")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--out", type=Path, default=JUDGE_PATH)
    a = p.parse_args()
    train_judge(a.steps, out=a.out)
