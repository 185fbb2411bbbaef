"""The demo StyleGAN2's scene code and closed-form mapping network (lab.training.shapes_stylegan): exact
invariants, no training trajectory asserted."""
from __future__ import annotations

import torch

from clipedit.data.shapes import render_shapes
from clipedit.styleclip.stylegan2 import Generator, StyleGAN2Config
from lab.training.shapes_stylegan import (BLOCKS, CODE_MEAN, N_CODE, SceneEmbedding, code_to_scene, code_w_min,
                                               export, render_code, sample_codes, scene_table, set_mapping,
                                               shift_latent)

CFG = StyleGAN2Config(size=8, style_dim=128, n_mlp=4, channels=((4, 16), (8, 8)))


def _random_pair(seed: int = 0):
    torch.manual_seed(seed)
    G = Generator(CFG).eval()
    emb = SceneEmbedding(torch.randn(128) * 0.3, seed=seed)
    return G, emb


def test_scene_table_balances_classes_and_spreads_the_continuous_parts():
    z = torch.randn(60_000, 128, generator=torch.Generator().manual_seed(0))
    f = scene_table(z) + CODE_MEAN
    for a, b in BLOCKS:
        assert torch.equal(f[:, a:b].sum(1), torch.ones(len(z)))           # exactly one class per block
        share = torch.bincount(f[:, a:b].argmax(1), minlength=b - a).float() / len(z)
        assert (share - 1 / (b - a)).abs().max() < 0.01, share             # equally likely (normal quantiles)
    u = f[:, -8:]
    assert u.min() >= -1 and u.max() <= 1
    for q in (0.25, 0.5, 0.75):                                            # about uniform in [-1, 1]
        assert ((u <= 2 * q - 1).float().mean(0) - q).abs().max() < 0.03


