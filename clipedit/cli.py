"""The ``clipedit`` command line.

Every subcommand follows the same conventions: ``--out PATH`` (outputs in
several formats go beside it with the same stem), ``--seed``, ``--steps``,
``--device``, ``--model``; bad input exits with code 2 and a one-line message.

    clipedit guide "a red circle" --out out.png
    clipedit stylize content.jpg style.jpg --out out.png --strength 0.8
    clipedit style-text content.jpg "a mosaic of blue and green glass" --out out.png
    clipedit draw "a red circle" --out drawing.png            # CLIPDraw: PNG + SVG + JSON
    clipedit draw "a red circle" --style painting.jpg          # StyleCLIPDraw
    clipedit edit "a blue circle" --out edit.png              # StyleCLIP on the offline demo generator
    clipedit edit "a person with purple hair" --generator stylegan2-ffhq-config-f --latent latents.pt
    clipedit edit "a blue circle" --method global   # StyleCLIP global directions (demo: α 2, β 0.4)
    clipedit mapper train "a blue circle" --out m.pt; clipedit edit "a blue circle" --method mapper --mapper m.pt
    clipedit nada "a circle" "a square" --out g.pt; clipedit edit "a blue square" --generator g.pt
    clipedit invert photo.jpg --generator ffhq.pkl --out inverted.png
    clipedit generate "a blue star" --out g.png --n 4          # masked generation (offline shapes model)
    clipedit vqgan "a yellow star" --out v.png [--init image.png]
    clipedit styledrop train style.png --content "a red circle" --out adapter.pt [--rounds 2]
    clipedit styledrop sample adapter.pt "a blue star" --out s.png [--lambda-a 2 --lambda-b 3 --n 4]
    clipedit models
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Callable, NoReturn

SUBCOMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}
#: Up-front checks per subcommand: run before any model loads (bad input is refused in well under a second).
CHECKS: dict[str, Callable[[argparse.Namespace], None]] = {}


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``clipedit CMD: error: …``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def finite_float(text: str) -> float:
    """A finite float (argparse type): NaN and inf are refused."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return v


def non_negative(text: str) -> float:
    """A finite float >= 0 (argparse type)."""
    v = finite_float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v:g}")
    return v


def positive(text: str) -> float:
    """A finite float > 0 (argparse type)."""
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v:g}")
    return v


