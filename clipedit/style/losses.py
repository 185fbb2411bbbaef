"""VGG feature losses for style transfer, shared by Gatys, StyleCLIPDraw and friends.

* :class:`VGGFeatures` — torchvision VGG-16/19 truncated after the last requested layer, ImageNet
  normalisation built in, frozen. ``weights="imagenet"`` loads torchvision's weights (downloaded into
  torch's hub cache on first use; offline this raises a clear error naming the file and folder);
  ``weights=None`` gives a seeded random-init network of the same shape (tests, offline demos —
  random VGG features still capture texture statistics, but weaker than trained ones); a path loads a
  local state dict.
* :func:`gram_matrix`, :func:`gram_loss`, :func:`mean_std_loss`, :func:`content_loss`.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.imageio import as_image_batch
from clipedit.models.registry import ModelUnavailableError, offline

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Layer names -> index in torchvision's ``features`` Sequential (after that module).
_NAMES = {
    "vgg16": ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1", "conv2_2", "relu2_2",
              "pool2", "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "pool3", "conv4_1",
              "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "pool4", "conv5_1", "relu5_1", "conv5_2",
              "relu5_2", "conv5_3", "relu5_3", "pool5"],
    "vgg19": ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1", "conv2_2", "relu2_2",
              "pool2", "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4",
              "pool3", "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "conv4_4", "relu4_4",
              "pool4", "conv5_1", "relu5_1", "conv5_2", "relu5_2", "conv5_3", "relu5_3", "conv5_4", "relu5_4",
              "pool5"],
}
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GATYS_CONTENT_LAYERS = ("relu4_2",)


def _torchvision_weights(arch: str) -> dict[str, torch.Tensor]:
    import torchvision.models as tvm

    enum = {"vgg16": tvm.VGG16_Weights.IMAGENET1K_V1, "vgg19": tvm.VGG19_Weights.IMAGENET1K_V1}[arch]
    fname = os.path.basename(enum.url)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    hint = (f"Download {enum.url} and put it at {folder / fname} (torch's hub cache; set TORCH_HOME to move it), "
            f"or pass weights='/path/to/{fname}'.")
    if offline() and not (folder / fname).is_file():
        raise ModelUnavailableError(f"CLIPEDIT_OFFLINE is set and {fname} is not cached. {hint}")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)  # torch.hub opens URLs without a timeout; fail fast offline
    try:
        return enum.get_state_dict(progress=True, check_hash=True)
    except Exception as err:
        raise ModelUnavailableError(f"could not get torchvision's {arch} weights ({err}). {hint}") from None
    finally:
        socket.setdefaulttimeout(old)


class VGGFeatures(nn.Module):
    """Frozen VGG feature extractor.

    Args:
        layers: names such as ``"relu3_3"`` (see ``_NAMES``), returned in a dict.
        arch: ``"vgg16"`` or ``"vgg19"``.
        weights: ``"imagenet"``, ``"auto"`` (ImageNet if available, else random init with a notice), ``None``
            (random init, seeded by ``seed``) or a state-dict path.
        pool: ``"max"`` (torchvision) or ``"avg"`` (Gatys et al. found smoother results).
    Input ``(B, 3, H, W)`` in [0, 1] on the module's device; ImageNet mean/std applied inside.
    """

    def __init__(self, layers: Sequence[str], arch: str = "vgg19", weights: str | Path | None = "imagenet",
                 pool: str = "max", seed: int = 0) -> None:
        super().__init__()
        import torchvision.models as tvm

        if arch not in _NAMES:
            raise ValueError(f"arch must be vgg16 or vgg19, got {arch!r}")
        unknown = [n for n in layers if n not in _NAMES[arch]]
        if unknown or not layers:
            raise ValueError(f"unknown {arch} layers {unknown}; choose from {_NAMES[arch]}")
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            net = getattr(tvm, arch)(weights=None)
        if weights == "auto":  # ImageNet weights when cached or downloadable, else random init with a notice
            try:
                net.load_state_dict(_torchvision_weights(arch))
            except ModelUnavailableError as err:
                import sys

                print(f"clipedit: {arch} ImageNet weights unavailable ({str(err).split('. ')[0]}); using a random-init "
                      f"{arch} (weaker style features)", file=sys.stderr)
                weights = None
        elif weights == "imagenet":
            net.load_state_dict(_torchvision_weights(arch))
        elif weights is not None:
            path = Path(weights)
            if not path.is_file():
                raise FileNotFoundError(f"VGG weights not found: {path}")
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.arch, self.layers, self.pretrained = arch, tuple(layers), weights is not None
        last = max(_NAMES[arch].index(n) for n in layers)
        feats = list(net.features.children())[: last + 1]
        if pool == "avg":
            feats = [nn.AvgPool2d(2, 2) if isinstance(m, nn.MaxPool2d) else m for m in feats]
        feats = [nn.ReLU(inplace=False) if isinstance(m, nn.ReLU) else m for m in feats]
        self.features = nn.Sequential(*feats)
        self.index = {n: _NAMES[arch].index(n) for n in layers}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (as_image_batch(images, "images") - self.mean) / self.std
        want = {i: n for n, i in self.index.items()}
        out = {}
        for i, m in enumerate(self.features):
            x = m(x)
            if i in want:
                out[want[i]] = x
        return out


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, C)`` Gram matrix normalised by ``C * H * W``."""
    b, c, h, w = f.shape
    x = f.reshape(b, c, h * w)
    return x @ x.transpose(1, 2) / (c * h * w)


