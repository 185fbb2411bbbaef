"""What clipedit trains is saved as a folder, loaded by path or by Hugging Face Hub repo id, and pushed to the Hub.

A folder holds ``model.safetensors`` (the tensors: no pickle, nothing runs on load), ``config.json`` (what the
model is, its architecture, what it was trained from and the settings it recommends) and a short model card
``README.md``. The latent mapper, NADA generators, StyleDrop adapters and the adjustable style network are written
this way (``save_mapper``, ``save_generator``, ``TrainedStyle.save``, ``AdjustableStyleNet.save``), and their
loaders take such a folder or a repo id:

>>> import tempfile, torch
>>> folder = save_pretrained(tempfile.mkdtemp() + "/demo", {"w": torch.ones(2)}, {"size": 2}, kind="demo",
...                          card="A demonstration.")
>>> sorted(p.name for p in folder.iterdir())
['README.md', 'config.json', 'model.safetensors']
>>> tensors, config = load_pretrained(folder, kind="demo")
>>> tensors["w"].tolist(), config["size"]
([1.0, 1.0], 2)

A repo id (``owner/name``) is fetched through ``huggingface_hub`` into its cache; offline (``HF_HUB_OFFLINE=1`` or
``CLIPEDIT_OFFLINE=1``) one that is not cached fails at once, in one line that names the folder to pass instead.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch

MODEL_FILE, CONFIG_FILE, CARD_FILE = "model.safetensors", "config.json", "README.md"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_pretrained_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder with ``model.safetensors`` and ``config.json``."""
    p = Path(path).expanduser()
    return (p / MODEL_FILE).is_file() and (p / CONFIG_FILE).is_file()


def looks_like_repo_id(source: str | os.PathLike) -> bool:
    """``owner/name`` that is not a path on this machine."""
    s = os.fspath(source)
    return bool(_REPO_ID.match(s)) and not Path(s).expanduser().exists()


def check_folder_out(path: str | os.PathLike, what: str = "--out") -> Path:
    """Refuse, in one line, an output that cannot be a model folder: an existing file, or a single-file name."""
    p = Path(path).expanduser()
    if p.is_file():
        raise ValueError(f"{what} {os.fspath(path)!r} is a file: clipedit writes a folder (model.safetensors, "
                         "config.json, README.md); give a folder name such as my-model/")
    if p.suffix.lower() in (".pt", ".pth", ".ckpt", ".bin", ".safetensors"):
        raise ValueError(f"{what} {os.fspath(path)!r}: clipedit writes a folder (model.safetensors, config.json, "
                         f"README.md), not a {p.suffix} file; give a folder name such as {p.with_suffix('')}/")
    return p


def save_pretrained(folder: str | os.PathLike, tensors: Mapping[str, torch.Tensor], config: Mapping[str, Any], *,
                    kind: str, card: str, licence: str = "mit") -> Path:
    """Write ``folder/model.safetensors``, ``config.json`` (``config`` plus ``clipedit_kind`` and the version) and
    ``README.md`` (``card`` under a Hub metadata header); returns the folder."""
    from safetensors.torch import save_file

    from clipedit import __version__
    from clipedit.report import write_json

    folder = check_folder_out(folder, "folder")
    folder.mkdir(parents=True, exist_ok=True)
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    save_file(flat, str(folder / MODEL_FILE), metadata={"format": "pt", "clipedit_kind": kind})
    os.chmod(folder / MODEL_FILE, 0o644)  # safetensors writes 0600; a model folder is meant to be shared
    write_json(folder / CONFIG_FILE, {"clipedit_kind": kind, "clipedit_version": __version__, **config})
    (folder / CARD_FILE).write_text(f"---\nlibrary_name: clipedit\nlicense: {licence}\ntags:\n- clipedit\n- {kind}\n---\n\n"
                                    f"{card.strip()}\n")
    return folder


