"""Perceptual and style losses shared by every method: VGG features, Gram / mean-std / content losses (Gatys,
Johnson, the projector) and STROTSS's relaxed EMD + moments (StyleCLIPDraw). CLIP's guidance distances live
with the guide (:mod:`clipedit.guidance.losses`)."""
from clipedit.losses.perceptual import (
                                        GATYS_CONTENT_LAYERS,
                                        GATYS_STYLE_LAYERS,
                                        IMAGENET_MEAN,
                                        IMAGENET_STD,
                                        VGGFeatures,
                                        content_loss,
                                        gram_loss,
                                        gram_matrix,
                                        mean_std_loss,
)
from clipedit.losses.style import STROTSS_LAYERS, StyleLoss, hypercolumns, moment_loss, relaxed_emd, strotss_loss

__all__ = ["GATYS_CONTENT_LAYERS", "GATYS_STYLE_LAYERS", "IMAGENET_MEAN", "IMAGENET_STD", "VGGFeatures",
           "content_loss", "gram_loss", "gram_matrix", "mean_std_loss", "STROTSS_LAYERS", "StyleLoss", "hypercolumns",
           "moment_loss", "relaxed_emd", "strotss_loss"]
