"""Any open_clip model through ``load_clip("open_clip:ARCH/TAG")`` (optional extra ``clipedit[openclip]``).

``ARCH`` is an open_clip architecture (``ViT-B-32``, ``ViT-B-16-SigLIP``, ``MobileCLIP-S1`` …) and ``TAG`` a pretrained
tag (``laion2b_s34b_b79k``, ``webli``, ``datacompdr`` …) or the path of a checkpoint file the user already has.
Named weights are rows of clipedit's one weights table (:mod:`clipedit.weights`): a few popular ones are listed
up front, any other tag open_clip knows joins the table on first use, and every file goes through the same
cached, verified, fail-fast download as OpenAI's CLIP. open_clip itself never touches the network here.

>>> parse_open_clip_name("open_clip:ViT-B-32/laion2b_s34b_b79k")
('ViT-B-32', 'laion2b_s34b_b79k')
>>> open_clip_weights("ViT-B-32", "laion2b_s34b_b79k").filename
'open_clip-ViT-B-32-laion2b_s34b_b79k.safetensors'
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import torch
from torch import nn

from clipedit.models.openai_clip import CLIP_MEAN, CLIP_STD, ClipModel
from clipedit.weights import WEIGHTS, ModelUnavailableError, WeightFile, register_weights, resolve

PREFIX = "open_clip:"
_MB = 1 << 20
_HF = "https://huggingface.co/{}/resolve/main/open_clip_model.safetensors"

# Popular open_clip weights, listed without importing open_clip (hub repository, approximate size, licence).
_CURATED = [
    ("ViT-B-32", "laion2b_s34b_b79k", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", 605, "MIT", "LAION-2B ViT-B/32"),
    ("ViT-B-16", "datacomp_xl_s13b_b90k", "laion/CLIP-ViT-B-16-DataComp.XL-s13B-b90K", 599, "MIT",
     "DataComp-XL ViT-B/16"),
    ("ViT-B-16-SigLIP", "webli", "timm/ViT-B-16-SigLIP", 813, "Apache-2.0", "SigLIP ViT-B/16 (WebLI)"),
    ("MobileCLIP-S1", "datacompdr", "apple/MobileCLIP-S1-OpenCLIP", 343, "Apple ML Research Model Terms",
     "MobileCLIP-S1 (DataCompDR)"),
]


def parse_open_clip_name(name: str) -> tuple[str, str]:
    """``"open_clip:ARCH/TAG"`` -> ``(ARCH, TAG)``; ``TAG`` may be a file path.

    Raises:
        ValueError: not of that form.
    """
    body = name[len(PREFIX):] if name.startswith(PREFIX) else name
    arch, sep, tag = body.partition("/")
    if not arch or not sep or not tag:
        raise ValueError(f"open_clip model names look like 'open_clip:ARCH/TAG' (e.g. "
                         f"'open_clip:ViT-B-32/laion2b_s34b_b79k'), got {name!r}")
    return arch, tag


def _key(arch: str, tag: str) -> str:
    return f"{PREFIX}{arch}/{tag}"


def _row(arch: str, tag: str, url: str, size: int | None, licence: str, what: str, sha256: str | None = None
         ) -> WeightFile:
    ext = ".pt" if url.endswith((".pt", ".bin", ".pth")) else ".safetensors"
    return WeightFile(_key(arch, tag), f"open_clip-{arch}-{tag}{ext}", url, sha256, f"open_clip {what}", size,
                      licence, "clip")


for _arch, _tag, _repo, _mb, _lic, _what in _CURATED:
    register_weights(_row(_arch, _tag, _HF.format(_repo), _mb * _MB, _lic, _what))


def _import_open_clip():
    try:
        import open_clip
    except ImportError:
        raise ImportError("open_clip models need the optional extra: pip install 'clipedit[openclip]' "
                          "(PyPI package open-clip-torch)") from None
    return open_clip


def open_clip_weights(arch: str, tag: str) -> WeightFile:
    """The weights-table row of an open_clip pretrained tag, added on first use from open_clip's own list.

    Raises:
        ValueError: open_clip knows no such architecture/tag pair.
    """
    key = _key(arch, tag)
    if key in WEIGHTS:
        return WEIGHTS[key]
    open_clip = _import_open_clip()
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        known = open_clip.list_pretrained_tags_by_model(arch)
        raise ValueError(f"open_clip has no pretrained weights {arch!r}/{tag!r}"
                         + (f"; tags for {arch}: {', '.join(known)}" if known else "; see open_clip.list_pretrained()"))
    hub = cfg.get("hf_hub", "").rstrip("/")
    if cfg.get("url"):
        url = cfg["url"]
        sha = url.split("/")[-2] if "openaipublic" in url else None  # OpenAI's URLs carry the SHA-256
    elif hub:
        url, sha = _HF.format(hub), None
    else:
        raise ValueError(f"open_clip's {arch}/{tag} has no download location clipedit can use")
    return register_weights(_row(arch, tag, url, None, "see the model card", f"{arch} {tag}", sha))


class OpenClipModel(ClipModel):
    """An open_clip model behind clipedit's :class:`ClipModel` interface (float32, frozen, eval mode).

    Attributes:
        name, input_resolution, context_length, mean, std: as :class:`ClipModel`; ``mean``/``std`` are the
            pretrained tag's own normalisation (SigLIP uses 0.5/0.5, MobileCLIP none).
    """

    def __init__(self, model: nn.Module, name: str, tokenizer, mean: Sequence[float] = CLIP_MEAN,
                 std: Sequence[float] = CLIP_STD) -> None:
        nn.Module.__init__(self)
        self.model = model.float().eval().requires_grad_(False)
        self.name, self.config, self._tokenizer = name, None, tokenizer
        size = getattr(model.visual, "image_size", 224)
        self.input_resolution = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.context_length = int(getattr(tokenizer, "context_length", None) or getattr(model, "context_length", 77))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def tokenize(self, texts: Union[str, Sequence[str]]) -> torch.Tensor:
        """Tokens ``(N, context_length)`` on this model's device, by the architecture's own tokenizer."""
        return self._tokenizer([texts] if isinstance(texts, str) else list(texts)).to(self.device)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(tokens).float()

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels.to(self.dtype)).float()

    def half_(self) -> "OpenClipModel":
        if self.device.type == "cpu":
            raise RuntimeError("half precision CLIP needs a GPU; on CPU keep float32")
        self.model.half()
        return self


def load_open_clip(name: str, download_ok: bool = True) -> OpenClipModel:
    """Build ``open_clip:ARCH/TAG`` on the CPU in float32 (``TAG``: a pretrained tag or a checkpoint path).

    Raises:
        ImportError: open-clip-torch is not installed. ValueError: unknown architecture or tag.
        FileNotFoundError: a checkpoint path that does not exist.
        ModelUnavailableError: the weights are neither cached nor downloadable (one line: where to put them).
    """
    open_clip = _import_open_clip()
    arch, tag = parse_open_clip_name(name)
    if arch not in open_clip.list_models():
        raise ValueError(f"open_clip has no architecture {arch!r}; see open_clip.list_models()")
    as_path = Path(tag).expanduser()
    cfg = {}
    if as_path.suffix in (".pt", ".pth", ".bin", ".safetensors") or os.sep in tag or as_path.exists():
        if not as_path.is_file():
            raise FileNotFoundError(f"open_clip checkpoint not found: {as_path}")
        path = as_path
    else:
        spec = open_clip_weights(arch, tag)
        cfg = open_clip.get_pretrained_cfg(arch, tag) or {}
        path = resolve(spec, download_ok)
    model = open_clip.create_model(arch, pretrained=None, precision="fp32", device="cpu",
                                   force_quick_gelu=bool(cfg.get("quick_gelu", False)))
    try:
        open_clip.load_checkpoint(model, str(path))
    except Exception as err:  # a file of another architecture, or not a checkpoint at all
        raise ValueError(f"{path} does not hold open_clip {arch} weights ({str(err).splitlines()[0][:200]})") from None
    try:
        tokenizer = open_clip.get_tokenizer(arch)
    except Exception as err:  # HF tokenizers (SigLIP) download their vocabulary on first use
        raise ModelUnavailableError(f"the {arch} tokenizer could not be loaded ({str(err).splitlines()[0][:200]}); "
                                    "run once online, or set HF_HOME to a cache that holds it") from None
    pre = getattr(model.visual, "preprocess_cfg", None) or {}
    mean = cfg.get("mean") or pre.get("mean") or CLIP_MEAN
    std = cfg.get("std") or pre.get("std") or CLIP_STD
    return OpenClipModel(model, name, tokenizer, mean, std)
