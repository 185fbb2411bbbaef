"""Adjustable (loss-conditional) style transfer: the bundled network's response to its weights, judged in pixel
space (not by the loss it was trained on), on photos it never saw; the loss network; the CLI's bad inputs."""
from __future__ import annotations

import pytest
import torch

from tests.conftest import needs_data
from clipedit.cli import main
from clipedit.data.paths import find_data
from clipedit.data.photos import HELD_OUT_PHOTOS, load_photo, photo_names
from clipedit.style.adjustable import (AdjustableStyleNet, adjust, load_adjustable, loss_weights,
                                       sample_loss_weights)

with_data = needs_data("images/content", "weights/magenta-arbitrary-stylization")
CONTENT_WEIGHTS = (0.1, 0.3, 1.0, 3.0, 10.0)


def rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean().sqrt())


def held_out(size: int = 128) -> list[torch.Tensor]:
    return [load_photo(n, size)[None] for n in photo_names("held_out")]


def test_weights_vector_and_sampling():
    assert loss_weights(3, 2, [1, 0.5, 1, 2]).tolist() == [3.0, 2.0, 1.0, 2.0, 4.0]
    for bad in (dict(content_weight=0), dict(style_weight=-1), dict(style_weight=float("nan"))):
        with pytest.raises(ValueError):
            loss_weights(**bad)
    with pytest.raises(ValueError, match="4 layer weights"):
        loss_weights(layer_weights=[1, 1])
    lam = sample_loss_weights(20_000, 5, torch.Generator().manual_seed(0))
    assert lam.min() >= 0.1 and lam.max() <= 10
    assert abs(float(lam.log().mean())) < 0.02  # log-uniform on [0.1, 10]: log-mean 0


def test_the_network_is_fully_convolutional_and_conditioned(device):
    net = AdjustableStyleNet().to(device)
    for p in net.parameters():  # a random network whose conditioning matters
        p.data.normal_(0, 0.3)
    net.requires_grad_(False)
    x = torch.rand(1, 3, 37, 50, device=device)
    a, b = net(x, loss_weights(1, 0.1).to(device)), net(x, loss_weights(1, 10).to(device))
    assert a.shape == x.shape and 0 <= float(a.min()) and float(a.max()) <= 1
    assert not torch.allclose(a, b)
    batch = net(x.expand(2, -1, -1, -1), torch.stack([loss_weights(1, 0.1), loss_weights(1, 10)]).to(device))
    assert torch.allclose(batch[0], a[0], atol=1e-5) and torch.allclose(batch[1], b[0], atol=1e-5)


def test_checkpoint_round_trip(tmp_path):
    net = AdjustableStyleNet()
    folder = net.save(tmp_path / "n", {"style": "x"})
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    back = AdjustableStyleNet.load(folder)
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(net(x, loss_weights()), back(x, loss_weights())) and back.meta == {"style": "x"}
    from clipedit.styleclip.mapper import LevelsMapper, save_mapper

    save_mapper(LevelsMapper(8, 16), tmp_path / "mapper", "a blue circle")  # a model folder of another kind
    with pytest.raises(ValueError, match="holds a latent-mapper, not a adjustable-style"):
        AdjustableStyleNet.load(tmp_path / "mapper")


@with_data
def test_held_out_photos_are_not_training_photos():
    assert set(photo_names("held_out")) == set(HELD_OUT_PHOTOS)
    assert not set(photo_names("train")) & set(HELD_OUT_PHOTOS)
    assert set(load_adjustable().meta["train_photos"]) == set(photo_names("train"))


@with_data
def test_content_weight_moves_the_output_monotonically(device):
    """On every held-out photo the output comes closer to the photo (pixel RMS) as the content weight rises."""
    net = load_adjustable(device=device)
    for photo in held_out():
        photo = photo.to(device)
        d = [rms(adjust(photo, c, net=net, content_size=None), photo) for c in CONTENT_WEIGHTS]
        assert all(a > b for a, b in zip(d, d[1:])), d
        assert d[0] > 1.05 * d[-1], d  # docs/style.md: measured 1.12-1.50 across the four photos


