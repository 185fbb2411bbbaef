"""OpenAI CLIP models in float32, built from state dicts in OpenAI's key format.

The network code is the PyPI package ``clip-anytorch`` (OpenAI's ``clip``
module, maintained fork): clipedit only infers the architecture from a state
dict, builds it in float32 and wraps it in :class:`ClipModel`, the one interface
every guidance loss talks to. Both OpenAI's TorchScript archives and plain
state-dict files (``torch.save(model.state_dict())``) load.
"""
from __future__ import annotations

import sys
import types
import warnings
from dataclasses import asdict, dataclass
from typing import Sequence, Union

import torch
from torch import nn


def _import_clip():
    """Import OpenAI's ``clip`` package, shimming ``pkg_resources`` if it is missing.

    Both PyPI CLIP packages import ``pkg_resources.packaging`` only to compare
    torch versions; setuptools >= 82 no longer ships ``pkg_resources``. We pin
    setuptools below 82, and fall back to a tiny shim so a newer setuptools
    does not break ``import clip``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "pkg_resources is deprecated" from clip's own import
            import clip  # noqa: F401
    except ModuleNotFoundError as err:
        if err.name != "pkg_resources":
            raise
        import packaging.version

        shim = types.ModuleType("pkg_resources")
        shim.packaging = types.SimpleNamespace(version=packaging.version)  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
        sys.modules.pop("clip", None)
        sys.modules.pop("clip.clip", None)
        import clip  # noqa: F401
    import clip as _clip

    return _clip


clip = _import_clip()
from clip.model import CLIP  # noqa: E402

#: CLIP's input normalisation (RGB mean and std of its training images).
CLIP_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ClipConfig:
    """Architecture of an OpenAI-format CLIP model (the arguments of ``clip.model.CLIP``)."""

    embed_dim: int
    image_resolution: int
    vision_layers: Union[int, tuple[int, int, int, int]]
    vision_width: int
    vision_patch_size: int | None
    context_length: int
    vocab_size: int
    transformer_width: int
    transformer_heads: int
    transformer_layers: int

    @property
    def is_vit(self) -> bool:
        return not isinstance(self.vision_layers, tuple)


#: Shapes of OpenAI's released models, for random-init benchmarks and tests.
KNOWN_CONFIGS: dict[str, ClipConfig] = {
    "ViT-B/32": ClipConfig(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12),
    "ViT-B/16": ClipConfig(512, 224, 12, 768, 16, 77, 49408, 512, 8, 12),
    "RN50": ClipConfig(1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12),
}


def infer_config(state_dict: dict[str, torch.Tensor]) -> ClipConfig:
    """Infer the architecture from an OpenAI-format CLIP state dict.

    Raises:
        ValueError: if keys CLIP needs are missing (not a CLIP checkpoint).
    """
    sd = state_dict
    required = ("text_projection", "positional_embedding", "token_embedding.weight", "ln_final.weight")
    missing = [k for k in required if k not in sd]
    if missing or not any(k.startswith("visual.") for k in sd):
        raise ValueError(f"not an OpenAI-format CLIP state dict (missing keys: {missing or ['visual.*']})")
    if "visual.proj" in sd:
        vision_width = sd["visual.conv1.weight"].shape[0]
        vision_layers: Union[int, tuple] = len(
            [k for k in sd if k.startswith("visual.") and k.endswith(".attn.in_proj_weight")]
        )
        patch = sd["visual.conv1.weight"].shape[-1]
        grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        resolution = patch * grid
    else:
        vision_layers = tuple(
            len({k.split(".")[2] for k in sd if k.startswith(f"visual.layer{b}.")}) for b in (1, 2, 3, 4)
        )
        vision_width = sd["visual.layer1.0.conv1.weight"].shape[0]
        out = round((sd["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
        patch = None
        resolution = out * 32
    width = sd["ln_final.weight"].shape[0]
    return ClipConfig(
        embed_dim=sd["text_projection"].shape[1],
        image_resolution=int(resolution),
        vision_layers=vision_layers,  # type: ignore[arg-type]
        vision_width=int(vision_width),
        vision_patch_size=None if patch is None else int(patch),
        context_length=sd["positional_embedding"].shape[0],
        vocab_size=sd["token_embedding.weight"].shape[0],
        transformer_width=width,
        transformer_heads=width // 64,
        transformer_layers=len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")}),
    )


def build_clip(config: ClipConfig) -> CLIP:
    """A randomly initialised float32 CLIP network of the given architecture (CPU)."""
    return CLIP(**asdict(config)).float()


class ClipModel(nn.Module):
    """The interface every clipedit guidance loss uses: a CLIP model plus its preprocessing facts.

    Attributes:
        name: registry name or file path it was loaded from.
        input_resolution: side length the image encoder expects.
        context_length: token sequence length of the text encoder.
        mean, std: ``(3,)`` normalisation buffers (CLIP's own).
    """

    def __init__(self, model: CLIP, name: str, config: ClipConfig,
                 mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.name = name
        self.config = config
        self.input_resolution = config.image_resolution
        self.context_length = config.context_length
        #: settings methods use with this model when the caller gives none (its weights-table row's, set by
        #: :func:`~clipedit.models.load_clip`), e.g. ``{"draw": {"steps": 300, "num_paths": 128, "canvas": 128}}``.
        self.recommended: dict = {}
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    def tokenize(self, texts: Union[str, Sequence[str]]) -> torch.Tensor:
        """CLIP BPE tokens ``(N, context_length)`` long on this model's device; long texts are truncated."""
        if isinstance(texts, str):
            texts = [texts]
        return clip.tokenize(list(texts), context_length=self.context_length, truncate=True).to(self.device)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Text embeddings ``(N, embed_dim)`` (not normalised) for tokens ``(N, context_length)``."""
        return self.model.encode_text(tokens).float()

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """Image embeddings ``(B, embed_dim)`` (not normalised).

        Args:
            pixels: ``(B, 3, R, R)`` already resized to ``input_resolution`` and
                normalised with ``mean``/``std`` (see :func:`clipedit.guidance.preprocess`).
        """
        return self.model.encode_image(pixels.to(self.dtype)).float()

    def half_(self) -> "ClipModel":
        """Opt in to float16 weights (GPU only: fp16 CLIP fails on CPU). Returns ``self``."""
        if self.device.type == "cpu":
            raise RuntimeError("half precision CLIP needs a GPU; on CPU keep float32")
        from clip.model import convert_weights

        convert_weights(self.model)
        return self


def clip_from_state_dict(state_dict: dict[str, torch.Tensor], name: str = "checkpoint") -> ClipModel:
    """Build a float32 :class:`ClipModel` from an OpenAI-format state dict (any dtype)."""
    sd = {k: v for k, v in state_dict.items() if k not in ("input_resolution", "context_length", "vocab_size")}
    config = infer_config(sd)
    model = build_clip(config)
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    return ClipModel(model, name, config)
