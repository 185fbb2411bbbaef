"""``clipedit generate``: text to image with a masked generative transformer (Muse / aMUSEd)."""
from __future__ import annotations

import argparse

from clipedit.cli.common import (UsageError, check_common, check_mask, common_options, finite_float, fraction_below_one, mask_option,
                                 positive, positive_int, progress_flag, video_options, write_video)
from clipedit.defaults import GENERATE

NAME = "generate"


def register(sub: argparse._SubParsersAction) -> None:
    gn = sub.add_parser(NAME, help="text to image with a masked generative transformer (Muse / aMUSEd)")
    gn.add_argument("prompt", help='what to generate, e.g. "a blue star"')
    common_options(gn, steps=GENERATE.steps, out="generated.png",
                   steps_help=f"decoding steps (default {GENERATE.steps})", model=GENERATE.model,
                   model_help=f"{GENERATE.model} (default, bundled), amused/amused-256, a folder in the aMUSEd layout "
                              "or a clipedit model folder")
    gn.add_argument("--n", type=positive_int, default=GENERATE.n, help=f"images to generate (default {GENERATE.n})")
    gn.add_argument("--guidance", type=finite_float, default=GENERATE.guidance,
                    help=f"classifier-free guidance scale (default {GENERATE.guidance:g})")
    gn.add_argument("--temperature", type=positive, default=GENERATE.temperature,
                    help=f"token sampling temperature (default {GENERATE.temperature:g})")
    gn.add_argument("--plausibility", type=fraction_below_one, default=GENERATE.plausibility,
                    help="with guidance, sample only codes at least this fraction as likely as the prompt's top code "
                         f"(default {GENERATE.plausibility:g}; 0: plain classifier-free guidance)")
    gn.add_argument("--negative", default=None, help="prompt of the unconditional branch (default: empty)")
    gn.add_argument("--scale", type=positive_int, default=None,
                    help="save images enlarged this many times, nearest neighbour (default: to at least 128 px)")
    gn.add_argument("--init", default=None, help="with --mask: the image to inpaint (tokens outside the mask stay)")
    mask_option(gn)
    video_options(gn, unit="decoding steps", default="every step")


def check(a: argparse.Namespace) -> None:
    check_common(a, a.prompt, images=(("init", "--init image"),))
    check_mask(a, "init", "--init IMAGE")
    if a.init and not a.mask:
        raise UsageError("--init goes with --mask (inpainting: the region to fill)")
    from clipedit.masked.generate import check_generate_args

    check_generate_args([a.prompt], a.steps, a.guidance, a.n, a.temperature, a.model, a.plausibility)


def run(a: argparse.Namespace) -> int:
    from clipedit.cli.common import save_grid
    from clipedit.imageio import load_image
    from clipedit.masked.generate import generate
    from clipedit.report import write_report

    res = generate(a.prompt, model=a.model, n=a.n, steps=a.steps, guidance=a.guidance, temperature=a.temperature,
                   plausibility=a.plausibility, negative=a.negative, seed=a.seed, device=a.device,
                   progress=progress_flag(a), frames_every=(a.every or 1) if a.video is not None else None,
                   init=load_image(a.init) if a.init else None, mask=a.mask)
    written = save_grid(res.images, a.out.with_suffix(a.out.suffix or ".png"), a.scale)
    js = write_report(written[0], prompt=a.prompt, **res.settings, n=a.n, tokens=res.tokens)
    print(f"wrote {written[0]}" + (f" (grid) and {len(written) - 1} images beside it" if len(written) > 1 else "")
          + f", and {js}{write_video(a, res.frames)}")
    return 0
