"""Regenerate the pictures in docs/ (run from the repository root with ../shared present).

    python lab/make_figures.py

* ``docs/style_grid.jpg``: content, style, arbitrary stylisation, StyleTransferCLIP for several prompts;
* ``docs/guided_shapes.jpg``: the offline guide's guided results for the 20 evaluation prompts (seed 0);
* ``docs/styleclipdraw.jpg``: style, CLIPDraw and StyleCLIPDraw for three paintings (offline guide);
* ``docs/stylegan_samples.jpg``: the two bundled generators' samples (the renderer, the GAN) at truncation 1.0 and 0.7;
* ``docs/masked_generation.jpg`` (``python lab/make_figures.py masked``): the bundled masked generator's samples,
  a guidance sweep and VQGAN+CLIP, each labelled with the judge's reading;
* ``docs/styledrop.jpg`` (``python lab/make_figures.py styledrop``): for each style reference, the base model,
  round 1 and round 2 on the same new prompts and seeds, labelled with the judge's reading.

``docs/clipdraw_shapes.jpg`` and ``docs/styleclip_edits.jpg`` come from ``python -m lab.eval.drawn --grid ...``
and ``python -m lab.eval.edited --grid ...``.
"""
from __future__ import annotations

import os
from pathlib import Path

# The checkout's ../shared holds the example images and Magenta's networks (the library only reads CLIPEDIT_DATA_DIR).
_SHARED = Path(__file__).resolve().parents[2] / "shared"
if _SHARED.is_dir():
    os.environ.setdefault("CLIPEDIT_DATA_DIR", str(_SHARED))

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from clipedit.data.paths import example_image
from clipedit.imageio import load_image, to_pil

OUT = Path(__file__).resolve().parent


