"""``clipedit draw``: CLIPDraw (PNG + SVG + JSON), and StyleCLIPDraw with ``--style``."""
from __future__ import annotations

import argparse

from clipedit.cli.common import (UsageError, check_common, check_mask, common_options, frames_every, mask_option,
                                 non_negative, positive, positive_int, progress_flag, video_options, write_video)
from clipedit.defaults import DRAW

NAME = "draw"


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(NAME, help="CLIPDraw: draw a text prompt with vector strokes (PNG + SVG); "
                                  "--style adds StyleCLIPDraw's style loss")
    d.add_argument("prompt", help='what to draw, e.g. "a red circle"')
    common_options(d, steps=None, out="drawing.png",
                   steps_help=f"optimisation steps (default {DRAW.steps}, or what the guide model recommends: "
                              "300 for the offline guide)")
    d.add_argument("--negative", action="append", help="a prompt to avoid (repeatable, weight 0.3)")
    d.add_argument("--paths", type=positive_int, default=None,
                   help=f"number of strokes (default {DRAW.num_paths}, or the guide's: 128 for the offline guide)")
    d.add_argument("--canvas", type=positive_int, default=None,
                   help=f"canvas side (default {DRAW.canvas}, or the guide's: 128 for the offline guide)")
    d.add_argument("--max-width", type=positive, default=DRAW.max_width,
                   help=f"largest full stroke width in pixels (default {DRAW.max_width:g}: CLIPDraw's half-width 50)")
    d.add_argument("--augment", choices=["clipdraw", "cutouts", "affine_jitter", "none"], default=DRAW.augment,
                   help=f"augmentation of the views the guide sees (default {DRAW.augment})")
    d.add_argument("--n-augs", type=positive_int, default=DRAW.n_augs,
                   help=f"augmented views per step (default {DRAW.n_augs})")
    d.add_argument("--renderer", choices=["auto", "torch", "diffvg"], default=DRAW.renderer,
                   help=f"rasteriser (default {DRAW.renderer})")
    d.add_argument("--scale", type=positive, default=1.0, help="render the PNG at this multiple of the canvas")
    d.add_argument("--style", default=None, help="style image: StyleCLIPDraw")
    d.add_argument("--style-weight", type=non_negative, default=DRAW.style_weight,
                   help=f"weight of the style loss (default {DRAW.style_weight:g})")
    d.add_argument("--style-loss", choices=["strotss", "gram"], default=DRAW.style_loss,
                   help=f"style loss (default {DRAW.style_loss})")
    d.add_argument("--vgg", default=DRAW.vgg_weights,
                   help=f"VGG-16 weights: auto, imagenet, random or a state-dict path (default {DRAW.vgg_weights})")
    d.add_argument("--photo", default=None, help="draw over this picture instead of white (resized to the canvas)")
    mask_option(d)
    video_options(d)


def check(a: argparse.Namespace) -> None:
    from clipedit.checks import RENDER_BYTES_PER_PIXEL, check_image_memory

    check_common(a, a.prompt, images=(("style", "--style image"), ("photo", "--photo")))
    check_mask(a, "photo", "--photo IMAGE")
    if a.canvas is not None:
        check_image_memory(a.canvas, "--canvas", a.device, bytes_per_pixel=RENDER_BYTES_PER_PIXEL)
        check_image_memory(round(a.canvas * a.scale), "--canvas x --scale", a.device, bytes_per_pixel=1024)
    if a.max_width < 2:
        raise UsageError(f"--max-width must be at least 2 pixels (the smallest stroke), got {a.max_width:g}")


def run(a: argparse.Namespace) -> int:
    import json

    from clipedit.device import select_device
    from clipedit.draw import clipdraw, styleclipdraw
    from clipedit.draw.clipdraw import drawing_settings
    from clipedit.guidance import CLIPGuide
    from clipedit.report import write_json

    guide = CLIPGuide(a.prompt, negatives=a.negative or None, models=a.model, augment=a.augment, n_augs=a.n_augs,
                      device=select_device(a.device))
    chosen = drawing_settings(guide, a.steps, a.paths, a.canvas)  # what the user gave, else what the guide recommends
    common = dict(guide=guide, max_width=a.max_width, seed=a.seed, renderer=a.renderer, device=a.device,
                  progress=progress_flag(a), keep_snapshots=a.video is not None,
                  callback_every=frames_every(a, chosen["steps"]) or 10, photo=a.photo, mask=a.mask, **chosen)
    if a.style:
        res = styleclipdraw(a.prompt, a.style, style_weight=a.style_weight, style_loss=a.style_loss,
                            vgg_weights=None if a.vgg == "random" else a.vgg, **common)
    else:
        res = clipdraw(a.prompt, **common)
    files = res.save(a.out, scale=a.scale)
    meta = json.loads(files["json"].read_text())
    meta.update(prompt=a.prompt, negatives=a.negative or [], style=a.style, model=[m.name for m in guide.models],
                steps=chosen["steps"], paths=chosen["num_paths"], canvas=chosen["canvas"], seed=a.seed)
    write_json(files["json"], meta)
    print(f"wrote {files['png']}, {files['svg']} and {files['json']} ({chosen['num_paths']} paths, "
          f"{chosen['steps']} steps, {chosen['canvas']}px){write_video(a, res.frames)}")
    return 0
