"""Loading StyleGAN2 generators: rosinality ``.pt`` checkpoints, NVIDIA ``.pkl`` files, the bundled demo.

* rosinality/stylegan2-pytorch ``.pt`` (what StyleCLIP uses, e.g. ``stylegan2-ffhq-config-f.pt``): a dict with
  ``g_ema`` (state dict) and ``latent_avg``; read with ``torch.load(weights_only=True)``.
* NVIDIA stylegan2-ada-pytorch / stylegan3 ``.pkl`` (StyleGAN2 architectures): pickles of classes whose source
  code travels inside the file and runs when unpickled normally. :class:`SafeUnpickler` never imports or runs
  any of it: it rebuilds only tensors and plain containers, turns NVIDIA's persistent objects into inert
  records of their state, and refuses every other global with :class:`UnsafePickleError`. The parameters are
  then renamed to rosinality's layout (the two ports share weight conventions: flipped up-convs, affine bias
  with +1 folded in, lr-multiplied mapping weights), so both formats load into the same module.
* ``clipedit/shapes-renderer``: the default 32x32 demo generator, a StyleGAN2 trained as a renderer of
  shapes-world scene codes by :mod:`lab.training.shapes_stylegan` (sharp shapes, every class; docs/styleclip.md).
* ``clipedit/shapes-stylegan2``: the earlier 32x32 demo, a GAN trained by :mod:`lab.training.shapes_gan`
  (softer shapes; 60 % of its samples are read confidently).

Architecture (size, style_dim, n_mlp, channel widths) is inferred from the weights.
"""
from __future__ import annotations

import io
import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path

import torch

from clipedit.styleclip.stylegan2 import Generator, StyleGAN2Config
from clipedit.weights import ModelUnavailableError, WeightFile, get_weights, resolve

RENDERER_NAME = "clipedit/shapes-renderer"
GAN_NAME = "clipedit/shapes-stylegan2"
#: the default generator (``generator=None``): the scene-code renderer.
DEMO_NAME = RENDERER_NAME
#: the generators bundled in ``clipedit/assets`` (offline, shapes world, the offline guide's demos).
BUNDLED = (RENDERER_NAME, GAN_NAME)

#: Public FFHQ checkpoints: rows of the one weights table (:mod:`clipedit.weights`). Neither project publishes a
#: checksum; clipedit checks the architecture it infers from the weights on load.
GENERATORS: dict[str, WeightFile] = {n: get_weights(n) for n in ("stylegan2-ffhq-config-f", "stylegan2-ada-ffhq")}


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle asked for something other than tensors, containers and NVIDIA's persistent-object records."""


class PersistentRecord(dict):
    """What an NVIDIA ``persistence`` object becomes: its ``meta`` (class name, init kwargs, state), inert."""


class _Reconstructed:
    """An inert stand-in for a ``copyreg._reconstructor``-built object (e.g. a torch.nn module): its state."""

    def __init__(self, cls_name: str) -> None:
        self.cls_name, self.state = cls_name, {}

    def __setstate__(self, state) -> None:
        self.state = state


class _EasyDict(dict):
    def __setstate__(self, state) -> None:
        self.update(state)


def _persistent_obj(meta):
    return PersistentRecord(meta)


def _load_storage_bytes(b: bytes):
    return torch.load(io.BytesIO(b), weights_only=True)  # the nested torch.save blob: tensors only


class _Placeholder:
    """A class reference we allow by name only (never imported); instances become :class:`_Reconstructed`."""

    def __init__(self, name: str) -> None:
        self.name = name


def _reconstructor(cls, base, state):
    name = cls.name if isinstance(cls, _Placeholder) else getattr(cls, "__name__", str(cls))
    return _Reconstructed(name)


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only an allow-list of globals (never importing the pickle's own code)."""

    _ALLOWED = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_obj,
        ("dnnlib.util", "EasyDict"): _EasyDict,
        ("copyreg", "_reconstructor"): _reconstructor,
        ("builtins", "object"): object,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("torch", "float32"): torch.float32,
        ("torch", "float16"): torch.float16,
    }

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key in self._ALLOWED:
            return self._ALLOWED[key]
        if module.startswith("torch.nn.modules.") or module == "torch_utils.ops.grid_sample_gradfix":
            return _Placeholder(f"{module}.{name}")  # a plain torch module inside NVIDIA's networks: state only
        if module == "torch" and name.endswith("Storage"):
            return getattr(torch, name)
        raise UnsafePickleError(
            f"refusing to unpickle {module}.{name}: clipedit's .pkl reader only rebuilds tensors and NVIDIA's "
            f"network records, never code from the file. If this is a genuine NVIDIA checkpoint, convert it with "
            f"NVIDIA's own tools to a state dict and load that instead.")


