"""The CLIP guide: gradients, the loss maths, normalisation, ensembles, image prompts, bad inputs."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from clipedit.guidance import CLIPGuide, Prompt, make_augment, preprocess
from clipedit.guidance.augment import AUGMENTS
from clipedit.guidance.losses import spherical_distance


def rand_images(b=2, h=40, w=48, seed=0):
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_gradients_reach_pixels_and_are_finite(tiny_vit):
    for aug in AUGMENTS:
        guide = CLIPGuide("a red circle", models=tiny_vit, augment=aug, n_augs=4)
        x = rand_images().requires_grad_(True)
        out = guide(x)
        out.loss.backward()
        assert x.grad is not None and torch.isfinite(x.grad).all(), aug
        assert x.grad.abs().sum() > 0, aug
        assert set(out.similarities) == {"a red circle"}


def test_weights_and_negatives_follow_the_formula(tiny_vit):
    x = rand_images(1)

    def single(text):
        return float(CLIPGuide(text, models=tiny_vit, augment="none")(x).loss)

    la, lb, lc = single("a red circle"), single("a blue square"), single("a green star")
    combined = CLIPGuide(["a red circle", ("a blue square", 2.0)], negatives=[("a green star", 0.5)],
                         models=tiny_vit, augment="none")
    # loss = sum_p w_p * (-cos): negatives enter with a minus sign.
    assert float(combined(x).loss) == pytest.approx(la + 2 * lb - 0.5 * lc, abs=1e-5)
    # A plain-string negative gets the default weight 0.3 (CLIPDraw's).
    g = CLIPGuide("a red circle", negatives="a green star", models=tiny_vit, augment="none")
    assert float(g(x).loss) == pytest.approx(la - 0.3 * lc, abs=1e-5)
    assert [p.weight for p in g.prompts] == [1.0, -0.3]


def test_loss_is_negative_cosine_of_the_embeddings(tiny_vit):
    x = rand_images(1)
    g = CLIPGuide("a red circle", models=tiny_vit, augment="none")
    with torch.no_grad():
        img = tiny_vit.encode_image(preprocess(x, tiny_vit))
        txt = tiny_vit.encode_text(tiny_vit.tokenize("a red circle"))
    assert float(g(x).loss) == pytest.approx(-float(F.cosine_similarity(img, txt)), abs=1e-5)
    assert g(x).similarities["a red circle"] == pytest.approx(float(F.cosine_similarity(img, txt)), abs=1e-5)


def test_normalisation_is_applied(tiny_vit):
    """The guide's embedding equals encode_image of the mean/std-normalised resize, not of the raw pixels."""
    x = rand_images(1, 32, 32)
    g = CLIPGuide("x", models=tiny_vit, augment="none")
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    with torch.no_grad():
        got = g.embed(x, 0, 1)
        want = F.normalize(tiny_vit.encode_image((x - mean) / std), dim=-1)
        raw = F.normalize(tiny_vit.encode_image(x), dim=-1)
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, raw, atol=1e-2)


def test_spherical_loss_matches_its_definition(tiny_vit):
    a, b = torch.randn(5, 8), torch.randn(3, 8)
    an, bn = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    direct = 2 * torch.arcsin((an[:, None] - bn[None]).norm(dim=-1) / 2) ** 2
    assert torch.allclose(spherical_distance(a, b), direct, atol=1e-5)
    x = rand_images(1)
    g = CLIPGuide("a red circle", models=tiny_vit, augment="none", loss="spherical")
    emb = g.embed(x, 0, 1)
    assert float(g(x).loss) == pytest.approx(float(spherical_distance(emb, g.targets(0))), abs=1e-5)


def test_ensemble_weights(tiny_vit, tiny_rn):
    x = rand_images(1)
    l1 = float(CLIPGuide("a red circle", models=tiny_vit, augment="none")(x).loss)
    l2 = float(CLIPGuide("a red circle", models=tiny_rn, augment="none")(x).loss)
    both = CLIPGuide("a red circle", models=[tiny_vit, tiny_rn], model_weights=[0.25, 0.75], augment="none")
    assert float(both(x).loss) == pytest.approx(0.25 * l1 + 0.75 * l2, abs=1e-5)
    # Each model gets views at its own input size.
    assert [a.size for a in both.augments] == [32, 64]


def test_image_prompt_targets_the_image_embedding(tiny_vit):
    target = rand_images(1, 32, 32, seed=3)
    g = CLIPGuide(None, image_prompts=[target], models=tiny_vit, augment="none")
    assert float(g(target).loss) == pytest.approx(-1.0, abs=1e-5)
    other = float(g(rand_images(1, 32, 32, seed=4)).loss)
    assert other > -0.9999


def test_augment_shapes_and_view_grouping():
    x = torch.zeros(2, 3, 50, 60)
    x[1] = 1.0
    for name in AUGMENTS:
        views = make_augment(name, 32)(x, 5)
        assert views.shape == (10, 3, 32, 32), name
        assert views.min() >= -1e-5 and views.max() <= 1 + 1e-5, name
    # Views of image b are rows b*n .. b*n+n-1 (image 1 is white, image 0 black).
    v = make_augment("cutouts", 16, noise=0.0)(x, 3)
    assert v[:3].max() == 0 and v[3:].min() == 1
    # CLIPDraw's perspective fills with white, not black.
    black = torch.zeros(4, 3, 64, 64)
    torch.manual_seed(0)
    warped = make_augment("clipdraw", 64, crop_scale=(1.0, 1.0))(black, 1)
    assert warped.max() > 0.99  # white fill visible in the corners


def test_bad_inputs(tiny_vit):
    with pytest.raises(ValueError, match="empty"):
        CLIPGuide("   ", models=tiny_vit)
    with pytest.raises(ValueError, match="positive prompt"):
        CLIPGuide(None, negatives=["a cat"], models=tiny_vit)
    with pytest.raises(ValueError, match="unknown loss"):
        CLIPGuide("a", models=tiny_vit, loss="l3")
    with pytest.raises(ValueError, match="unknown augmentation"):
        CLIPGuide("a", models=tiny_vit, augment="zoom")
    g = CLIPGuide("a red circle", models=tiny_vit, augment="none")
    with pytest.raises(ValueError, match="shape"):
        g(torch.rand(32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        g(torch.rand(1, 3, 32, 32) * 255)
    with pytest.raises(ValueError, match="NaN"):
        g(torch.full((1, 3, 32, 32), math.nan))
    with pytest.raises(ValueError, match="channels"):
        g(torch.rand(1, 2, 32, 32))
    with pytest.raises(ValueError, match="too small"):
        g(torch.rand(1, 3, 4, 4))
    # Grayscale is repeated to RGB; RGBA is composited over white; (3, H, W) gets a batch dim.
    gray = torch.rand(1, 1, 32, 32)
    assert float(g(gray).loss) == pytest.approx(float(g(gray.expand(1, 3, 32, 32)).loss), abs=1e-6)
    rgba = torch.cat([torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)], 1)
    assert float(g(rgba).loss) == pytest.approx(float(g(torch.ones(1, 3, 32, 32)).loss), abs=1e-6)
    x = torch.rand(3, 32, 32)
    assert float(g(x).loss) == pytest.approx(float(g(x[None]).loss), abs=1e-6)


def test_prompt_object_validation():
    with pytest.raises(ValueError):
        Prompt()
    with pytest.raises(ValueError):
        Prompt(text="a", weight=math.inf)
    assert Prompt(text="  a cat ").text == "a cat"
