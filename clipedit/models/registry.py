"""The model registry: names -> weight files -> float32 models, with a verified download cache.

``load_clip(name)`` accepts

* an OpenAI CLIP name (``"ViT-B/32"``, ``"ViT-B/16"``, ``"RN50"``, … see :func:`list_models`): the
  weights are looked up in the cache folder, downloaded from OpenAI's public URL if missing,
  and checked against the SHA-256 published in that URL;
* ``"clipedit/shapes"``: the small offline guide shipped inside the package (trained by
  :mod:`lab.training.shapes_guide` on procedural shapes; knows colours and shapes only);
* ``"auto"`` (the default): ViT-B/32 if its weights are cached or can be downloaded, else the
  offline guide, with a one-line notice;
* ``"open_clip:ARCH/TAG"``: any open_clip model and pretrained tag (LAION, DataComp, SigLIP, MobileCLIP …), with
  the optional extra ``clipedit[openclip]`` (see :mod:`clipedit.models.openclip`);
* a path to a checkpoint: an OpenAI TorchScript archive (``ViT-B-32.pt``), a plain OpenAI-format
  state dict, or a ``{"state_dict": ...}`` wrapper.

>>> model = load_clip("clipedit/shapes", device="cpu")    # bundled: no download
>>> model.input_resolution, tuple(model.encode_text(model.tokenize("a red circle")).shape)
(64, (1, 128))

Every file is a row of the one weights table, :mod:`clipedit.weights`. Cache folder: ``$CLIPEDIT_CACHE`` or ``~/.cache/clipedit``. ``CLIPEDIT_OFFLINE=1`` forbids
downloads. Weights always load in float32 on the CPU, then move to the device.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from clipedit.device import select_device
from clipedit.models.openai_clip import ClipConfig, ClipModel, clip_from_state_dict
from clipedit.weights import ModelUnavailableError, WeightFile, offline, register_weights, resolve, weight_files

log = logging.getLogger("clipedit")

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
#: The model-folder kind (:mod:`clipedit.hub`) of clipedit's own CLIP models (the offline guides).
COMPACT_KIND = "clip-compact"


@dataclass(frozen=True)
class ModelSpec:
    """A CLIP model the registry can build: its row of the one weights table and the loader that builds it.

    Attributes:
        weights: the file (a row of :data:`clipedit.weights.WEIGHTS`: name, file name, URL, checksum, licence…).
        loader: builds the :class:`ClipModel` from the local file path and the name.
    """

    weights: WeightFile
    loader: Callable[[Path, str], ClipModel] | None = None

    @property
    def name(self) -> str:
        return self.weights.name


_REGISTRY: dict[str, ModelSpec] = {}
_LOADED: dict[tuple[str, str], ClipModel] = {}


def register_model(spec: ModelSpec) -> None:
    """Add (or replace) a CLIP model in the registry; its file joins the one weights table."""
    _REGISTRY[spec.name] = spec
    register_weights(spec.weights)


def list_models() -> list[str]:
    """Registered model names (plus ``"auto"`` and the open_clip weights listed in the table).

    >>> names = list_models()
    >>> names[0], "ViT-B/32" in names, "clipedit/shapes" in names, "open_clip:ViT-B-32/laion2b_s34b_b79k" in names
    ('auto', True, True, True)
    """
    from clipedit.models.openclip import PREFIX

    return ["auto", *_REGISTRY, *[w.name for w in weight_files("clip") if w.name.startswith(PREFIX)]]


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}: choose from {list_models()}, 'open_clip:ARCH/TAG' "
                         "or pass a checkpoint path") from None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a CLIP checkpoint file into a state dict on the CPU.

    Accepts plain state dicts (``torch.load(weights_only=True)``, no code runs), ``{"state_dict": ...}``
    wrappers, clipedit's own models (a model folder in the compact format), and OpenAI's TorchScript archives
    (``torch.jit.load``).
    """
    path = Path(path)
    from clipedit.hub import is_pretrained_folder, load_checkpoint

    if is_pretrained_folder(path):  # clipedit's own models: a folder of safetensors (the compact format inside)
        obj = load_checkpoint(path, COMPACT_KIND)
        return expand_compact(obj) if obj.get("format") == "clipedit-compact-clip/1" else obj["state_dict"]
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
    elif str(name).startswith("open_clip:"):
        from clipedit.models.openclip import load_open_clip

        model = load_open_clip(str(name), download_ok=download_ok and not offline())
    elif str(name) in _REGISTRY:
        spec = _REGISTRY[str(name)]
        model = spec.loader(resolve(spec.weights, download_ok), spec.name)
        model.recommended = dict(spec.weights.recommended)  # settings methods use with it (clipedit.weights)
    elif Path(name).expanduser().exists() or Path(str(name)).suffix.lower() in CHECKPOINT_SUFFIXES:  # file or folder
        model = _load_file(Path(name).expanduser(), str(name))
    else:
        get_spec(str(name))  # raises the "unknown model" error
        raise AssertionError("unreachable")
    model = model.to(dev)
    if cache:
        _LOADED[key] = model
    return model


def _register_builtin() -> None:
    import clipedit.models.openclip  # noqa: F401  (its curated rows join the table)

    for w in weight_files("clip"):
        if not w.name.startswith("open_clip:"):
            _REGISTRY[w.name] = ModelSpec(w, _load_file)


_register_builtin()