def fraction_below_one(text: str) -> float:
    """A float in [0, 1) (argparse type)."""
    v = finite_float(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {v:g}")
    return v


def common_options(p: argparse.ArgumentParser, steps: int, out: str) -> None:
    """The options every subcommand shares."""
    p.add_argument("--out", type=Path, default=Path(out), help=f"output path (default {out})")
    p.add_argument("--steps", type=positive_int, default=steps, help=f"optimisation steps (default {steps})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--model", default="auto",
                   help="CLIP model: auto, ViT-B/32, RN50, open_clip:ARCH/TAG, clipedit/shapes or a checkpoint path "
                        "(default auto)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--quiet", action="store_true", help="no progress bar")
    bar.add_argument("--progress", action="store_true",
                     help="draw the progress bar even when stderr is not a terminal (default: only on a terminal)")


def _bar(a: argparse.Namespace) -> bool | None:
    return False if a.quiet else (True if a.progress else None)


def _check_device(a: argparse.Namespace) -> None:
    """Refuse an unknown or absent ``--device``. The default and ``cpu`` are always there, so they are accepted
    without importing torch (two seconds): argument errors answer at once."""
    if a.device not in (None, "cpu"):
        from clipedit.device import select_device

        select_device(a.device)


def _check_common(a: argparse.Namespace, prompt: str | None = None, images: tuple[tuple[str, str], ...] = ()) -> None:
    """What every subcommand checks first: the prompt, input images, the output path and the device."""
    from clipedit.checks import check_image_file, check_output

    if prompt is not None and not prompt.strip():
        raise UsageError("the prompt is empty: describe what you want, e.g. \"a red circle\"")
    for dest, label in images:
        value = getattr(a, dest, None)
        if value:
            check_image_file(value, label)
    check_output(a.out)
    _check_device(a)


def _check_guide(a: argparse.Namespace) -> None:
    from clipedit.checks import check_image_memory

    _check_common(a, a.prompt, images=(("init", "--init image"),))
    if a.size is not None:
        check_image_memory(a.size, "--size", a.device)


def _cmd_guide(a: argparse.Namespace) -> int:
    from clipedit.imageio import load_image, save_image
    from clipedit.text_to_image import guide_image

    init = load_image(a.init) if a.init else None
    res = guide_image(a.prompt, negatives=a.negative or None, model=a.model, steps=a.steps, size=a.size,
                      param=a.param, augment=a.augment, n_augs=a.n_augs, lr=a.lr, seed=a.seed, init=init,
                      device=a.device, progress=_bar(a))
    png = save_image(res.image, a.out.with_suffix(a.out.suffix or ".png"))
    report = {
        "prompt": a.prompt, "negatives": a.negative or [], "model": [m.name for m in res.guide.models],
        "steps": a.steps, "steps_run": res.run.steps_run, "stopped": res.run.stopped, "seed": a.seed,
        "similarities": res.guide.score(res.image.to(res.guide.device)), "loss": res.run.series("loss"),
    }
    js = png.with_suffix(".json")
    js.write_text(json.dumps(report, indent=1))
    print(f"wrote {png} and {js}")
    return 0


def _int_list(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"{what} takes style indices such as 7 or 3,19, got {text!r}") from None


def _float_list(text: str, what: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"{what} takes numbers such as 0.5,0.5, got {text!r}") from None


def _check_stylize(a: argparse.Namespace) -> None:
    from clipedit.checks import check_image_memory

    if (a.style is None) == (a.multistyle is None):
        raise UsageError("give either a style image or --multistyle INDICES (the 26-style network), not both")
    if a.weights is not None and a.multistyle is None:
        raise UsageError("--weights goes with --multistyle")
    _check_common(a, images=(("content", "content image"), ("style", "style image")))
    check_image_memory(a.size, "--size", a.device, bytes_per_pixel=1024)
    if not 0 <= a.strength <= 1:
        raise UsageError(f"--strength must be between 0 and 1, got {a.strength:g}")
    if a.multistyle is not None:
        from clipedit.style.multistyle import style_weights

        weights = None if a.weights is None else _float_list(a.weights, "--weights")
        a.style_vector = style_weights(_int_list(a.multistyle, "--multistyle"), weights)


def _cmd_stylize(a: argparse.Namespace) -> int:
    from clipedit.imageio import load_image, save_image
    from clipedit.style.arbitrary import load_arbitrary_style, stylize

    if a.multistyle is not None:
        from clipedit.style.multistyle import multistylize

        content = load_image(a.content, a.size)
        styled = multistylize(content, a.style_vector, size=None, device=a.device)
        out = a.strength * styled + (1 - a.strength) * content  # strength blends with the photo, as the blog's demo
        png = save_image(out, a.out)
        print(f"wrote {png}")
        return 0
    net = load_arbitrary_style(a.transfer, device=a.device)
    out = stylize(a.content, a.style, a.strength, content_size=a.size, net=net)
    png = save_image(out, a.out)
    print(f"wrote {png}")
    return 0


def _check_style_text(a: argparse.Namespace) -> None:
    from clipedit.checks import check_image_memory

    if a.space == "multistyle" and a.style is not None:
        raise UsageError("--style picks Magenta's start style; the multistyle space starts from the uniform mix")
    _check_common(a, a.prompt, images=(("content", "content image"), ("style", "--style image")))
    check_image_memory(a.size, "--size", a.device)


def _cmd_style_text(a: argparse.Namespace) -> int:
    from clipedit.imageio import save_image
    from clipedit.style.arbitrary import style_transfer_clip

    if a.space == "multistyle":
        from clipedit.style.multistyle import multistyle_clip

        res = multistyle_clip(a.content, a.prompt, negatives=a.negative or None, model=a.model, steps=a.steps,
                              n_augs=a.n_augs, content_size=a.size, seed=a.seed, device=a.device, progress=_bar(a))
        png = save_image(res.image, a.out)
        js = png.with_suffix(".json")
        js.write_text(json.dumps({"prompt": a.prompt, "space": "multistyle", "weights": res.weights.tolist(),
                                  "top": res.top(5), "model": [m.name for m in res.guide.models], "steps": a.steps,
                                  "steps_run": res.run.steps_run, "stopped": res.run.stopped, "seed": a.seed,
                                  "loss": res.run.series("loss")}, indent=1))
        print(f"wrote {png} and {js} (strongest styles: {res.top(3)})")
        return 0

    res = style_transfer_clip(a.content, a.prompt, a.style, negatives=a.negative or None, model=a.model,
                              steps=a.steps, lr=a.lr, l2_weight=a.l2, n_augs=a.n_augs, content_size=a.size,
                              seed=a.seed, device=a.device, progress=_bar(a))
    png = save_image(res.image, a.out)
    emb = png.with_suffix(".embedding.pt")
    import torch

    torch.save({"embedding": res.embedding.cpu(), "start": res.start.cpu(), "prompt": a.prompt}, emb)
    js = png.with_suffix(".json")
    js.write_text(json.dumps({"prompt": a.prompt, "style": a.style, "model": [m.name for m in res.guide.models],
                              "steps": a.steps, "steps_run": res.run.steps_run, "stopped": res.run.stopped,
                              "seed": a.seed, "loss": res.run.series("loss")}, indent=1))
    print(f"wrote {png}, {emb} and {js}")
    return 0


def _check_adjust(a: argparse.Namespace) -> None:
    from clipedit.checks import check_image_file, check_image_memory, check_output
    from clipedit.style.adjustable import LAMBDA_MAX, LAMBDA_MIN, N_STYLE_LAYERS, loss_weights

    check_image_file(a.content, "content image")
    layers = None if a.layer_weights is None else _float_list(a.layer_weights, "--layer-weights")
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
    if a.style.endswith(".pt"):
        if not Path(a.style).is_file():
            raise UsageError(f"adjustable style checkpoint not found: {a.style}")
    else:
        from clipedit.style.adjustable import ADJUSTABLE_STYLES

        if a.style not in ADJUSTABLE_STYLES:
            raise UsageError(f"unknown --style {a.style!r}; choose from {sorted(ADJUSTABLE_STYLES)} or give a .pt file")
    check_output(a.out)
    _check_device(a)
    check_image_memory(a.size, "--size", a.device, bytes_per_pixel=1024)


def _cmd_adjust(a: argparse.Namespace) -> int:
    from clipedit.imageio import save_image
    from clipedit.style.adjustable import adjust

    out = adjust(a.content, a.content_weight, a.style_weight, a.layer_list, style=a.style, content_size=a.size,
                 device=a.device)
    png = save_image(out, a.out)
    print(f"wrote {png}")
    return 0


def _check_draw(a: argparse.Namespace) -> None:
    from clipedit.checks import RENDER_BYTES_PER_PIXEL, check_image_memory

    _check_common(a, a.prompt, images=(("style", "--style image"),))
    if a.canvas is not None:
        check_image_memory(a.canvas, "--canvas", a.device, bytes_per_pixel=RENDER_BYTES_PER_PIXEL)
        check_image_memory(round(a.canvas * a.scale), "--canvas x --scale", a.device, bytes_per_pixel=1024)
    if a.max_width < 2:
        raise UsageError(f"--max-width must be at least 2 pixels (the smallest stroke), got {a.max_width:g}")


def _cmd_draw(a: argparse.Namespace) -> int:
    from clipedit.device import select_device
    from clipedit.draw import clipdraw, styleclipdraw
    from clipedit.guidance import CLIPGuide

    guide = CLIPGuide(a.prompt, negatives=a.negative or None, models=a.model, augment=a.augment, n_augs=a.n_augs,
                      device=select_device(a.device))
    small = max(m.input_resolution for m in guide.models) < 224  # the offline guide: smaller, faster defaults
    # Defaults fill in only what the user left out (never a value they gave, such as --paths 0: refused above).
    steps = a.steps if a.steps is not None else (300 if small else 1000)
    paths = a.paths if a.paths is not None else (128 if small else 256)
    canvas = a.canvas if a.canvas is not None else (128 if small else 224)
    common = dict(guide=guide, num_paths=paths, steps=steps, canvas=canvas, max_width=a.max_width, seed=a.seed,
                  renderer=a.renderer, device=a.device, progress=_bar(a))
    if a.style:
        res = styleclipdraw(a.prompt, a.style, style_weight=a.style_weight, style_loss=a.style_loss,
                            vgg_weights=None if a.vgg == "random" else a.vgg, **common)
    else:
        res = clipdraw(a.prompt, **common)
    files = res.save(a.out, scale=a.scale)
    meta = json.loads(files["json"].read_text())
    meta.update(prompt=a.prompt, negatives=a.negative or [], style=a.style, model=[m.name for m in guide.models],
                steps=steps, paths=paths, canvas=canvas, seed=a.seed)
    files["json"].write_text(json.dumps(meta, indent=1))
    print(f"wrote {files['png']}, {files['svg']} and {files['json']} ({paths} paths, {steps} steps, {canvas}px)")
    return 0


def _check_edit(a: argparse.Namespace) -> None:
    _check_common(a, a.prompt)
    _check_generator(a)  # a generator is a row of the weights table or a file; a latent is always a file
    if a.latent and not Path(a.latent).expanduser().is_file():
        raise UsageError(f"--latent file not found: {a.latent}")
    _check_edit_method(a)


def _check_mapper(a: argparse.Namespace) -> None:
    _check_common(a, a.prompt)
    _check_generator(a)


def _cmd_mapper(a: argparse.Namespace) -> int:
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
    run = train_mapper(a.prompt, G, guide, steps=a.steps, batch=a.batch, lr=a.lr, l2_lambda=a.l2,
                       id_lambda=a.id if ident is not None else 0.0, identity=ident, seed=a.seed, progress=_bar(a))
    path = save_mapper(run.mapper, a.out, a.prompt, {"steps": run.steps, "seconds": round(run.seconds, 1),
                                                      "generator": a.generator or "clipedit/shapes-renderer",
                                                      "model": [m.name for m in guide.models], "log": run.log})
    print(f"wrote {path} ({run.steps} steps, {run.seconds:.0f} s); use it: clipedit edit \"{a.prompt}\" "
          f"--method mapper --mapper {path}")
    return 0


def _check_nada(a: argparse.Namespace) -> None:
    _check_common(a, a.source)
    if not a.target.strip():
        raise UsageError("the target text is empty: say what the generator should draw, e.g. \"a square\"")
    if a.source.strip() == a.target.strip():
        raise UsageError(f"source and target are the same text ({a.source!r}): there is no direction to follow")
    _check_generator(a)
    n = _N_LATENT.get(a.generator)
    if a.layers is not None and n is not None and a.layers > n:
        raise UsageError(f"--layers {a.layers} is more than the generator's {n} W+ layers")


def _cmd_nada(a: argparse.Namespace) -> int:
    import torch

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
             train_noise=a.train_noise, progress=_bar(a))
    path = save_generator(r.generator, a.out, {"source": a.source, "target": a.target, "steps": r.steps,
                                               "train_noise": a.train_noise,
                                               "seconds": round(r.seconds, 1), "layers": r.layer_counts})
    with torch.no_grad():  # before/after on fixed seeds: top row the original, bottom row the adapted generator
        w = torch.cat([G.sample_w(1, truncation=0.7, seed=s) for s in range(8)])
        grid = torch.cat([to_unit(G.synthesis(w)), to_unit(r.generator.synthesis(w))]).cpu()
    import torchvision.utils as vutils

    png = path.with_suffix(".png")
    save_image(vutils.make_grid(grid, nrow=8, padding=1, pad_value=1.0)[None], png)
    print(f"wrote {path} ({r.steps} steps, {r.seconds:.0f} s) and {png}; use it: clipedit edit \"...\" "
          f"--generator {path}")
    return 0


