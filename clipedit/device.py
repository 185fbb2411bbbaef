"""Device selection: CUDA, then Apple MPS, then CPU; ``CLIPEDIT_DEVICE`` or an argument overrides."""
from __future__ import annotations

import os

import torch


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on.

    Order: the ``device`` argument, the ``CLIPEDIT_DEVICE`` environment variable,
    then the first available of ``cuda``, ``mps``, ``cpu``.

    Raises:
        ValueError: an explicitly requested CUDA/MPS device is not available.
    """
    choice = device if device is not None else os.environ.get("CLIPEDIT_DEVICE") or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(choice)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {choice!r} requested but CUDA is not available (use --device cpu)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {choice!r} requested but Apple MPS is not available (use --device cpu)")
    return dev
