"""clipedit: CLIP-guided, text-driven image manipulation.

Core pieces every method reuses:

* :func:`clipedit.models.load_clip` — the model registry (OpenAI CLIP, open_clip, checkpoints, the offline guide);
* :mod:`clipedit.weights` — the one table of downloadable weight files and the one download function;
* :class:`clipedit.guidance.CLIPGuide` — the guidance loss (prompts, negatives, image prompts, ensembles,
  augmentations);
* :func:`clipedit.optim.optimize` — the optimisation loop (schedules, progress, callbacks, NaN guard, Ctrl-C/SIGTERM);
* :mod:`clipedit.params` — image parameterisations; :func:`clipedit.text_to_image.guide_image` — text to image;
* :mod:`clipedit.losses` — perceptual and style losses (VGG, Gram, STROTSS);
* :mod:`clipedit.defaults` — every default setting, read by the signatures and the CLI alike;
* :mod:`clipedit.report` — the one JSON writer; :mod:`clipedit.training.loop` — the one training loop (accelerate);
* :mod:`clipedit.judge` — the independent judge of the shapes world the notebooks show.

Shared by the generative methods: :mod:`clipedit.models.muse` (the masked generator family: VQ model, masked
transformer, text encoder), :mod:`clipedit.models.adapters` (bottleneck adapters and LoRA), :mod:`clipedit.sampler`
(the one masked-token sampler) and :mod:`clipedit.models.magenta` (Magenta's style networks: style transfer, and the
style distance StyleDrop scores with).

Methods: :mod:`clipedit.draw` (CLIPDraw, StyleCLIPDraw, the vector renderer, SVG), :mod:`clipedit.styleclip`
(StyleGAN2, StyleCLIP latent editing, projector), :mod:`clipedit.style` (style transfer, StyleTransferCLIP),
:mod:`clipedit.masked` (masked text-to-image generation, VQGAN+CLIP), :mod:`clipedit.styledrop` (StyleDrop: adapters
tuned on one style image, two-scale guidance, iterative training with feedback).
A method package never imports another; shared pieces live in the modules above. The scripts that trained the
bundled models and measured them live beside the library, in the repository's ``lab/``, never inside it.

The top-level names load lazily, so ``import clipedit`` (and ``clipedit --help``) is instant:

>>> import clipedit
>>> clipedit.__version__
'0.3.0'
>>> clipedit.load_clip.__module__
'clipedit.models.registry'
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.3.0"  # the one place the version lives (pyproject.toml reads it)

_EXPORTS = {
    "select_device": "clipedit.device",
    "CLIPGuide": "clipedit.guidance", "Prompt": "clipedit.guidance", "make_augment": "clipedit.guidance",
    "preprocess": "clipedit.guidance",
    "as_image_batch": "clipedit.imageio", "load_image": "clipedit.imageio", "save_image": "clipedit.imageio",
    "ClipModel": "clipedit.models", "ModelUnavailableError": "clipedit.models", "list_models": "clipedit.models",
    "load_clip": "clipedit.models",
    "NonFiniteLossError": "clipedit.optim", "OptimResult": "clipedit.optim", "optimize": "clipedit.optim",
    "seed_everything": "clipedit.optim",
    "guide_image": "clipedit.text_to_image",
    "generate": "clipedit.masked", "vqgan_clip": "clipedit.masked", "load_masked_generator": "clipedit.models.muse",
    "train_style": "clipedit.styledrop", "sample_style": "clipedit.styledrop",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'clipedit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