def gram_loss(feats: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
              weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Sum over layers of ``w_l * mean((G(F_l) - G_target_l)²)``; ``targets`` are Gram matrices ``(1|B, C, C)``."""
    total = 0
    for name, t in targets.items():
        total = total + (weights or {}).get(name, 1.0) * F.mse_loss(gram_matrix(feats[name]), t.expand(feats[name].shape[0], -1, -1))
    return total


def mean_std_loss(feats: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of squared differences of channel means and stds (the AdaIN style loss); targets are features."""
    total = 0
    for name, t in targets.items():
        f = feats[name]
        total = total + F.mse_loss(f.mean((-2, -1)), t.mean((-2, -1)).expand(f.shape[0], -1)) \
            + F.mse_loss(f.std((-2, -1)), t.std((-2, -1)).expand(f.shape[0], -1))
    return total


def content_loss(feats: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of ``mean((F_l - F_target_l)²)``."""
    return sum(F.mse_loss(feats[n], t.expand_as(feats[n])) for n, t in targets.items())


# -- STROTSS-style loss (Kolkin et al. 2019), as used by StyleCLIPDraw -----------------------------------
STROTSS_LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_3", "relu5_3")
_YUV = torch.tensor([[0.577350, 0.577350, 0.577350], [-0.577350, 0.788675, -0.211325], [-0.577350, -0.211325, 0.788675]])


def hypercolumns(image: torch.Tensor, feats: Mapping[str, torch.Tensor], xy: torch.Tensor) -> torch.Tensor:
    """Features at ``N`` positions: ``(N, 3 + Σ C_l)`` — the RGB pixel then every layer, bilinearly sampled.

    ``image`` ``(1, 3, H, W)``; ``feats`` maps layer -> ``(1, C_l, h_l, w_l)``; ``xy`` ``(N, 2)`` in ``[-1, 1]``.
    """
    grid = xy.view(1, 1, -1, 2).to(image)
    cols = [F.grid_sample(t, grid, mode="bilinear", align_corners=False)[0, :, 0] for t in (image, *feats.values())]
    return torch.cat(cols, 0).t()


def _cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 1 - F.normalize(x, dim=1, eps=1e-8) @ F.normalize(y, dim=1, eps=1e-8).t()


def relaxed_emd(x: torch.Tensor, y: torch.Tensor, l2: bool = False) -> torch.Tensor:
    """Relaxed earth mover's distance between feature sets ``(N, C)`` and ``(M, C)`` under cosine cost
    (plus Euclidean cost when ``l2``): ``max(mean_i min_j C_ij, mean_j min_i C_ij)``."""
    cost = _cosine_cost(x, y)
    if l2:
        cost = cost + torch.cdist(x, y).clamp_min(1e-5) / x.shape[1] ** 0.5
    return torch.maximum(cost.min(1).values.mean(), cost.min(0).values.mean())


def moment_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the means and of the covariance matrices of ``(N, C)`` and ``(M, C)``."""
    mx, my = x.mean(0, keepdim=True), y.mean(0, keepdim=True)
    cx = (x - mx).t() @ (x - mx) / max(1, x.shape[0] - 1)
    cy = (y - my).t() @ (y - my) / max(1, y.shape[0] - 1)
    return (mx - my).abs().mean() + (cx - cy).abs().mean()


def strotss_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """STROTSS style loss between hypercolumn sets (first 3 columns RGB): relaxed EMD over all features +
    moment matching over the VGG features + a palette term (relaxed EMD on YUV colours, cosine + L2),
    normalised as in StyleCLIPDraw with content weight 0: ``(remd + moments + palette) / 2``."""
    yuv = _YUV.to(x)
    remd = relaxed_emd(x, y)
    moments = moment_loss(x[:, 3:], y[:, 3:])
    palette = relaxed_emd(x[:, :3] @ yuv.t(), y[:, :3] @ yuv.t(), l2=True)
    return (remd + moments + palette) / 2


class StyleLoss(nn.Module):
    """Style loss of an image against a fixed style image, on VGG-16 features.

    Args:
        style: ``(1, 3, H, W)`` style image in [0, 1].
        kind: ``"strotss"`` (relaxed EMD + moments + palette on hypercolumns, StyleCLIPDraw's loss) or
            ``"gram"`` (Gram matrices at relu1_2/2_2/3_3/4_3).
        vgg: a ready :class:`VGGFeatures` (VGG-16 with the needed layers) or ``weights`` for a new one
            (``"imagenet"``, ``None`` random init, or a path).
        samples: positions sampled from the image per call (``"strotss"``); the style keeps 5x as many.
        size: the style image's long side is resized to this.
    ``forward(image (1, 3, H, W)) -> scalar``; positions are drawn from torch's global RNG (seed it).
    """

    GRAM_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")

    def __init__(self, style: torch.Tensor, kind: str = "strotss", vgg: VGGFeatures | None = None,
                 weights: str | Path | None = "imagenet", samples: int = 1024, size: int = 224) -> None:
        super().__init__()
        if kind not in ("strotss", "gram"):
            raise ValueError(f"style loss kind must be 'strotss' or 'gram', got {kind!r}")
        layers = STROTSS_LAYERS if kind == "strotss" else self.GRAM_LAYERS
        self.vgg = vgg if vgg is not None else VGGFeatures(layers, arch="vgg16", weights=weights)
        missing = set(layers) - set(self.vgg.layers)
        if self.vgg.arch != "vgg16" or missing:
            raise ValueError(f"the style loss needs VGG-16 layers {layers}; got {self.vgg.arch} with {self.vgg.layers}")
        self.kind, self.samples, self.layers = kind, samples, layers
        s = as_image_batch(style, "style image")[:1]
        h, w = s.shape[-2:]
        k = size / max(h, w)
        s = F.interpolate(s, size=(max(8, round(h * k)), max(8, round(w * k))), mode="bilinear", antialias=True,
                          align_corners=False).to(self.vgg.mean.device)
        with torch.no_grad():
            feats = self._feats(s)
            if kind == "gram":
                self.target = {n: gram_matrix(feats[n]) for n in layers}
            else:
                g = torch.Generator().manual_seed(0)
                xy = torch.rand(5 * samples, 2, generator=g) * 2 - 1
                self.target = hypercolumns(s, feats, xy)

    def _feats(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.vgg(x)
        return {n: f[n] for n in self.layers}

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = as_image_batch(image, "image")
        feats = self._feats(x)
        if self.kind == "gram":
            return gram_loss(feats, self.target) * 1e3  # Gram entries are ~1e-3: bring the loss near 1
        xy = torch.rand(self.samples, 2, device=x.device) * 2 - 1
        return strotss_loss(hypercolumns(x[:1], feats, xy), self.target.to(x.device))
