"""``clipedit styledrop train|sample``: adapters tuned on one style image, then sampling in that style."""
from __future__ import annotations

import argparse
from pathlib import Path

from clipedit.cli.common import (OneLineParser, UsageError, check_device, check_mask, finite_float, mask_option, positive,
                                 positive_int, progress_flag, run_options, video_options, write_video)
from clipedit.defaults import GENERATE, STYLEDROP_SAMPLE, STYLEDROP_TRAIN

NAME = "styledrop"


def register(sub: argparse._SubParsersAction) -> None:
    sd = sub.add_parser(NAME, help="StyleDrop: tune adapters on one style image, then sample in that style")
    sdsub = sd.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    tr = sdsub.add_parser("train", help="tune adapters on ONE style image (round 1, and round 2 with --rounds 2)")
    tr.add_argument("image", help="the style image")
    tr.add_argument("--content", required=True, help='what the style image shows, e.g. "a red circle"')
    tr.add_argument("--style", default=None, help='style descriptor, "… in {style} style" (default: the file name)')
    tr.add_argument("--out", type=Path, default=Path("adapter"),
                    help="the adapter folder to write: model.safetensors, config.json, README.md (default adapter/); "
                         "a preview PNG and a JSON report go beside it")
    # None: the settings' own (StyleDropSettings, or PAPER with --paper), so --paper is not overridden
    tr.add_argument("--steps", type=positive_int, default=None,
                    help=f"training steps per round (default {STYLEDROP_TRAIN.steps}; 1000 with --paper)")
    tr.add_argument("--rounds", type=int, choices=(1, 2), default=1,
                    help="2: iterative training with feedback (default 1)")
    tr.add_argument("--batch", type=positive_int, default=None, help=f"batch size (default {STYLEDROP_TRAIN.batch})")
    tr.add_argument("--lr", type=positive, default=None, help=f"learning rate (default {STYLEDROP_TRAIN.lr:g})")
    tr.add_argument("--rank", type=positive_int, default=None,
                    help=f"adapter bottleneck / LoRA rank (default {STYLEDROP_TRAIN.rank})")
    tr.add_argument("--kind", choices=("adapter", "lora"), default=None,
                    help=f"adapter or lora (peft) (default {STYLEDROP_TRAIN.kind})")
    tr.add_argument("--paper", action="store_true", help="the paper's scale: 1000 steps, batch 8")
    tr.add_argument("--feedback", nargs="+", default=None,
                    help="round 2: content prompts to sample (default: those the model recommends)")
    tr.add_argument("--feedback-n", type=positive_int, default=STYLEDROP_TRAIN.n_per_prompt,
                    help=f"round 2: samples per prompt (default {STYLEDROP_TRAIN.n_per_prompt})")
    tr.add_argument("--top-k", type=positive_int, default=STYLEDROP_TRAIN.top_k,
                    help=f"round 2: images kept (default {STYLEDROP_TRAIN.top_k})")
    sp = sdsub.add_parser("sample", help="sample in a learnt style with two-scale guidance")
    sp.add_argument("adapter", help="an adapter folder from `clipedit styledrop train` (or a Hub repo id)")
    sp.add_argument("prompt", help='the content, e.g. "a blue star" (the style descriptor is appended)')
    sp.add_argument("--out", type=Path, default=Path("styled.png"), help="output image (default styled.png)")
    sp.add_argument("--n", type=positive_int, default=STYLEDROP_SAMPLE.n, help=f"images (default {STYLEDROP_SAMPLE.n})")
    sp.add_argument("--lambda-a", type=finite_float, default=STYLEDROP_SAMPLE.lambda_a,
                    help=f"style guidance λ_A (default {STYLEDROP_SAMPLE.lambda_a:g})")
    sp.add_argument("--lambda-b", type=finite_float, default=STYLEDROP_SAMPLE.lambda_b,
                    help=f"text guidance λ_B (default {STYLEDROP_SAMPLE.lambda_b:g})")
    sp.add_argument("--steps", type=positive_int, default=STYLEDROP_SAMPLE.steps,
                    help=f"decoding steps (default {STYLEDROP_SAMPLE.steps})")
    sp.add_argument("--scale", type=positive_int, default=None,
                    help="save images enlarged this many times, nearest neighbour (default: to at least 128 px)")
    sp.add_argument("--init", default=None, help="with --mask: the image to inpaint in the style")
    mask_option(sp)
    video_options(sp, unit="decoding steps", default="every step")
    for x in (tr, sp):
        x.add_argument("--model", default=None,
                       help=f"backbone: {GENERATE.model} (default; sample: the adapter's own), amused/amused-256, "
                            "or a model folder")
        run_options(x)


def _load_style_image(path: str):
    from clipedit.imageio import load_image

    try:
        return load_image(path)  # decoded in full: a file truncated past its header is refused here too
    except (OSError, ValueError) as err:
        raise UsageError(f"style image: {err}") from None