def safe_load_pickle(path: str | os.PathLike):
    with open(path, "rb") as f:
        return SafeUnpickler(f).load()


def _record_state_dict(rec: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a persistent-object tree (``_parameters``, ``_buffers``, ``_modules``) into a state dict."""
    state = rec.get("state") or {}
    out: dict[str, torch.Tensor] = {}
    for kind in ("_parameters", "_buffers"):
        for k, v in (state.get(kind) or {}).items():
            if isinstance(v, torch.Tensor):
                out[prefix + k] = v.detach()
    for k, m in (state.get("_modules") or {}).items():
        if isinstance(m, PersistentRecord):
            out.update(_record_state_dict(m, f"{prefix}{k}."))
        elif isinstance(m, _Reconstructed):
            out.update(_record_state_dict(PersistentRecord(state=m.state), f"{prefix}{k}."))
    return out


def nvidia_to_rosinality(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Rename an NVIDIA StyleGAN2 generator state dict to rosinality's layout; returns ``(g_ema, w_avg)``."""
    if any(re.match(r"synthesis\.L\d+_", k) for k in sd):
        raise ValueError("this is a StyleGAN3 (alias-free) generator; clipedit implements StyleGAN2 — "
                         "use a StyleGAN2 pickle (stylegan2-ada-pytorch, or stylegan3's stylegan2 configs)")
    if "synthesis.b4.const" not in sd:
        raise ValueError("not a StyleGAN2 generator state (no synthesis.b4.const)")
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        m = re.fullmatch(r"mapping\.fc(\d+)\.(weight|bias)", k)
        if m:
            out[f"style.{int(m.group(1)) + 1}.{m.group(2)}"] = v
    out["input.input"] = sd["synthesis.b4.const"][None]
    res = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.torgb\.weight", k)))

    def conv(src: str, dst: str) -> None:
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None]
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"]
        out[f"{dst}.noise.weight"] = sd[f"{src}.noise_strength"].reshape(1)
        out[f"{dst}.activate.bias"] = sd[f"{src}.bias"]

    def torgb(src: str, dst: str) -> None:
        out[f"{dst}.conv.weight"] = sd[f"{src}.weight"][None]
        out[f"{dst}.conv.modulation.weight"] = sd[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = sd[f"{src}.affine.bias"]
        out[f"{dst}.bias"] = sd[f"{src}.bias"].view(1, -1, 1, 1)

    conv("synthesis.b4.conv1", "conv1")
    torgb("synthesis.b4.torgb", "to_rgb1")
    out["noises.noise_0"] = sd["synthesis.b4.conv1.noise_const"][None, None]
    for i, r in enumerate(res[1:]):
        conv(f"synthesis.b{r}.conv0", f"convs.{2 * i}")
        conv(f"synthesis.b{r}.conv1", f"convs.{2 * i + 1}")
        torgb(f"synthesis.b{r}.torgb", f"to_rgbs.{i}")
        out[f"noises.noise_{2 * i + 1}"] = sd[f"synthesis.b{r}.conv0.noise_const"][None, None]
        out[f"noises.noise_{2 * i + 2}"] = sd[f"synthesis.b{r}.conv1.noise_const"][None, None]
    return out, sd.get("mapping.w_avg")


def infer_config(sd: dict[str, torch.Tensor]) -> StyleGAN2Config:
    """Architecture from rosinality-layout weights."""
    style_dim = sd["style.1.weight"].shape[0]
    n_mlp = len({k.split(".")[1] for k in sd if re.fullmatch(r"style\.\d+\.weight", k)})
    n_rgbs = len({k.split(".")[1] for k in sd if re.fullmatch(r"to_rgbs\.\d+\.bias", k)})
    size = 2 ** (n_rgbs + 2)
    widths = [(4, sd["conv1.conv.weight"].shape[1])]
    widths += [(2 ** (i + 3), sd[f"convs.{2 * i}.conv.weight"].shape[1]) for i in range(n_rgbs)]
    return StyleGAN2Config(size=size, style_dim=style_dim, n_mlp=n_mlp, channels=tuple(widths))  # lr_mlp 0.01 as both ports


def _state_from_file(path: Path | str) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, dict | None, dict]:
    """``(state dict, w_avg, config, recommended settings)`` of a generator file, model folder or Hub repo id."""
    from clipedit.hub import load_checkpoint

    if not Path(path).is_file():  # clipedit's own format: a model folder (or a Hub repo id of one)
        ck = load_checkpoint(path, KIND)
        return ck["g_ema"], ck.get("latent_avg"), ck.get("config"), dict(ck.get("recommended") or {})
    path = Path(path)
    if path.suffix == ".pkl":
        data = safe_load_pickle(path)
        rec = data.get("G_ema") if isinstance(data, dict) else None
        if not isinstance(rec, PersistentRecord):
            raise ValueError(f"{path.name}: no G_ema network record in this pickle")
        sd, w_avg = nvidia_to_rosinality(_record_state_dict(rec))
        return sd, w_avg, None, {}
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path.name}: expected a dict checkpoint")
    if "g_ema" in ckpt:
        return ckpt["g_ema"], ckpt.get("latent_avg"), ckpt.get("config"), dict(ckpt.get("recommended") or {})
    if "style.1.weight" in ckpt:
        return ckpt, None, None, {}
    raise ValueError(f"{path.name}: neither a rosinality checkpoint (g_ema, latent_avg) nor a generator state dict")


