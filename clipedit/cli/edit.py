"""``clipedit edit``: StyleCLIP on a StyleGAN2 generator: latent optimisation, a trained mapper, or global
directions."""
from __future__ import annotations

import argparse
from pathlib import Path

from clipedit.cli.common import (UsageError, check_common, check_generator, check_mask, check_model_source, common_options,
                                 finite_float, frames_every,
                                 non_negative, positive, positive_int, progress_flag, video_options, write_video)
from clipedit.defaults import EDIT

NAME = "edit"
GENERATOR_HELP = ("clipedit/shapes-renderer (default, offline demo), clipedit/shapes-stylegan2 (offline, the earlier "
                  "GAN demo), stylegan2-ffhq-config-f, stylegan2-ada-ffhq, or a .pt/.pkl path")


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(NAME, help="StyleCLIP: edit a StyleGAN2 latent towards a text")
    e.add_argument("prompt", help='the edit, e.g. "a person with purple hair"')
    common_options(e, steps=EDIT.steps, out="edit.png",
                   model_help="CLIP model (default auto: the guide the generator recommends, else ViT-B/32)")
    e.add_argument("--generator", default=None, help=GENERATOR_HELP)
    e.add_argument("--latent", default=None, help="start latent .pt (e4e/pSp/StyleCLIP or clipedit invert), or a folder "
                                                   "or quoted glob of them (one edit each under --out DIR); default: a "
                                                   "seeded truncated sample")
    e.add_argument("--mode", choices=["edit", "free_generation"], default=EDIT.mode,
                   help=f"edit a latent, or generate freely (default {EDIT.mode})")
    e.add_argument("--lr", type=positive, default=EDIT.lr, help=f"Adam learning rate (default {EDIT.lr:g})")
    e.add_argument("--l2", type=non_negative, default=EDIT.l2_lambda, help=f"lambda_L2 (default {EDIT.l2_lambda:g})")
    e.add_argument("--id", type=non_negative, default=EDIT.id_lambda,
                   help=f"lambda_ID, ArcFace identity (default {EDIT.id_lambda:g}; faces only)")
    e.add_argument("--truncation", type=non_negative, default=EDIT.truncation,
                   help=f"truncation of the sampled start latent (default {EDIT.truncation:g})")
    e.add_argument("--space", choices=["w+", "w"], default=EDIT.space, help=f"latent space (default {EDIT.space})")
    e.add_argument("--negative", action="append", help="a prompt to avoid (repeatable)")
    e.add_argument("--method", choices=["optimise", "mapper", "global"], default="optimise",
                   help="optimise (latent optimisation, default), mapper (a trained --mapper file) or global "
                        "(global directions in StyleSpace)")
    e.add_argument("--mapper", default=None,
                   help="--method mapper: the folder from `clipedit mapper train` (or a Hub repo id)")
    e.add_argument("--alpha", type=finite_float, default=None,
                   help="--method global: edit strength α (default: the generator's own, else StyleCLIP's 4.1)")
    e.add_argument("--beta", type=non_negative, default=None,
                   help="--method global: relevance threshold β in [0, 1] (default: the generator's own, else "
                        "StyleCLIP's 0.15)")
    e.add_argument("--neutral", default=None,
                   help='--method global: the neutral text (default: the generator\'s own, e.g. "a shape"; else '
                        '"a face")')
    e.add_argument("--samples", type=positive_int, default=EDIT.n_samples,
                   help=f"--method global: images per channel when measuring fs3 once per generator "
                        f"(default {EDIT.n_samples})")
    e.add_argument("--mask", default=None,
                   help="--method optimise: edit mostly this region (white); the change outside it is penalised and "
                        "reported in the JSON")
    video_options(e)


def check(a: argparse.Namespace) -> None:
    check_common(a, a.prompt)
    if a.mask is not None and a.method != "optimise":
        raise UsageError(f"--mask goes with --method optimise, not --method {a.method}")
    check_mask(a)  # the mask's size is the generator's, known once it is loaded
    if a.video is not None and a.method != "optimise":
        raise UsageError(f"--video shows an optimisation: --method {a.method} has none (use --method optimise)")
    check_generator(a)  # a generator is a row of the weights table or a file; a latent is always a file
    from clipedit.cli.batch import check_out_folder, expand, is_many

    if a.latent and is_many(a.latent):
        if a.method != "optimise" or a.video is not None:
            raise UsageError("a folder of latents is edited with --method optimise, without --video")
        a.inputs, a.out_dir = expand(a.latent, (".safetensors", ".pt")), check_out_folder(a.out, "edit.png")
    elif a.latent and not Path(a.latent).expanduser().is_file():
        raise UsageError(f"--latent file not found: {a.latent}")
    if a.method == "mapper" and not a.mapper:
        raise UsageError("--method mapper needs --mapper FILE (train one with `clipedit mapper train PROMPT`)")
    if a.mapper and a.method != "mapper":
        raise UsageError("--mapper is used with --method mapper")
    if a.mapper:
        check_model_source(a.mapper, "--mapper", names="a folder from `clipedit mapper train`")
    if a.method == "global":
        if a.beta is not None and not 0 <= a.beta <= 1:
            raise UsageError(f"--beta is a cosine threshold in [0, 1], got {a.beta:g}")
        from clipedit.weights import WEIGHTS

        # a named generator's recommended neutral text, read from the table so refusing stays instant (a file's own
        # is checked by edit_global once it is loaded)
        name = a.generator or "clipedit/shapes-renderer"
        row = WEIGHTS.get(name)
        neutral = a.neutral or (row.recommended.get("neutral", "a face") if row is not None else None)
        if neutral is not None and neutral.strip() == a.prompt.strip():
            raise UsageError(f"the prompt and the neutral text are the same ({neutral!r}): there is no direction")


