"""``clipedit vqgan``: VQGAN+CLIP, CLIP guidance on a VQ decoder's latents."""
from __future__ import annotations

import argparse
from pathlib import Path

from clipedit.cli.common import (UsageError, check_common, common_options, frames_every, positive, positive_int, progress_flag,
                                 video_options, write_video)
from clipedit.defaults import VQGAN_CLIP

NAME = "vqgan"


def register(sub: argparse._SubParsersAction) -> None:
    vq = sub.add_parser(NAME, help="VQGAN+CLIP: optimise a VQ decoder's latents towards a text prompt")
    vq.add_argument("prompt", help='what to draw, e.g. "a yellow star"')
    common_options(vq, steps=VQGAN_CLIP.steps, out="vqgan.png")
    vq.add_argument("--generator", default=VQGAN_CLIP.generator,
                    help=f"whose VQ decoder: {VQGAN_CLIP.generator} (default), amused/amused-256 or a folder")
    vq.add_argument("--init", default=None, help="start from this image (encode, optimise, decode)")
    vq.add_argument("--negative", action="append", help="a prompt to avoid (repeatable)")
    vq.add_argument("--size", type=positive_int, default=None, help="output side (default: the generator's)")
    vq.add_argument("--lr", type=positive, default=VQGAN_CLIP.lr, help=f"Adam learning rate (default {VQGAN_CLIP.lr:g})")
    vq.add_argument("--n-augs", type=positive_int, default=VQGAN_CLIP.n_augs,
                    help=f"cutouts per step (default {VQGAN_CLIP.n_augs})")
    vq.add_argument("--no-quantize", action="store_true", help="decode continuous latents (no codebook snapping)")
    vq.add_argument("--scale", type=positive_int, default=None,
                    help="save the image enlarged this many times, nearest neighbour (default: to at least 128 px)")
    video_options(vq)


def check(a: argparse.Namespace) -> None:
    check_common(a, a.prompt, images=(("init", "--init image"),))
    from clipedit.models.muse import list_generators

    if a.generator not in list_generators() and not Path(a.generator).exists():
        raise UsageError(f"unknown generator {a.generator!r}; choose from {', '.join(list_generators())}, "
                         "a folder in the aMUSEd layout or a clipedit model folder")
    if a.size is not None and a.size % 4:
        raise UsageError(f"--size must be a multiple of the VQ model's downsampling (4 offline, 16 for aMUSEd), "
                         f"got {a.size}")


def run(a: argparse.Namespace) -> int:
    from clipedit.cli.common import upscale
    from clipedit.imageio import load_image, save_image
    from clipedit.masked.vqgan import vqgan_clip
    from clipedit.report import write_report

    init = load_image(a.init) if a.init else None
    res = vqgan_clip(a.prompt, negatives=a.negative or None, generator=a.generator, model=a.model, steps=a.steps,
                     size=a.size, lr=a.lr, n_augs=a.n_augs, quantize=not a.no_quantize, init=init, seed=a.seed,
                     device=a.device, progress=progress_flag(a), keep_snapshots=a.video is not None,
                     callback_every=frames_every(a, a.steps) or 10)
    png = save_image(upscale(res.image, a.scale), a.out.with_suffix(a.out.suffix or ".png"))
    js = write_report(png, prompt=a.prompt, generator=a.generator, model=[m.name for m in res.guide.models],
                      steps=a.steps, steps_run=res.run.steps_run, seed=a.seed,
                      similarities=res.guide.score(res.image.to(res.guide.device)), loss=res.run.series("loss"))
    print(f"wrote {png}, {js}{write_video(a, res.frames)}")
    return 0
