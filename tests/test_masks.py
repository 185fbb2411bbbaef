"""Editing only a region: pixels outside the mask stay exactly the input's; inside, the method works."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from clipedit.cli import main
from clipedit.data.shapes import sample_batch
from clipedit.imageio import save_image
from clipedit.masks import as_mask, composite, feather, outside_change
from tests.conftest import needs_data


def _square_mask(size: int, lo: int, hi: int) -> torch.Tensor:
    m = torch.zeros(1, 1, size, size)
    m[..., lo:hi, lo:hi] = 1
    return m


def test_masks_are_checked_and_resized(tmp_path):
    Image.new("L", (16, 8), 255).save(tmp_path / "m.png")
    m = as_mask(tmp_path / "m.png", size=(32, 32))
    assert m.shape == (1, 1, 32, 32) and float(m.min()) == 1.0
    for bad, words in ((torch.zeros(4, 4), "zero everywhere"), (torch.full((4, 4), 2.0), "outside"),
                       (torch.full((4, 4), float("nan")), "outside")):
        with pytest.raises(ValueError, match=words):
            as_mask(bad)
    soft = feather(_square_mask(32, 8, 24), 3)
    assert float(soft[..., 0, 0]) == 0 and float(soft[..., 16, 16]) == 1 and 0 < float(soft[..., 8, 8]) < 1
    a, b = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    assert torch.equal(composite(a, b, torch.zeros(1, 1, 8, 8)), b)


def test_guided_image_changes_only_the_region():
    from clipedit.text_to_image import guide_image

    init = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    mask = _square_mask(128, 32, 96)
    res = guide_image("a red circle", model="clipedit/shapes", steps=8, init=init, mask=mask, progress=False)
    assert outside_change(init, res.image, mask) == 0.0  # exactly the input outside
    assert float((res.image - init).abs()[mask.expand_as(init) > 0].mean()) > 0.01  # and changed inside
    with pytest.raises(ValueError, match="init="):
        guide_image("a red circle", model="clipedit/shapes", steps=1, mask=mask, progress=False)


def test_inpainting_keeps_the_tokens_and_pixels_outside():
    from clipedit.masked import generate
    from clipedit.models.muse import load_masked_generator

    gen = load_masked_generator("clipedit/shapes-muse", device="cpu")
    img = sample_batch(1, 32, torch.Generator().manual_seed(3), noise=0.0).images
    mask = _square_mask(32, 8, 24)
    out = generate("a blue star", n=3, steps=6, seed=0, init=img, mask=mask, frames_every=2, progress=False)
    assert outside_change(img.expand(3, -1, -1, -1), out.images, mask) == 0.0
    kept = ~(torch.nn.functional.max_pool2d(mask, gen.downsample)[0, 0] > 0)  # the token cells the mask leaves
    assert torch.equal(out.tokens[:, kept], gen.tokenize(img).expand(3, -1, -1)[:, kept])
    assert not torch.equal(out.tokens[:, ~kept], gen.tokenize(img).expand(3, -1, -1)[:, ~kept])
    assert torch.equal(out.frames[-1], out.images) and len(out.frames) == 4  # start, steps 2, 4, 6
    with pytest.raises(ValueError, match="both init= .* and mask="):
        generate("a blue star", mask=mask, progress=False)


@needs_data("weights/magenta-arbitrary-stylization", "images/styles")
def test_stylize_a_region_with_a_feathered_edge():
    from clipedit.data.paths import example_image
    from clipedit.imageio import load_image
    from clipedit.style.arbitrary import stylize

    content = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    mask = _square_mask(96, 24, 72)
    out = stylize(content, example_image("styles", "starry_night"), content_size=None, mask=mask, feather=4)
    assert outside_change(content, out.cpu(), mask) == 0.0
    assert float((out.cpu() - content).abs()[..., 40:56, 40:56].mean()) > 0.02
    plain = stylize(content, load_image(example_image("styles", "starry_night")), content_size=None)
    assert torch.allclose(out.cpu()[..., 40:56, 40:56], plain.cpu()[..., 40:56, 40:56])  # full style past the edge


def test_cli_mask_checks_and_inpainting(tmp_path, capsys):
    img = save_image(sample_batch(1, 32, torch.Generator().manual_seed(3), noise=0.0).images, tmp_path / "in.png")
    black, small = tmp_path / "black.png", tmp_path / "small.png"
    Image.new("L", (32, 32), 0).save(black)
    m = Image.new("L", (16, 16), 0)
    m.paste(255, (4, 4, 12, 12))
    m.save(small)
    out = ["--out", str(tmp_path / "o.png"), "--quiet"]
    assert main(["guide", "a red circle", "--mask", str(small), *out]) == 2
    assert "--init" in capsys.readouterr().err
    assert main(["generate", "a blue star", "--init", str(img), "--mask", str(black), *out]) == 2
    err = capsys.readouterr().err
    assert "zero everywhere" in err and len(err.strip().splitlines()) == 1
    assert main(["generate", "a blue star", "--init", str(img), "--mask", str(small), "--n", "2", *out]) == 0
    assert "resized to fit" in capsys.readouterr().err  # 16 px mask, 32 px image: resized with a notice
    assert (tmp_path / "o.png").is_file()


def test_clipdraw_over_a_photo_changes_only_the_region(tmp_path, capsys):
    from clipedit.draw import clipdraw

    photo = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    mask = _square_mask(64, 16, 48)
    res = clipdraw("a red circle", model="clipedit/shapes", photo=photo, mask=mask, steps=4, num_paths=16, canvas=64,
                   progress=False)
    assert outside_change(photo, res.image, mask) == 0.0  # the strokes are composited inside the region only
    inside = (res.image - photo).abs()[mask.expand_as(photo) > 0]
    assert float(inside.max()) > 0.2 and float((inside > 0.05).float().mean()) > 0.01  # strokes drawn over the photo
    with pytest.raises(ValueError, match="photo="):
        clipdraw("a red circle", model="clipedit/shapes", mask=mask, steps=1, num_paths=2, canvas=64, progress=False)
    src = save_image(photo, tmp_path / "photo.png")
    Image.new("L", (64, 64), 255).save(tmp_path / "all.png")
    assert main(["draw", "a red circle", "--photo", str(src), "--mask", str(tmp_path / "all.png"), "--steps", "2",
                 "--paths", "4", "--canvas", "64", "--model", "clipedit/shapes", "--out", str(tmp_path / "d.png"),
                 "--quiet"]) == 0
    assert main(["draw", "a red circle", "--mask", str(tmp_path / "all.png"), "--out", str(tmp_path / "e.png")]) == 2
    assert "--photo" in capsys.readouterr().err


def test_adjustable_style_in_a_region(tmp_path):
    from clipedit.style.adjustable import adjust

    content = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    mask = _square_mask(64, 16, 48)
    out = adjust(content, style_weight=3, content_size=None, mask=mask, feather=4).cpu()
    assert outside_change(content, out, mask) == 0.0
    assert torch.allclose(out[..., 24:40, 24:40], adjust(content, style_weight=3, content_size=None).cpu()[..., 24:40, 24:40])
    src = save_image(content, tmp_path / "c.png")
    Image.new("L", (64, 64), 255).save(tmp_path / "all.png")
    assert main(["adjust", str(src), "--mask", str(tmp_path / "all.png"), "--out", str(tmp_path / "a.png")]) == 0


@needs_data("weights/magenta-arbitrary-stylization")
def test_style_text_in_a_region():
    from clipedit.style.arbitrary import style_transfer_clip

    content = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    mask = _square_mask(64, 16, 48)
    res = style_transfer_clip(content, "a red image", model="clipedit/shapes", steps=3, content_size=None, mask=mask,
                              progress=False)
    assert outside_change(content, res.image, mask) == 0.0
    assert float((res.image - content).abs()[..., 24:40, 24:40].mean()) > 0.02


def test_styledrop_samples_inpaint_a_region():
    from clipedit.data.styles import render_styled
    from clipedit.models.muse import load_masked_generator
    from clipedit.styledrop import StyleDropSettings, sample_style, train_style

    gen = load_masked_generator("clipedit/shapes-muse", device="cpu")
    style = train_style(gen, render_styled("red", "circle", "stripes"), ["a red circle"], "striped",
                        StyleDropSettings(steps=2, batch=2), progress=False)
    img = sample_batch(1, 32, torch.Generator().manual_seed(6), noise=0.0).images
    mask = _square_mask(32, 8, 24)
    out = sample_style(gen, style, "a blue star", n=2, steps=4, init=img, mask=mask, progress=False)
    assert outside_change(img.expand(2, -1, -1, -1), out.images, mask) == 0.0
    assert float((out.images - img).abs()[..., 8:24, 8:24].mean()) > 0.01


def test_a_latent_edit_penalises_and_reports_the_change_outside(tmp_path):
    """Over 6 seeds (30 steps), the mask term cuts the mean change outside the region: measured 0.38x of the free
    edits' (5 of 6 seeds lower); asserted below 0.7x, a bound on the mean of six runs, not on one trajectory."""
    import json

    from clipedit.masks import outside_change
    from clipedit.styleclip import styleclip_edit

    mask = _square_mask(32, 8, 24)
    free, kept = [], []
    for seed in range(1, 7):
        a = styleclip_edit("a blue circle", steps=30, seed=seed, progress=False)
        b = styleclip_edit("a blue circle", steps=30, seed=seed, mask=mask, progress=False)
        assert a.outside_change is None and b.outside_change is not None
        free.append(outside_change(a.before, a.image, mask))
        kept.append(b.outside_change)
    assert sum(kept) < 0.7 * sum(free), (kept, free)
    Image.new("L", (32, 32), 0).save(tmp_path / "black.png")
    assert main(["edit", "a blue circle", "--mask", str(tmp_path / "black.png"), "--out", str(tmp_path / "e.png")]) == 2
    m = Image.new("L", (32, 32), 0)
    m.paste(255, (8, 8, 24, 24))
    m.save(tmp_path / "m.png")
    assert main(["edit", "a blue circle", "--mask", str(tmp_path / "m.png"), "--steps", "2", "--out",
                 str(tmp_path / "e.png"), "--quiet"]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["outside_change"] >= 0
