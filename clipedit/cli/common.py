"""What every subcommand shares: one-line usage errors, argument types, the common options and first checks.

Torch-free: ``clipedit --help`` and every refusal of bad input answer before torch is imported.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import NoReturn


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


def run_options(p: argparse.ArgumentParser, seed: bool = True) -> None:
    """``--seed`` (where the run draws random numbers), ``--device`` and the progress-bar switches."""
    if seed:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--quiet", action="store_true", help="no progress bar")
    bar.add_argument("--progress", action="store_true",
                     help="draw the progress bar even when stderr is not a terminal (default: only on a terminal)")


def common_options(p: argparse.ArgumentParser, steps: int | None, out: str, *, steps_help: str | None = None,
                   model: str = "auto", model_help: str | None = None, out_help: str | None = None) -> None:
    """The options every optimising subcommand shares: ``--out``, ``--steps``, ``--model`` and :func:`run_options`.
    ``steps`` is the library's default (``None``: the library decides, ``steps_help`` says how)."""
    p.add_argument("--out", type=Path, default=Path(out), help=out_help or f"output path (default {out})")
    p.add_argument("--steps", type=positive_int, default=steps,
                   help=steps_help or f"optimisation steps (default {steps})")
    p.add_argument("--model", default=model,
                   help=model_help or ("CLIP model: auto, ViT-B/32, RN50, open_clip:ARCH/TAG, clipedit/shapes or a "
                                       "checkpoint path (default auto)"))
    run_options(p)


def video_options(p: argparse.ArgumentParser, unit: str = "steps", default: str | None = None) -> None:
    """``--video PATH`` and ``--every K``: the run as an animation (:func:`clipedit.animation.save_animation`)."""
    p.add_argument("--video", type=Path, default=None,
                   help="also write the run as an animation: a .gif, or an .mp4 (pip install 'clipedit[video]')")
    p.add_argument("--every", type=positive_int, default=None,
                   help=f"with --video: a frame every K {unit} (default: {default or f'about {FRAMES} frames in all'})")


#: About how many frames ``--video`` keeps when ``--every`` is not given.
FRAMES = 40


