"""VGG perceptual features and their losses, shared by Gatys, StyleCLIPDraw, the projector and friends.

* :class:`VGGFeatures` — torchvision VGG-16/19 truncated after the last requested layer, ImageNet
  normalisation built in, frozen. ``weights="imagenet"`` loads torchvision's weights (rows ``vgg16-imagenet`` /
  ``vgg19-imagenet`` of :mod:`clipedit.weights`; found in torch's hub cache or downloaded into clipedit's; offline
  this raises a clear error naming the file and folder);
  ``weights=None`` gives a seeded random-init network of the same shape (tests, offline demos —
  random VGG features still capture texture statistics, but weaker than trained ones); a path loads a
  local state dict.
* :func:`gram_matrix`, :func:`gram_loss`, :func:`mean_std_loss`, :func:`content_loss`.

>>> f = torch.ones(2, 4, 8, 8)
>>> gram_matrix(f).shape
torch.Size([2, 4, 4])
>>> float(gram_loss({"relu1_1": f}, {"relu1_1": gram_matrix(f[:1])}))
0.0
>>> vgg = VGGFeatures(["relu1_2", "relu2_2"], "vgg16", weights=None)   # random init: no download
>>> {k: tuple(v.shape) for k, v in vgg(torch.rand(1, 3, 32, 32)).items()}
{'relu1_2': (1, 64, 32, 32), 'relu2_2': (1, 128, 16, 16)}
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.imageio import as_image_batch
from clipedit.weights import ModelUnavailableError, get_weights, resolve

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
    """torchvision's ImageNet state dict for ``arch``: a row of the weights table, found in torch's hub cache (where
    torchvision keeps it) or clipedit's cache, else downloaded with the one download function."""
    spec = get_weights(f"{arch}-imagenet")
    path = resolve(spec, search=[Path(torch.hub.get_dir()) / "checkpoints"])
    return torch.load(path, map_location="cpu", weights_only=True)


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
