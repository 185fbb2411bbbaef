"""Every default setting of clipedit's methods, written once.

The library's signatures and the command line both read these values (``steps: int = GUIDE.steps`` in the
library, ``default=GUIDE.steps`` in ``clipedit guide``), so the two cannot drift apart; a test compares every CLI
default with the library parameter it feeds. Torch-free: the CLI imports it at start-up.

Settings that depend on the model (a smaller canvas for the small offline guide, the global-direction ``(α, β)``
of a generator) are not here: each model carries them (:attr:`clipedit.weights.WeightFile.recommended`).

>>> GUIDE.steps, GENERATE.guidance, STYLEDROP_SAMPLE.lambda_a
(200, 3.0, 2.0)
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guide:
    """``guide_image`` / ``clipedit guide``: text → image by guided optimisation."""

    steps: int = 200
    lr: float = 0.1
    param: str = "pixels"
    augment: str = "cutouts"
    n_augs: int = 8
    loss: str = "cosine"
    seed: int = 0


@dataclass(frozen=True)
class Stylize:
    """``stylize`` (Magenta's arbitrary network) and ``multistylize`` (the 26-style network)."""

    strength: float = 1.0
    content_size: int = 384
    transfer: str = "fp16"


@dataclass(frozen=True)
class StyleText:
    """``style_transfer_clip`` (Magenta's 100-d embedding) and ``multistyle_clip`` (mixture weights)."""

    steps: int = 100
    lr: float = 0.05
    multistyle_lr: float = 0.1
    l2_weight: float = 0.0
    augment: str = "affine_jitter"
    n_augs: int = 8
    content_size: int = 256


@dataclass(frozen=True)
class Adjust:
    """``adjust`` / ``clipedit adjust``: the adjustable (loss-conditional) style network."""

    content_weight: float = 1.0
    style_weight: float = 1.0
    content_size: int = 384
    style: str = "starry_night"


@dataclass(frozen=True)
class Draw:
    """``draw`` / ``clipdraw`` / ``styleclipdraw``. ``steps``, ``num_paths`` and ``canvas`` are CLIPDraw's for
    ViT-B/32; a guide model may recommend its own (the small offline guide does)."""

    steps: int = 1000
    num_paths: int = 256
    canvas: int = 224
    min_width: float = 2.0
    max_width: float = 100.0
    augment: str = "clipdraw"
    n_augs: int = 4
    renderer: str = "auto"
    style_weight: float = 1.0
    style_loss: str = "strotss"
    vgg_weights: str = "auto"


@dataclass(frozen=True)
class Edit:
    """``styleclip_edit`` (latent optimisation) and ``edit_global`` (global directions)."""

    steps: int = 300
    lr: float = 0.1
    l2_lambda: float = 0.008
    id_lambda: float = 0.005
    truncation: float = 0.7
    space: str = "w+"
    mode: str = "edit"
    n_samples: int = 100
    #: with a mask: weight of the mean squared change outside it (not tuned; the change is reported either way)
    mask_lambda: float = 10.0


@dataclass(frozen=True)
class Mapper:
    """``train_mapper`` / ``clipedit mapper train``. ``id_lambda`` applies to faces only (an identity network)."""

    steps: int = 400
    batch: int = 8
    lr: float = 0.5
    l2_lambda: float = 0.8
    id_lambda: float = 0.1


@dataclass(frozen=True)
class Nada:
    """``nada`` / ``clipedit nada``. ``train_noise`` off: on the demo the noise strengths became a texture."""

    steps: int = 300
    batch: int = 2
    lr: float = 0.002
    train_noise: bool = False


@dataclass(frozen=True)
class Invert:
    """``project`` / ``clipedit invert``: a W+ latent and noise for an image."""

    steps: int = 500
    lr: float = 0.1
    mse: float = 1.0
    perceptual: float = 1.0
    vgg_weights: str = "auto"


@dataclass(frozen=True)
class Generate:
    """``generate`` / ``clipedit generate``: the masked generative transformer's sampler."""

    model: str = "clipedit/shapes-muse"
    n: int = 1
    steps: int = 12
    guidance: float = 3.0
    temperature: float = 1.0
    plausibility: float = 0.1


@dataclass(frozen=True)
class VQGAN:
    """``vqgan_clip`` / ``clipedit vqgan``: CLIP guidance on a VQ decoder's latents."""

    generator: str = "clipedit/shapes-muse"
    steps: int = 300
    lr: float = 0.1
    n_augs: int = 32
    augment: str = "cutouts"
    loss: str = "spherical"


@dataclass(frozen=True)
class StyleDropTrain:
    """``StyleDropSettings`` and round 2's ``collect_feedback`` / ``clipedit styledrop train``."""

    steps: int = 300
    batch: int = 8
    lr: float = 1e-3
    rank: int = 8
    kind: str = "adapter"
    n_per_prompt: int = 4
    top_k: int = 8


@dataclass(frozen=True)
class StyleDropSample:
    """``sample_style`` / ``clipedit styledrop sample``: two-scale guidance."""

    n: int = 1
    lambda_a: float = 2.0
    lambda_b: float = 3.0
    steps: int = 12


GUIDE = Guide()
STYLIZE = Stylize()
STYLE_TEXT = StyleText()
ADJUST = Adjust()
DRAW = Draw()
EDIT = Edit()
MAPPER = Mapper()
NADA = Nada()
INVERT = Invert()
GENERATE = Generate()
VQGAN_CLIP = VQGAN()
STYLEDROP_TRAIN = StyleDropTrain()
STYLEDROP_SAMPLE = StyleDropSample()

__all__ = ["GUIDE", "STYLIZE", "STYLE_TEXT", "ADJUST", "DRAW", "EDIT", "MAPPER", "NADA", "INVERT", "GENERATE",
           "VQGAN_CLIP", "STYLEDROP_TRAIN", "STYLEDROP_SAMPLE"]
