"""Style transfer family: Magenta port parity with the TFLite interpreter, stylisation, StyleTransferCLIP,
fast-style networks, Gatys, VGG losses, conditional instance norm."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import needs_data
from clipedit.data.paths import find_data
from clipedit.imageio import load_image
from clipedit.models.style_layers import ConditionalInstanceNorm2d

SHARED = find_data("weights/magenta-arbitrary-stylization")
needs_shared = needs_data("weights/magenta-arbitrary-stylization", "weights/fast-style", "images/content", "images/styles")


def content(size=256, name="tubingen"):
    return load_image(find_data(f"images/content/{name}.jpg"), size)


def style_path(name="starry_night"):
    return find_data(f"images/styles/{name}.jpg")


def _interpreter(fname):
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="the TFLite reference interpreter "
                                                                      "(ai-edge-litert) is not installed")
    it = litert.Interpreter(model_path=str(SHARED / fname))
    it.allocate_tensors()
    return it


def _run(it, feeds):
    for d in it.get_input_details():
        key = "content" if "content" in d["name"] else ("style" if "style" in d["name"] else "bottleneck")
        it.set_tensor(d["index"], feeds[key])
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


@needs_shared
def test_magenta_port_matches_tflite():
    """Same inputs through the TFLite interpreter and the PyTorch port.

    Tolerances: the fp16 transfer network runs in float32 in both (weights widened): agreement to ~1e-5.
    The int8 predictor quantises every activation to int8 in TFLite but not here, so embeddings agree
    to a few hundredths (cosine > 0.999); the int8 transfer network's hybrid kernels quantise activations
    per tensor, so its images agree on average to a few percent of the range.
    """
    from clipedit.style.arbitrary import load_arbitrary_style

    net16, net8 = load_arbitrary_style("fp16"), load_arbitrary_style("int8")
    style = load_image(style_path("great_wave"), (256, 256))
    c = content(size=(384, 384))
    e_ref = _run(_interpreter("style_predict_int8_256.tflite"), {"style": style.permute(0, 2, 3, 1).numpy()})
    with torch.no_grad():
        e = net16.embed(style)
    err_e = float(np.abs(e.numpy() - e_ref.reshape(1, 100)).max())
    cos = float(torch.nn.functional.cosine_similarity(e, torch.from_numpy(e_ref.reshape(1, 100))))
    print(f"predictor: max abs {err_e:.4f} (|E| up to {np.abs(e_ref).max():.2f}), cosine {cos:.6f}")
    assert cos > 0.999 and err_e < 0.1
    feeds = {"content": c.permute(0, 2, 3, 1).numpy(), "bottleneck": e_ref.reshape(1, 1, 1, 100)}
    ref16 = _run(_interpreter("style_transfer_f16_384.tflite"), feeds)
    ref8 = _run(_interpreter("style_transfer_int8_384.tflite"), feeds)
    with torch.no_grad():
        out16 = net16(c, torch.from_numpy(e_ref)).permute(0, 2, 3, 1).numpy()
        out8 = net8(c, torch.from_numpy(e_ref)).permute(0, 2, 3, 1).numpy()
    err16, err8 = float(np.abs(out16 - ref16).max()), float(np.abs(out8 - ref8).mean())
    print(f"transfer fp16: max abs {err16:.2e}; int8: mean abs {err8:.4f}")
    assert out16.shape == ref16.shape and err16 < 1e-3
    assert err8 < 0.06


@needs_shared
def test_stylize_moves_colour_statistics_and_strength():
    from clipedit.style.arbitrary import stylize

    c = content(256, "golden_gate")
    s = load_image(style_path("starry_night"), 256)

    def stats(x):
        return torch.cat([x.mean((0, 2, 3)), x.std((0, 2, 3))])

    out = stylize(c, s, 1.0, content_size=None)
    assert out.shape == c.shape
    d_before = (stats(c) - stats(s)).norm()
    d_after = (stats(out) - stats(s)).norm()
    assert d_after < 0.6 * d_before, (float(d_before), float(d_after))
    # strength 0 uses the content's own embedding: nearly the content; larger strength moves further away.
    diffs = [float((stylize(c, s, t, content_size=None) - c).abs().mean()) for t in (0.0, 0.5, 1.0)]
    assert diffs[0] < 0.15 and diffs[0] < diffs[1] < diffs[2], diffs
    with pytest.raises(ValueError, match="strength"):
        stylize(c, s, 1.5)


@needs_shared
def test_mixing_embeddings_interpolates_styles():
    from clipedit.style.arbitrary import mix_styles, stylize

    c = content(128)
    a, b = style_path("starry_night"), style_path("the_scream")
    assert torch.allclose(mix_styles(c, [a, b], [1, 0], content_size=None), stylize(c, a, content_size=None), atol=1e-5)
    mid = mix_styles(c, [a, b], content_size=None)
    assert not torch.allclose(mid, stylize(c, a, content_size=None), atol=1e-2)
    # Conditional instance norm is linear in (gamma, beta): mixing parameters mixes outputs.
    cin = ConditionalInstanceNorm2d(4)
    x, g1, b1, g2, b2 = torch.randn(2, 4, 8, 8), torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 4)
    assert torch.allclose(cin(x, (g1 + g2) / 2, (b1 + b2) / 2), (cin(x, g1, b1) + cin(x, g2, b2)) / 2, atol=1e-5)


@needs_shared
def test_style_transfer_clip_follows_colour_prompts():
    """StyleTransferCLIP towards "a red/green/blue image", judged by a colour statistic the guide never saw: the
    prompt colour's share of each pixel's RGB sum. Asserted over the three runs, far below the measured rise (mean
    +0.11 and +0.14 for seeds 0 and 1 on this photo; on 16 of 18 runs over 3 photos x 3 colours x 2 seeds the share
    rose), so no single trajectory decides it."""
    from clipedit.style.arbitrary import style_transfer_clip

    c = content(128, "golden_gate")

    def share(x, ch):
        return float((x[:, ch] / x.sum(1).clamp_min(1e-3)).mean())

    rises, sims = [], []
    for ch, colour in enumerate(["red", "green", "blue"]):
        res = style_transfer_clip(c, f"a {colour} image", model="clipedit/shapes", steps=25, content_size=None,
                                  progress=False)
        assert torch.isfinite(res.embedding).all() and res.embedding.shape == (1, 100)
        before, after = res.at(0.0), res.image
        rises.append(share(after, ch) - share(before, ch))
        score = res.guide.score
        sims.append(score(after)[f"a {colour} image"] - score(before)[f"a {colour} image"])
    assert sum(rises) / 3 > 0.03, rises
    assert min(sims) > 0, sims  # the objective went down in every run (measured: +0.35 or more)
    # The L2 term keeps E nearer E0 (the last run again, with l2_weight 1).
    near = style_transfer_clip(c, "a blue image", model="clipedit/shapes", steps=25, content_size=None, l2_weight=1.0,
                               progress=False)
    assert (near.embedding - near.start).norm() < (res.embedding - res.start).norm()


@needs_shared
def test_fast_style_reproduces_recorded_output():
    from clipedit.style.johnson import fast_stylize

    out = fast_stylize(find_data("images/content/chicago.jpg"), "wave", 256)
    # Recorded from a run whose output was inspected (the Great Wave's blue-cream waves over Chicago).
    assert out.shape == (1, 3, 256, 385)
    assert np.allclose(out.mean((0, 2, 3)).numpy(), [0.54137, 0.57587, 0.53435], atol=2e-3)
    assert np.allclose(out.std((0, 2, 3)).numpy(), [0.24295, 0.21335, 0.14413], atol=2e-3)
    with pytest.raises(ValueError, match="unknown fast style"):
        fast_stylize(find_data("images/content/chicago.jpg"), "picasso")


@needs_shared
def test_gatys_reduces_both_losses():
    from clipedit.losses import GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS, VGGFeatures
    from clipedit.style.gatys import gatys

    vgg = VGGFeatures(GATYS_STYLE_LAYERS + GATYS_CONTENT_LAYERS, "vgg19", weights=None, pool="avg")
    r = gatys(find_data("images/content/tubingen.jpg"), style_path(), steps=30, size=64, vgg=vgg, init="noise",
              progress=False)
    c, s = r.run.series("content"), r.run.series("style")
    assert c[-1] < 0.7 * c[0] and s[-1] < 0.7 * s[0], (c[0], c[-1], s[0], s[-1])


def test_vgg_features_and_losses(tmp_path, monkeypatch):
    from clipedit.losses import VGGFeatures, gram_loss, gram_matrix, mean_std_loss
    from clipedit.models.registry import ModelUnavailableError

    a = VGGFeatures(["relu1_2", "relu2_2"], "vgg16", weights=None, seed=3)
    b = VGGFeatures(["relu1_2", "relu2_2"], "vgg16", weights=None, seed=3)
    x = torch.rand(2, 3, 32, 32)
    fa = a(x)
    assert fa["relu1_2"].shape == (2, 64, 32, 32) and fa["relu2_2"].shape == (2, 128, 16, 16)
    assert torch.equal(fa["relu2_2"], b(x)["relu2_2"])
    g = gram_matrix(fa["relu1_2"])
    assert g.shape == (2, 64, 64) and torch.allclose(g, g.transpose(1, 2), atol=1e-6)
    t = {k: gram_matrix(v[:1]) for k, v in fa.items()}
    assert float(gram_loss({k: v[:1] for k, v in fa.items()}, t)) == pytest.approx(0.0, abs=1e-10)
    assert float(mean_std_loss({k: v[:1] for k, v in fa.items()}, {k: v[1:] for k, v in fa.items()})) > 0
    path = tmp_path / "vgg.pt"
    import torchvision

    torch.save(torchvision.models.vgg16(weights=None).state_dict(), path)
    assert VGGFeatures(["relu1_1"], "vgg16", weights=path).pretrained
    with pytest.raises(ValueError, match="unknown"):
        VGGFeatures(["relu9_9"], "vgg16", weights=None)
    monkeypatch.setenv("CLIPEDIT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ModelUnavailableError, match="vgg16-397923af.pth"):
        VGGFeatures(["relu1_1"], "vgg16", weights="imagenet")


def test_style_bad_inputs(tmp_path):
    from clipedit.style.johnson import JohnsonNet
    from clipedit.models.tflite_graph import read_tflite

    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.jpg")
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        load_image(bad)
    with pytest.raises(ValueError, match="not a TFLite model"):
        read_tflite(bad)
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a fast-style checkpoint"):
        JohnsonNet.from_npz(tmp_path / "x.npz")
    gray = tmp_path / "gray.png"
    from PIL import Image

    Image.fromarray((np.random.rand(20, 30) * 255).astype(np.uint8), "L").save(gray)
    assert load_image(gray).shape == (1, 3, 20, 30)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4)).save(tiny)
    with pytest.raises(ValueError, match="too small"):
        load_image(tiny)


@needs_shared
def test_magenta_any_content_size():
    from clipedit.style.arbitrary import stylize

    c = torch.rand(1, 3, 70, 93)
    out = stylize(c, style_path(), content_size=None)
    assert out.shape == (1, 3, 70, 93) and torch.isfinite(out).all()