def test_closed_form_mapping_is_the_scene_table():
    G, emb = _random_pair()
    emb.w0 += float(0.5 - code_w_min(emb).min())                           # every w positive, as export makes it
    set_mapping(G, emb)
    z = torch.randn(20_000, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        err = (G.mapping(z) - emb(scene_table(z))).abs().amax(1)
    assert float((err < 1e-3).float().mean()) > 0.99                       # all but z within 1/2000 of a threshold
    # and the code read back from w names the same scene as the table
    code = (G.mapping(z[:2000]).detach() - emb.w0) @ torch.linalg.pinv(emb.E.detach()).T
    same = torch.stack([code_to_scene(code)[k] == code_to_scene(scene_table(z[:2000]))[k]
                        for k in ("colour", "shape", "background")]).all(0)
    assert float(same.float().mean()) > 0.99


def test_shifting_the_latent_space_changes_no_pixel():
    G, emb = _random_pair(1)
    w = emb(sample_codes(4, torch.Generator().manual_seed(2)))
    c = torch.full((128,), 3.7)
    with torch.no_grad():
        before = G.synthesis(w)
        shift_latent(G, c)
        after = G.synthesis(w + c)
    assert torch.allclose(before, after, atol=1e-4)


def test_code_w_min_is_a_lower_bound_and_export_makes_every_latent_positive(tmp_path):
    G, emb = _random_pair(2)
    code = sample_codes(5000, torch.Generator().manual_seed(3))
    psi = torch.rand(5000, 1)
    with torch.no_grad():
        w = emb(code * psi)
    assert bool((w >= code_w_min(emb) - 1e-5).all())
    from clipedit.styleclip import load_generator

    out = tmp_path / "g"
    export(G, emb, out)
    G2 = load_generator(str(out), device="cpu")
    z = torch.randn(4000, 128, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert float(G2.mapping(z).min()) > 0
        shift = G2.latent_avg - emb.w0                                     # the export moved w by a constant
        x_old, x_new = G.synthesis(emb(code[:4])), G2.synthesis(emb(code[:4]) + shift)
    assert torch.allclose(x_old, x_new, atol=1e-4)                         # and re-biased so no pixel changed
    assert torch.allclose(G2.mean_latent(), G2.latent_avg, atol=0.1)       # the mean code is 0


def test_truncation_keeps_the_classes_and_shrinks_the_layout():
    code = sample_codes(500, torch.Generator().manual_seed(5))
    full, half = code_to_scene(code), code_to_scene(0.5 * code)
    for k in ("colour", "shape", "background"):
        assert torch.equal(full[k], half[k])
    assert float(half["center"].norm(dim=1).mean()) < float(full["center"].norm(dim=1).mean())


def test_render_code_is_the_shapes_world_renderer_and_blends_between_classes():
    code = sample_codes(6, torch.Generator().manual_seed(6))
    sure = code.clone()
    sure[:, :15] *= 20                                                     # class blocks far from any boundary
    s = code_to_scene(sure)
    assert float(s["shape_weights"].max(1).values.min()) > 1 - 1e-6
    x = render_code(sure, 32)
    assert torch.allclose(x, render_shapes(s["shape"], s["colour_rgb"], s["background_rgb"], s["center"], s["size"],
                                           s["rotation"], 32), atol=1e-5)
    assert code.shape == (6, N_CODE) and float(s["size"].min()) >= 0.22 and float(s["size"].max()) <= 0.55
    # an untruncated code's colour is its class's colour plus its jitter, exactly
    from clipedit.data.shapes import COLOURS, COLOUR_NAMES

    full = code_to_scene(code)
    base = torch.tensor([COLOURS[c] for c in COLOUR_NAMES])[full["colour"]]
    assert torch.allclose(full["colour_rgb"], (base + 0.08 * (code + CODE_MEAN)[:, 15:18]).clamp(0, 1), atol=1e-6)
    # a sample (ψ 0.7) is mostly one class; halfway between two colours the object is their mix
    assert float(code_to_scene(0.7 * code)["colour_weights"].max(1).values.min()) > 0.9
    mid = code[:1].clone()
    mid[0, :6] = -CODE_MEAN[:6]
    mid[0, 0] += 0.5
    mid[0, 2] += 0.5                                                       # half red, half blue
    wt = code_to_scene(mid)["colour_weights"][0]
    assert torch.isclose(wt[0], wt[2]) and float(wt[0]) > 0.4              # red and blue share the object


def test_the_colour_is_a_palette_blend_whose_class_truncation_keeps():
    from clipedit.data.shapes import COLOURS, COLOUR_NAMES
    from lab.training.shapes_stylegan import palette_blend

    palette, eye = torch.tensor([COLOURS[c] for c in COLOUR_NAMES]), torch.eye(6)
    assert torch.allclose(palette_blend(eye), palette)                      # a class: its colour exactly
    for psi in (0.85, 0.7):                                                # truncated (ψ 0.7): nearest its own colour
        rgb = palette_blend(psi * eye + (1 - psi) / 6)
        assert (((rgb[:, None] - palette[None]) ** 2).sum(-1).argmin(1) == torch.arange(6)).all()
    y, b = COLOUR_NAMES.index("yellow"), COLOUR_NAMES.index("blue")
    t = torch.linspace(0, 1, 21)[:, None]
    line = palette_blend((1 - t) * eye[y] + t * eye[b])
    assert torch.allclose(line, (1 - t) * palette[y] + t * palette[b], atol=1e-6)  # the straight RGB line
    f = eye[y:y + 1].clone().requires_grad_(True)
    (palette_blend(f) - palette[b]).pow(2).sum().backward()               # from yellow, a step toward blue
    assert float(f.grad[0, b]) < 0 and int(f.grad[0].argmin()) == b        # raises the blue weight most


def test_renderer_trainer_resumes_on_the_loop(tmp_path):
    from clipedit.styleclip import load_generator
    from lab.training.shapes_stylegan import train

    out = tmp_path / "g"
    train(batch=2, out=out, state=tmp_path / "s", steps=2, log_every=2, progress=False, feature_weight=0.0)
    train(batch=2, out=out, state=tmp_path / "s", resume=True, steps=3, log_every=2, progress=False, feature_weight=0.0)
    from clipedit.hub import load_checkpoint

    ck = load_checkpoint(out, "stylegan2-generator")
    assert ck["meta"]["steps"] == 3 and set(ck["scene_code"]) == {"E", "w0"}
    G = load_generator(str(out), device="cpu")
    assert G.config.size == 32 and float(G.sample_w(64, seed=0).min()) > 0


def test_mixed_codes_lie_on_a_path_between_two_classes():
    from lab.training.shapes_stylegan import mix_classes

    code = sample_codes(400, torch.Generator().manual_seed(7))
    mixed = mix_classes(code, torch.Generator().manual_seed(8), p=0.5) + CODE_MEAN
    for a, b in BLOCKS:
        block = mixed[:, a:b]
        assert torch.allclose(block.sum(1), torch.ones(400)) and float(block.min()) >= 0
        assert int((block > 0).sum(1).max()) <= 2                           # at most two classes share a block
        assert 0.3 < float(((block > 0).sum(1) == 2).float().mean()) < 0.7  # about half the codes are mixed
    assert torch.equal(mixed[:, -8:], (code + CODE_MEAN)[:, -8:])          # the layout is untouched


def test_renderer_trainer_continues_from_a_renderer_file_with_its_embedding(tmp_path):
    from lab.training.shapes_stylegan import train

    from clipedit.hub import load_checkpoint, save_checkpoint
    from clipedit.styleclip.loaders import KIND

    first, second = tmp_path / "a", tmp_path / "b"
    train(batch=2, out=first, state=None, steps=1, log_every=1, progress=False, feature_weight=0.0)
    ck = load_checkpoint(first, KIND)
    ck["scene_code"]["E"] = ck["scene_code"]["E"] * 3                      # unlike any fresh (seeded) embedding
    save_checkpoint(first, ck, kind=KIND, card="test")
    train(batch=2, out=second, state=None, steps=1, log_every=1, progress=False, feature_weight=0.0, init=first)
    b = load_checkpoint(second, KIND)["scene_code"]["E"]
    assert (ck["scene_code"]["E"] - b).abs().max() < 0.05                  # one step away, not a fresh embedding


def test_level_mixing_takes_the_geometry_from_one_code_and_the_colours_from_the_other():
    from lab.training.shapes_stylegan import COLOUR_PARTS, mix_levels

    a, b = sample_codes(64, torch.Generator().manual_seed(3)), sample_codes(64, torch.Generator().manual_seed(4))
    mixed = torch.arange(64) % 2 == 0
    m, sa, sb = (code_to_scene(c) for c in (mix_levels(a, b, mixed), a, b))
    for k in ("shape", "center", "size", "rotation"):                      # the geometry is always a's
        assert torch.equal(m[k], sa[k])
    for k in ("colour", "background", "colour_rgb", "background_rgb"):     # the colours are b's where mixed
        assert torch.equal(m[k][mixed], sb[k][mixed]) and torch.equal(m[k][~mixed], sa[k][~mixed])
    geometry = torch.ones(N_CODE, dtype=torch.bool)
    geometry[COLOUR_PARTS] = False                                         # the two levels split the code
    assert int(geometry.sum()) == 10 and len(COLOUR_PARTS) == 13


def test_scene_function_reads_geometry_from_coarse_and_colours_from_fine_vectors(tmp_path):
    import pytest

    from lab.training.shapes_stylegan import FINE_FROM, SceneFunction, mix_levels

    emb = SceneEmbedding(torch.zeros(128), seed=2)
    G = SceneFunction(emb.E.detach(), emb.w0)
    a, b = sample_codes(4, torch.Generator().manual_seed(5)), sample_codes(4, torch.Generator().manual_seed(6))
    wp = G.to_wplus(emb(a)).detach().clone()
    wp[:, FINE_FROM:] = emb(b).detach()[:, None]
    expect = render_code(mix_levels(a, b, torch.ones(4, dtype=torch.bool))) * 2 - 1
    assert torch.allclose(G.synthesis(wp), expect, atol=1e-4)
    w = emb(a).detach().requires_grad_(True)
    G.synthesis(w)[:, 2].mean().backward()                                 # the blue channel of the image
    assert float(w.grad.norm()) > 0                                        # edits have a gradient to follow
    from clipedit.hub import save_checkpoint
    from clipedit.styleclip.loaders import KIND

    path = save_checkpoint(tmp_path / "gan", {"g_ema": {}, "latent_avg": torch.zeros(128)}, kind=KIND, card="test")
    with pytest.raises(ValueError, match="scene-code renderer"):
        SceneFunction.from_file(path)
