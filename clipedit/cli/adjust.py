"""``clipedit adjust``: adjustable style transfer, loss weights chosen at run time."""
from __future__ import annotations

import argparse
from pathlib import Path

from clipedit.cli.common import UsageError, check_common, check_mask, float_list, mask_option, positive, positive_int
from clipedit.defaults import ADJUST

NAME = "adjust"


def register(sub: argparse._SubParsersAction) -> None:
    ad = sub.add_parser(NAME, help="adjustable style transfer: one network, loss weights chosen at run time")
    ad.add_argument("content", help="content image, or a folder or quoted glob of them (one output each under --out DIR)")
    ad.add_argument("--out", type=Path, default=Path("adjusted.png"), help="output path (default adjusted.png)")
    ad.add_argument("--style", default=ADJUST.style,
                    help=f"bundled adjustable network ({ADJUST.style}), a model folder or a Hub repo id "
                         f"(default {ADJUST.style})")
    ad.add_argument("--content-weight", type=positive, default=ADJUST.content_weight,
                    help=f"content weight, 0.1-10 (default {ADJUST.content_weight:g})")
    ad.add_argument("--style-weight", type=positive, default=ADJUST.style_weight,
                    help=f"style weight, 0.1-10, multiplies every layer weight (default {ADJUST.style_weight:g})")
    ad.add_argument("--layer-weights", default=None, metavar="A,B,C,D",
                    help="per style layer weights, shallow (colour, fine texture) to deep (larger motifs) (default 1)")
    ad.add_argument("--size", type=positive_int, default=ADJUST.content_size,
                    help=f"content shorter side (default {ADJUST.content_size})")
    mask_option(ad)
    ad.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")


def check(a: argparse.Namespace) -> None:
    from clipedit.checks import check_image_memory
    from clipedit.style.adjustable import LAMBDA_MAX, LAMBDA_MIN, N_STYLE_LAYERS, loss_weights

    check_common(a, images=(("content", "content image"),), many="content", default_out="adjusted.png")
    check_mask(a, "content", "a content image")
    layers = None if a.layer_weights is None else float_list(a.layer_weights, "--layer-weights")
    if layers is not None and len(layers) != N_STYLE_LAYERS:
        raise UsageError(f"--layer-weights takes {N_STYLE_LAYERS} numbers (shallow to deep), got {len(layers)}")
    try:
        lam = loss_weights(a.content_weight, a.style_weight, layers)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if not (lam.min() >= LAMBDA_MIN - 1e-9 and lam.max() <= LAMBDA_MAX + 1e-9):
        raise UsageError(f"every weight (content, and style x layer) must lie in [{LAMBDA_MIN:g}, {LAMBDA_MAX:g}], the "
                         f"range the network was trained on; got {[round(v, 4) for v in lam.tolist()]}")
    a.layer_list = layers
    from clipedit.hub import is_pretrained_folder, looks_like_repo_id
    from clipedit.style.adjustable import ADJUSTABLE_STYLES

    if a.style not in ADJUSTABLE_STYLES and not (is_pretrained_folder(a.style) or looks_like_repo_id(a.style)):
        where = "is not a model folder" if Path(a.style).exists() else "not found"
        raise UsageError(f"unknown --style {a.style!r} ({where}); choose from {sorted(ADJUSTABLE_STYLES)}, a model "
                         "folder (lab/training/adjustable_style.py writes one) or a Hub repo id")
    check_image_memory(a.size, "--size", a.device, bytes_per_pixel=1024)


def run(a: argparse.Namespace) -> int:
    from clipedit.imageio import load_image, save_image
    from clipedit.style.adjustable import adjust, load_adjustable

    net = load_adjustable(a.style, device=a.device)

    def one(content, out):
        save_image(adjust(load_image(content), a.content_weight, a.style_weight, a.layer_list, content_size=a.size,
                          net=net, device=a.device, mask=a.mask), out)
    if a.inputs is not None:
        from clipedit.cli.batch import run_batch

        return run_batch(a.inputs, a.out_dir, one, progress=None, desc=NAME)
    one(a.content, a.out)
    print(f"wrote {a.out}")
    return 0
