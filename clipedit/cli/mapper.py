"""``clipedit mapper train``: train a StyleCLIP latent mapper for one prompt."""
from __future__ import annotations

import argparse

from clipedit.cli.common import (OneLineParser, check_common, check_generator, common_options, non_negative, positive,
                                 positive_int, progress_flag)
from clipedit.defaults import MAPPER

NAME = "mapper"


def register(sub: argparse._SubParsersAction) -> None:
    mp = sub.add_parser(NAME, help="StyleCLIP latent mapper: train one for a prompt")
    mpsub = mp.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    mt = mpsub.add_parser("train", help="train a mapper for PROMPT on sampled latents")
    mt.add_argument("prompt", help='the edit, e.g. "a blue circle"')
    common_options(mt, steps=MAPPER.steps, out="mapper", out_help="the model folder to write: model.safetensors, "
                   "config.json, README.md (default mapper/)")
    mt.add_argument("--generator", default=None, help="as for edit (default: the offline demo generator)")
    mt.add_argument("--batch", type=positive_int, default=MAPPER.batch, help=f"latents per step (default {MAPPER.batch})")
    mt.add_argument("--lr", type=positive, default=MAPPER.lr,
                    help=f"Adam learning rate (default {MAPPER.lr:g}, equalised-lr layers)")
    mt.add_argument("--l2", type=non_negative, default=MAPPER.l2_lambda, help=f"lambda_L2 (default {MAPPER.l2_lambda:g})")
    mt.add_argument("--id", type=non_negative, default=MAPPER.id_lambda,
                    help=f"lambda_ID, ArcFace identity (default {MAPPER.id_lambda:g}; faces only)")


def check(a: argparse.Namespace) -> None:
    check_common(a, a.prompt, out_folder=True)
    check_generator(a)


def run(a: argparse.Namespace) -> int:
    from clipedit.device import select_device
    from clipedit.guidance import CLIPGuide
    from clipedit.styleclip import load_generator
    from clipedit.styleclip.edit import _identity
    from clipedit.styleclip.loaders import guide_for
    from clipedit.styleclip.mapper import save_mapper, train_mapper

    dev = select_device(a.device)
    G = load_generator(a.generator, device=dev)
    guide = CLIPGuide(a.prompt, models=guide_for(G, a.model), augment="none", n_augs=1, device=dev)
    ident = _identity("auto", G, a.id, dev)
    run_ = train_mapper(a.prompt, G, guide, steps=a.steps, batch=a.batch, lr=a.lr, l2_lambda=a.l2,
                        id_lambda=a.id if ident is not None else 0.0, identity=ident, seed=a.seed,
                        progress=progress_flag(a))
    path = save_mapper(run_.mapper, a.out, a.prompt, {"steps": run_.steps, "seconds": round(run_.seconds, 1),
                                                       "generator": a.generator or "clipedit/shapes-renderer",
                                                       "model": [m.name for m in guide.models], "log": run_.log})
    print(f"wrote {path} ({run_.steps} steps, {run_.seconds:.0f} s); use it: clipedit edit \"{a.prompt}\" "
          f"--method mapper --mapper {path}")
    return 0
