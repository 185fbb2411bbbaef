"""StyleSpace, global directions, the latent mapper and StyleGAN-NADA: invariants on tiny networks built here."""
from __future__ import annotations

import pytest
import torch

from clipedit.styleclip.global_directions import (ChannelDirections, cached_channel_directions, channel_directions,
                                                  global_edit, style_delta, text_direction)
from clipedit.styleclip.mapper import LevelsMapper, load_mapper, save_mapper, train_mapper
from clipedit.styleclip.nada import layer_modules, nada, save_generator, select_layers
from clipedit.styleclip.stylegan2 import Generator, StyleGAN2Config
from tests.conftest import TINY_RN, make_tiny


@pytest.fixture
def G():
    torch.manual_seed(0)
    g = Generator(StyleGAN2Config(size=16, style_dim=16, n_mlp=2, channels=((4, 16), (8, 8), (16, 8))))
    return g.eval().requires_grad_(False)


@pytest.fixture
def clip():
    return make_tiny(TINY_RN, 1, "tiny-rn")


def test_styles_round_trip(G):
    w = G.sample_w(3, seed=1)
    styles = G.styles(w)
    assert [s.shape[1] for s in styles] == [m.in_ch for _, m, _ in G.style_layers()]
    assert torch.equal(G.synthesis(w), G.synthesis(None, styles=styles))
    styles[2] = styles[2] + 1.0
    assert not torch.allclose(G.synthesis(w), G.synthesis(None, styles=styles))


def test_fs3_shape_norm_and_cache(G, clip, tmp_path):
    t = channel_directions(G, clip, n_samples=4, progress=False)
    non_rgb = [i for i, (n, _, _) in enumerate(G.style_layers()) if "rgb" not in n]
    assert t.layers == non_rgb
    assert t.fs3.shape == (sum(G.style_layers()[i][1].in_ch for i in non_rgb), clip.config.embed_dim)
    assert torch.allclose(t.fs3.norm(dim=1), torch.ones(len(t.fs3)), atol=1e-4)
    first = cached_channel_directions(G, clip, cache=tmp_path, n_samples=4, progress=False)
    files = list(tmp_path.glob("fs3-*.safetensors"))
    assert len(files) == 1
    type(first)(first.fs3 * 0, first.layers, first.std, first.meta).save(files[0])  # plant a different table
    again = cached_channel_directions(G, clip, cache=tmp_path, n_samples=4, progress=False)
    assert torch.equal(again.fs3, torch.zeros_like(first.fs3))  # read from the file, not recomputed
    assert torch.allclose(first.fs3, t.fs3, atol=1e-5)  # same seed, same table


def test_beta_zeroes_exactly_the_channels_below_it():
    fs3 = torch.nn.functional.normalize(torch.randn(50, 8), dim=1)
    table = ChannelDirections(fs3, [0, 2], [torch.rand(30) + 0.5, torch.rand(20) + 0.5])
    dt = torch.nn.functional.normalize(torch.randn(8), dim=0)
    rel = fs3 @ dt
    for beta in (0.0, 0.1, 0.3, 0.6):
        deltas, n, _ = style_delta(table, dt, alpha=2.0, beta=beta)
        moved = torch.cat(deltas) != 0
        assert torch.equal(moved, rel.abs() >= beta)
        assert n == int((rel.abs() >= beta).sum())
        if n:  # the most relevant channel moves by alpha standard deviations
            i = int(rel.abs().argmax())
            assert torch.allclose(torch.cat(deltas)[i].abs(), 2.0 * torch.cat(table.std)[i])
    counts = [style_delta(table, dt, beta=b)[1] for b in (0.0, 0.1, 0.2, 0.4, 0.8)]
    assert counts == sorted(counts, reverse=True)


def test_global_edit_changes_only_selected_channels(G, clip):
    t = channel_directions(G, clip, n_samples=4, progress=False)
    dt = text_direction(clip, "a red circle", "a circle")
    w = G.sample_w(2, seed=3)
    before = G.styles(w)
    e = global_edit(G, w, t, dt, alpha=3.0, beta=0.0)
    assert e.n_channels == len(t.fs3)
    rgb = [i for i, (n, _, _) in enumerate(G.style_layers()) if "rgb" in n]
    for i in rgb:  # to_rgb styles untouched
        assert torch.equal(e.styles[i], before[i])
    none = global_edit(G, w, t, dt, alpha=3.0, beta=1.0)  # no channel reaches cosine 1
    assert none.n_channels == 0 and torch.allclose(none.image, global_edit(G, w, t, dt, alpha=0.0).image)


def test_text_direction_refuses_same_text(clip):
    with pytest.raises(ValueError, match="same"):
        text_direction(clip, "a circle", "a circle")
    d = text_direction(clip, "a square", "a circle")
    assert torch.allclose(d.norm(), torch.tensor(1.0))