# the bundled generators (clipedit.styleclip.loaders.BUNDLED, named here because that module imports torch) and the
# W+ vectors of the generators the CLI knows by name (argument checks run before torch is imported)
_BUNDLED = ("clipedit/shapes-renderer", "clipedit/shapes-stylegan2")
_N_LATENT = {None: 8, **dict.fromkeys(_BUNDLED, 8), "stylegan2-ffhq-config-f": 18, "stylegan2-ada-ffhq": 18}


def _check_generator(a: argparse.Namespace) -> None:
    from clipedit.weights import WEIGHTS

    if a.generator and a.generator not in WEIGHTS and not Path(a.generator).expanduser().is_file():
        raise UsageError(f"--generator file not found: {a.generator} (names: `clipedit models`)")


def _check_edit_method(a: argparse.Namespace) -> None:
    if a.method == "mapper" and not a.mapper:
        raise UsageError("--method mapper needs --mapper FILE (train one with `clipedit mapper train PROMPT`)")
    if a.mapper and a.method != "mapper":
        raise UsageError("--mapper is used with --method mapper")
    if a.mapper and not Path(a.mapper).expanduser().is_file():
        raise UsageError(f"--mapper file not found: {a.mapper}")
    if a.method == "global":
        if a.beta is not None and not 0 <= a.beta <= 1:
            raise UsageError(f"--beta is a cosine threshold in [0, 1], got {a.beta:g}")
        # default_neutral's rule on the name alone, so refusing stays instant (that module imports torch)
        neutral = a.neutral or ("a shape" if a.generator in (None, *_BUNDLED) else "a face")
        if neutral.strip() == a.prompt.strip():
            raise UsageError(f"the prompt and the neutral text are the same ({neutral!r}): there is no direction")


def _edit_other(a: argparse.Namespace) -> int:
    """``edit --method mapper|global``."""
    import time

    import torch

    from clipedit.imageio import save_image
    from clipedit.styleclip import load_generator, to_unit

    t0 = time.perf_counter()
    if a.method == "global":
        from clipedit.styleclip.global_directions import edit_global

        res, before = edit_global(a.prompt, neutral=a.neutral, generator=a.generator, seed=a.seed,
                                  truncation=a.truncation, model=a.model, alpha=a.alpha, beta=a.beta,
                                  n_samples=a.samples, device=a.device, progress=_bar(a))
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
    js = png.with_suffix(".json")
    js.write_text(json.dumps({"prompt": a.prompt, "method": a.method, "generator": a.generator or
                              "clipedit/shapes-renderer", "seed": a.seed, "seconds": round(time.perf_counter() - t0, 3),
                              **info}, indent=1))
    print(f"wrote {png}, {prev} and {js}")
    return 0


