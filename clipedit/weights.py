"""The one table of every file clipedit can download, and the one function that fetches them.

Every method's weights are rows of :data:`WEIGHTS` (name, file, URL, SHA-256 where upstream publishes one,
size, licence, and the method that uses it), the way open_clip's ``pretrained.py`` keeps one table beside
one download function. Model families build their networks from a path that :func:`resolve` returns:

* bundled files (``url=None``) live in ``clipedit/assets``;
* other files are looked up in the given search folders (e.g. ``$CLIPEDIT_DATA_DIR``), then the cache
  (``$CLIPEDIT_CACHE`` or ``~/.cache/clipedit``), and downloaded there otherwise;
* ``CLIPEDIT_OFFLINE=1`` forbids downloads; offline, a download fails within seconds with one message that
  names the file, the folder to put it in and how to pass a file the user already has.

>>> spec = get_weights("ViT-B/32")
>>> spec.filename, spec.method, spec.licence
('ViT-B-32.pt', 'clip', 'MIT')
>>> len(spec.sha256)
64
>>> sorted({w.method for w in weight_files()})
['clip', 'magenta', 'masked', 'perceptual', 'style', 'styleclip']
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

log = logging.getLogger("clipedit")

ASSETS = Path(__file__).resolve().parent / "assets"
DOWNLOAD_TIMEOUT_S = 10.0


class ModelUnavailableError(RuntimeError):
    """Weights are neither cached nor downloadable (offline, blocked or bad checksum)."""


@dataclass(frozen=True)
class WeightFile:
    """One downloadable (or bundled) weight file.

    Attributes:
        name: table key, e.g. ``"ViT-B/32"`` or ``"magenta/predict-int8"``.
        filename: file name in the cache (or in ``clipedit/assets`` for bundled files: a file, or a model folder).
        url: download URL (``None`` for bundled files).
        sha256: expected SHA-256 (a full hex digest or a prefix of one), ``None`` where upstream publishes none.
        description: one line for listings.
        size: bytes, where known (approximate for upstream files that publish no size).
        licence: the weights' licence.
        method: the clipedit method family that uses it (``clip``, ``magenta``, ``styleclip``, ``perceptual``…).
        recommended: the settings methods should use with this model when the caller gives none (for example the
            CLIP model to edit a generator with, its neutral text, its global-direction ``(α, β)``). Factories copy
            it onto the model they build (``model.recommended``); method code reads it there and never tests a
            model's name.
    """

    name: str
    filename: str
    url: str | None
    sha256: str | None
    description: str
    size: int | None = None
    licence: str = ""
    method: str = ""
    recommended: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


WEIGHTS: dict[str, WeightFile] = {}
_VERIFIED: set[Path] = set()


def register_weights(spec: WeightFile) -> WeightFile:
    """Add (or replace) a row of the table; returns it."""
    WEIGHTS[spec.name] = spec
    return spec


def get_weights(name: str) -> WeightFile:
    """The table row ``name``.

    Raises:
        ValueError: no such row.
    """
    try:
        return WEIGHTS[name]
    except KeyError:
        raise ValueError(f"no downloadable file named {name!r}; `clipedit models` lists them") from None


def weight_files(method: str | None = None) -> list[WeightFile]:
    """Rows of the table, optionally of one method family, in registration order."""
    return [w for w in WEIGHTS.values() if method is None or w.method == method]


def cache_dir() -> Path:
    """``$CLIPEDIT_CACHE`` or ``~/.cache/clipedit``."""
    return Path(os.environ.get("CLIPEDIT_CACHE") or Path.home() / ".cache" / "clipedit").expanduser()


def offline() -> bool:
    """``CLIPEDIT_OFFLINE`` is set to 1/true/yes: no downloads."""
    return os.environ.get("CLIPEDIT_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def file_size(spec: WeightFile) -> int | None:
    """Bytes of ``spec``'s file: the bundled file's own size, else the table's figure."""
    path = ASSETS / spec.filename
    if spec.url is None and path.is_file():
        return path.stat().st_size
    if spec.url is None and path.is_dir():  # a model folder: its files together
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return spec.size


