"""End to end with the bundled demo generators and their offline guide, judged by the independent classifier."""
from __future__ import annotations

import json

import pytest
import torch

from clipedit.cli import main
from lab.eval.edited import confident, evaluate_edits, pick_starts
from clipedit.styleclip import load_generator, to_unit


@pytest.fixture(scope="module")
def G():
    return load_generator(None)  # the default demo: the scene-code renderer


@pytest.mark.parametrize("name", ["clipedit/shapes-renderer", "clipedit/shapes-stylegan2"])
def test_bundled_generators_sample_shapes(name):
    from clipedit.styleclip.loaders import guide_for

    g = load_generator(name)
    assert (g.size, g.n_latent) == (32, 8) and guide_for(g, "auto") == "clipedit/shapes-colour"
    w = g.sample_w(64, truncation=0.7, seed=0)
    x = to_unit(g.synthesis(w))
    assert torch.equal(x, to_unit(g.synthesis(w)))
    assert float(confident(x).float().mean()) > 0.5  # most samples are a readable coloured shape (the GAN's: 60 %)


def test_demo_edits_change_colour_keep_shape_and_place(G):
    """StyleCLIP on the demo generator (the renderer, edited with clipedit/shapes-colour), judged by the independent
    classifier, as a rate over 24 starts (the evaluation's protocol: each start gets "a {another colour} {its
    shape}", 100 steps). One edit succeeds about half the time and which ones do depends on the CPU's floating-point
    order, so only the rate is asserted, far below the measured one: 'both' 58 % and 46 % (start seeds 0 and 500),
    shape kept 96 % and 92 %, mask IoU 0.59. At the lowest measured rate the first bound fails by chance with
    probability below 0.1 %."""
    starts = pick_starts(G, 24, seed=0)
    assert len(starts) == 24
    r = evaluate_edits(G, starts, l2_lambda=0.008, steps=100)
    assert r["both"] >= 3 / 24, r["rows"]        # the new colour, the same shape
    assert r["shape"] >= 18 / 24, r["rows"]      # the shape is kept
    assert r["iou"] > 0.3, r["iou"]               # the object stays where it was


def test_cli_edit_and_invert_offline(tmp_path):
    out = tmp_path / "e.png"
    assert main(["edit", "a green square", "--steps", "3", "--out", str(out), "--quiet", "--model", "clipedit/shapes"]) == 0
    assert out.is_file() and (tmp_path / "e.before.png").is_file()
    from safetensors.torch import load_file

    lat = load_file(str(tmp_path / "e.latent.safetensors"))  # no pickle
    assert lat["latent"].shape == (1, 8, 128)
    assert len(json.loads((tmp_path / "e.json").read_text())["history"]) == 3
    inv = tmp_path / "i.png"
    assert main(["invert", str(out), "--steps", "3", "--out", str(inv), "--quiet", "--vgg", "random"]) == 0
    again = tmp_path / "e2.png"
    assert main(["edit", "a red square", "--latent", str(tmp_path / "i.latent.safetensors"), "--steps", "2", "--out", str(again),
                 "--quiet", "--model", "clipedit/shapes"]) == 0
    assert main(["edit", "x", "--generator", str(tmp_path / "missing.pt"), "--model", "clipedit/shapes"]) == 2
    r = tmp_path / "r.png"  # the earlier GAN demo, with the default guide (clipedit/shapes-colour)
    assert main(["edit", "a red square", "--generator", "clipedit/shapes-stylegan2", "--steps", "2", "--out", str(r),
                 "--quiet"]) == 0 and r.is_file()


def test_demo_mapper_edits_held_out_latents(G):
    """The latent mapper on the demo generator, judged: trained for "a blue circle" (60 steps, batch 8, two seeds),
    then applied to 16 held-out latents each. A rate over 32 edits, far below the measured one: 30 and 32 of 32 blue
    for training seeds 0-1 and 2-3 (one thread; the earlier GAN demo with the bundled guide: 15-16 of 16 per seed)."""
    from lab.eval.stylegan_methods import mapper_rate

    blue = mapper_rate(G, "a blue circle", steps=60, seeds=(0, 1))["colour_after"]
    assert blue >= 12, blue