def check(a: argparse.Namespace) -> None:
    from clipedit.checks import check_output
    from clipedit.models.muse import list_generators

    if a.action == "train":
        from clipedit.hub import CONFIG_FILE, check_folder_out

        check_output(check_folder_out(a.out) / CONFIG_FILE)
    else:
        check_output(a.out)
    if getattr(a, "video", None) is not None:
        from clipedit.animation import check_animation_path

        check_animation_path(a.video)
    check_device(a)
    if a.model is not None and a.model not in list_generators() and not Path(a.model).exists():
        raise UsageError(f"unknown model {a.model!r}; choose from {', '.join(list_generators())}, "
                         "a folder in the aMUSEd layout or a clipedit model folder")
    if a.action == "train":
        if not a.content.strip():
            raise UsageError('--content is empty: describe what the style image shows, e.g. "a red circle"')
        if a.style is not None and not a.style.strip():
            raise UsageError('--style is empty: name the style, e.g. "striped"')
        _load_style_image(a.image)
        if a.feedback and any(not f.strip() for f in a.feedback):
            raise UsageError("--feedback prompts must not be empty")
        return
    from clipedit.models.adapters import load_adapters

    if not a.prompt.strip():
        raise UsageError('the prompt is empty: describe the content, e.g. "a blue star"')
    if a.init:
        from clipedit.checks import check_image_file

        check_image_file(a.init, "--init image")
    check_mask(a, "init", "--init IMAGE")
    if a.init and not a.mask:
        raise UsageError("--init goes with --mask (inpainting: the region to fill)")
    from clipedit.cli.common import check_model_source

    check_model_source(a.adapter, "adapter", names="a folder from `clipedit styledrop train`")
    from clipedit.models.muse import transformer_signature

    ad, meta = load_adapters(a.adapter)  # a few kB: refuses a folder that is not an adapter folder, in one line
    if "style" not in meta:
        raise UsageError(f"{a.adapter} has no style descriptor: write it with `clipedit styledrop train`")
    model = a.model or meta.get("model", GENERATE.model)
    want = transformer_signature(model)
    if want is not None and want != ad.signature:
        raise UsageError(f"{a.adapter} was trained for a backbone with {ad.signature}, but {model} has {want}")


def _generator(a: argparse.Namespace, default: str):
    from clipedit.device import select_device
    from clipedit.models.muse import load_masked_generator

    return load_masked_generator(a.model or default, device=select_device(a.device))


def _train(a: argparse.Namespace) -> int:
    import torch
    from torchvision.utils import make_grid

    from clipedit.cli.common import upscale
    from clipedit.imageio import save_image
    from clipedit.report import write_report
    from clipedit.styledrop import PAPER, StyleDropSettings, collect_feedback, retrain_with_feedback, sample_style, train_style
    from clipedit.styledrop.feedback import default_feedback_contents
    from clipedit.styledrop.train import with_settings

    gen = _generator(a, GENERATE.model)
    image = _load_style_image(a.image)
    style_name = a.style or Path(a.image).stem.replace("_", " ")
    base = PAPER if a.paper else StyleDropSettings()
    settings = with_settings(base, steps=a.steps, batch=a.batch, lr=a.lr, rank=a.rank, kind=a.kind, seed=a.seed)
    style = train_style(gen, image, [a.content], style_name, settings, progress=progress_flag(a))
    if a.rounds == 2:
        contents = a.feedback or default_feedback_contents(gen, a.content)
        fb = collect_feedback(gen, style, image, contents, n_per_prompt=a.feedback_n, top_k=a.top_k, seed=a.seed,
                              progress=progress_flag(a))
        style = retrain_with_feedback(gen, style, image, a.content, fb, settings=settings, progress=progress_flag(a))
        grid = make_grid(fb.images, nrow=a.feedback_n, padding=2, pad_value=1.0)
        save_image(upscale(grid[None], None), a.out.with_name(a.out.stem + "_feedback.png"))
    out = style.save(a.out)
    preview = sample_style(gen, style, [a.content], n=4, seed=a.seed, progress=False).images
    ref = torch.nn.functional.interpolate(image.cpu(), size=preview.shape[-2:], mode="bilinear", antialias=True)
    png = save_image(upscale(make_grid(torch.cat([ref, preview]), nrow=5, padding=2, pad_value=1.0)[None], None),
                     out.with_suffix(".png"))
    js = write_report(out, **style.meta, log=style.log)
    print(f"wrote {out}/ ({(out / 'model.safetensors').stat().st_size / 1024:.0f} kB, "
          f"{style.adapters.num_parameters():,} parameters), "
          f"{png} (style image, then samples) and {js}")
    return 0


def run(a: argparse.Namespace) -> int:
    if a.action == "train":
        return _train(a)
    from clipedit.cli.common import save_grid
    from clipedit.report import write_report
    from clipedit.styledrop import load_style, sample_style

    style = load_style(a.adapter)
    gen = _generator(a, style.meta.get("model", GENERATE.model))
    res = sample_style(gen, style, [a.prompt], n=a.n, lambda_a=a.lambda_a, lambda_b=a.lambda_b, steps=a.steps,
                       seed=a.seed, progress=progress_flag(a), frames_every=(a.every or 1) if a.video is not None else None,
                       init=_load_style_image(a.init) if a.init else None, mask=a.mask)
    written = save_grid(res.images, a.out.with_suffix(a.out.suffix or ".png"), a.scale)
    js = write_report(written[0], prompt=a.prompt, prompts=res.prompts, **res.settings, adapter=str(a.adapter),
                      model=gen.name)
    print(f"wrote {written[0]}, {js}{write_video(a, res.frames)}")
    return 0