def where(spec: WeightFile, search: Sequence[Path] = ()) -> str:
    """``"bundled"``, ``"cached"`` (or found in a search folder) or ``"download"``: for listings, no checksum run."""
    if spec.url is None:
        return "bundled"
    if any((Path(d) / spec.filename).is_file() for d in [*search, cache_dir()]):
        return "cached"
    return "download"


def _where_to_put(spec: WeightFile) -> str:
    target = cache_dir() / spec.filename
    return (f"Download {spec.url} yourself and put it at {target} (or set CLIPEDIT_CACHE to the folder "
            f"holding {spec.filename}, or pass the file's path: load_clip('/path/to/{spec.filename}') for CLIP "
            "models, the path argument of the other loaders).")


def _matches(digest: str, expected: str) -> bool:
    return digest.startswith(expected.lower())


def download(spec: WeightFile, timeout: float = DOWNLOAD_TIMEOUT_S, progress: bool | None = None) -> Path:
    """Fetch ``spec``'s file into the cache, verify its SHA-256 and return the path.

    The transfer is ``torch.hub.download_url_to_file``'s (temporary file beside the target, renamed only after
    the hash matches, so an interrupted or corrupt download never looks cached). clipedit adds what it lacks:
    a socket timeout (torch.hub opens URLs without one, so offline it could hang), the offline switch, one
    actionable error message, and no empty cache folder left behind.

    Raises:
        ModelUnavailableError: offline mode, network error or checksum mismatch; the message names the
            file, where to put it and how to point clipedit at it.
    """
    import torch.hub

    from clipedit.progress import progress_enabled

    if spec.url is None:
        raise ModelUnavailableError(f"{spec.name} has no download URL")
    if offline():
        raise ModelUnavailableError(f"CLIPEDIT_OFFLINE is set, not downloading {spec.filename}. {_where_to_put(spec)}")
    folder = cache_dir()
    target = folder / spec.filename
    created = not folder.exists()
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # a row's filename may hold subfolders (aMUSEd's layout)
        torch.hub.download_url_to_file(spec.url, str(target), hash_prefix=(spec.sha256 or "").lower() or None,
                                       progress=progress_enabled(progress))
        _VERIFIED.add(target)
        return target
    except RuntimeError as err:  # torch.hub's hash check
        if "hash" not in str(err):
            raise
        raise ModelUnavailableError(f"checksum mismatch for {spec.filename} ({err}). {_where_to_put(spec)}") from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ModelUnavailableError(
            f"could not download {spec.name} ({spec.filename}) from {spec.url}: {reason}. {_where_to_put(spec)}") from None
    finally:
        socket.setdefaulttimeout(old)
        parent = target.parent
        while parent != folder and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()  # no empty subfolders left behind by a failed download
            parent = parent.parent
        if created and folder.exists() and not any(folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)  # leave no empty cache folder behind


def resolve(spec: WeightFile, download_ok: bool = True, search: Sequence[Path] = ()) -> Path:
    """Local path of ``spec``'s file: bundled, found in ``search`` folders or the cache (checksum verified
    once per process), or downloaded.

    Raises:
        ModelUnavailableError: not bundled/cached and not downloadable (see :func:`download`).
    """
    if spec.url is None:
        path = ASSETS / spec.filename  # a file, or a model folder (clipedit.hub)
        if not path.exists():
            raise ModelUnavailableError(f"bundled weights {path} are missing: reinstall clipedit")
        return path
    for path in [Path(d) / spec.filename for d in search] + [cache_dir() / spec.filename]:
        if path.is_file():
            if path in _VERIFIED or not spec.sha256 or _matches(sha256_file(path), spec.sha256):
                _VERIFIED.add(path)
                return path
            log.warning("%s does not match its SHA-256 %s; ignoring it", path, spec.sha256)
    if not download_ok:
        raise ModelUnavailableError(f"{spec.filename} is not in {cache_dir()}. {_where_to_put(spec)}")
    return download(spec)


