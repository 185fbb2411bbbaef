"""An independent judge for the shapes world: a plain CNN classifier of colour and shape.

The judge checks what guided optimisation *produced*, so it must not share
anything with the guide that produced it: different architecture (a plain
VGG-style CNN with two softmax heads, no attention, no text tower), different
objective (supervised classification, not contrastive), different seed and
augmentations, trained on all colour/shape pairs by the lab script
``python -m lab.training.judge`` (weights bundled as the model folder ``clipedit/assets/judge``).

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

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from clipedit.data.shapes import COLOUR_NAMES, SHAPES
from clipedit.guidance.augment import resize_square
from clipedit.weights import ASSETS

JUDGE_PATH = ASSETS / "judge"  # a model folder (clipedit.hub)
#: The model-folder kind (:mod:`clipedit.hub`) of the judge.
KIND = "shapes-judge"


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
        from clipedit.hub import read_checkpoint

        if not Path(path).exists():
            raise FileNotFoundError(f"judge weights not found at {path}: reinstall clipedit, or train one with python -m lab.training.judge")
        j = Judge()
        ck = read_checkpoint(path, KIND)
        j.load_state_dict(ck.get("state_dict", ck))
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


__all__ = ["Judge", "Verdict", "judge", "load_judge", "JUDGE_PATH"]