def _reason(err: Exception) -> str:
    """A short, one-line cause (torch's weights_only refusal is a page of advice: keep its first sentence)."""
    if isinstance(err, pickle.UnpicklingError) and "Weights only load failed" in str(err):
        return "it holds pickled Python objects, which clipedit never unpickles"
    if isinstance(err, ValueError):  # our own readers' reasons (no G_ema record, not a dict …)
        return str(err).splitlines()[0][:160]
    return f"corrupt, truncated or another format; the reader said {type(err).__name__}"


def load_generator(source: str | os.PathLike | None = None, device: str | torch.device | None = None,
                   download: bool = True) -> Generator:
    """A ready generator (eval mode, no grad) from a name, a model folder or Hub repo id (what :func:`save_generator`
    writes, e.g. a NADA result), a ``.pt``/``.pkl`` path, or the bundled demo (``None``).

    Names: the bundled ``clipedit/shapes-renderer`` (the default) and ``clipedit/shapes-stylegan2`` (:data:`BUNDLED`), and the
    FFHQ checkpoints in :data:`GENERATORS` (downloaded to the clipedit cache; offline a clear
    :class:`ModelUnavailableError` says where to put the file).
    """
    from clipedit.device import select_device

    name = DEMO_NAME if source is None else str(source)
    recommended: dict = {}
    if name in BUNDLED:
        path = resolve(get_weights(name))  # bundled: clipedit/assets
        recommended = dict(get_weights(name).recommended)
    elif name in GENERATORS:
        path = resolve(GENERATORS[name], download_ok=download)
        recommended = dict(GENERATORS[name].recommended)
    else:
        from clipedit.hub import is_pretrained_folder, looks_like_repo_id

        path = Path(name).expanduser()
        if not (path.is_file() or is_pretrained_folder(path) or looks_like_repo_id(name)):
            raise FileNotFoundError(f"generator checkpoint not found: {path} (names: {[*BUNDLED, *GENERATORS]}, a "
                                    "model folder or a Hub repo id)")
    try:
        sd, w_avg, config, in_file = _state_from_file(path if path.exists() else name)
    except (UnsafePickleError, ModelUnavailableError):
        raise
    except Exception as err:  # truncated, random bytes, a pickled object in a .pt, an HTML page from Google Drive
        if name in GENERATORS:
            raise ModelUnavailableError(f"{path} is not a readable checkpoint; Google Drive links often need a "
                                        f"browser: download {GENERATORS[name].url} by hand and put it at {path}") from None
        raise ValueError(f"{path} is not a StyleGAN2 checkpoint clipedit can read ({_reason(err)}): expected a "
                         f"rosinality .pt (g_ema, latent_avg) or an NVIDIA stylegan2-ada .pkl; get one from "
                         f"`clipedit models` ({', '.join(GENERATORS)}) or train the demo with "
                         "python -m lab.training.shapes_gan") from None
    cfg = StyleGAN2Config(**{**config, "channels": tuple(map(tuple, config["channels"])) if config.get("channels") else None}) \
        if config else infer_config(sd)
    G = Generator(cfg)
    missing, unexpected = G.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.startswith("noises.") and not k.endswith((".blur.kernel", ".upsample.kernel"))]
    if missing or unexpected:
        raise ValueError(f"{path.name}: weights do not fit a StyleGAN2 generator (missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]})")
    if w_avg is not None:
        G.latent_avg.copy_(w_avg.reshape(-1))
    G.source = name  # what it was loaded from, for messages and reports
    G.recommended = {**recommended, **in_file}  # the table row's settings, or those the file carries
    return G.to(select_device(device)).eval().requires_grad_(False)