def test_mapper_starts_at_identity_and_round_trips(tmp_path):
    m = LevelsMapper(n_latent=18, style_dim=8)
    w = torch.randn(3, 18, 8)
    assert torch.equal(m.edit(w), w)
    assert set(m.mappers) == {"coarse", "medium", "fine"}
    assert set(LevelsMapper(n_latent=8, style_dim=8).mappers) == {"coarse", "medium"}  # the demo has no fine level
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
    path = save_mapper(m, tmp_path / "m", "a blue circle")
    m2, prompt = load_mapper(path)
    assert prompt == "a blue circle" and torch.equal(m2.edit(w), m.edit(w))
    with pytest.raises(FileNotFoundError):
        load_mapper(tmp_path / "missing.pt")


def test_mapper_training_changes_the_mapper_not_the_generator(G, clip):
    from clipedit.guidance import CLIPGuide

    guide = CLIPGuide("a red circle", models=clip, augment="none", n_augs=1)
    run = train_mapper("a red circle", G, guide, steps=6, batch=2, progress=False)
    assert run.steps == 6 and len(run.log) >= 1
    w = G.to_wplus(G.sample_w(2, seed=9))
    assert not torch.equal(run.mapper.edit(w), w)  # it learnt something: the edit is no longer the identity
    for p in G.parameters():
        assert p.grad is None  # the generator is frozen


def test_layer_selection_and_modules(G, clip):
    t = torch.nn.functional.normalize(torch.randn(clip.config.embed_dim), dim=0)
    w = G.to_wplus(G.sample_w(4, seed=0))
    chosen = select_layers(G, clip, t, 3, w)
    assert len(set(chosen)) == 3 and all(0 <= j < G.n_latent for j in chosen)
    assert layer_modules(G, [0]) == [G.conv1]
    assert layer_modules(G, [1, 2]) == [G.convs[0], G.convs[1]]
    with pytest.raises(ValueError, match="k must be"):
        select_layers(G, clip, t, G.n_latent + 1, w)


def test_nada_trains_only_the_selected_convs_and_leaves_the_frozen_generator(G, clip, tmp_path, monkeypatch):
    import clipedit.styleclip.nada as nada_mod

    before = {k: v.clone() for k, v in G.state_dict().items()}
    monkeypatch.setattr(nada_mod, "select_layers", lambda *a, **k: [0])  # always W+ vector 0: conv1 only
    r = nada(G, "a circle", "a square", clip, steps=3, k=1, progress=False)
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k  # the frozen generator is untouched
    after = r.generator.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(k.startswith("conv1.") for k in changed), changed  # mapping, to_rgb, other convs frozen
    assert "conv1.noise.weight" not in changed  # noise strengths stay by default
    r_noise = nada(G, "a circle", "a square", clip, steps=3, k=1, progress=False, train_noise=True)
    assert not torch.equal(r_noise.generator.state_dict()["conv1.noise.weight"], before["conv1.noise.weight"])
    path = save_generator(r.generator, tmp_path / "g")
    from clipedit.styleclip import load_generator

    G2 = load_generator(path)
    w = G.sample_w(1, seed=0)
    assert torch.allclose(G2.synthesis(w), r.generator.synthesis(w), atol=1e-6)


def test_nada_refuses_bad_input(G, clip):
    with pytest.raises(ValueError, match="same"):
        nada(G, "a circle", "a circle", clip, steps=1)
    with pytest.raises(ValueError, match="k must be"):
        nada(G, "a circle", "a square", clip, steps=1, k=G.n_latent + 1)


def test_defaults_are_the_settings_the_generator_carries(G, tmp_path):
    """A generator recommends its own settings (its table row, or its file); method code never reads its name."""
    from clipedit.styleclip import load_generator
    from clipedit.styleclip.global_directions import default_alpha_beta, default_neutral
    from clipedit.styleclip.loaders import guide_for
    from clipedit.styleclip.nada import save_generator

    demo = load_generator(None)
    assert (default_neutral(demo), default_alpha_beta(demo)) == ("a shape", (2.0, 0.4))
    assert guide_for(demo, "auto") == "clipedit/shapes-colour"
    assert default_alpha_beta(G) == (4.1, 0.15) and guide_for(G, "auto") == "auto"  # built by hand: StyleCLIP's
    copy = load_generator(save_generator(demo, tmp_path / "g"))  # e.g. a NADA result: the settings travel
    assert copy.recommended == demo.recommended and default_neutral(copy) == "a shape"
    torch.save({"g_ema": demo.state_dict(), "latent_avg": demo.latent_avg, "config": demo.config.to_dict()},
               tmp_path / "plain.pt")
    plain = load_generator(tmp_path / "plain.pt")  # a file that recommends nothing gets StyleCLIP's defaults
    assert (default_neutral(plain), default_alpha_beta(plain), guide_for(plain, "auto")) == ("a face", (4.1, 0.15), "auto")
    demo.recommended = {"neutral": "a blob", "global_alpha_beta": (1.0, 0.2), "guide": "clipedit/shapes"}
    assert (default_neutral(demo), default_alpha_beta(demo), guide_for(demo, None)) == ("a blob", (1.0, 0.2), "clipedit/shapes")