def tile(rows: list[list[torch.Tensor]], labels: list[list[str]], size: int = 160) -> Image.Image:
    h = size + 18
    canvas = Image.new("RGB", (size * max(len(r) for r in rows), h * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (row, lab) in enumerate(zip(rows, labels)):
        for j, (img, text) in enumerate(zip(row, lab)):
            x = F.interpolate(img[:1].float().cpu(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            canvas.paste(to_pil(x), (j * size, i * h + 18))
            draw.text((j * size + 3, i * h + 3), text, fill="black")
    return canvas


def style_grid() -> None:
    from clipedit.style.arbitrary import load_arbitrary_style, style_transfer_clip, stylize

    net = load_arbitrary_style(device="cpu")
    pairs = [("tubingen", "starry_night"), ("golden_gate", "great_wave"), ("sailboat", "the_scream")]
    prompts = ["a red image", "a blue image", "a yellow image"]
    rows, labels = [], []
    for c_name, s_name in pairs:
        c = load_image(example_image("content", c_name), 256)
        s = load_image(example_image("styles", s_name), 256)
        row = [c, s, stylize(c, s, 1.0, content_size=None, net=net)]
        lab = [c_name, s_name, "stylize"]
        for p in prompts:
            r = style_transfer_clip(c, p, style=example_image("styles", s_name), model="clipedit/shapes", steps=25, l2_weight=0.05,
                                    content_size=192, net=net, progress=False, device="cpu")
            row.append(r.image)
            lab.append(f"'{p}'")
        rows.append(row)
        labels.append(lab)
    tile(rows, labels).save(OUT / "style_grid.jpg", quality=88)


def guided_grid() -> None:
    from lab.eval.guided import EVAL_PAIRS, guided_runner, prompt_for

    run = guided_runner("cutouts", n_augs=8)
    imgs = [(run(prompt_for(c, s), 0), f"{c} {s}") for c, s in EVAL_PAIRS]
    rows = [[i for i, _ in imgs[k:k + 10]] for k in (0, 10)]
    labels = [[t for _, t in imgs[k:k + 10]] for k in (0, 10)]
    tile(rows, labels, size=96).save(OUT / "guided_shapes.jpg", quality=90)


def styleclipdraw_grid(steps: int = 100) -> None:
    from clipedit.draw import clipdraw, styleclipdraw

    kw = dict(model="clipedit/shapes", steps=steps, num_paths=128, canvas=128, seed=0, progress=False, device="cpu")
    prompt = "a yellow star"
    plain = clipdraw(prompt, **kw).image
    rows, labels = [], []
    for name in ("starry_night", "the_scream", "great_wave"):
        style = load_image(example_image("styles", name), 256)
        styled = styleclipdraw(prompt, style, style_weight=1.0, **kw).image
        rows.append([style, plain, styled])
        labels.append([name, f"CLIPDraw '{prompt}'", "StyleCLIPDraw"])
    tile(rows, labels, size=160).save(OUT / "styleclipdraw.jpg", quality=88)


def stylegan_samples() -> None:
    from torchvision.utils import save_image

    from clipedit.styleclip import load_generator, to_unit

    rows = []
    for name in (None, "clipedit/shapes-stylegan2"):  # the default renderer, then the earlier GAN
        G = load_generator(name, device="cpu")
        with torch.no_grad():
            rows += [to_unit(G.synthesis(G.sample_w(16, truncation=t, seed=0))) for t in (1.0, 0.7)]
    save_image(F.interpolate(torch.cat(rows), scale_factor=3, mode="nearest"), OUT / "stylegan_samples.jpg", nrow=16,
               padding=2, pad_value=1.0)


def multistyle_sheet() -> None:
    """The 26 styles of Dumoulin's network on one photo, labelled with their indices (needs clipedit[styles])."""
    from clipedit.style.multistyle import NUM_STYLES, multistylize

    photo = load_image(example_image("content", "tubingen"), 192)
    left = (photo.shape[-1] - 192) // 2
    photo = photo[..., :192, left:left + 192]  # a centred square, so the tiles are not squashed
    tiles = [photo] + [multistylize(photo, i, size=None) for i in range(NUM_STYLES)]
    labels = ["photo"] + [str(i) for i in range(NUM_STYLES)]
    rows = [tiles[i:i + 9] for i in range(0, len(tiles), 9)]
    names = [labels[i:i + 9] for i in range(0, len(labels), 9)]
    tile(rows, names, size=150).save(OUT / "multistyle_sheet.jpg", quality=88)


def adjustable_grid() -> None:
    """The bundled adjustable network on a held-out photo: content weight (rows) x style weight (columns), then
    shallow-only and deep-only style layers. Every tile is one forward pass of the same network."""
    from clipedit.style.adjustable import adjust, load_adjustable

    net = load_adjustable()
    photo = load_image(example_image("content", "golden_gate"), 192)
    left = (photo.shape[-1] - 192) // 2
    photo = photo[..., :192, left:left + 192]
    styles = (0.1, 0.3, 1.0, 3.0, 10.0)
    rows, labels = [], []
    for c in (10.0, 1.0, 0.1):
        rows.append([photo] + [adjust(photo, c, s, net=net, content_size=None) for s in styles])
        labels.append([f"content x{c:g}"] + [f"style x{s:g}" for s in styles])
    layer_sets = {"shallow 10,10,.1,.1": [10, 10, 0.1, 0.1], "deep .1,.1,10,10": [0.1, 0.1, 10, 10]}
    rows.append([photo] + [adjust(photo, layer_weights=w, net=net, content_size=None) for w in layer_sets.values()])
    labels.append(["photo"] + list(layer_sets))
    tile(rows, labels, size=150).save(OUT / "adjustable_grid.jpg", quality=88)


def masked_grid() -> None:
    """The bundled masked generator: prompts x seeds (held-out pairs marked), a guidance sweep, and VQGAN+CLIP for
    the same prompts. Each image is judged; the label says what the judge read."""
    from clipedit.data.shapes import HELD_OUT
    from clipedit.judge import judge
    from clipedit.masked import generate, vqgan_clip

    prompts = [("red", "circle"), ("blue", "star"), ("yellow", "heart"), ("red", "star"), ("blue", "cross"),
               ("purple", "circle")]
    rows, labels = [], []
    for c, s in prompts:
        imgs = generate(f"a {c} {s}", n=6, seed=0).images
        v = judge(imgs)
        tag = " (held out)" if (c, s) in HELD_OUT else ""
        rows.append([i[None] for i in imgs])
        labels.append([f"{c} {s}{tag}" if k == 0 else f"-> {vc} {vs}" for k, (vc, vs) in enumerate(zip(v.colour, v.shape))])
    sweep = [generate("a green square", n=1, guidance=g, seed=3).images for g in (0.0, 1.0, 3.0, 5.0, 8.0)]
    sweep.append(generate("a green square", n=1, guidance=5.0, plausibility=0.0, seed=3).images)
    rows.append(sweep)
    labels.append([f"green square, s={g:g}" for g in (0.0, 1.0, 3.0, 5.0, 8.0)] + ["s=5, plain guidance"])
    vq = [vqgan_clip(f"a {c} {s}", model="clipedit/shapes", steps=150, seed=0, progress=False).image for c, s in prompts]
    rows.append(vq)
    labels.append([f"VQGAN+CLIP: {c} {s}" for c, s in prompts])
    tile(rows, labels, size=112).save(OUT / "masked_generation.jpg", quality=90)


def styledrop_grid() -> None:
    """StyleDrop on the offline backbone: per style reference, rows base / round 1 / round 2, columns new prompts."""
    from clipedit.data.styles import render_styled
    from clipedit.judge import judge
    from lab.eval.styledrop import REFERENCES
    from clipedit.models.muse import load_masked_generator
    from clipedit.styledrop import collect_feedback, retrain_with_feedback, sample_style, train_style
    from clipedit.styledrop.feedback import default_feedback_contents

    gen = load_masked_generator("clipedit/shapes-muse", device="cpu")
    prompts = ["a blue star", "a green heart", "a yellow triangle", "an orange circle", "a purple cross"]
    rows, labels = [], []
    for style, colour, shape, descriptor in REFERENCES:
        ref = render_styled(colour, shape, style)
        content = f"a {colour} {shape}"
        r1 = train_style(gen, ref, [content], descriptor, progress=False)
        fb = collect_feedback(gen, r1, ref, default_feedback_contents(gen, content), seed=1, progress=False)
        r2 = retrain_with_feedback(gen, r1, ref, content, fb, progress=False)
        for name, st in (("base", None), ("round 1", r1), ("round 2", r2)):
            imgs = sample_style(gen, st, prompts, seed=0, progress=False).images
            v = judge(imgs)
            rows.append([ref] + [i[None] for i in imgs])
            labels.append([f"{descriptor}: {name}"] + [f"judge: {c} {s}" for c, s in zip(v.colour, v.shape)])
    tile(rows, labels, size=112).save(OUT / "styledrop.jpg", quality=90)


if __name__ == "__main__":
    import sys

    which = sys.argv[1:] or ["style", "guided", "stylegan"]  # "styleclipdraw" too: ~10 min on 2 CPU cores
    jobs = {"style": style_grid, "guided": guided_grid, "styleclipdraw": styleclipdraw_grid, "stylegan": stylegan_samples,
            "multistyle": multistyle_sheet, "adjustable": adjustable_grid, "masked": masked_grid,
            "styledrop": styledrop_grid}
    for name in which:
        jobs[name]()
        print("done", name)
