"""``clipedit style-text``: StyleTransferCLIP, a style from a text description."""
from __future__ import annotations

import argparse

from clipedit.cli.common import (UsageError, check_common, check_mask, common_options, frames_every, mask_option,
                                 non_negative, positive, positive_int, progress_flag, video_options, write_video)
from clipedit.defaults import STYLE_TEXT

NAME = "style-text"


def register(sub: argparse._SubParsersAction) -> None:
    sx = sub.add_parser(NAME, help="StyleTransferCLIP: restyle an image from a text description")
    sx.add_argument("content", help="content image, or a folder or quoted glob of them (one output each under --out DIR)")
    sx.add_argument("prompt", help='the style in words, e.g. "a mosaic of blue and green glass"')
    common_options(sx, steps=STYLE_TEXT.steps, out="style_text.png")
    sx.add_argument("--style", default=None, help="start style image (default: the content's own style)")
    sx.add_argument("--space", choices=["magenta", "multistyle"], default="magenta",
                    help="optimise Magenta's 100-d style embedding (default) or the 26-style network's mixture weights")
    sx.add_argument("--negative", action="append", help="a prompt to avoid (repeatable)")
    sx.add_argument("--lr", type=positive, default=None,
                    help=f"Adam learning rate (default {STYLE_TEXT.lr:g}; {STYLE_TEXT.multistyle_lr:g} with "
                         "--space multistyle)")
    sx.add_argument("--l2", type=non_negative, default=STYLE_TEXT.l2_weight,
                    help=f"weight of ||E - E0||^2, stay near the start style (default {STYLE_TEXT.l2_weight:g})")
    sx.add_argument("--n-augs", type=positive_int, default=STYLE_TEXT.n_augs,
                    help=f"augmented views per step (default {STYLE_TEXT.n_augs})")
    sx.add_argument("--size", type=positive_int, default=STYLE_TEXT.content_size,
                    help=f"content shorter side during optimisation (default {STYLE_TEXT.content_size})")
    mask_option(sx)
    video_options(sx)


def check(a: argparse.Namespace) -> None:
    from clipedit.checks import check_image_memory

    if a.space == "multistyle" and a.style is not None:
        raise UsageError("--style picks Magenta's start style; the multistyle space starts from the uniform mix")
    check_common(a, a.prompt, images=(("content", "content image"), ("style", "--style image")), many="content",
                 default_out="style_text.png")
    check_mask(a, "content", "a content image")
    if a.mask and a.space == "multistyle":
        raise UsageError("--mask goes with --space magenta (the default)")
    check_image_memory(a.size, "--size", a.device)


def run(a: argparse.Namespace) -> int:
    from clipedit.imageio import save_image
    from clipedit.report import write_report

    lr = {} if a.lr is None else {"lr": a.lr}
    lr.update(keep_snapshots=a.video is not None, callback_every=frames_every(a, a.steps) or 10)
    if a.inputs is not None:
        return _run_many(a, lr)
    if a.space == "multistyle":
        from clipedit.style.multistyle import multistyle_clip

        res = multistyle_clip(a.content, a.prompt, negatives=a.negative or None, model=a.model, steps=a.steps,
                              n_augs=a.n_augs, content_size=a.size, seed=a.seed, device=a.device,
                              progress=progress_flag(a), **lr)
        png = save_image(res.image, a.out)
        js = write_report(png, prompt=a.prompt, space="multistyle", weights=res.weights, top=res.top(5),
                          model=[m.name for m in res.guide.models], steps=a.steps, steps_run=res.run.steps_run,
                          stopped=res.run.stopped, seed=a.seed, loss=res.run.series("loss"))
        print(f"wrote {png}, {js} (strongest styles: {res.top(3)}){write_video(a, res.frames)}")
        return 0
    from clipedit.style.arbitrary import style_transfer_clip

    res = style_transfer_clip(a.content, a.prompt, a.style, negatives=a.negative or None, model=a.model,
                              steps=a.steps, l2_weight=a.l2, n_augs=a.n_augs, content_size=a.size,
                              seed=a.seed, device=a.device, progress=progress_flag(a), mask=a.mask, **lr)
    png = save_image(res.image, a.out)
    from safetensors.torch import save_file

    emb = png.with_suffix(".embedding.safetensors")
    save_file({"embedding": res.embedding.detach().cpu().contiguous(), "start": res.start.detach().cpu().contiguous()},
              str(emb), metadata={"prompt": a.prompt})
    js = write_report(png, prompt=a.prompt, style=a.style, model=[m.name for m in res.guide.models], steps=a.steps,
                      steps_run=res.run.steps_run, stopped=res.run.stopped, seed=a.seed, loss=res.run.series("loss"))
    print(f"wrote {png}, {emb}, {js}{write_video(a, res.frames)}")
    return 0


def _run_many(a: argparse.Namespace, kw: dict) -> int:
    """A folder of content images: one restyled picture each (the per-image reports are left out)."""
    from clipedit.cli.batch import run_batch
    from clipedit.imageio import load_image, save_image
    from clipedit.interrupt import Terminated

    from clipedit.defaults import STYLE_TEXT
    from clipedit.device import select_device
    from clipedit.guidance import CLIPGuide

    dev = select_device(a.device)
    # the prompt is encoded (and the networks loaded) once for the folder
    guide = CLIPGuide(a.prompt, negatives=a.negative or None, models=a.model, augment=STYLE_TEXT.augment,
                      n_augs=a.n_augs, device=dev)
    if a.space == "multistyle":
        from clipedit.style.multistyle import multistyle_clip as method
        extra = {}
    else:
        from clipedit.style.arbitrary import load_arbitrary_style, style_transfer_clip as method
        extra = {"style": a.style, "l2_weight": a.l2, "net": load_arbitrary_style(device=dev)}

    def one(content, out):
        res = method(load_image(content), a.prompt, negatives=a.negative or None, model=a.model, steps=a.steps,
                     n_augs=a.n_augs, content_size=a.size, seed=a.seed, device=dev, progress=False, guide=guide, **extra, **kw)
        save_image(res.image, out)
        if res.run.stopped == "terminated":  # the loop kept the best so far and returned: stop the folder here
            raise Terminated()
        if res.run.stopped == "interrupt":
            raise KeyboardInterrupt

    return run_batch(a.inputs, a.out_dir, one, progress=progress_flag(a), desc=NAME)