def _run_other(a: argparse.Namespace) -> int:
    """``edit --method mapper|global``."""
    import time

    import torch

    from clipedit.imageio import save_image
    from clipedit.report import write_report
    from clipedit.styleclip import load_generator, to_unit

    t0 = time.perf_counter()
    if a.method == "global":
        from clipedit.styleclip.global_directions import edit_global

        res, before = edit_global(a.prompt, neutral=a.neutral, generator=a.generator, seed=a.seed,
                                  truncation=a.truncation, model=a.model, alpha=a.alpha, beta=a.beta,
                                  n_samples=a.samples, device=a.device, progress=progress_flag(a))
        image, info = res.image, {"alpha": res.alpha, "beta": res.beta, "channels_changed": res.n_channels,
                                  "neutral": a.neutral}
    else:
        from clipedit.device import select_device
        from clipedit.styleclip.mapper import load_mapper

        dev = select_device(a.device)
        G = load_generator(a.generator, device=dev)
        mapper, trained_for = load_mapper(a.mapper, device=dev)
        if trained_for and trained_for.strip() != a.prompt.strip():
            raise UsageError(f"{a.mapper} was trained for {trained_for!r}, not {a.prompt!r}")
        if (mapper.n_latent, mapper.style_dim) != (G.n_latent, G.style_dim):
            raise UsageError(f"{a.mapper} was trained for a generator with {mapper.n_latent} W+ vectors of "
                             f"{mapper.style_dim}, this one has {G.n_latent} of {G.style_dim}")
        with torch.no_grad():
            w = G.to_wplus(G.sample_w(1, truncation=a.truncation, seed=a.seed))
            before, image = to_unit(G.synthesis(w)).cpu(), to_unit(G.synthesis(mapper.edit(w))).cpu()
        info = {"mapper": a.mapper}
    png = save_image(image, a.out)
    prev = save_image(before, png.with_name(png.stem + ".before.png"))
    js = write_report(png, prompt=a.prompt, method=a.method, generator=a.generator or "clipedit/shapes-renderer",
                      seed=a.seed, seconds=round(time.perf_counter() - t0, 3), **info)
    print(f"wrote {png}, {prev} and {js}")
    return 0


def run(a: argparse.Namespace) -> int:
    if a.method != "optimise":
        return _run_other(a)
    from clipedit.imageio import save_image
    from clipedit.report import write_report
    from clipedit.styleclip import save_latents, styleclip_edit

    if a.inputs is not None:
        from clipedit.cli.batch import run_batch
        from clipedit.styleclip import load_generator

        from clipedit.device import select_device
        from clipedit.guidance import CLIPGuide
        from clipedit.styleclip.loaders import guide_for

        # the generator is loaded and the prompt encoded once for the folder (styleclip_edit's own guide: no views)
        dev = select_device(a.device)
        G = load_generator(a.generator, device=dev)
        guide = CLIPGuide(a.prompt, negatives=a.negative or None, models=guide_for(G, a.model), augment="none",
                          n_augs=1, device=dev)

        def one(latent, out):
            r = styleclip_edit(a.prompt, generator=G, latent=latent, mode=a.mode, seed=a.seed, steps=a.steps, lr=a.lr,
                               l2_lambda=a.l2, id_lambda=a.id, truncation=a.truncation, space=a.space, model=a.model,
                               negatives=a.negative or None, device=a.device, progress=False, guide=guide)
            save_image(r.image, out)
            save_latents(out.with_suffix(".latent.safetensors"), latent=r.latent, start=r.start)

        return run_batch(a.inputs, a.out_dir, one, progress=progress_flag(a), desc=NAME)
    res = styleclip_edit(a.prompt, generator=a.generator, latent=a.latent, mode=a.mode, seed=a.seed, steps=a.steps,
                         lr=a.lr, l2_lambda=a.l2, id_lambda=a.id, truncation=a.truncation, space=a.space,
                         model=a.model, negatives=a.negative or None, device=a.device, progress=progress_flag(a),
                         keep_snapshots=a.video is not None, callback_every=frames_every(a, a.steps) or 10,
                         mask=a.mask)
    png = save_image(res.image, a.out)
    before = save_image(res.before, png.with_name(png.stem + ".before.png"))
    lat = save_latents(png.with_suffix(".latent.safetensors"), latent=res.latent, start=res.start)
    js = write_report(png, prompt=a.prompt, generator=a.generator or "clipedit/shapes-renderer", mode=a.mode,
                      steps=a.steps, seed=a.seed, l2_lambda=a.l2, id_lambda=a.id, mask=a.mask,
                      outside_change=res.outside_change, history=res.history)
    print(f"wrote {png}, {before}, {lat}, {js}{write_video(a, res.frames)}")
    return 0
