"""The model registry: names -> weight files -> float32 models, with a verified download cache.

``load_clip(name)`` accepts

* an OpenAI CLIP name (``"ViT-B/32"``, ``"ViT-B/16"``, ``"RN50"``, … see :func:`list_models`): the
  weights are looked up in the cache folder, downloaded from OpenAI's public URL if missing,
  and checked against the SHA-256 published in that URL;
* ``"clipedit/shapes"``: the small offline guide shipped inside the package (trained by
  :mod:`clipedit.training.shapes_guide` on procedural shapes; knows colours and shapes only);
* ``"auto"`` (the default): ViT-B/32 if its weights are cached or can be downloaded, else the
  offline guide, with a one-line notice;
* a path to a checkpoint: an OpenAI TorchScript archive (``ViT-B-32.pt``), a plain OpenAI-format
  state dict, or a ``{"state_dict": ...}`` wrapper.

Cache folder: ``$CLIPEDIT_CACHE`` or ``~/.cache/clipedit``. ``CLIPEDIT_OFFLINE=1`` forbids
downloads. Weights always load in float32 on the CPU, then move to the device.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch

from clipedit.device import select_device
from clipedit.models.openai_clip import ClipConfig, ClipModel, clip_from_state_dict

log = logging.getLogger("clipedit")

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DOWNLOAD_TIMEOUT_S = 10.0
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


class ModelUnavailableError(RuntimeError):
    """Weights are neither cached nor downloadable (offline, blocked or bad checksum)."""


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    Attributes:
        name: registry name.
        filename: file name in the cache (or the bundled asset).
        url: download URL (``None`` for bundled models).
        sha256: expected checksum of the file.
        description: one line for listings.
        loader: builds the :class:`ClipModel` from a local file path (``None`` for weight files that are
            not CLIP models, e.g. style networks, which use :func:`resolve` only).
    """

    name: str
    filename: str
    url: str | None
    sha256: str | None
    description: str
    loader: Callable[[Path, str], ClipModel] | None = None


_REGISTRY: dict[str, ModelSpec] = {}
_LOADED: dict[tuple[str, str], ClipModel] = {}
_VERIFIED: set[Path] = set()


def register_model(spec: ModelSpec) -> None:
    """Add (or replace) a model in the registry."""
    _REGISTRY[spec.name] = spec


def list_models() -> list[str]:
    """Registered model names (plus ``"auto"``)."""
    return ["auto", *_REGISTRY]


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}: choose from {list_models()} or pass a checkpoint path") from None


def cache_dir() -> Path:
    """``$CLIPEDIT_CACHE`` or ``~/.cache/clipedit``."""
    return Path(os.environ.get("CLIPEDIT_CACHE") or Path.home() / ".cache" / "clipedit").expanduser()


def offline() -> bool:
    return os.environ.get("CLIPEDIT_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _where_to_put(spec: ModelSpec) -> str:
    target = cache_dir() / spec.filename
    return (f"Download {spec.url} yourself and put it at {target} (or set CLIPEDIT_CACHE to the folder "
            f"holding {spec.filename}, or pass its path: load_clip('/path/to/{spec.filename}')).")


def download(spec: ModelSpec, timeout: float = DOWNLOAD_TIMEOUT_S, progress: bool = True) -> Path:
    """Fetch ``spec``'s file into the cache, verify its SHA-256 and return the path.

    The file is written to a temporary name and renamed only after the checksum
    matches, so an interrupted or corrupt download never looks cached. Network
    failures raise quickly (``timeout`` seconds per socket operation).

    Raises:
        ModelUnavailableError: offline mode, network error or checksum mismatch; the message names the
            file, where to put it and how to point clipedit at it.
    """
    if spec.url is None:
        raise ModelUnavailableError(f"{spec.name} has no download URL")
    if offline():
        raise ModelUnavailableError(f"CLIPEDIT_OFFLINE is set, not downloading {spec.filename}. {_where_to_put(spec)}")
    folder = cache_dir()
    target = folder / spec.filename
    from tqdm.auto import tqdm

    tmp_path: Path | None = None
    created = not folder.exists()
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as src:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=folder, prefix=spec.filename + ".", suffix=".part")
            tmp_path = Path(name)
            total = int(src.headers.get("Content-Length") or 0) or None
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, disable=not progress,
                                                  desc=f"downloading {spec.filename}") as bar:
                while block := src.read(1 << 16):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
        if spec.sha256 and h.hexdigest() != spec.sha256:
            raise ModelUnavailableError(
                f"checksum mismatch for {spec.filename}: got {h.hexdigest()}, expected {spec.sha256}. "
                f"{_where_to_put(spec)}")
        os.replace(tmp_path, target)
        tmp_path = None
        _VERIFIED.add(target)
        return target
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ModelUnavailableError(
            f"could not download {spec.name} weights ({spec.filename}) from {spec.url}: {reason}. "
            f"{_where_to_put(spec)}") from None
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()
        if created and folder.exists() and not any(folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)  # leave no empty cache folder behind