def _cmd_edit(a: argparse.Namespace) -> int:
    import torch

    from clipedit.imageio import save_image
    from clipedit.styleclip import styleclip_edit

    if a.method != "optimise":
        return _edit_other(a)

    res = styleclip_edit(a.prompt, generator=a.generator, latent=a.latent, mode=a.mode, seed=a.seed, steps=a.steps,
                         lr=a.lr, l2_lambda=a.l2, id_lambda=a.id, truncation=a.truncation, space=a.space,
                         model=a.model, negatives=a.negative or None, device=a.device, progress=_bar(a))
    png = save_image(res.image, a.out)
    before = save_image(res.before, png.with_name(png.stem + ".before.png"))
    lat = png.with_suffix(".latent.pt")
    torch.save({"latent": res.latent, "start": res.start, "prompt": a.prompt}, lat)
    js = png.with_suffix(".json")
    js.write_text(json.dumps({"prompt": a.prompt, "generator": a.generator or "clipedit/shapes-renderer",
                              "mode": a.mode, "steps": a.steps, "seed": a.seed, "l2_lambda": a.l2, "id_lambda": a.id,
                              "history": res.history}, indent=1))
    print(f"wrote {png}, {before}, {lat} and {js}")
    return 0


def _check_invert(a: argparse.Namespace) -> None:
    _check_common(a, images=(("image", "image"),))
    from clipedit.weights import WEIGHTS

    if a.generator and a.generator not in WEIGHTS and not Path(a.generator).expanduser().is_file():
        raise UsageError(f"--generator file not found: {a.generator} (names: `clipedit models`)")


def _cmd_invert(a: argparse.Namespace) -> int:
    import torch

    from clipedit.imageio import save_image
    from clipedit.styleclip import project

    res = project(a.image, generator=a.generator, steps=a.steps, lr=a.lr, mse=a.mse, perceptual=a.perceptual,
                  vgg_weights=None if a.vgg == "random" else a.vgg, seed=a.seed, device=a.device,
                  progress=_bar(a))
    png = save_image(res.image, a.out)
    lat = png.with_suffix(".latent.pt")
    torch.save({"latent": res.latent, "noise": res.noise}, lat)
    js = png.with_suffix(".json")
    js.write_text(json.dumps({"image": a.image, "generator": a.generator or "clipedit/shapes-renderer",
                              "steps": a.steps, "history": res.history}, indent=1))
    print(f"wrote {png}, {lat} (edit it: clipedit edit \"...\" --latent {lat}) and {js}")
    return 0