def resolve_pretrained(source: str | os.PathLike) -> Path:
    """The local folder of ``source``: a folder path as it is, or a Hub repo id downloaded (or found) in
    ``huggingface_hub``'s cache.

    Raises:
        FileNotFoundError: a path that is not a clipedit model folder.
        ModelUnavailableError: a repo id that is neither cached nor downloadable (one line, at once offline).
    """
    from clipedit.weights import ModelUnavailableError, offline

    p = Path(source).expanduser()
    if p.exists():
        if not is_pretrained_folder(p):
            raise FileNotFoundError(f"{p} is not a clipedit model folder (it needs {MODEL_FILE} and {CONFIG_FILE})")
        return p
    if not looks_like_repo_id(source):
        raise FileNotFoundError(f"no such model folder: {p}")
    import huggingface_hub

    local_only = offline() or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes")
    try:
        return Path(huggingface_hub.snapshot_download(os.fspath(source), allow_patterns=[MODEL_FILE, CONFIG_FILE,
                                                                                          CARD_FILE],
                                                      local_files_only=local_only, etag_timeout=10))
    except Exception as err:  # offline, not found, no network: one line that says what to do instead
        why = "offline and not cached" if local_only else f"could not be downloaded ({type(err).__name__})"
        raise ModelUnavailableError(f"{source}: {why}; download it where you have a network (huggingface-cli "
                                    f"download {source} --local-dir DIR) and pass the folder DIR instead") from None


def load_pretrained(source: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors (CPU) and the config of a model folder or repo id holding a ``kind``.

    Raises:
        ValueError: the folder holds another kind of model (one line).
    """
    from safetensors.torch import load_file

    folder = resolve_pretrained(source)
    config = json.loads((folder / CONFIG_FILE).read_text())
    if config.get("clipedit_kind") != kind:
        raise ValueError(f"{source} holds a {config.get('clipedit_kind', 'model of another library')}, not a {kind}")
    return load_file(str(folder / MODEL_FILE)), config


_TENSOR = "__tensor__"


def _split(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """``obj`` with every tensor moved into ``tensors`` (under its dotted path) and replaced by a reference."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {_TENSOR: prefix}
    if isinstance(obj, Mapping):
        return {str(k): _split(v, f"{prefix}.{k}" if prefix else str(k), tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{prefix}.{i}" if prefix else str(i), tensors) for i, v in enumerate(obj)]
    return obj


def _join(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        return {k: _join(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj


def save_checkpoint(folder: str | os.PathLike, checkpoint: Mapping[str, Any], *, kind: str, card: str,
                    licence: str = "mit") -> Path:
    """Write a nested checkpoint (dicts and lists holding tensors, numbers and strings) as a model folder: the
    tensors into ``model.safetensors`` under their dotted paths, the rest into ``config.json`` (``"checkpoint"``),
    tensors referenced there by path. :func:`load_checkpoint` gives the same structure back (tuples as lists)."""
    tensors: dict[str, torch.Tensor] = {}
    structure = _split(dict(checkpoint), "", tensors)
    return save_pretrained(folder, tensors, {"checkpoint": structure}, kind=kind, card=card, licence=licence)


def load_checkpoint(source: str | os.PathLike, kind: str) -> dict[str, Any]:
    """The nested checkpoint a :func:`save_checkpoint` folder (or Hub repo id) holds."""
    tensors, config = load_pretrained(source, kind)
    return _join(config["checkpoint"], tensors)


def read_checkpoint(source: str | os.PathLike, kind: str) -> dict[str, Any]:
    """:func:`load_checkpoint`, with one line for a single file (clipedit before 0.3 wrote pickled ``.pt`` files:
    ``python -m lab.convert_assets`` turns one into a folder)."""
    if Path(source).expanduser().is_file():
        raise ValueError(f"{source} is a single file; clipedit reads model folders (model.safetensors, config.json): "
                         "convert an older .pt with python -m lab.convert_assets")
    return load_checkpoint(source, kind)


def push_to_hub(folder: str | os.PathLike, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Upload a model folder to the Hub as ``repo_id`` (created if missing); returns the repo's URL."""
    import huggingface_hub

    if not is_pretrained_folder(folder):
        raise FileNotFoundError(f"{folder} is not a clipedit model folder (it needs {MODEL_FILE} and {CONFIG_FILE})")
    api = huggingface_hub.HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(folder_path=os.fspath(folder), repo_id=repo_id)
    return str(url)


__all__ = ["save_pretrained", "load_pretrained", "save_checkpoint", "load_checkpoint", "read_checkpoint", "resolve_pretrained", "push_to_hub", "is_pretrained_folder",
           "looks_like_repo_id", "check_folder_out", "MODEL_FILE", "CONFIG_FILE", "CARD_FILE"]