def resolve(spec: ModelSpec, download_ok: bool = True, search: Sequence[Path] = ()) -> Path:
    """Local path of ``spec``'s weights: bundled, found in ``search`` folders or the cache (checksum verified
    once per process), or downloaded. ``spec`` is any object with ``name``, ``filename``, ``url`` and ``sha256``."""
    if spec.url is None:
        path = ASSETS / spec.filename
        if not path.is_file():
            raise ModelUnavailableError(f"bundled weights {path} are missing: reinstall clipedit")
        return path
    for path in [Path(d) / spec.filename for d in search] + [cache_dir() / spec.filename]:
        if path.is_file():
            if path in _VERIFIED or not spec.sha256 or sha256_file(path) == spec.sha256:
                _VERIFIED.add(path)
                return path
            log.warning("%s does not match its SHA-256 %s; ignoring it", path, spec.sha256)
    if not download_ok:
        raise ModelUnavailableError(f"{spec.filename} is not in {cache_dir()}. {_where_to_put(spec)}")
    return download(spec)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a CLIP checkpoint file into a state dict on the CPU.

    Accepts plain state dicts (``torch.load(weights_only=True)``, no code runs), ``{"state_dict": ...}``
    wrappers, clipedit's compact format, and OpenAI's TorchScript archives (``torch.jit.load``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CLIP checkpoint not found: {path}")
    if _is_torchscript(path):  # OpenAI ships TorchScript archives
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            return {k: v for k, v in torch.jit.load(str(path), map_location="cpu").state_dict().items()}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is neither a state dict nor a TorchScript CLIP archive ({err})") from None
    if isinstance(obj, dict) and obj.get("format") == "clipedit-compact-clip/1":
        return expand_compact(obj)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a CLIP state dict")
    return obj


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def expand_compact(obj: dict) -> dict[str, torch.Tensor]:
    """Rebuild a full OpenAI-format state dict from clipedit's compact checkpoint (only used token rows stored)."""
    cfg = ClipConfig(**{k: (tuple(v) if k == "vision_layers" and isinstance(v, list) else v)
                        for k, v in obj["config"].items()})
    sd = dict(obj["state_dict"])
    emb = torch.zeros(cfg.vocab_size, cfg.transformer_width)
    emb[obj["token_ids"]] = obj["token_rows"].float()
    sd["token_embedding.weight"] = emb
    return sd


def _load_file(path: Path, name: str) -> ClipModel:
    return clip_from_state_dict(read_state_dict(path), name=name)


def load_clip(name: str | os.PathLike = "auto", device: str | torch.device | None = None,
              download_ok: bool = True, cache: bool = True) -> ClipModel:
    """Load a CLIP model by registry name or checkpoint path (see module docstring).

    Args:
        name: ``"auto"``, a registry name, or a path to a checkpoint file.
        device: target device (default: :func:`clipedit.device.select_device`).
        download_ok: allow downloading missing weights.
        cache: reuse a model already loaded in this process for the same name and device.

    Returns:
        A frozen float32 :class:`ClipModel` in eval mode.

    Raises:
        ModelUnavailableError: weights missing and not downloadable (not raised for ``"auto"``).
        FileNotFoundError: a path that does not exist.
        ValueError: unknown name or unreadable checkpoint.
    """
    dev = select_device(device)
    key = (str(name), str(dev))
    if cache and key in _LOADED:
        return _LOADED[key]
    if str(name) == "auto":
        try:
            model = load_clip("ViT-B/32", dev, download_ok=download_ok and not offline(), cache=cache)
        except ModelUnavailableError as err:
            log.debug("auto: %s", err)
            print("clipedit: CLIP ViT-B/32 weights unavailable -> using the offline guide 'clipedit/shapes' "
                  "(a small domain model: simple coloured shapes only).", file=sys.stderr)
            model = load_clip("clipedit/shapes", dev, cache=cache)
    elif str(name) in _REGISTRY:
        spec = _REGISTRY[str(name)]
        model = spec.loader(resolve(spec, download_ok), spec.name)
    elif Path(name).expanduser().exists() or Path(str(name)).suffix.lower() in CHECKPOINT_SUFFIXES:
        model = _load_file(Path(name).expanduser(), str(name))
    else:
        get_spec(str(name))  # raises the "unknown model" error
        raise AssertionError("unreachable")
    model = model.to(dev)
    if cache:
        _LOADED[key] = model
    return model


def _register_builtin() -> None:
    from clip.clip import _MODELS

    for name, url in _MODELS.items():
        register_model(ModelSpec(
            name=name, filename=os.path.basename(url), url=url, sha256=url.split("/")[-2],
            description=f"OpenAI CLIP {name}", loader=_load_file,
        ))
    register_model(ModelSpec(
        name="clipedit/shapes", filename="shapes_guide.pt", url=None, sha256=None,
        description="clipedit's offline guide: a small CLIP trained on procedural coloured shapes (64x64)",
        loader=_load_file,
    ))


_register_builtin()
