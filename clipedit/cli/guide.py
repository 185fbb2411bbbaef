"""``clipedit guide``: optimise an image towards a text prompt (:func:`clipedit.guide_image`)."""
from __future__ import annotations

import argparse

from clipedit.cli.common import (check_common, check_mask, common_options, frames_every, mask_option, positive,
                                 positive_int, progress_flag, video_options, write_video)
from clipedit.defaults import GUIDE

NAME = "guide"


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser(NAME, help="optimise an image towards a text prompt")
    g.add_argument("prompt", help='what to draw, e.g. "a red circle"')
    common_options(g, steps=GUIDE.steps, out="out.png")
    g.add_argument("--negative", action="append", help="a prompt to avoid (repeatable)")
    g.add_argument("--size", type=positive_int, default=None, help="output side in pixels (default: 2x the model's input)")
    g.add_argument("--param", choices=["pixels", "pyramid"], default=GUIDE.param,
                   help=f"image parameterisation (default {GUIDE.param})")
    g.add_argument("--augment", choices=["cutouts", "clipdraw", "affine_jitter", "none"], default=GUIDE.augment,
                   help=f"augmentation of the views the guide sees (default {GUIDE.augment})")
    g.add_argument("--n-augs", type=positive_int, default=GUIDE.n_augs,
                   help=f"augmented views per step (default {GUIDE.n_augs})")
    g.add_argument("--lr", type=positive, default=GUIDE.lr, help=f"Adam learning rate (default {GUIDE.lr:g})")
    g.add_argument("--init", default=None, help="start from this image instead of noise")
    mask_option(g)
    video_options(g)


def check(a: argparse.Namespace) -> None:
    from clipedit.checks import check_image_memory

    check_common(a, a.prompt, images=(("init", "--init image"),))
    check_mask(a, "init", "--init IMAGE")
    if a.size is not None:
        check_image_memory(a.size, "--size", a.device)


def run(a: argparse.Namespace) -> int:
    from clipedit.imageio import load_image, save_image
    from clipedit.report import write_report
    from clipedit.text_to_image import guide_image

    init = load_image(a.init) if a.init else None
    res = guide_image(a.prompt, negatives=a.negative or None, model=a.model, steps=a.steps, size=a.size,
                      param=a.param, augment=a.augment, n_augs=a.n_augs, lr=a.lr, seed=a.seed, init=init, mask=a.mask,
                      device=a.device, progress=progress_flag(a), keep_snapshots=a.video is not None,
                      callback_every=frames_every(a, a.steps) or 10)
    png = save_image(res.image, a.out.with_suffix(a.out.suffix or ".png"))
    js = write_report(png, prompt=a.prompt, negatives=a.negative or [], model=[m.name for m in res.guide.models],
                      steps=a.steps, steps_run=res.run.steps_run, stopped=res.run.stopped, seed=a.seed,
                      similarities=res.guide.score(res.image.to(res.guide.device)), loss=res.run.series("loss"))
    print(f"wrote {png}, {js}{write_video(a, res.frames)}")
    return 0
