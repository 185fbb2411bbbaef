"""Loss-conditional ("adjustable") style transfer: one feed-forward network whose loss weights are inputs.

Babaeizadeh & Ghiasi, "Adjustable Real-time Style Transfer" / "You Only Train Once" (ICLR 2020): instead of one
network per setting of the loss weights ``λ`` (content weight, one weight per style layer), train one network
``T(content, λ)`` on ``λ`` sampled log-uniformly per example, with the loss weighted by that example's ``λ``. At
inference the weights become sliders.

:class:`AdjustableStyleNet` is Magenta's transfer-network shape (:class:`~clipedit.models.magenta.StyleTransformer`,
widths 16/32/64, every convolution but the last followed by a conditional instance norm) with an MLP from
``log λ`` to a conditioning vector, and YOTO's FiLM on every norm: ``γ = 1 + 0.1·s(h)``, ``β = 0.1·b(h)``.

``λ`` is ``(content, style_1, …, style_K)``, each a multiplier of a base weight fixed at training time, within
``[LAMBDA_MIN, LAMBDA_MAX]`` (values outside are clamped: the network never saw them).

>>> net = AdjustableStyleNet()
>>> lam = loss_weights(content_weight=1.0, style_weight=0.5)        # (1 + K,)
>>> lam.tolist()
[1.0, 0.5, 0.5, 0.5, 0.5]
>>> net(torch.rand(2, 3, 64, 48), lam).shape                        # any size; output in [0, 1]
torch.Size([2, 3, 64, 48])
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from clipedit.defaults import ADJUST
from clipedit.device import select_device
from clipedit.imageio import ImageLike, load_image
from clipedit.models.magenta import StyleTransformer
from clipedit.weights import WeightFile, get_weights, resolve

LAMBDA_MIN, LAMBDA_MAX = 0.1, 10.0
N_STYLE_LAYERS = 4


@dataclass(frozen=True)
class AdjustableConfig:
    """Architecture of :class:`AdjustableStyleNet` (stored in its checkpoint)."""

    widths: tuple[int, int, int] = (16, 32, 64)
    n_style_layers: int = N_STYLE_LAYERS
    hidden: int = 64
    film: float = 0.1

    @property
    def n_weights(self) -> int:
        return 1 + self.n_style_layers


def loss_weights(content_weight: float = 1.0, style_weight: float = 1.0,
                 layer_weights: Sequence[float] | None = None, n_style_layers: int = N_STYLE_LAYERS) -> torch.Tensor:
    """The ``λ`` vector ``(1 + K,)``: ``[content_weight, style_weight * layer_weights[0], …]`` (layer weights
    default to 1). Each entry must be positive; the network was trained on ``[0.1, 10]``.

    >>> loss_weights(2.0, 0.5, [1, 2, 1, 4]).tolist()
    [2.0, 0.5, 1.0, 0.5, 2.0]
    """
    layers = [1.0] * n_style_layers if layer_weights is None else [float(w) for w in layer_weights]
    if len(layers) != n_style_layers:
        raise ValueError(f"give {n_style_layers} layer weights, got {len(layers)}")
    values = [float(content_weight)] + [float(style_weight) * w for w in layers]
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"loss weights must be positive and finite, got {values}")
    return torch.tensor(values)


def sample_loss_weights(n: int, n_weights: int, generator: torch.Generator | None = None,
                        low: float = LAMBDA_MIN, high: float = LAMBDA_MAX) -> torch.Tensor:
    """``(n, n_weights)`` weights, each log-uniform on ``[low, high]`` (YOTO's training distribution)."""
    u = torch.rand(n, n_weights, generator=generator)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))


