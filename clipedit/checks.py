"""Up-front checks of user input, run before any model loads: each raises ``ValueError`` with one line.

The CLI calls these first, so a bad ``--out``, ``--device`` or ``--size`` is refused in well under a second
instead of after a whole optimisation run.

Devices are checked by :func:`clipedit.device.select_device` itself (one line that lists the devices here):

>>> from clipedit.device import select_device
>>> select_device("nonsense")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown device 'nonsense': use cpu, cuda, cuda:N or mps (available here: cpu...)
>>> check_image_memory(256, "--size", device="cpu")  # a 256 px run is fine
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that need a device's facts, so that a bad path, size or prompt is refused
# before the 2-second torch import.

#: Largest image side clipedit's optimisers accept, whatever the memory (a sanity bound, not a budget).
MAX_SIDE = 8192
#: Working bytes per pixel of one optimised image: parameters, Adam's moments, gradients, the rendered image, the
#: views' sources and autograd's saved intermediates, in float32. Measured peak RSS growth of ``guide_image`` (pixels,
#: 8 cutouts, offline guide): 0.49 kB/px at 1024 px, 0.41 kB/px at 2048 px; 1 kB keeps a 2x margin.
BYTES_PER_PIXEL = 1024
#: The vector renderer's figure: 1024 paths at 512 px peaked at 3.0 GiB (benchmarks/bench_draw.py), about 8.6 kB/px
#: over PyTorch's own 0.9 GiB.
RENDER_BYTES_PER_PIXEL = 12 * 1024


def available_devices() -> list[str]:
    """Device names usable here: ``cpu`` plus ``cuda``/``cuda:N`` and ``mps`` when present."""
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def _memory_limit(device: str) -> tuple[int, str]:
    if device.startswith("cuda"):
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(device))
        return int(total), f"{total / 2**30:.1f} GiB on {device}"
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: trust the side bound alone
        total = 1 << 62
    return int(total), f"{total / 2**30:.1f} GiB of RAM"


def check_image_memory(side: int, what: str = "size", device: str | torch.device | None = None,
                       images: int = 1, bytes_per_pixel: int = BYTES_PER_PIXEL) -> None:
    """Refuse an image side whose optimisation could not fit in memory, before allocating anything.

    Args:
        side: image side in pixels (square). what: the option's name, for the message.
        images: images optimised at once. bytes_per_pixel: estimated working memory per pixel.

    Raises:
        ValueError: ``side < 8``, ``side > MAX_SIDE``, or the estimate exceeds the device's memory; the message
            names the memory needed and the limit.
    """
    if side < 8:
        raise ValueError(f"{what} must be at least 8 pixels, got {side}")
    dev = str(device) if device is not None else "cpu"
    need = side * side * images * bytes_per_pixel
    limit, desc = _memory_limit(dev)
    if side > MAX_SIDE or need > limit:
        raise ValueError(f"{what} {side} would need about {need / 2**30:.1f} GiB of working memory; the limit is "
                         f"{desc} and {MAX_SIDE} px a side: use a smaller {what}")


def check_output(path: str | os.PathLike, what: str = "--out") -> Path:
    """Check that ``path`` can be written as a file: not a folder, and its folder exists (or can be made) and is
    writable. Creates missing parent folders; writes nothing else.

    Raises:
        ValueError: the path is a folder, ends in a separator, or its folder cannot be written.
    """
    raw = os.fspath(path)
    p = Path(raw).expanduser()
    if raw.endswith(("/", os.sep)) or p.is_dir() or p.name in ("", ".", ".."):
        raise ValueError(f"{what} {raw!r} is a folder: give a file name such as {Path(raw) / 'out.png'}")
    parent = p.parent if str(p.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        # A real probe: os.access says yes to root on read-only mounts and pseudo file systems such as /proc.
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".clipedit-probe-"):
            pass
        if p.exists() and not os.access(p, os.W_OK):
            raise PermissionError(f"{p} is read-only")
    except OSError as err:
        reason = err.strerror or str(err)
        raise ValueError(f"{what} {raw!r} cannot be written ({reason})") from None
    return p


def check_image_file(path: str | os.PathLike, what: str = "image") -> Path:
    """Check that ``path`` is an image file PIL can read, within PIL's pixel limit; reads the header only.

    Raises:
        FileNotFoundError: no such file. ValueError: not an image, or over ``PIL.Image.MAX_IMAGE_PIXELS``.
    """
    from clipedit.imageio import open_image

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{what} file not found: {p}")
    open_image(p, decode=False)
    return p