KIND = "stylegan2-generator"


def save_generator(G: Generator, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write ``G`` as a model folder (:mod:`clipedit.hub`): ``model.safetensors`` (its weights and ``latent_avg``)
    and ``config.json`` (the architecture, the settings it recommends, so an adapted generator keeps the guide it is
    edited with, and ``meta``: what it was trained from), with a model card. :func:`load_generator` and ``clipedit
    edit --generator`` read it; returns the folder."""
    from clipedit.hub import save_checkpoint

    meta = {"trained_from": getattr(G, "source", None), **dict(meta or {})}
    made = (f"adapted by StyleGAN-NADA from \"{meta['source']}\" to \"{meta['target']}\"" if "source" in meta
            else "saved by clipedit")
    card = (f"A StyleGAN2 generator ({G.size} px, {G.n_latent} W+ vectors), {made}, from "
            f"{meta['trained_from'] or 'a generator'}.\n\nUse it: `clipedit edit \"...\" --generator {Path(path).name}`")
    return save_checkpoint(path, {"g_ema": G.state_dict(), "latent_avg": G.latent_avg, "config": G.config.to_dict(),
                                  "recommended": dict(getattr(G, "recommended", {})), "meta": meta},
                           kind=KIND, card=card)


def recommended_settings(generator: str | os.PathLike | Generator | None) -> dict:
    """The settings ``generator`` recommends for editing (``{}`` where it recommends none): a loaded module's
    ``recommended`` attribute, or the weights-table row of a name (``None``: the default generator).

    >>> recommended_settings(None)["guide"], recommended_settings("stylegan2-ffhq-config-f")["neutral"]
    ('clipedit/shapes-colour', 'a face')
    """
    if isinstance(generator, Generator):
        return dict(getattr(generator, "recommended", {}))
    name = DEMO_NAME if generator is None else str(generator)
    if name in BUNDLED or name in GENERATORS:
        return dict(get_weights(name).recommended)
    return {}


def guide_for(generator: str | os.PathLike | Generator | None, model=None):
    """The CLIP model to edit ``generator`` with: ``model``, unless it is ``"auto"`` (or ``None``); then the guide the
    generator recommends (:func:`recommended_settings`), else ``"auto"``.

    >>> guide_for(None, "auto"), guide_for("stylegan2-ffhq-config-f", "auto"), guide_for(None, "clipedit/shapes")
    ('clipedit/shapes-colour', 'auto', 'clipedit/shapes')
    """
    if model not in (None, "auto"):
        return model
    return recommended_settings(generator).get("guide", "auto")


__all__ = ["GENERATORS", "DEMO_NAME", "RENDERER_NAME", "GAN_NAME", "BUNDLED", "guide_for", "recommended_settings", "SafeUnpickler", "UnsafePickleError",
           "safe_load_pickle", "load_generator", "nvidia_to_rosinality", "infer_config"]
