"""``clipedit stylize``: arbitrary style transfer (Magenta), or the 26-style network with ``--multistyle``."""
from __future__ import annotations

import argparse

from clipedit.cli.common import (UsageError, check_common, check_mask, finite_float, float_list, int_list, mask_option,
                                 positive_int, progress_flag, run_options)
from clipedit.defaults import STYLIZE

NAME = "stylize"


def register(sub: argparse._SubParsersAction) -> None:
    from pathlib import Path

    st = sub.add_parser(NAME, help="arbitrary style transfer (Magenta): content in the style of an image")
    st.add_argument("content", help="content image, or a folder or quoted glob of them (one output each under --out DIR)")
    st.add_argument("style", nargs="?", default=None, help="style image (Magenta's arbitrary network)")
    st.add_argument("--out", type=Path, default=Path("stylized.png"), help="output path (default stylized.png)")
    st.add_argument("--strength", type=finite_float, default=STYLIZE.strength,
                    help=f"0 = content, 1 = full style (default {STYLIZE.strength:g})")
    st.add_argument("--size", type=positive_int, default=STYLIZE.content_size,
                    help=f"content shorter side (default {STYLIZE.content_size})")
    st.add_argument("--transfer", choices=["fp16", "int8"], default=STYLIZE.transfer,
                    help=f"transfer network weights (default {STYLIZE.transfer})")
    st.add_argument("--multistyle", default=None, metavar="INDICES",
                    help="the 26-style network instead of a style image: one index (7) or several (3,19), 0-25; "
                         "needs pip install 'clipedit[styles]'")
    st.add_argument("--weights", default=None, help="mixing weights for --multistyle indices, e.g. 0.5,0.5")
    mask_option(st)
    run_options(st, seed=False)  # deterministic: nothing is drawn at random


def check(a: argparse.Namespace) -> None:
    from clipedit.checks import check_image_memory

    if (a.style is None) == (a.multistyle is None):
        raise UsageError("give either a style image or --multistyle INDICES (the 26-style network), not both")
    if a.weights is not None and a.multistyle is None:
        raise UsageError("--weights goes with --multistyle")
    check_common(a, images=(("content", "content image"), ("style", "style image")), many="content",
                 default_out="stylized.png")
    check_image_memory(a.size, "--size", a.device, bytes_per_pixel=1024)
    check_mask(a, "content", "a content image")
    if a.mask and a.multistyle is not None:
        raise UsageError("--mask goes with a style image (Magenta's network), not --multistyle")
    if not 0 <= a.strength <= 1:
        raise UsageError(f"--strength must be between 0 and 1, got {a.strength:g}")
    if a.multistyle is not None:
        from clipedit.style.multistyle import style_weights

        weights = None if a.weights is None else float_list(a.weights, "--weights")
        a.style_vector = style_weights(int_list(a.multistyle, "--multistyle"), weights)


def run(a: argparse.Namespace) -> int:
    from clipedit.imageio import load_image, save_image

    if a.multistyle is not None:
        from clipedit.style.multistyle import multistylize

        def one(content_path, out):
            content = load_image(content_path, a.size)
            styled = multistylize(content, a.style_vector, size=None, device=a.device)
            save_image(a.strength * styled + (1 - a.strength) * content, out)  # strength blends with the photo
    else:
        from clipedit.style.arbitrary import load_arbitrary_style, stylize

        net = load_arbitrary_style(a.transfer, device=a.device)
        style = load_image(a.style)  # read once for every content image

        def one(content_path, out):
            save_image(stylize(load_image(content_path), style, a.strength, content_size=a.size, net=net, mask=a.mask), out)
    if a.inputs is not None:
        from clipedit.cli.batch import run_batch

        return run_batch(a.inputs, a.out_dir, one, progress=progress_flag(a), desc=NAME)
    one(a.content, a.out)
    print(f"wrote {a.out}")
    return 0
