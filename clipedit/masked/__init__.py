"""Masked generation: text-to-image with a masked generative transformer (Muse / aMUSEd), and VQGAN+CLIP.

* :func:`generate`: MaskGIT/Muse iterative decoding (:mod:`clipedit.sampler`) of a
  :class:`~clipedit.models.muse.MaskedGenerator` (``clipedit/shapes-muse`` offline, ``amused/amused-256``);
* :func:`vqgan_clip`: optimise the VQ decoder's continuous latent grid against the shared
  :class:`~clipedit.guidance.CLIPGuide` (Crowson's VQGAN+CLIP), on either weight set's VQ model.
"""
from clipedit.masked.generate import Generation, check_generate_args, generate, preview_tokens
from clipedit.masked.vqgan import vqgan_clip

__all__ = ["Generation", "check_generate_args", "generate", "preview_tokens", "vqgan_clip"]
