"""``clipedit nada``: StyleGAN-NADA, a generator's whole domain shifted from one text to another."""
from __future__ import annotations

import argparse

from clipedit.cli.common import UsageError, check_common, check_generator, common_options, positive, positive_int, progress_flag
from clipedit.defaults import NADA

NAME = "nada"


def register(sub: argparse._SubParsersAction) -> None:
    nd = sub.add_parser(NAME, help="StyleGAN-NADA: shift a generator's domain from SOURCE text to TARGET text")
    nd.add_argument("source", help='what the generator draws now, e.g. "a circle"')
    nd.add_argument("target", help='what it should draw, e.g. "a square"')
    common_options(nd, steps=NADA.steps, out="nada-generator", out_help="the model folder to write: model.safetensors, "
                   "config.json, README.md (default nada-generator/); a before/after grid goes beside it")
    nd.add_argument("--generator", default=None, help="as for edit (default: the offline demo generator)")
    nd.add_argument("--layers", type=positive_int, default=None,
                    help="k: W+ layers trained per step, chosen adaptively (default: all)")
    nd.add_argument("--batch", type=positive_int, default=NADA.batch, help=f"latents per step (default {NADA.batch})")
    nd.add_argument("--lr", type=positive, default=NADA.lr, help=f"Adam learning rate (default {NADA.lr:g})")
    nd.add_argument("--train-noise", action="store_true", default=NADA.train_noise,
                    help="also train the layers' noise strengths, as NADA's code does (off: on the demo they became a "
                         "texture over the whole image)")


def check(a: argparse.Namespace) -> None:
    check_common(a, a.source, out_folder=True)
    if not a.target.strip():
        raise UsageError("the target text is empty: say what the generator should draw, e.g. \"a square\"")
    if a.source.strip() == a.target.strip():
        raise UsageError(f"source and target are the same text ({a.source!r}): there is no direction to follow")
    check_generator(a)
    if a.layers is not None:  # the generator's W+ count is in its file: read it (on the CPU) before any training
        from clipedit.styleclip import load_generator
        from clipedit.weights import ModelUnavailableError

        try:
            n = load_generator(a.generator, device="cpu").n_latent
        except ModelUnavailableError:
            return  # not here yet: the run says where to put it
        if a.layers > n:
            raise UsageError(f"--layers {a.layers} is more than the generator's {n} W+ layers")


def run(a: argparse.Namespace) -> int:
    import torch
    import torchvision.utils as vutils

    from clipedit.device import select_device
    from clipedit.imageio import save_image
    from clipedit.models.registry import load_clip
    from clipedit.styleclip import load_generator, to_unit
    from clipedit.styleclip.loaders import guide_for
    from clipedit.styleclip.nada import nada, save_generator

    dev = select_device(a.device)
    G = load_generator(a.generator, device=dev)
    if a.layers is not None and a.layers > G.n_latent:
        raise UsageError(f"--layers {a.layers} is more than the generator's {G.n_latent} W+ layers")
    clip = load_clip(guide_for(G, a.model), device=dev)
    r = nada(G, a.source, a.target, clip, steps=a.steps, batch=a.batch, k=a.layers, lr=a.lr, seed=a.seed,
             train_noise=a.train_noise, progress=progress_flag(a))
    path = save_generator(r.generator, a.out, {"source": a.source, "target": a.target, "steps": r.steps,
                                               "train_noise": a.train_noise,
                                               "seconds": round(r.seconds, 1), "layers": r.layer_counts})
    with torch.no_grad():  # before/after on fixed seeds: top row the original, bottom row the adapted generator
        w = torch.cat([G.sample_w(1, truncation=0.7, seed=s) for s in range(8)])
        grid = torch.cat([to_unit(G.synthesis(w)), to_unit(r.generator.synthesis(w))]).cpu()
    png = path.with_suffix(".png")
    save_image(vutils.make_grid(grid, nrow=8, padding=1, pad_value=1.0)[None], png)
    print(f"wrote {path} ({r.steps} steps, {r.seconds:.0f} s) and {png}; use it: clipedit edit \"...\" "
          f"--generator {path}")
    return 0
