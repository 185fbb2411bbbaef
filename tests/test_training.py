"""The shared training loop: budgets, exact resume (a run stopped and resumed equals a run straight through), and
every trainer running on it for a few steps."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from clipedit.hub import load_checkpoint

import clipedit
from tests.conftest import needs_data
from clipedit.training.loop import LoopConfig, train_loop


def _problem(seed: int = 123):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    py = random.Random()

    def step(state):
        x = torch.randn(8, 4, generator=state.generators["data"]) * state.generators["py"].uniform(0.5, 2)
        loss = (state.modules["net"](x) - x.sum(1, keepdim=True)).pow(2).mean()  # dropout draws torch's global RNG
        opt.zero_grad()
        state.backward(loss)
        opt.step()
        return {"loss": loss.item()}

    return net, opt, step, {"data": torch.Generator(), "py": py}


def _run(steps, state_dir=None, **kw):
    net, opt, step, gens = _problem()
    st = train_loop(step, {"net": net}, {"opt": opt},
                    LoopConfig(steps=steps, seed=3, progress=False, state_dir=state_dir, log_every=2, **kw),
                    generators=gens)
    return st, torch.cat([p.detach().flatten() for p in net.parameters()])


def test_a_resumed_run_equals_one_straight_through(tmp_path):
    straight, w_straight = _run(9)
    first, _ = _run(4, tmp_path, checkpoint_every=3)
    assert first.step == 4 and (tmp_path / "custom_checkpoint_0.pkl").is_file()
    resumed, w_resumed = _run(9, tmp_path)
    assert resumed.step == 9 and resumed.stopped == "steps"
    assert torch.equal(w_straight, w_resumed)  # weights, optimiser, torch/Python RNGs and data generators restored
    assert [r["loss"] for r in resumed.log if r["step"] in (6, 8)] == [r["loss"] for r in straight.log if r["step"] in (6, 8)]


def test_budgets():
    st, _ = _run(None, minutes=0.0)
    assert st.step == 0 and st.stopped == "time"
    with pytest.raises(ValueError, match="budget"):
        LoopConfig()
    with pytest.raises(ValueError):
        LoopConfig(steps=-1)


def test_checkpoint_hook_and_interrupt_save_state(tmp_path):
    net, opt, step, gens = _problem()
    seen = []

    def step_or_stop(state):
        if state.step == 5:
            raise KeyboardInterrupt
        return step(state)

    st = train_loop(step_or_stop, {"net": net}, {"opt": opt},
                    LoopConfig(steps=10, progress=False, state_dir=tmp_path, checkpoint_every=2),
                    generators=gens, on_checkpoint=lambda s: seen.append(s.step))
    assert st.stopped == "interrupt" and st.step == 5
    assert seen == [2, 4, 5]  # every checkpoint, and one on the interrupt


def test_shapes_gan_trainer_resumes_on_the_loop(tmp_path):
    from clipedit.styleclip.loaders import load_generator
    from lab.training.shapes_gan import train

    out = tmp_path / "g"
    train(batch=4, out=out, state=tmp_path / "s", steps=2, log_every=2, progress=False)
    train(batch=4, out=out, state=tmp_path / "s", resume=True, steps=3, log_every=2, progress=False)
    ck = load_checkpoint(out, "stylegan2-generator")  # a model folder: safetensors and config.json
    assert ck["meta"]["steps"] == 3
    g = load_generator(str(out), device="cpu")
    assert g.config.size == 32


def test_shapes_guide_trainer_runs_on_the_loop(tmp_path):
    from clipedit.models import load_clip
    from lab.training.shapes_guide import train

    out = tmp_path / "guide"
    train(1.0, out, batch=8, max_steps=2, eval_every=2, warmup=1, progress=False)
    ck = load_checkpoint(out, "clip-compact")
    assert ck["meta"]["steps"] == 2
    model = load_clip(str(out), device="cpu")
    assert model.encode_text(model.tokenize(["a red circle"])).shape == (1, 128)


def test_guide_colour_phase_trains_the_image_tower_only(tmp_path):
    from clipedit.data.shapes import COLOUR_NAMES, COLOURS, sample_batch
    from clipedit.models import load_clip
    from clipedit.models.registry import read_state_dict
    from lab.training.shapes_guide import (
        colour_finetune,
        colour_paths,
        colour_target,
        colour_views,
        main,
        palette_weights,
        rgb_descent,
    )

    b = sample_batch(6, 64, torch.Generator().manual_seed(0), exclude=())
    x, at_palette, w = colour_views(b, torch.Generator().manual_seed(1))
    palette = torch.tensor([COLOURS[c] for c in COLOUR_NAMES])
    assert x.shape == (6, 3, 64, 64) and at_palette.shape == (6, 6, 3, 64, 64) and w.shape == (6, 6)
    px = (b.center[:, 0] + 1) / 2 * 63  # the object's centre pixel (x right, y down)
    py = (b.center[:, 1] + 1) / 2 * 63
    for i in range(6):
        yy, xx = int(py[i].round()), int(px[i].round())
        for k in range(6):
            assert torch.allclose(at_palette[k, i, :, yy, xx], palette[k], atol=1e-4)  # the scene in each palette colour
        rgb = x[i, :, yy, xx]
        assert torch.allclose(palette_weights(rgb[None])[0], w[i], atol=1e-4)      # weighted by the drawn colour
    # the weights fall with the distance to each palette colour
    d = ((x[:, :, 32, 32][:, None] - palette[None]) ** 2).sum(-1)
    assert (palette_weights(x[:, :, 32, 32]).argmax(1) == d.argmin(1)).all()
    # the target: the weighted, normalised sum of the palette embeddings; halfway between red and blue, the two
    # weigh the same, so the target is as close to the one as to the other
    e = torch.nn.functional.normalize(torch.randn(6, 6, 8, generator=torch.Generator().manual_seed(2)), dim=-1)
    t = colour_target(w, e)
    assert torch.allclose(t.norm(dim=1), torch.ones(6)) and torch.allclose(
        t, torch.nn.functional.normalize((w.T[:, :, None] * e).sum(0), dim=-1), atol=1e-6)
    half = palette_weights(((palette[0] + palette[2]) / 2)[None])
    assert torch.isclose(half[0, 0], half[0, 2])
    two = torch.zeros(6, 1, 8)
    two[[0, 2]] = e[[0, 2], :1]                                           # only red and blue have an embedding
    mid = colour_target(half, two)[0]
    assert torch.isclose(mid @ two[0, 0], mid @ two[2, 0], atol=1e-5) and float(mid @ two[0, 0]) > 0

    init = Path(clipedit.__file__).parent / "assets" / "shapes-guide"
    out = tmp_path / "colour"
    colour_finetune(1.0, init, out, batch=4, max_steps=2, eval_every=2, progress=False)
    before, after = read_state_dict(init), read_state_dict(out)
    assert load_checkpoint(out, "clip-compact")["meta"]["phase"] == "colour"
    assert set(before) == set(after)
    text = [k for k in before if not k.startswith("visual.")]
    assert text and all(torch.equal(before[k], after[k]) for k in text)             # the text tower is frozen
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("visual."))
    load_clip(str(out), device="cpu")
    # the bundled guide has barriers on straight colour paths (halfway from yellow to purple, docs/guidance.md): no training
    # involved, so this holds on any machine; and with a tolerance above every rise every path counts as monotone
    bundled = load_clip("clipedit/shapes", device="cpu")
    paths = colour_paths(bundled, steps=3, rise=10.0)
    assert paths["monotone"] == 1.0 and paths["barrier"] > 0.05
    assert rgb_descent(bundled, steps=0) == 0.0  # every case starts at a palette colour other than its target
    for argv in (["--colour", "--out", str(tmp_path / "x")],            # a fine-tune needs the guide it starts from
                 ["--colour", "--init", str(out), "--out", str(out)],       # and must not write over it
                 ["--colour", "--init", str(out), "--sigma", "0"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2


@needs_data("weights/magenta-arbitrary-stylization")  # Magenta's predictor is the trainer's loss network
def test_adjustable_trainer_resumes_and_writes_a_loadable_network(tmp_path):
    from clipedit.style.adjustable import AdjustableStyleNet
    from lab.training.adjustable_style import train

    out = tmp_path / "adj"
    train(out=out, steps=2, batch=2, size=64, state_dir=tmp_path / "s", progress=False)
    train(out=out, steps=3, batch=2, size=64, state_dir=tmp_path / "s", progress=False)
    net = AdjustableStyleNet.load(out)
    assert net.meta["steps"] == 3 and net.meta["fixed"] is None and len(net.meta["base"]) == 5
    fixed = tmp_path / "fixed"
    train(out=fixed, steps=1, batch=2, size=64, fixed=[1, 10, 10, 10, 10], progress=False)
    assert AdjustableStyleNet.load(fixed).meta["fixed"] == [1, 10, 10, 10, 10]


def test_shapes_muse_trainer_both_stages_resume_and_load(tmp_path):
    from clipedit.masked import generate
    from clipedit.models.muse import load_masked_generator, read_shapes_muse
    from lab.training.shapes_muse import bundle, train_transformer, train_vq

    vq_file, out = tmp_path / "vq", tmp_path / "muse"
    train_vq(steps=2, batch=4, out=vq_file, state=tmp_path / "vq.state", kmeans_images=64, progress=False)
    book = read_shapes_muse(vq_file)[0].quantize.embedding.weight.clone()
    train_vq(steps=3, batch=4, out=vq_file, state=tmp_path / "vq.state", kmeans_images=64, progress=False)  # resumes
    assert torch.equal(read_shapes_muse(vq_file)[0].quantize.embedding.weight, book)  # the code table is fixed
    assert read_shapes_muse(vq_file)[2]["steps"] == 3 and read_shapes_muse(vq_file)[1] is None
    train_transformer(vq_file, steps=2, batch=4, out=out, state=tmp_path / "tr", progress=False)
    _, tr, meta = read_shapes_muse(out)
    assert tr is not None and meta["steps"] == 2 and meta["vq_steps"] == 3
    assert torch.equal(meta["centroids"], read_shapes_muse(vq_file)[2]["centroids"])  # trained on the table's codes
    train_vq(steps=4, batch=4, out=vq_file, state=tmp_path / "vq.state", kmeans_images=64, progress=False)  # decoder goes on
    bundle(vq_file, out, tmp_path / "bundled")
    vq, tr, meta = read_shapes_muse(tmp_path / "bundled")
    assert tr is not None and meta["steps"] == 2 and meta["vq_steps"] == 4 and meta["centroids"].shape == (512, 48)
    gen = load_masked_generator(tmp_path / "bundled", device="cpu")
    assert generate("a red circle", model=gen, steps=2, seed=0).images.shape == (1, 3, 32, 32)


def test_vq_decoder_only_warm_start_keeps_every_token(tmp_path):
    import pytest

    from clipedit.models.muse import read_shapes_muse
    from clipedit.weights import get_weights, resolve
    from lab.training.shapes_muse import bundle, train_vq

    ASSET = resolve(get_weights("clipedit/shapes-muse"))  # the bundled file

    vq_file = tmp_path / "vq"
    vq = train_vq(steps=2, batch=4, out=vq_file, state=tmp_path / "vq.state", init=ASSET, decoder_only=True, lr=1e-3,
                  perceptual=0.5, progress=False)  # with the guide-embedding term
    base, _, base_meta = read_shapes_muse(ASSET)
    saved, _, meta = read_shapes_muse(vq_file)
    for name in ("encoder", "quant_conv", "quantize"):  # the tokenizer half is bit-identical (float16 on disk)
        for (k, p), q in zip(getattr(base, name).state_dict().items(), getattr(saved, name).state_dict().values()):
            assert torch.equal(p, q.to(p.dtype)), k
    assert any(not torch.equal(p, q) for p, q in zip(base.decoder.parameters(), vq.decoder.parameters()))
    assert torch.equal(meta["centroids"], base_meta["centroids"])
    assert meta["steps"] == base_meta["vq_steps"] + 2 and meta["finetune_steps"] == 2 and meta["decoder_only"]
    assert meta["perceptual"] == 0.5
    bundle(vq_file, ASSET, tmp_path / "bundled")  # the new decoder beside the shipped transformer
    _, tr, bmeta = read_shapes_muse(tmp_path / "bundled")
    assert tr is not None and bmeta["vq_steps"] == meta["steps"] and bmeta["vq_finetune_steps"] == 2
    with pytest.raises(ValueError, match="needs init"):
        train_vq(steps=1, batch=2, out=vq_file, state=None, decoder_only=True, progress=False)


def test_patch_kmeans_finds_separated_clusters_and_codes_are_local():
    from lab.training.shapes_muse import PATCH, PatchCodes, patch_kmeans

    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4, 48) * 5
    x = (centres[torch.arange(400) % 4] + 0.05 * torch.randn(400, 48, generator=g))
    found = patch_kmeans(x, 4, 10, g)
    assert torch.cdist(centres, found).min(1).values.max() < 0.1  # each true centre has a centroid on it
    codes = PatchCodes(4)
    codes.centroids = found
    img = torch.rand(2, 3, 4 * PATCH, 4 * PATCH, generator=g)
    a = codes.assign(img)
    img2 = img.clone()
    img2[..., :PATCH, :PATCH] = 1 - img2[..., :PATCH, :PATCH]  # change one patch only
    b = codes.assign(img2)
    same = torch.ones(4, 4, dtype=torch.bool)
    same[0, 0] = False
    assert a.shape == (2, 4, 4) and torch.equal(a[:, same], b[:, same])