def _upscale(images, scale: int | None, smallest: int = 128):
    """Nearest-neighbour upscaling for saving small images (``scale None``: up to at least ``smallest`` px)."""
    import torch.nn.functional as F

    if scale is None:
        scale = max(1, -(-smallest // images.shape[-1]))
    return images if scale == 1 else F.interpolate(images, scale_factor=scale, mode="nearest")


def _check_generate(a: argparse.Namespace) -> None:
    _check_common(a, a.prompt)
    from clipedit.masked.generate import check_generate_args

    check_generate_args([a.prompt], a.steps, a.guidance, a.n, a.temperature, a.model, a.plausibility)


def _cmd_generate(a: argparse.Namespace) -> int:
    from torchvision.utils import make_grid

    from clipedit.imageio import save_image
    from clipedit.masked.generate import generate

    res = generate(a.prompt, model=a.model, n=a.n, steps=a.steps, guidance=a.guidance, temperature=a.temperature,
                   plausibility=a.plausibility, negative=a.negative, seed=a.seed, device=a.device, progress=_bar(a))
    out = a.out.with_suffix(a.out.suffix or ".png")
    images = _upscale(res.images, a.scale)
    written = []
    if len(images) == 1:
        written.append(save_image(images, out))
    else:
        written.append(save_image(make_grid(images, nrow=min(len(images), 8), padding=2, pad_value=1.0)[None], out))
        for i, img in enumerate(images):
            written.append(save_image(img[None], out.with_name(f"{out.stem}_{i}{out.suffix}")))
    js = out.with_suffix(".json")
    js.write_text(json.dumps({"prompt": a.prompt, **res.settings, "n": a.n,
                              "tokens": res.tokens.tolist()}, indent=1))
    print(f"wrote {written[0]}" + (f" (grid) and {len(written) - 1} images beside it" if len(written) > 1 else "")
          + f", and {js}")
    return 0


def _check_vqgan(a: argparse.Namespace) -> None:
    _check_common(a, a.prompt, images=(("init", "--init image"),))
    from clipedit.models.muse import list_generators

    if a.generator not in list_generators() and not Path(a.generator).exists():
        raise UsageError(f"unknown generator {a.generator!r}; choose from {', '.join(list_generators())}, "
                         "a folder in the aMUSEd layout or a .pt file")
    if a.size is not None and a.size % 4:
        raise UsageError(f"--size must be a multiple of the VQ model's downsampling (4 offline, 16 for aMUSEd), "
                         f"got {a.size}")


def _cmd_vqgan(a: argparse.Namespace) -> int:
    from clipedit.imageio import load_image, save_image
    from clipedit.masked.vqgan import vqgan_clip

    init = load_image(a.init) if a.init else None
    res = vqgan_clip(a.prompt, negatives=a.negative or None, generator=a.generator, model=a.model, steps=a.steps,
                     size=a.size, lr=a.lr, n_augs=a.n_augs, quantize=not a.no_quantize, init=init, seed=a.seed,
                     device=a.device, progress=_bar(a))
    png = save_image(_upscale(res.image, a.scale), a.out.with_suffix(a.out.suffix or ".png"))
    js = png.with_suffix(".json")
    js.write_text(json.dumps({"prompt": a.prompt, "generator": a.generator, "model": [m.name for m in res.guide.models],
                              "steps": a.steps, "steps_run": res.run.steps_run, "seed": a.seed,
                              "similarities": res.guide.score(res.image.to(res.guide.device)),
                              "loss": res.run.series("loss")}, indent=1))
    print(f"wrote {png} and {js}")
    return 0


def _load_style_image(path: str):
    from clipedit.imageio import load_image

    try:
        return load_image(path)  # decoded in full: a file truncated past its header is refused here too
    except (OSError, ValueError) as err:
        raise UsageError(f"style image: {err}") from None


def _check_styledrop(a: argparse.Namespace) -> None:
    from clipedit.checks import check_output
    from clipedit.models.muse import list_generators

    check_output(a.out)
    _check_device(a)
    if a.model is not None and a.model not in list_generators() and not Path(a.model).exists():
        raise UsageError(f"unknown model {a.model!r}; choose from {', '.join(list_generators())}, "
                         "a folder in the aMUSEd layout or a .pt file")
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
    if not Path(a.adapter).is_file():
        raise FileNotFoundError(f"adapter file not found: {a.adapter}")
    from clipedit.models.muse import transformer_signature

    ad, meta = load_adapters(a.adapter)  # a few kB: refuses a file that is not an adapter file, in one line
    if "style" not in meta:
        raise UsageError(f"{a.adapter} has no style descriptor: write it with `clipedit styledrop train`")
    model = a.model or meta.get("model", "clipedit/shapes-muse")
    want = transformer_signature(model)
    if want is not None and want != ad.signature:
        raise UsageError(f"{a.adapter} was trained for a backbone with {ad.signature}, but {model} has {want}")


def _styledrop_generator(a: argparse.Namespace, default: str):
    from clipedit.device import select_device
    from clipedit.models.muse import load_masked_generator

    return load_masked_generator(a.model or default, device=select_device(a.device))


def _cmd_styledrop(a: argparse.Namespace) -> int:
    import torch
    from torchvision.utils import make_grid

    from clipedit.imageio import save_image
    from clipedit.styledrop import (PAPER, StyleDropSettings, collect_feedback, load_style, retrain_with_feedback,
                                    sample_style, train_style)
    from clipedit.styledrop.feedback import default_feedback_contents
    from clipedit.styledrop.train import with_settings

    if a.action == "train":
        gen = _styledrop_generator(a, "clipedit/shapes-muse")
        image = _load_style_image(a.image)
        style_name = a.style or Path(a.image).stem.replace("_", " ")
        base = PAPER if a.paper else StyleDropSettings()
        settings = with_settings(base, steps=a.steps, batch=a.batch, lr=a.lr, rank=a.rank, kind=a.kind, seed=a.seed)
        style = train_style(gen, image, [a.content], style_name, settings, progress=_bar(a))
        rounds = [style]
        if a.rounds == 2:
            contents = a.feedback or default_feedback_contents(gen.name, a.content)
            fb = collect_feedback(gen, style, image, contents, n_per_prompt=a.feedback_n, top_k=a.top_k, seed=a.seed,
                                  progress=_bar(a))
            style = retrain_with_feedback(gen, style, image, a.content, fb, settings=settings, progress=_bar(a))
            rounds.append(style)
            grid = make_grid(fb.images, nrow=a.feedback_n, padding=2, pad_value=1.0)
            save_image(_upscale(grid[None], None), a.out.with_name(a.out.stem + "_feedback.png"))
        out = a.out.with_suffix(a.out.suffix or ".pt")
        style.save(out)
        preview = sample_style(gen, style, [a.content], n=4, seed=a.seed, progress=False).images
        ref = torch.nn.functional.interpolate(image.cpu(), size=preview.shape[-2:], mode="bilinear", antialias=True)
        png = save_image(_upscale(make_grid(torch.cat([ref, preview]), nrow=5, padding=2, pad_value=1.0)[None], None),
                         out.with_suffix(".png"))
        js = out.with_suffix(".json")
        js.write_text(json.dumps({**style.meta, "log": style.log}, indent=1))
        print(f"wrote {out} ({out.stat().st_size / 1024:.0f} kB, {style.adapters.num_parameters():,} parameters), "
              f"{png} (style image, then samples) and {js}")
        return 0
    style = load_style(a.adapter)
    gen = _styledrop_generator(a, style.meta.get("model", "clipedit/shapes-muse"))
    res = sample_style(gen, style, [a.prompt], n=a.n, lambda_a=a.lambda_a, lambda_b=a.lambda_b, steps=a.steps,
                       seed=a.seed, progress=_bar(a))
    out = a.out.with_suffix(a.out.suffix or ".png")
    images = _upscale(res.images, a.scale)
    png = save_image(images if len(images) == 1 else make_grid(images, nrow=min(len(images), 8), padding=2,
                                                                pad_value=1.0)[None], out)
    js = out.with_suffix(".json")
    js.write_text(json.dumps({"prompt": a.prompt, "prompts": res.prompts, **res.settings,
                              "adapter": str(a.adapter), "model": gen.name}, indent=1))
    print(f"wrote {png} and {js}")
    return 0


def _cmd_models(a: argparse.Namespace) -> int:
    import clipedit.models  # noqa: F401  (registers the CLIP rows)
    from clipedit.data.paths import find_data
    from clipedit.weights import cache_dir, file_size, weight_files, where

    print(f"cache: {cache_dir()}   (auto: ViT-B/32 when its weights are cached or downloadable, else clipedit/shapes)")
    magenta = find_data("weights/magenta-arbitrary-stylization")
    titles = {"clip": "CLIP models (--model)", "magenta": "Magenta arbitrary style (stylize, style-text)",
              "styleclip": "StyleGAN2 generators and the identity network (edit, invert)",
              "perceptual": "VGG perceptual networks (draw --style, invert, Gatys)",
              "style": "Style networks trained by clipedit (adjust)",
              "masked": "Masked generators (generate --model, vqgan --generator)"}
    for method in {w.method: None for w in weight_files()}:  # every family in the table, none left out
        title = titles.get(method, method)
        print(f"\n{title}:")
        for w in weight_files(method):
            state = where(w, [magenta] if (method == "magenta" and magenta) else [])
            size = f"{file_size(w) / 2**20:.1f} MB" if file_size(w) else "?"
            print(f"  {w.name:38s} {state:9s} {size:>8s}  {w.licence}  {w.description}"
                  + (f"  <{w.url}>" if w.url else ""))
    print("\nAny open_clip model: --model open_clip:ARCH/TAG (pip install 'clipedit[openclip]'); it joins the table.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="clipedit", description="CLIP-guided, text-driven image manipulation")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    g = sub.add_parser("guide", help="optimise an image towards a text prompt")
    g.add_argument("prompt", help='what to draw, e.g. "a red circle"')
    common_options(g, steps=200, out="out.png")
    g.add_argument("--negative", action="append", help="a prompt to avoid (repeatable)")
    g.add_argument("--size", type=positive_int, default=None, help="output side in pixels (default: 2x the model's input)")
    g.add_argument("--param", choices=["pixels", "pyramid"], default="pixels", help="image parameterisation")
    g.add_argument("--augment", choices=["cutouts", "clipdraw", "affine_jitter", "none"], default="cutouts")
    g.add_argument("--n-augs", type=positive_int, default=8, help="augmented views per step (default 8)")
    g.add_argument("--lr", type=positive, default=0.1)
    g.add_argument("--init", default=None, help="start from this image instead of noise")
    SUBCOMMANDS["guide"], CHECKS["guide"] = _cmd_guide, _check_guide

    st = sub.add_parser("stylize", help="arbitrary style transfer (Magenta): content in the style of an image")
    st.add_argument("content", help="content image")
    st.add_argument("style", nargs="?", default=None, help="style image (Magenta's arbitrary network)")
    common_options(st, steps=0, out="stylized.png")
    st.add_argument("--strength", type=finite_float, default=1.0, help="0 = content, 1 = full style (default 1)")
    st.add_argument("--size", type=positive_int, default=384, help="content shorter side (default 384)")
    st.add_argument("--transfer", choices=["fp16", "int8"], default="fp16", help="transfer network weights")
    st.add_argument("--multistyle", default=None, metavar="INDICES",
                    help="the 26-style network instead of a style image: one index (7) or several (3,19), 0-25; "
                         "needs pip install 'clipedit[styles]'")
    st.add_argument("--weights", default=None, help="mixing weights for --multistyle indices, e.g. 0.5,0.5")
    SUBCOMMANDS["stylize"], CHECKS["stylize"] = _cmd_stylize, _check_stylize

    sx = sub.add_parser("style-text", help="StyleTransferCLIP: restyle an image from a text description")
    sx.add_argument("content", help="content image")
    sx.add_argument("prompt", help='the style in words, e.g. "a mosaic of blue and green glass"')
    common_options(sx, steps=100, out="style_text.png")
    sx.add_argument("--style", default=None, help="start style image (default: the content's own style)")
    sx.add_argument("--space", choices=["magenta", "multistyle"], default="magenta",
                    help="optimise Magenta's 100-d style embedding (default) or the 26-style network's mixture weights")
    sx.add_argument("--negative", action="append", help="a prompt to avoid (repeatable)")
    sx.add_argument("--lr", type=positive, default=0.05)
    sx.add_argument("--l2", type=non_negative, default=0.0, help="weight of ||E - E0||^2 (stay near the start style)")
    sx.add_argument("--n-augs", type=positive_int, default=8)
    sx.add_argument("--size", type=positive_int, default=256, help="content shorter side during optimisation")
    SUBCOMMANDS["style-text"], CHECKS["style-text"] = _cmd_style_text, _check_style_text

    ad = sub.add_parser("adjust", help="adjustable style transfer: one network, loss weights chosen at run time")
    ad.add_argument("content", help="content image")
    ad.add_argument("--out", type=Path, default=Path("adjusted.png"), help="output path (default adjusted.png)")
    ad.add_argument("--style", default="starry_night",
                    help="bundled adjustable network (starry_night) or a checkpoint .pt (default starry_night)")
    ad.add_argument("--content-weight", type=positive, default=1.0, help="content weight, 0.1-10 (default 1)")
    ad.add_argument("--style-weight", type=positive, default=1.0,
                    help="style weight, 0.1-10, multiplies every layer weight (default 1)")
    ad.add_argument("--layer-weights", default=None, metavar="A,B,C,D",
                    help="per style layer weights, shallow (colour, fine texture) to deep (larger motifs) (default 1)")
    ad.add_argument("--size", type=positive_int, default=384, help="content shorter side (default 384)")
    ad.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    SUBCOMMANDS["adjust"], CHECKS["adjust"] = _cmd_adjust, _check_adjust

    d = sub.add_parser("draw", help="CLIPDraw: draw a text prompt with vector strokes (PNG + SVG); "
                                    "--style adds StyleCLIPDraw's style loss")
    d.add_argument("prompt", help='what to draw, e.g. "a red circle"')
    common_options(d, steps=0, out="drawing.png")
    d.set_defaults(steps=None)
    next(x for x in d._actions if x.dest == "steps").help = "optimisation steps (default 1000; 300 with the offline guide)"
    d.add_argument("--negative", action="append", help="a prompt to avoid (repeatable, weight 0.3)")
    d.add_argument("--paths", type=positive_int, default=None, help="number of strokes (default 256; 128 with the offline guide)")
    d.add_argument("--canvas", type=positive_int, default=None, help="canvas side (default 224; 128 with the offline guide)")
    d.add_argument("--max-width", type=positive, default=100.0,
                   help="largest full stroke width in pixels (default 100: CLIPDraw's half-width 50)")
    d.add_argument("--augment", choices=["clipdraw", "cutouts", "affine_jitter", "none"], default="clipdraw")
    d.add_argument("--n-augs", type=positive_int, default=4, help="augmented views per step (default 4)")
    d.add_argument("--renderer", choices=["auto", "torch", "diffvg"], default="auto")
    d.add_argument("--scale", type=positive, default=1.0, help="render the PNG at this multiple of the canvas")
    d.add_argument("--style", default=None, help="style image: StyleCLIPDraw")
    d.add_argument("--style-weight", type=non_negative, default=1.0, help="weight of the style loss (default 1)")
    d.add_argument("--style-loss", choices=["strotss", "gram"], default="strotss")
    d.add_argument("--vgg", default="auto", help="VGG-16 weights: auto, imagenet, random or a state-dict path")
    SUBCOMMANDS["draw"], CHECKS["draw"] = _cmd_draw, _check_draw

    e = sub.add_parser("edit", help="StyleCLIP: edit a StyleGAN2 latent towards a text")
    e.add_argument("prompt", help='the edit, e.g. "a person with purple hair"')
    common_options(e, steps=300, out="edit.png")
    e.add_argument("--generator", default=None,
                   help="clipedit/shapes-renderer (default, offline demo), clipedit/shapes-stylegan2 (offline, the "
                        "earlier GAN demo), stylegan2-ffhq-config-f, stylegan2-ada-ffhq, or a .pt/.pkl path")
    e.add_argument("--latent", default=None, help="start latent .pt (e4e/pSp/StyleCLIP or clipedit invert); "
                                                   "default: a seeded truncated sample")
    e.add_argument("--mode", choices=["edit", "free_generation"], default="edit")
    e.add_argument("--lr", type=positive, default=0.1)
    e.add_argument("--l2", type=non_negative, default=0.008, help="lambda_L2 (default 0.008)")
    e.add_argument("--id", type=non_negative, default=0.005, help="lambda_ID, ArcFace identity (default 0.005; faces only)")
    e.add_argument("--truncation", type=non_negative, default=0.7)
    e.add_argument("--space", choices=["w+", "w"], default="w+")
    e.add_argument("--negative", action="append", help="a prompt to avoid (repeatable)")
    e.add_argument("--method", choices=["optimise", "mapper", "global"], default="optimise",
                   help="optimise (latent optimisation, default), mapper (a trained --mapper file) or global "
                        "(global directions in StyleSpace)")
    e.add_argument("--mapper", default=None, help="--method mapper: the file from `clipedit mapper train`")
    e.add_argument("--alpha", type=finite_float, default=None,
                   help="--method global: edit strength α (default 2 on the demo generator, else StyleCLIP's 4.1)")
    e.add_argument("--beta", type=non_negative, default=None,
                   help="--method global: relevance threshold β in [0, 1] (default 0.4 on the demo generator, else "
                        "StyleCLIP's 0.15)")
    e.add_argument("--neutral", default=None,
                   help='--method global: the neutral text (default "a shape" for the demo, "a face" otherwise)')
    e.add_argument("--samples", type=positive_int, default=100,
                   help="--method global: images per channel when measuring fs3 once per generator (default 100)")
    SUBCOMMANDS["edit"], CHECKS["edit"] = _cmd_edit, _check_edit

    mp = sub.add_parser("mapper", help="StyleCLIP latent mapper: train one for a prompt")
    mpsub = mp.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    mt = mpsub.add_parser("train", help="train a mapper for PROMPT on sampled latents")
    mt.add_argument("prompt", help='the edit, e.g. "a blue circle"')
    common_options(mt, steps=400, out="mapper.pt")
    mt.add_argument("--generator", default=None, help="as for edit (default: the offline demo generator)")
    mt.add_argument("--batch", type=positive_int, default=8, help="latents per step (default 8)")
    mt.add_argument("--lr", type=positive, default=0.5, help="Adam learning rate (default 0.5, equalised-lr layers)")
    mt.add_argument("--l2", type=non_negative, default=0.8, help="lambda_L2 (default 0.8)")
    mt.add_argument("--id", type=non_negative, default=0.1, help="lambda_ID, ArcFace identity (default 0.1; faces only)")
    SUBCOMMANDS["mapper"], CHECKS["mapper"] = _cmd_mapper, _check_mapper

    nd = sub.add_parser("nada", help="StyleGAN-NADA: shift a generator's domain from SOURCE text to TARGET text")
    nd.add_argument("source", help='what the generator draws now, e.g. "a circle"')
    nd.add_argument("target", help='what it should draw, e.g. "a square"')
    common_options(nd, steps=300, out="nada.pt")
    nd.add_argument("--generator", default=None, help="as for edit (default: the offline demo generator)")
    nd.add_argument("--layers", type=positive_int, default=None,
                    help="k: W+ layers trained per step, chosen adaptively (default: all)")
    nd.add_argument("--batch", type=positive_int, default=2, help="latents per step (default 2)")
    nd.add_argument("--lr", type=positive, default=0.002, help="Adam learning rate (default 0.002)")
    nd.add_argument("--train-noise", action="store_true",
                    help="also train the layers' noise strengths, as NADA's code does (off: on the demo they became a "
                         "texture over the whole image)")
    SUBCOMMANDS["nada"], CHECKS["nada"] = _cmd_nada, _check_nada

    iv = sub.add_parser("invert", help="project an image into a StyleGAN2 generator (W+ latent + noise)")
    iv.add_argument("image", help="the image to invert")
    common_options(iv, steps=500, out="inverted.png")
    iv.add_argument("--generator", default=None, help="as for edit (default: the offline demo generator)")
    iv.add_argument("--lr", type=positive, default=0.1)
    iv.add_argument("--mse", type=non_negative, default=1.0, help="pixel MSE weight")
    iv.add_argument("--perceptual", type=non_negative, default=1.0, help="VGG-16 perceptual weight")
    iv.add_argument("--vgg", default="auto", help="VGG-16 weights: auto, imagenet, random or a path")
    SUBCOMMANDS["invert"], CHECKS["invert"] = _cmd_invert, _check_invert

    gn = sub.add_parser("generate", help="text to image with a masked generative transformer (Muse / aMUSEd)")
    gn.add_argument("prompt", help='what to generate, e.g. "a blue star"')
    common_options(gn, steps=12, out="generated.png")
    next(x for x in gn._actions if x.dest == "steps").help = "decoding steps (default 12)"
    gm = next(x for x in gn._actions if x.dest == "model")
    gm.default, gm.help = "clipedit/shapes-muse", ("clipedit/shapes-muse (default, bundled), amused/amused-256, "
                                                   "a folder in the aMUSEd layout or a .pt file")
    gn.add_argument("--n", type=positive_int, default=1, help="images to generate (default 1)")
    gn.add_argument("--guidance", type=finite_float, default=3.0, help="classifier-free guidance scale (default 3)")
    gn.add_argument("--temperature", type=positive, default=1.0, help="token sampling temperature (default 1)")
    gn.add_argument("--plausibility", type=fraction_below_one, default=0.1,
                    help="with guidance, sample only codes at least this fraction as likely as the prompt's top code "
                         "(default 0.1; 0: plain classifier-free guidance)")
    gn.add_argument("--negative", default=None, help="prompt of the unconditional branch (default: empty)")
    gn.add_argument("--scale", type=positive_int, default=None,
                    help="save images enlarged this many times, nearest neighbour (default: to at least 128 px)")
    SUBCOMMANDS["generate"], CHECKS["generate"] = _cmd_generate, _check_generate

    vq = sub.add_parser("vqgan", help="VQGAN+CLIP: optimise a VQ decoder's latents towards a text prompt")
    vq.add_argument("prompt", help='what to draw, e.g. "a yellow star"')
    common_options(vq, steps=300, out="vqgan.png")
    vq.add_argument("--generator", default="clipedit/shapes-muse",
                    help="whose VQ decoder: clipedit/shapes-muse (default), amused/amused-256, a folder or a .pt file")
    vq.add_argument("--init", default=None, help="start from this image (encode, optimise, decode)")
    vq.add_argument("--negative", action="append", help="a prompt to avoid (repeatable)")
    vq.add_argument("--size", type=positive_int, default=None, help="output side (default: the generator's)")
    vq.add_argument("--lr", type=positive, default=0.1)
    vq.add_argument("--n-augs", type=positive_int, default=32, help="cutouts per step (default 32)")
    vq.add_argument("--no-quantize", action="store_true", help="decode continuous latents (no codebook snapping)")
    vq.add_argument("--scale", type=positive_int, default=None,
                    help="save the image enlarged this many times, nearest neighbour (default: to at least 128 px)")
    SUBCOMMANDS["vqgan"], CHECKS["vqgan"] = _cmd_vqgan, _check_vqgan

    sd = sub.add_parser("styledrop", help="StyleDrop: tune adapters on one style image, then sample in that style")
    sdsub = sd.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    tr = sdsub.add_parser("train", help="tune adapters on ONE style image (round 1, and round 2 with --rounds 2)")
    tr.add_argument("image", help="the style image")
    tr.add_argument("--content", required=True, help='what the style image shows, e.g. "a red circle"')
    tr.add_argument("--style", default=None, help='style descriptor, "… in {style} style" (default: the file name)')
    tr.add_argument("--out", type=Path, default=Path("adapter.pt"), help="adapter file (default adapter.pt)")
    tr.add_argument("--steps", type=positive_int, default=None, help="training steps per round (default 300)")
    tr.add_argument("--rounds", type=int, choices=(1, 2), default=1,
                    help="2: iterative training with feedback (default 1)")
    tr.add_argument("--batch", type=positive_int, default=None, help="batch size (default 8)")
    tr.add_argument("--lr", type=positive, default=None, help="learning rate (default 1e-3)")
    tr.add_argument("--rank", type=positive_int, default=None, help="adapter bottleneck / LoRA rank (default 8)")
    tr.add_argument("--kind", choices=("adapter", "lora"), default=None, help="adapter (default) or lora (peft)")
    tr.add_argument("--paper", action="store_true", help="the paper's scale: 1000 steps, batch 8")
    tr.add_argument("--feedback", nargs="+", default=None,
                    help="round 2: content prompts to sample (default: a built-in set for the model)")
    tr.add_argument("--feedback-n", type=positive_int, default=4, help="round 2: samples per prompt (default 4)")
    tr.add_argument("--top-k", type=positive_int, default=8, help="round 2: images kept (default 8)")
    sp = sdsub.add_parser("sample", help="sample in a learnt style with two-scale guidance")
    sp.add_argument("adapter", help="an adapter file from `clipedit styledrop train`")
    sp.add_argument("prompt", help='the content, e.g. "a blue star" (the style descriptor is appended)')
    sp.add_argument("--out", type=Path, default=Path("styled.png"), help="output image (default styled.png)")
    sp.add_argument("--n", type=positive_int, default=1, help="images (default 1)")
    sp.add_argument("--lambda-a", type=finite_float, default=2.0, help="style guidance λ_A (default 2)")
    sp.add_argument("--lambda-b", type=finite_float, default=3.0, help="text guidance λ_B (default 3)")
    sp.add_argument("--steps", type=positive_int, default=12, help="decoding steps (default 12)")
    sp.add_argument("--scale", type=positive_int, default=None,
                    help="save images enlarged this many times, nearest neighbour (default: to at least 128 px)")
    for x in (tr, sp):
        x.add_argument("--model", default=None,
                       help="backbone: clipedit/shapes-muse (default; sample: the adapter's own), amused/amused-256, "
                            "a folder or a .pt file")
        x.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        x.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
        bar = x.add_mutually_exclusive_group()
        bar.add_argument("--quiet", action="store_true", help="no progress bar")
        bar.add_argument("--progress", action="store_true", help="draw the progress bar even when not on a terminal")
    SUBCOMMANDS["styledrop"], CHECKS["styledrop"] = _cmd_styledrop, _check_styledrop

    m = sub.add_parser("models", help="list every downloadable and bundled weight file and where it is")
    SUBCOMMANDS["models"] = _cmd_models
    del m
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 143 terminated by SIGTERM)."""
    parser = build_parser()
    try:
        a = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a one-line usage error (2)
        return done.code if isinstance(done.code, int) else 0
    from clipedit.interrupt import EXIT_TERMINATED, Terminated, sigterm_as_interrupt
    from clipedit.progress import fresh_line
    from clipedit.weights import ModelUnavailableError

    def fail(message: str) -> int:
        print(f"{fresh_line()}clipedit {a.command}: error: {message}", file=sys.stderr)
        return 2

    try:
        if a.command in CHECKS:
            CHECKS[a.command](a)  # refuse bad input before any model loads
    except (UsageError, ValueError, FileNotFoundError) as err:
        return fail(str(err))
    from clipedit.optim import NonFiniteLossError

    with sigterm_as_interrupt() as term:
        try:
            rc = SUBCOMMANDS[a.command](a)
        except Terminated:
            print(f"{fresh_line()}clipedit {a.command}: terminated before a result existed", file=sys.stderr)
            return EXIT_TERMINATED
        except (UsageError, ValueError, FileNotFoundError, ImportError, ModelUnavailableError,
                NonFiniteLossError) as err:
            return fail(str(err))
    if term.terminated:  # SIGTERM mid-run: the best result so far was saved above
        print(f"clipedit {a.command}: terminated; saved the best result so far", file=sys.stderr)
        return EXIT_TERMINATED
    return rc


if __name__ == "__main__":
    sys.exit(main())