# -- the table ------------------------------------------------------------------------------------------------------
_MB = 1 << 20
_OPENAI = "https://openaipublic.azureedge.net/clip/models"
# OpenAI publishes each file's SHA-256 as the folder of its URL (as clip.clip._MODELS lists them).
for _name, _sha, _file, _mb in [
    ("RN50", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", "RN50.pt", 244),
    ("RN101", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599", "RN101.pt", 278),
    ("RN50x4", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd", "RN50x4.pt", 402),
    ("RN50x16", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa", "RN50x16.pt", 630),
    ("RN50x64", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c", "RN50x64.pt", 1260),
    ("ViT-B/32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "ViT-B-32.pt", 338),
    ("ViT-B/16", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f", "ViT-B-16.pt", 335),
    ("ViT-L/14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", "ViT-L-14.pt", 890),
    ("ViT-L/14@336px", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02", "ViT-L-14-336px.pt", 891),
]:
    register_weights(WeightFile(_name, _file, f"{_OPENAI}/{_sha}/{_file}", _sha, f"OpenAI CLIP {_name}",
                                _mb * _MB, "MIT", "clip"))
#: The small offline guides see 64 px: CLIPDraw runs smaller and shorter with them (what was measured, docs/draw.md).
_SMALL_GUIDE = {"draw": {"steps": 300, "num_paths": 128, "canvas": 128}}
register_weights(WeightFile(
    "clipedit/shapes", "shapes-guide", None, None,
    "clipedit's offline guide: a small CLIP trained on procedural coloured shapes (64x64)", None, "MIT", "clip",
    _SMALL_GUIDE))
register_weights(WeightFile(
    "clipedit/shapes-colour", "shapes-guide-colour", None, None,
    "the offline guide after its colour phase (colour read by distance to the palette): the StyleGAN demos' guide",
    None, "MIT", "clip", _SMALL_GUIDE))

_HUB = "https://tfhub.dev/google/lite-model/magenta/arbitrary-image-stylization-v1-256"
for _name, _file, _path, _sha, _size, _what in [
    ("magenta/predict-int8", "style_predict_int8_256.tflite", "int8/prediction",
     "af6ad4b2e7aeba0675f32636082ab915ced5375229a3f8aff7e714c6213f5ed2", 2828838, "style prediction, int8"),
    ("magenta/transfer-fp16", "style_transfer_f16_384.tflite", "fp16/transfer",
     "53b5243ed5aa33e408db7976c8a8e51a90a0f7708fd122a31428cd00fbdf6aa6", 422086, "style transfer, fp16"),
    ("magenta/transfer-int8", "style_transfer_int8_384.tflite", "int8/transfer",
     "7a1550643cf034a4d813c0aa276976cd15da4141b4f1ec3631db1d0d9c8e2cd1", 284398, "style transfer, int8"),
]:
    register_weights(WeightFile(_name, _file, f"{_HUB}/{_path}/1?lite-format=tflite", _sha,
                                f"Magenta arbitrary-image-stylization-v1-256 {_what} TFLite", _size, "Apache-2.0",
                                "magenta"))

#: What the shapes-world generators are edited with when the caller names nothing: the offline guide after its colour
#: phase (its loss for a colour falls as an object's colour nears it), the neutral text of global directions, and
#: the global-direction strength/threshold chosen on the GAN's α/β grid (docs/styleclip.md).
_SHAPES_EDITING = {"guide": "clipedit/shapes-colour", "neutral": "a shape", "global_alpha_beta": [2.0, 0.4]}  # JSON-safe
register_weights(WeightFile(
    "clipedit/shapes-stylegan2", "shapes-stylegan2", None, None,
    "clipedit's earlier 32x32 demo StyleGAN2, a GAN trained on the shapes world", None, "MIT", "styleclip",
    _SHAPES_EDITING))
register_weights(WeightFile(
    "clipedit/shapes-renderer", "shapes-renderer", None, None,
    "clipedit's 32x32 demo StyleGAN2 (the default), trained as a renderer of shapes-world scene codes",
    None, "MIT", "styleclip", _SHAPES_EDITING))
register_weights(WeightFile(
    "clipedit/adjustable-starry-night", "adjustable-starry-night", None, None,
    "clipedit's loss-conditional (adjustable) style network for Starry Night, trained on Magenta's MobileNetV2",
    None, "MIT", "style"))
register_weights(WeightFile(
    "clipedit/shapes-muse", "shapes-muse", None, None,
    "clipedit's masked generator on the shapes world: VQ 32px -> 8x8 of 512 local codes, U-ViT on the offline guide's text",
    None, "MIT", "masked",
    # StyleDrop round 2 scores text with the guide the model was trained on, and samples colour-shape pairs of its
    # world that are not among the evaluation prompts (lab/eval/guided.py's EVAL_PAIRS), so feedback never sees
    # what is judged.
    {"guide": "clipedit/shapes",
     "feedback_contents": ("a red triangle", "a green circle", "a blue square", "a yellow heart", "a purple triangle",
                           "an orange star", "a red cross", "a blue heart")}))
#: aMUSEd-256 (Patil et al. 2024) as rows, one per file of the Hugging Face repository, each cached under
#: ``amused-256/<path>`` so the cache folder has the repository's layout (``from_pretrained`` reads it). Upstream
#: shows each file's SHA-256 only on its web page, which could not be read here: no checksum is pinned. Sizes: the
#: model card gives 803 M parameters in all (CLIP-L/14 text encoder 124 M, ~495 MB in float32); the VQ-GAN and
#: U-ViT files' sizes are not published in a form we could read, so those rows say none.
AMUSED_256_URL = "https://huggingface.co/amused/amused-256/resolve/main/"
for _path, _size in [("model_index.json", 400), ("vqvae/config.json", 1000),
                     ("vqvae/diffusion_pytorch_model.safetensors", None), ("transformer/config.json", 1000),
                     ("transformer/diffusion_pytorch_model.safetensors", None), ("text_encoder/config.json", 1000),
                     ("text_encoder/model.safetensors", 495 * _MB), ("tokenizer/vocab.json", 1 * _MB),
                     ("tokenizer/merges.txt", 512 * 1024), ("tokenizer/special_tokens_map.json", 600),
                     ("tokenizer/tokenizer_config.json", 800)]:
    register_weights(WeightFile(f"amused/amused-256:{_path}", f"amused-256/{_path}", AMUSED_256_URL + _path, None,
                                f"aMUSEd-256 {_path.split('/')[0].removesuffix('.json')}", _size, "openrail++",
                                "masked"))

# Neither StyleGAN2 project nor the ArcFace release publishes a checksum: none is pinned (see docs/models.md).
register_weights(WeightFile(
    "stylegan2-ffhq-config-f", "stylegan2-ffhq-config-f.pt",
    "https://drive.google.com/uc?id=1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT", None,
    "FFHQ 1024x1024 config-f, rosinality format (the StyleCLIP checkpoint)", 381 * _MB,
    "NVIDIA Source Code License-NC", "styleclip", {"neutral": "a face"}))
register_weights(WeightFile(
    "stylegan2-ada-ffhq", "ffhq.pkl", "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl",
    None, "FFHQ 1024x1024, NVIDIA stylegan2-ada-pytorch pickle", 364 * _MB, "NVIDIA Source Code License-NC",
    "styleclip", {"neutral": "a face"}))
register_weights(WeightFile(
    "arcface-ir-se50", "model_ir_se50.pth", "https://drive.google.com/uc?id=1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn", None,
    "ArcFace IR-SE50 face embedding (TreB1eN InsightFace_Pytorch; StyleCLIP's identity network)", 175 * _MB,
    "MIT", "styleclip"))

# torchvision's ImageNet VGGs; the file names carry a SHA-256 prefix, which torch.hub checks.
register_weights(WeightFile(
    "vgg16-imagenet", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af",
    "VGG-16 ImageNet (torchvision): StyleCLIPDraw's style loss, the projector's perceptual loss", 553433881,
    "CC BY 4.0 (Oxford VGG)", "perceptual"))
register_weights(WeightFile(
    "vgg19-imagenet", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "dcbb9e9d",
    "VGG-19 ImageNet (torchvision): Gatys et al.", 574673361, "CC BY 4.0 (Oxford VGG)", "perceptual"))
