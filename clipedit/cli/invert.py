"""``clipedit invert``: project an image into a StyleGAN2 generator (a W+ latent and noise)."""
from __future__ import annotations

import argparse

from clipedit.cli.common import check_common, check_generator, common_options, non_negative, positive, progress_flag
from clipedit.defaults import INVERT

NAME = "invert"


def register(sub: argparse._SubParsersAction) -> None:
    iv = sub.add_parser(NAME, help="project an image into a StyleGAN2 generator (W+ latent + noise)")
    iv.add_argument("image", help="the image to invert, or a folder or quoted glob of them (one output each under --out DIR)")
    common_options(iv, steps=INVERT.steps, out="inverted.png")
    iv.add_argument("--generator", default=None, help="as for edit (default: the offline demo generator)")
    iv.add_argument("--lr", type=positive, default=INVERT.lr, help=f"Adam learning rate (default {INVERT.lr:g})")
    iv.add_argument("--mse", type=non_negative, default=INVERT.mse, help=f"pixel MSE weight (default {INVERT.mse:g})")
    iv.add_argument("--perceptual", type=non_negative, default=INVERT.perceptual,
                    help=f"VGG-16 perceptual weight (default {INVERT.perceptual:g})")
    iv.add_argument("--vgg", default=INVERT.vgg_weights,
                    help=f"VGG-16 weights: auto, imagenet, random or a path (default {INVERT.vgg_weights})")


def check(a: argparse.Namespace) -> None:
    check_common(a, images=(("image", "image"),), many="image", default_out="inverted.png")
    check_generator(a)


def run(a: argparse.Namespace) -> int:
    from clipedit.imageio import save_image
    from clipedit.report import write_report
    from clipedit.styleclip import project, save_latents

    from clipedit.imageio import load_image

    if a.inputs is not None:
        from clipedit.cli.batch import run_batch
        from clipedit.styleclip import load_generator

        G = load_generator(a.generator, device=a.device)  # loaded once for the folder

        def one(image, out):
            r = project(load_image(image), generator=G, steps=a.steps, lr=a.lr, mse=a.mse, perceptual=a.perceptual,
                        vgg_weights=None if a.vgg == "random" else a.vgg, seed=a.seed, device=a.device, progress=False)
            save_latents(out.with_suffix(".latent.safetensors"), latent=r.latent, noise=r.noise)
            save_image(r.image, out)

        return run_batch(a.inputs, a.out_dir, one, progress=progress_flag(a), desc=NAME)
    res = project(a.image, generator=a.generator, steps=a.steps, lr=a.lr, mse=a.mse, perceptual=a.perceptual,
                  vgg_weights=None if a.vgg == "random" else a.vgg, seed=a.seed, device=a.device,
                  progress=progress_flag(a))
    png = save_image(res.image, a.out)
    lat = save_latents(png.with_suffix(".latent.safetensors"), latent=res.latent, noise=res.noise)
    js = write_report(png, image=a.image, generator=a.generator or "clipedit/shapes-renderer", steps=a.steps,
                      history=res.history)
    print(f"wrote {png}, {lat} (edit it: clipedit edit \"...\" --latent {lat}) and {js}")
    return 0
