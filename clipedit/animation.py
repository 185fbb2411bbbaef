"""The optimisation, or the sampler's steps, as an animation: GIF through Pillow, MP4 through imageio-ffmpeg.

Every method that optimises or samples can keep frames through the loop it already runs (``keep_snapshots`` of
:func:`clipedit.optimize`, a step callback of the sampler): ``result.frames`` is a list of ``(B, 3, H, W)`` tensors
in ``[0, 1]`` on the CPU, the first the starting state and the last the result. :func:`save_animation` writes them;
a batch becomes one grid per frame.

>>> import tempfile, torch
>>> from PIL import Image
>>> frames = [torch.full((1, 3, 32, 32), v) for v in (0.0, 0.5, 1.0)]
>>> path = save_animation(frames, tempfile.mkdtemp() + "/run.gif", fps=5)
>>> Image.open(path).n_frames, Image.open(path).size
(3, (128, 128))
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

#: What each suffix needs: ``.gif`` only Pillow (a core dependency), ``.mp4`` the ``video`` extra.
FORMATS = {".gif": None, ".mp4": "imageio_ffmpeg"}
VIDEO_EXTRA = "pip install 'clipedit[video]'"


def check_animation_path(path: str | os.PathLike) -> Path:
    """Refuse, before any work, an animation path clipedit cannot write (one line): an unknown suffix, an MP4 without
    the ``video`` extra, a folder, or a place that cannot be written."""
    from clipedit.checks import check_output

    if Path(path).is_dir() or os.fspath(path).endswith(("/", os.sep)):
        check_output(path, "--video")  # says "is a folder: give a file name"
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"--video {str(path)!r}: write a .gif or an .mp4")
    need = FORMATS[suffix]
    if need is not None and importlib.util.find_spec(need) is None:
        raise ImportError(f"an .mp4 needs imageio-ffmpeg: {VIDEO_EXTRA} (or write a .gif)")
    check_output(path, "--video")
    return path


def frame_grid(frame: torch.Tensor, smallest: int = 128) -> torch.Tensor:
    """One ``(B, 3, H, W)`` frame in ``[0, 1]`` as a single ``(H', W', 3)`` uint8 picture: a batch tiled in a grid,
    small images enlarged (nearest neighbour) to at least ``smallest`` px a side, sides rounded up to a multiple of 16
    (what video codecs want) by padding with white."""
    from torchvision.utils import make_grid

    x = frame.detach().float().cpu().clamp(0, 1)
    if x.dim() == 3:
        x = x[None]
    scale = max(1, -(-smallest // min(x.shape[-2:])))
    if scale > 1:
        x = F.interpolate(x, scale_factor=scale, mode="nearest")
    img = make_grid(x, nrow=min(len(x), 8), padding=2 if len(x) > 1 else 0, pad_value=1.0)
    h, w = img.shape[-2:]
    img = F.pad(img, (0, -w % 16, 0, -h % 16), value=1.0)
    return (img.permute(1, 2, 0) * 255).round().to(torch.uint8)


def save_animation(frames: Sequence[torch.Tensor] | torch.Tensor, path: str | os.PathLike, fps: float = 10,
                   smallest: int = 128) -> Path:
    """Write ``frames`` (a list of ``(B, 3, H, W)`` or ``(3, H, W)`` tensors in ``[0, 1]``, or a ``(T, 3, H, W)``
    tensor) as a GIF (Pillow) or an MP4 (imageio with its ffmpeg, the ``video`` extra); returns the path.

    Raises:
        ValueError: no frames, frames of different sizes, or a suffix other than ``.gif`` / ``.mp4``.
        ImportError: an ``.mp4`` without imageio-ffmpeg (one line naming the extra).
    """
    path = check_animation_path(path)
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to write: run with keep_snapshots=True (or --video) to keep them")
    pictures = [frame_grid(f, smallest).numpy() for f in frames]
    if len({p.shape for p in pictures}) != 1:
        raise ValueError(f"frames differ in size: {sorted({p.shape for p in pictures})}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(p) for p in pictures]
        images[0].save(path, save_all=True, append_images=images[1:], duration=max(20, round(1000 / fps)), loop=0)
    else:
        import imageio.v2 as imageio  # hand-written for neither format: Pillow and imageio do the encoding

        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=16, quality=8,
                                ffmpeg_log_level="error") as writer:
            for p in pictures:
                writer.append_data(p)
    return path


__all__ = ["save_animation", "check_animation_path", "frame_grid", "FORMATS", "VIDEO_EXTRA"]
