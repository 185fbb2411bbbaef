"""End to end with the bundled demo generator and the offline guide, judged by the independent classifier."""
from __future__ import annotations

import json

import pytest
import torch

from clipedit.cli import main
from clipedit.eval.edited import confident, foreground, iou, pick_starts
from clipedit.eval.judge import judge
from clipedit.styleclip import DEMO_NAME, load_generator, styleclip_edit, to_unit


@pytest.fixture(scope="module")
def G():
    return load_generator(None, device="cpu")


def test_demo_generator_samples_shapes(G):
    assert (G.size, G.n_latent) == (32, 8)
    w = G.sample_w(64, truncation=0.7, seed=0)
    x = to_unit(G.synthesis(w))
    assert torch.equal(x, to_unit(G.synthesis(w)))
    assert float(confident(x).float().mean()) > 0.5  # most samples are a readable coloured shape


def test_demo_edit_changes_colour_keeps_shape_and_place(G):
    (w, colour, shape), = pick_starts(G, 1, seed=0)
    target = "blue" if colour != "blue" else "red"
    res = styleclip_edit(f"a {target} {shape}", generator=DEMO_NAME, latent=w, model="clipedit/shapes", steps=300,
                         seed=0, progress=False, device="cpu")
    before, after = judge(res.before), judge(res.image)
    assert (before.colour[0], before.shape[0]) == (colour, shape)
    assert after.colour[0] == target and after.shape[0] == shape
    assert float(iou(foreground(res.before), foreground(res.image))[0]) > 0.5  # the object stayed where it was


def test_cli_edit_and_invert_offline(tmp_path):
    out = tmp_path / "e.png"
    assert main(["edit", "a green square", "--steps", "3", "--out", str(out), "--quiet", "--model", "clipedit/shapes"]) == 0
    assert out.is_file() and (tmp_path / "e.before.png").is_file()
    lat = torch.load(tmp_path / "e.latent.pt", weights_only=True)
    assert lat["latent"].shape == (1, 8, 128)
    assert len(json.loads((tmp_path / "e.json").read_text())["history"]) == 3
    inv = tmp_path / "i.png"
    assert main(["invert", str(out), "--steps", "3", "--out", str(inv), "--quiet", "--vgg", "random"]) == 0
    again = tmp_path / "e2.png"
    assert main(["edit", "a red square", "--latent", str(tmp_path / "i.latent.pt"), "--steps", "2", "--out", str(again),
                 "--quiet", "--model", "clipedit/shapes"]) == 0
    assert main(["edit", "x", "--generator", str(tmp_path / "missing.pt"), "--model", "clipedit/shapes"]) == 2
