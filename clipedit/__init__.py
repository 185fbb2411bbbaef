"""clipedit: CLIP-guided, text-driven image manipulation.

Core pieces every method reuses:

* :func:`clipedit.models.load_clip` — the model registry (OpenAI CLIP, checkpoints, the offline guide);
* :class:`clipedit.guidance.CLIPGuide` — the guidance loss (prompts, negatives, image prompts, ensembles,
  augmentations);
* :func:`clipedit.optim.optimize` — the optimisation loop (schedules, progress, callbacks, NaN guard);
* :func:`clipedit.pixels.guide_image` — text to image by optimising a pixel parameterisation.

Methods: :mod:`clipedit.draw` (CLIPDraw, StyleCLIPDraw, the vector renderer, SVG), :mod:`clipedit.styleclip`
(StyleGAN2, StyleCLIP latent editing, projector), :mod:`clipedit.style` (style transfer, StyleTransferCLIP).
"""
from clipedit.device import select_device
from clipedit.guidance import CLIPGuide, Prompt, make_augment, preprocess
from clipedit.imageio import as_image_batch, load_image, save_image
from clipedit.models import ClipModel, ModelUnavailableError, list_models, load_clip
from clipedit.optim import NonFiniteLossError, OptimResult, optimize, seed_everything
from clipedit.pixels import guide_image

__version__ = "0.1.0"

__all__ = ["select_device", "CLIPGuide", "Prompt", "make_augment", "preprocess", "as_image_batch", "load_image",
           "save_image", "ClipModel", "ModelUnavailableError", "list_models", "load_clip", "NonFiniteLossError",
           "OptimResult", "optimize", "seed_everything", "guide_image"]