def frames_every(a: argparse.Namespace, steps: int) -> int | None:
    """The ``callback_every`` that ``--video``/``--every`` ask for over ``steps`` (``None``: no video)."""
    if getattr(a, "video", None) is None:
        return None
    return a.every or max(1, steps // FRAMES)


def write_video(a: argparse.Namespace, frames) -> str:
    """Write ``--video`` from ``frames``; returns ``" and VIDEO"`` for the command's closing line (or ``""``)."""
    if getattr(a, "video", None) is None:
        return ""
    from clipedit.animation import save_animation

    return f" and {save_animation(frames, a.video)} ({len(frames)} frames)"


def mask_option(p: argparse.ArgumentParser) -> None:
    """``--mask PATH``: edit only a region (:mod:`clipedit.masks`)."""
    p.add_argument("--mask", default=None,
                   help="edit only this region: an image whose white may change and black stays (grey: soft edge); "
                        "resized to the image if its size differs")


def check_mask(a: argparse.Namespace, image_dest: str | None = None, what: str = "") -> None:
    """Refuse a ``--mask`` before any work: it must be a readable image that is not black everywhere and, with an
    ``image_dest``, needs that image; a mask of another size than the image is resized, with a one-line notice."""
    if getattr(a, "mask", None) is None:
        return
    from clipedit.checks import check_image_file
    from clipedit.masks import as_mask

    if image_dest is not None and not getattr(a, image_dest, None):
        raise UsageError(f"--mask edits a region of an image: give {what} too")
    if getattr(a, "inputs", None) is not None:
        raise UsageError("--mask goes with one input image, not a folder")
    check_image_file(a.mask, "--mask")
    m = as_mask(a.mask)  # refuses a mask that is black everywhere, in one line
    if image_dest is None:
        return
    from PIL import Image

    with Image.open(getattr(a, image_dest)) as im:
        size = (im.height, im.width)
    if tuple(m.shape[-2:]) != size:
        import sys

        print(f"clipedit: --mask is {m.shape[-1]}x{m.shape[-2]}, the image {size[1]}x{size[0]}: resized to fit",
              file=sys.stderr)


def progress_flag(a: argparse.Namespace) -> bool | None:
    """``--quiet`` → False, ``--progress`` → True, neither → None (a bar only on a terminal)."""
    return False if a.quiet else (True if a.progress else None)


def check_device(a: argparse.Namespace) -> None:
    """Refuse an unknown or absent ``--device``. The default and ``cpu`` are always there, so they are accepted
    without importing torch (two seconds): argument errors answer at once."""
    if a.device not in (None, "cpu"):
        from clipedit.device import select_device

        select_device(a.device)


def check_common(a: argparse.Namespace, prompt: str | None = None, images: tuple[tuple[str, str], ...] = (),
                 many: str | None = None, default_out: str = "", out_folder: bool = False) -> None:
    """What every subcommand checks first: the prompt, input images, the output path and the device.

    ``many`` names the input that may also be a folder or a glob (:mod:`clipedit.cli.batch`): then ``a.inputs`` lists
    its files and ``a.out_dir`` is the output folder (``--out``, or ``default_out`` without its suffix); otherwise
    ``a.inputs`` is ``None``. ``out_folder``: ``--out`` names a model folder (:mod:`clipedit.hub`), not a file.
    """
    from clipedit.checks import check_image_file, check_output

    if prompt is not None and not prompt.strip():
        raise UsageError("the prompt is empty: describe what you want, e.g. \"a red circle\"")
    a.inputs = None
    if many is not None and getattr(a, many, None):
        from clipedit.cli.batch import check_out_folder, expand, is_many

        if is_many(getattr(a, many)):
            a.inputs = expand(getattr(a, many))
            a.out_dir = check_out_folder(a.out, default_out)
            if getattr(a, "video", None) is not None:
                raise UsageError("--video writes one run: give one input, not a folder")
    for dest, label in images:
        value = getattr(a, dest, None)
        if value and not (a.inputs is not None and dest == many):
            check_image_file(value, label)
    if out_folder:
        from clipedit.hub import CONFIG_FILE, check_folder_out

        check_output(check_folder_out(a.out) / CONFIG_FILE)  # a writable folder (made if missing), not a file
    elif a.inputs is None:
        check_output(a.out)
    if getattr(a, "video", None) is not None:
        from clipedit.animation import check_animation_path

        check_animation_path(a.video)
    elif getattr(a, "every", None) is not None:
        raise UsageError("--every sets the frames of --video: give --video PATH too")
    check_device(a)


def check_model_source(value: str, what: str, names: str = "`clipedit models`") -> None:
    """A model argument is a table name (checked by the caller), an existing file or model folder, or a Hub repo id
    (``owner/name``, fetched or refused when the model loads)."""
    from clipedit.hub import is_pretrained_folder, looks_like_repo_id

    p = Path(value).expanduser()
    if not (p.is_file() or is_pretrained_folder(p) or looks_like_repo_id(value)):
        kind = "folder" if p.is_dir() else "file"
        raise UsageError(f"{what} {kind} not found: {value}" + (" (not a clipedit model folder)" if p.is_dir() else "")
                         + f" (names: {names})")


def check_generator(a: argparse.Namespace) -> None:
    """A StyleGAN2 ``--generator`` is a row of the weights table, a file, a model folder or a Hub repo id."""
    from clipedit.weights import WEIGHTS

    if a.generator and a.generator not in WEIGHTS:
        check_model_source(a.generator, "--generator")


def int_list(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"{what} takes style indices such as 7 or 3,19, got {text!r}") from None


def float_list(text: str, what: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"{what} takes numbers such as 0.5,0.5, got {text!r}") from None


def upscale(images, scale: int | None, smallest: int = 128):
    """Nearest-neighbour upscaling for saving small images (``scale None``: up to at least ``smallest`` px)."""
    import torch.nn.functional as F

    if scale is None:
        scale = max(1, -(-smallest // images.shape[-1]))
    return images if scale == 1 else F.interpolate(images, scale_factor=scale, mode="nearest")


def save_grid(images, out: Path, scale: int | None = None) -> list[Path]:
    """Save ``(N, 3, H, W)`` images, upscaled: one image as ``out``; several as a grid at ``out`` and each beside it
    (``out_0.png`` …). Returns the paths written, the grid first."""
    from torchvision.utils import make_grid

    from clipedit.imageio import save_image

    images = upscale(images, scale)
    if len(images) == 1:
        return [save_image(images, out)]
    written = [save_image(make_grid(images, nrow=min(len(images), 8), padding=2, pad_value=1.0)[None], out)]
    for i, img in enumerate(images):
        written.append(save_image(img[None], out.with_name(f"{out.stem}_{i}{out.suffix}")))
    return written