class AdjustableStyleNet(nn.Module):
    """``T(content, λ)``: ``(B, 3, H, W)`` in [0, 1] and ``λ`` ``(1 + K,)`` or ``(B, 1 + K)`` -> ``(B, 3, H, W)`` in [0, 1].

    ``λ`` is clamped to the training range, then an MLP maps ``log λ`` (scaled to [-1, 1]) to the conditioning
    vector every FiLM'd instance norm reads. Same device as its parameters; float32.
    """

    def __init__(self, config: AdjustableConfig = AdjustableConfig()) -> None:
        super().__init__()
        self.config = config
        self.meta: dict[str, Any] = {}  # training settings and log, filled by load()
        self.mlp = nn.Sequential(nn.Linear(config.n_weights, config.hidden), nn.ReLU(),
                                 nn.Linear(config.hidden, config.hidden), nn.ReLU())
        self.transformer = StyleTransformer(widths=config.widths, cond_dim=config.hidden, film=config.film,
                                            norm_contract=True)

    def condition(self, weights: torch.Tensor, batch: int) -> torch.Tensor:
        """``λ`` -> ``(B, hidden)`` conditioning."""
        w = torch.as_tensor(weights, dtype=torch.float32, device=self.mlp[0].weight.device)
        w = w.reshape(-1, self.config.n_weights).expand(batch, -1) if w.dim() == 1 or w.shape[0] == 1 else w
        half = (math.log(LAMBDA_MAX) - math.log(LAMBDA_MIN)) / 2
        centre = (math.log(LAMBDA_MAX) + math.log(LAMBDA_MIN)) / 2
        z = (w.clamp(LAMBDA_MIN, LAMBDA_MAX).log() - centre) / half
        return self.mlp(z)

    def forward(self, content: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.transformer(content, self.condition(weights, content.shape[0]))

    def save(self, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
        """Write the network as a model folder (:mod:`clipedit.hub`): its weights, and in ``config.json`` its
        architecture and ``meta`` (the style, the training settings, the loss network, the log); returns it."""
        from clipedit.hub import save_pretrained

        meta = dict(meta or {})
        card = (f"An adjustable (loss-conditional) style network for {meta.get('style', 'a style')}, trained with "
                f"clipedit: one network, the content and per-layer style weights chosen at run time in "
                f"[{LAMBDA_MIN:g}, {LAMBDA_MAX:g}].\n\nUse it: `clipedit adjust photo.jpg --style {Path(path).name} "
                "--style-weight 0.3`")
        return save_pretrained(path, self.state_dict(), {"architecture": asdict(self.config), "meta": meta}, kind=KIND,
                               card=card)

    @classmethod
    def load(cls, path: str | Path) -> "AdjustableStyleNet":
        """Read a model folder (or Hub repo id) written by :meth:`save` (tensors only; nothing runs on load)."""
        from clipedit.hub import load_pretrained

        tensors, config = load_pretrained(path, KIND)
        cfg = dict(config["architecture"])
        cfg["widths"] = tuple(cfg["widths"])
        net = cls(AdjustableConfig(**cfg))
        net.load_state_dict(tensors)
        net.meta = config.get("meta", {})
        return net.eval().requires_grad_(False)


#: Loss-network layers (TFLite tensor names of Magenta's MobileNetV2 style predictor): the ReLU6 expansions that
#: open each resolution (strides 2, 4, 8, 16), like VGG's relu1_x … relu4_x, for the style statistics; the
#: stride-8 block output (the residual stream, which carries what the deeper blocks build on) for content.
MOBILENET_STYLE_LAYERS = ("MobilenetV2/Conv/Relu6", "MobilenetV2/expanded_conv_2/expand/Relu6",
                          "MobilenetV2/expanded_conv_4/expand/Relu6", "MobilenetV2/expanded_conv_7/expand/Relu6")
MOBILENET_CONTENT_LAYER = "MobilenetV2/expanded_conv_5/add"
#: The same roles on VGG-16 (Johnson et al.), used when ImageNet VGG weights are present.
VGG_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
VGG_CONTENT_LAYER = "relu3_3"


class AdjustableLoss(nn.Module):
    """Per-example loss terms of stylised images: ``(B, 1 + K)`` = content, then one Gram term per style layer.

    Each term is divided by a base value fixed once (:meth:`calibrate`): the content term by the content loss
    between unrelated images, each style term by the style loss of the photos themselves, so ``λ = 1`` weighs every
    term alike. ``features(images) -> {name: (B, C, h, w)}`` is a frozen loss network (Magenta's MobileNetV2 by
    default: :func:`mobilenet_features`); ``style`` ``(1, 3, H, W)`` in [0, 1].
    """

    def __init__(self, features: nn.Module, style: torch.Tensor, style_layers: Sequence[str], content_layer: str) -> None:
        super().__init__()
        from clipedit.losses.perceptual import gram_matrix

        self.features, self.style_layers, self.content_layer = features, tuple(style_layers), content_layer
        self._gram = gram_matrix
        with torch.no_grad():
            f = self._feats(style)
            for i, n in enumerate(self.style_layers):
                self.register_buffer(f"gram{i}", gram_matrix(f[n]))
        self.register_buffer("base", torch.ones(1 + len(self.style_layers)))

    def _feats(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.features(x, [*self.style_layers, self.content_layer])

    def raw_terms(self, output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """Unnormalised per-example terms ``(B, 1 + K)``."""
        fo = self._feats(output)
        with torch.no_grad():
            fc = self.features(content, [self.content_layer])[self.content_layer]
        cols = [(fo[self.content_layer] - fc).pow(2).mean((1, 2, 3))]
        for i, n in enumerate(self.style_layers):
            cols.append((self._gram(fo[n]) - getattr(self, f"gram{i}")).pow(2).mean((1, 2)))
        return torch.stack(cols, 1)

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """Normalised per-example terms ``(B, 1 + K)``; the training loss is ``(λ * terms).sum(1).mean()``."""
        return self.raw_terms(output, content) / self.base

    @torch.no_grad()
    def calibrate(self, photos: torch.Tensor) -> torch.Tensor:
        """Set the base values from a batch of photos ``(B >= 2, 3, H, W)``; returns them."""
        raw = self.raw_terms(photos, photos.roll(1, 0))  # content: unrelated pairs; style: the photos as they are
        self.base.copy_(raw.mean(0).clamp_min(1e-12))
        return self.base.clone()


def mobilenet_features(download_ok: bool = True) -> nn.Module:
    """Magenta's style predictor as a frozen loss network: ``f(images, names) -> {name: activation}``."""
    from clipedit.models.magenta import StylePredictor, magenta_file

    predictor = StylePredictor.from_tflite(magenta_file("predict", download_ok)).requires_grad_(False)
    return _Activations(predictor)


class _Activations(nn.Module):
    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor

    def forward(self, images: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.predictor.activations(images, names)


class VGGActivations(nn.Module):
    """VGG-16 features behind the same ``f(images, names)`` call. ``weights="imagenet"`` raises
    :class:`~clipedit.weights.ModelUnavailableError` when torchvision's file is neither cached nor downloadable;
    ``None`` is a random-init network (tests)."""

    def __init__(self, weights: str | None = "imagenet") -> None:
        super().__init__()
        from clipedit.losses.perceptual import VGGFeatures

        self.vgg = VGGFeatures(VGG_STYLE_LAYERS, "vgg16", weights=weights)

    def forward(self, images: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
        out = self.vgg(images)
        return {n: out[n] for n in names}


#: Bundled adjustable networks by style: rows of the weights table (:mod:`clipedit.weights`), trained by
#: ``python -m lab.training.adjustable_style`` (settings in docs/development.md).
ADJUSTABLE_STYLES: dict[str, WeightFile] = {"starry_night": get_weights("clipedit/adjustable-starry-night")}
DEFAULT_STYLE = ADJUST.style
#: The model-folder kind (:mod:`clipedit.hub`) of an adjustable network.
KIND = "adjustable-style"

_NETS: dict[tuple[str, str], AdjustableStyleNet] = {}


def adjustable_path(style: str = DEFAULT_STYLE) -> Path | str:
    """The model folder of a bundled adjustable network (by style name), or ``style`` itself when it is a folder
    (or a Hub repo id) of one."""
    from clipedit.hub import is_pretrained_folder, looks_like_repo_id

    if style in ADJUSTABLE_STYLES:
        return resolve(ADJUSTABLE_STYLES[style])
    if is_pretrained_folder(style) or looks_like_repo_id(style):
        return style
    if Path(style).exists():
        raise ValueError(f"{style} is not an adjustable network folder (model.safetensors, config.json)")
    raise ValueError(f"unknown adjustable style {style!r}; choose from {sorted(ADJUSTABLE_STYLES)} or give a folder")


def load_adjustable(style: str = DEFAULT_STYLE, device: str | torch.device | None = None) -> AdjustableStyleNet:
    """The adjustable network for ``style`` (bundled name, model folder or Hub repo id) on ``device``, cached per
    process."""
    dev = select_device(device)
    path = adjustable_path(style)
    key = (str(path), str(dev))
    if key not in _NETS:
        _NETS[key] = AdjustableStyleNet.load(path).to(dev)
    return _NETS[key]


@torch.no_grad()
def adjust(content: ImageLike, content_weight: float = ADJUST.content_weight, style_weight: float = ADJUST.style_weight,
           layer_weights: Sequence[float] | None = None, style: str = DEFAULT_STYLE, content_size: int | None = ADJUST.content_size,
           net: AdjustableStyleNet | None = None, device: str | torch.device | None = None,
           mask=None, feather: int = 8) -> torch.Tensor:
    """Stylise ``content`` with the loss weights chosen now: one forward pass.

    Args:
        content: path, PIL image, array or ``(1, 3, H, W)`` tensor in [0, 1].
        content_weight, style_weight: multipliers of the trained base weights, in ``[0.1, 10]``.
        layer_weights: per style layer multipliers (``K`` = 4, shallow to deep), times ``style_weight``.
        style: a bundled style name or a checkpoint path.
        content_size: shorter side the content is resized to (``None``: as given).
        mask: stylise only this region (:mod:`clipedit.masks`), blended in over a ``feather`` px edge inside it;
            pixels where the mask is 0 are exactly the (resized) content.
    Returns:
        ``(1, 3, H, W)`` in [0, 1] on the network's device.
    """
    net = net or load_adjustable(style, device)
    lam = loss_weights(content_weight, style_weight, layer_weights, net.config.n_style_layers)
    dev = next(net.parameters()).device
    c = load_image(content, content_size, dev)
    out = net(c, lam.to(dev))
    if mask is not None:
        from clipedit.masks import paste

        out = paste(out, c, mask, feather)
    return out