@with_data
def test_style_weight_moves_the_output_away_from_the_content(device):
    net = load_adjustable(device=device)
    for photo in held_out():
        photo = photo.to(device)
        near = rms(adjust(photo, style_weight=0.1, net=net, content_size=None), photo)
        far = rms(adjust(photo, style_weight=10, net=net, content_size=None), photo)
        assert far > 1.05 * near, (near, far)  # docs/style.md: measured 1.12-1.46


@with_data
def test_loss_network_scores_the_painting_as_its_own_style():
    from clipedit.data.paths import example_image
    from clipedit.imageio import load_image
    from lab.training.adjustable_style import make_loss

    photos = [load_photo(n, 128) for n in photo_names("train")[:4]]
    loss = make_loss("starry_night", photos, 64)
    x = torch.cat([p[None, :, :64, :64] for p in photos])
    painting = load_image(example_image("styles", "starry_night"), 256)
    crops = torch.cat([painting[..., i:i + 96, j:j + 96] for i, j in ((0, 0), (100, 50), (150, 200), (60, 120))])
    own = loss(x, x)
    assert float(own[:, 0].abs().max()) < 1e-6  # identical content features: zero content loss
    # Crops of the painting match its Gram statistics far better than photos do (every style layer).
    assert (loss(crops, crops)[:, 1:].mean(0) < 0.5 * own[:, 1:].mean(0)).all()


@with_data
def test_cli_adjust_style_weight(tmp_path):
    from clipedit.imageio import load_image

    photo = find_data("images/content/sailboat.jpg")
    outs = {}
    for s in ("0.1", "10"):
        out = tmp_path / f"s{s}.png"
        assert main(["adjust", str(photo), "--style-weight", s, "--size", "128", "--out", str(out)]) == 0
        outs[s] = load_image(out)
    c = load_image(photo, 128)
    assert rms(outs["10"], c) > 1.1 * rms(outs["0.1"], c)  # docs/style.md: measured 1.21 (sailboat, 128 px)


@pytest.mark.parametrize("args, words", [
    (["--style-weight", "20"], "[0.1, 10]"), (["--content-weight", "0.01"], "[0.1, 10]"),
    (["--style-weight", "-1"], "must be > 0"), (["--style-weight", "nan"], ""), (["--layer-weights", "1,2"], "4 numbers"),
    (["--layer-weights", "1,a,1,1"], "numbers"), (["--layer-weights", "1,1,1,-1"], "positive"),
    (["--style", "nope"], "unknown --style"), (["--style", "missing.pt"], "not found"),
])
def test_cli_adjust_bad_input(tmp_path, capsys, args, words):
    img = tmp_path / "c.png"
    from PIL import Image

    Image.new("RGB", (32, 32)).save(img)
    assert main(["adjust", str(img), "--out", str(tmp_path / "o.png"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o.png").exists()


def test_the_loss_runs_on_vgg16_features_too():
    from clipedit.style.adjustable import VGG_CONTENT_LAYER, VGG_STYLE_LAYERS, AdjustableLoss, VGGActivations

    g = torch.Generator().manual_seed(0)
    loss = AdjustableLoss(VGGActivations(weights=None), torch.rand(1, 3, 64, 64, generator=g), VGG_STYLE_LAYERS,
                          VGG_CONTENT_LAYER)
    photos = torch.rand(4, 3, 48, 48, generator=g)
    base = loss.calibrate(photos)
    terms = loss(photos, photos)
    assert terms.shape == (4, 5) and base.shape == (5,)
    assert float(terms[:, 0].abs().max()) < 1e-6 and torch.allclose(terms[:, 1:].mean(0), torch.ones(4), rtol=1e-4)
