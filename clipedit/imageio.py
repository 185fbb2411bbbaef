"""Loading, checking and saving images: one place for clipedit's input rules.

Conventions everywhere in clipedit: an image tensor is float32 ``(B, 3, H, W)``
with values in ``[0, 1]``. :func:`as_image_batch` converts what it safely can
and raises :class:`ValueError` with a one-line reason for everything else:

* ``(3, H, W)`` gets a batch dimension;
* 1 channel (grayscale) is repeated to RGB;
* 4 channels (RGBA) are composited over a white background;
* NaN/inf or values outside ``[0, 1]`` (e.g. 0-255 or CLIP-normalised input) are errors.

>>> import torch
>>> tuple(as_image_batch(torch.rand(3, 16, 16)).shape)       # a batch dimension is added
(1, 3, 16, 16)
>>> as_image_batch(torch.full((1, 3, 16, 16), 255.0))
Traceback (most recent call last):
...
ValueError: image values must be in [0, 1], got min 255 max 255 (0-255 input? divide by 255; CLIP-normalised input? pass the raw image)
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

ImageLike = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]

_TOL = 1e-4


def as_image_batch(images: torch.Tensor, name: str = "image") -> torch.Tensor:
    """Validate and normalise an image tensor to ``(B, 3, H, W)`` float in ``[0, 1]`` (device kept).

    Raises:
        ValueError: wrong type or rank, unsupported channel count, NaN/inf, values outside [0, 1].
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor (B, 3, H, W) in [0, 1], got {type(images).__name__}")
    x = images
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (B, 3, H, W) or (3, H, W), got {tuple(images.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype} (divide uint8 by 255)")
    c = x.shape[1]
    if c == 1:
        x = x.expand(-1, 3, -1, -1)
    elif c == 4:
        rgb, alpha = x[:, :3], x[:, 3:4]
        x = rgb * alpha + (1 - alpha)
    elif c != 3:
        raise ValueError(f"{name} must have 1, 3 or 4 channels in dim 1, got shape {tuple(images.shape)}")
    if x.shape[-1] < 8 or x.shape[-2] < 8:
        raise ValueError(f"{name} is too small: {tuple(x.shape[-2:])}, need at least 8x8 pixels")
    with torch.no_grad():
        finite = torch.isfinite(x).all()
        if not finite:
            raise ValueError(f"{name} contains NaN or inf values")
        lo, hi = float(x.min()), float(x.max())
    if lo < -_TOL or hi > 1 + _TOL:
        raise ValueError(
            f"{name} values must be in [0, 1], got min {lo:.3g} max {hi:.3g} "
            "(0-255 input? divide by 255; CLIP-normalised input? pass the raw image)"
        )
    return x.float()


def load_image(source: ImageLike, size: int | tuple[int, int] | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Load an image file, PIL image, HWC array or tensor as ``(1, 3, H, W)`` float32 in ``[0, 1]``.

    Grayscale and palette images become RGB; RGBA/LA are composited over white.

    Args:
        size: resize so the *shorter* side is ``size`` (int), or to ``(H, W)`` exactly.
    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is not an image, or the array/tensor is malformed.
    """
    if isinstance(source, torch.Tensor):
        x = as_image_batch(source)
    else:
        if isinstance(source, (str, os.PathLike)):
            pil = open_image(Path(source))
        elif isinstance(source, Image.Image):
            pil = source
        elif isinstance(source, np.ndarray):
            arr = source
            if arr.dtype == np.uint8:
                arr = arr.astype(np.float32) / 255.0
            if arr.ndim == 2:
                arr = arr[..., None]
            if arr.ndim != 3:
                raise ValueError(f"array image must be HxW or HxWxC, got shape {source.shape}")
            return load_image(torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float(), size, device)
        else:
            raise ValueError(f"cannot read an image from {type(source).__name__}")
        pil = _to_rgb(pil)
        x = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        x = as_image_batch(x)
    if size is not None:
        x = resize(x, size)
    return x.to(device) if device is not None else x


def open_image(path: Path, decode: bool = True) -> Image.Image:
    """Open an image file with PIL, refusing files over PIL's pixel limit (``Image.MAX_IMAGE_PIXELS``) before
    decoding them. ``decode=False`` reads the header only (a cheap up-front check).

    Raises:
        FileNotFoundError: no such file. ValueError: not a readable image, or too many pixels (one line).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # PIL only warns between 1x and 2x its limit, and decodes anyway: clipedit refuses from 1x.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if not decode:
                    return im
                im.load()
                return im.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        found = re.search(r"\((\d+) pixels\)", str(err))
        count = f"{int(found.group(1)):,} pixels" if found else "more pixels"
        raise ValueError(f"{path} has {count}, over PIL's limit of {limit:,} (a decompression-bomb guard); "
                         "downscale it first, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file") from None
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path} is not a readable image ({err.__class__.__name__})") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, im).convert("RGB")
    return im.convert("RGB")


def resize(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize ``(B, C, H, W)``: int = shorter side, tuple = exact ``(H, W)``; antialiased bilinear."""
    h, w = images.shape[-2:]
    if isinstance(size, int):
        scale = size / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return torch.nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def to_pil(image: torch.Tensor) -> Image.Image:
    """The first image of a ``(B, 3, H, W)`` or ``(3, H, W)`` tensor in ``[0, 1]`` as a PIL RGB image."""
    x = image.detach()
    if x.dim() == 4:
        x = x[0]
    arr = (x.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(arr)


def save_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Save the first image of a batch as PNG/JPEG (by extension); creates parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    to_pil(image).save(p)
    return p