def test_cli_global_mapper_and_nada_offline(tmp_path, monkeypatch):
    """Every StyleGAN editing method from the command line, offline, on the bundled demo generator: global
    directions at the demo's own α/β (fs3 cached under CLIPEDIT_CACHE), a mapper trained and applied, NADA writing a
    generator that `edit --generator` reads."""
    monkeypatch.setenv("CLIPEDIT_CACHE", str(tmp_path / "cache"))
    g = tmp_path / "global.png"
    assert main(["edit", "a blue circle", "--method", "global", "--samples", "2", "--neutral", "a circle",
                 "--out", str(g), "--quiet", "--model", "clipedit/shapes"]) == 0
    info = json.loads(g.with_suffix(".json").read_text())
    assert (info["alpha"], info["beta"]) == (2.0, 0.4) and info["channels_changed"] > 0
    assert list((tmp_path / "cache" / "fs3").glob("fs3-*.safetensors"))  # measured once, cached
    assert main(["edit", "a blue circle", "--method", "global", "--samples", "2", "--neutral", "a circle",
                 "--alpha", "4.1", "--beta", "0.15", "--out", str(g), "--quiet", "--model", "clipedit/shapes"]) == 0
    assert (json.loads(g.with_suffix(".json").read_text())["beta"]) == 0.15
    m = tmp_path / "m"  # a model folder
    assert main(["mapper", "train", "a blue circle", "--steps", "2", "--batch", "2", "--out", str(m), "--quiet",
                 "--model", "clipedit/shapes"]) == 0
    e = tmp_path / "mapped.png"
    assert main(["edit", "a blue circle", "--method", "mapper", "--mapper", str(m), "--out", str(e), "--quiet",
                 "--model", "clipedit/shapes"]) == 0 and e.is_file()
    n = tmp_path / "square"  # a model folder; the before/after grid goes beside it
    assert main(["nada", "a circle", "a square", "--steps", "2", "--layers", "2", "--out", str(n), "--quiet",
                 "--model", "clipedit/shapes"]) == 0 and n.with_suffix(".png").is_file()
    a = tmp_path / "after.png"
    assert main(["edit", "a blue square", "--generator", str(n), "--steps", "2", "--out", str(a), "--quiet",
                 "--model", "clipedit/shapes"]) == 0 and a.is_file()


def test_demo_nada_turns_circles_into_squares_as_a_rate(G):
    """StyleGAN-NADA "a circle" -> "a square" on the demo generator, judged on 32 fixed latents, summed over three
    training seeds (which samples flip depends on the CPU, so only the rate is asserted). Measured: 3 of 32 squares
    before, 13 / 25 / 11 after 100 steps (seeds 0-2; 77 % of 64 after 200 steps in docs/styleclip.md)."""
    from lab.eval.edited import foreground, iou
    from clipedit.judge import judge
    from clipedit.models.registry import load_clip
    from clipedit.styleclip.loaders import guide_for
    from clipedit.styleclip.nada import nada

    clip = load_clip(guide_for(G, "auto"), device="cpu")
    w = torch.cat([G.sample_w(1, truncation=0.7, seed=30_000 + s) for s in range(32)])
    with torch.no_grad():
        x0 = to_unit(G.synthesis(w))
    before = sum(s == "square" for s in judge(x0).shape)
    after, ious = 0, []
    for seed in range(3):
        r = nada(G, "a circle", "a square", clip, steps=100, seed=seed, progress=False, augment="cutouts", n_augs=4)
        with torch.no_grad():
            x1 = to_unit(r.generator.synthesis(w))
        after += sum(s == "square" for s in judge(x1).shape)
        ious.append(float(iou(foreground(x0), foreground(x1)).mean()))
    assert after >= 3 * before + 6, (before, after)  # measured 3 x 3 -> 49
    assert min(ious) > 0.3, ious                        # objects stay where they were


def test_demo_meets_the_sample_targets(G):
    """The demo generator (the scene-code renderer) against the demo issue's sample targets (≥ 90 % of samples at ψ
    0.7 read with confidence > 0.9 for both colour and shape, ≥ 30 of the 36 pairs), judged by the independent
    classifier on 256 samples. Measured on 512: 96 % at ψ 0.7 (96 % at ψ 1.0), all 36 pairs; the GAN: 60 %, 33."""
    from clipedit.judge import judge

    assert (G.size, G.n_latent) == (32, 8)
    x = to_unit(G.synthesis(G.sample_w(256, truncation=0.7, seed=0)))
    ok = confident(x)
    assert float(ok.float().mean()) >= 0.9  # the target
    v = judge(x)
    assert len({(c, s) for c, s, k in zip(v.colour, v.shape, ok.tolist()) if k}) >= 30


def test_demo_mapper_edits_shape_on_held_out_latents(G):
    """The latent mapper on the demo generator, judged: trained for "a square" (60 steps, batch 8, two seeds), applied
    to 16 held-out latents each. Measured: 8 -> 62 squares of 64 over training seeds 0-3."""
    from lab.eval.stylegan_methods import mapper_rate

    r = mapper_rate(G, "a square", steps=60, seeds=(0, 1))
    assert r["shape_after"] >= 24 and r["shape_after"] >= r["shape_before"] + 12, r
