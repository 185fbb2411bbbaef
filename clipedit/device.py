"""Device selection: CUDA, then Apple MPS, then CPU; ``CLIPEDIT_DEVICE`` or an argument overrides.

>>> select_device("cpu")
device(type='cpu')
"""
from __future__ import annotations

import os

import torch


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on.

    Order: the ``device`` argument, the ``CLIPEDIT_DEVICE`` environment variable,
    then the first available of ``cuda``, ``mps``, ``cpu``.

    Raises:
        ValueError: not a device name, or a requested CUDA/MPS device that is not available (one line that
            lists the devices this machine has).
    """
    from clipedit.checks import available_devices

    choice = device if device is not None else os.environ.get("CLIPEDIT_DEVICE") or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    have = ", ".join(available_devices())
    try:
        dev = torch.device(choice)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {str(choice)!r}: use cpu, cuda, cuda:N or mps (available here: {have})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(choice)!r} requested but CUDA is not available (available here: {have})")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(choice)!r} does not exist (available here: {have})")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {str(choice)!r} requested but Apple MPS is not available (available here: {have})")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {str(choice)!r} is not supported: use cpu, cuda, cuda:N or mps (available here: {have})")
    return dev
