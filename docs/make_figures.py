"""Regenerate the README's pictures (run from the repository root with ../shared present).

    python docs/make_figures.py

* ``docs/style_grid.jpg``: content, style, arbitrary stylisation, StyleTransferCLIP for several prompts;
* ``docs/guided_shapes.jpg``: the offline guide's guided results for the 20 evaluation prompts (seed 0).
"""
from __future__ import annotations

from pathlib import Path

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
    from clipedit.eval.guided import EVAL_PAIRS, guided_runner, prompt_for

    run = guided_runner("cutouts", n_augs=8)
    imgs = [(run(prompt_for(c, s), 0), f"{c} {s}") for c, s in EVAL_PAIRS]
    rows = [[i for i, _ in imgs[k:k + 10]] for k in (0, 10)]
    labels = [[t for _, t in imgs[k:k + 10]] for k in (0, 10)]
    tile(rows, labels, size=96).save(OUT / "guided_shapes.jpg", quality=90)


if __name__ == "__main__":
    style_grid()
    guided_grid()
    print("wrote", OUT / "style_grid.jpg", OUT / "guided_shapes.jpg")
