"""Style transfer: Magenta's arbitrary-style networks and StyleTransferCLIP, Johnson's fast networks,
Gatys' optimisation and (conditional) instance norm. The VGG losses live in :mod:`clipedit.losses`
(re-exported here)."""
from clipedit.losses import VGGFeatures, content_loss, gram_loss, gram_matrix, mean_std_loss
from clipedit.style.arbitrary import (ArbitraryStyleNet, StyleCLIPResult, load_arbitrary_style, mix_styles,
                                      style_transfer_clip, stylize)
from clipedit.style.gatys import gatys
from clipedit.style.johnson import FAST_STYLES, JohnsonNet, fast_stylize
from clipedit.models.style_layers import ConditionalInstanceNorm2d

__all__ = ["ArbitraryStyleNet", "StyleCLIPResult", "load_arbitrary_style", "mix_styles", "style_transfer_clip",
           "stylize", "gatys", "FAST_STYLES", "JohnsonNet", "fast_stylize", "ConditionalInstanceNorm2d", "VGGFeatures",
           "content_loss", "gram_loss", "gram_matrix", "mean_std_loss"]
