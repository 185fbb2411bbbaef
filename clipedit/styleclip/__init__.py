"""StyleCLIP latent optimisation: StyleGAN2 (pure PyTorch), checkpoint loaders, identity loss, projector."""
from clipedit.styleclip.edit import LatentEdit, load_latents, project, save_latents, styleclip_edit
from clipedit.styleclip.identity import IRSE50, IdentityLoss, load_arcface
from clipedit.styleclip.loaders import (DEMO_NAME, GENERATORS, SafeUnpickler, UnsafePickleError, load_generator,
                                        nvidia_to_rosinality, safe_load_pickle)
from clipedit.styleclip.stylegan2 import Generator, StyleGAN2Config, to_unit, upfirdn2d

__all__ = ["LatentEdit", "load_latents", "save_latents", "project", "styleclip_edit", "IRSE50", "IdentityLoss", "load_arcface",
           "DEMO_NAME", "GENERATORS", "SafeUnpickler", "UnsafePickleError", "load_generator", "nvidia_to_rosinality",
           "safe_load_pickle", "Generator", "StyleGAN2Config", "to_unit", "upfirdn2d"]
