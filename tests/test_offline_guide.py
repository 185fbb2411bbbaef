"""The bundled offline guide, checked by things that did not produce it: held-out captions and the judge."""
from __future__ import annotations

import torch

from clipedit.data.shapes import COLOUR_NAMES, HELD_OUT, SHAPES, sample_batch
from lab.eval.guided import evaluate_guided, guided_runner
from clipedit.judge import judge
from clipedit.models import load_clip
from lab.training.shapes_guide import zero_shot

# Measured on 1200 held-out images: 84.8% shape (docs/guidance.md); chance is 1/6.
HELD_OUT_SHAPE_MIN = 0.7
GUIDED_STEPS = 150


def test_guide_has_the_clip_interface():
    m = load_clip("clipedit/shapes")
    assert m.input_resolution == 64 and m.context_length == 20
    long = "an extremely long prompt " * 20 + "with unicode ✨ and émoji 🎨"
    tokens = m.tokenize(["a red circle", long, "猫"])
    assert tokens.shape == (3, 20) and (tokens.argmax(-1) > 0).all()
    with torch.no_grad():
        t = m.encode_text(tokens)
        i = m.encode_image(torch.zeros(2, 3, 64, 64))
    assert t.shape == (3, 128) and i.shape == (2, 128) and torch.isfinite(t).all() and torch.isfinite(i).all()


def test_zero_shot_on_pairs_held_out_of_training():
    m = load_clip("clipedit/shapes")
    held = zero_shot(m, HELD_OUT, n=300, seed=5)
    # Chance is 1/36 for both, 1/6 for each attribute. docs/guidance.md reports the 1200-image numbers.
    assert held["colour"] >= 0.95 and held["shape"] >= HELD_OUT_SHAPE_MIN, held


def test_judge_reads_clean_renders():
    b = sample_batch(300, 64, torch.Generator().manual_seed(21), exclude=())
    v = judge(b.images)
    colour = (torch.tensor([COLOUR_NAMES.index(c) for c in v.colour]) == b.colour).float().mean()
    shape = (torch.tensor([SHAPES.index(s) for s in v.shape]) == b.shape).float().mean()
    assert colour >= 0.97 and shape >= 0.95, (colour, shape)


def test_guided_images_show_the_prompt():
    """Guided optimisation against the guide draws what the judge recognises: a rate over 12 runs (4 prompts x 3
    seeds), asserted well below the measured rates (docs/guidance.md: colour 95 %, shape 85 %, both 80 % over 40 runs), so no
    single trajectory decides it. Each bound fails by chance with probability < 0.1 % at the measured rate."""
    pairs = [("red", "circle"), ("blue", "triangle"), ("yellow", "star"), ("green", "square")]
    score = evaluate_guided(guided_runner("cutouts", n_augs=8, steps=GUIDED_STEPS), pairs, seeds=(0, 1, 2))
    assert score.n == 12
    assert score.colour_rate >= 8 / 12, score.rows
    assert score.shape_rate >= 6 / 12, score.rows
    assert score.both_rate >= 5 / 12, score.rows
