"""Moved: image parameterisations to :mod:`clipedit.params`, :func:`guide_image` to :mod:`clipedit.text_to_image`.
This alias keeps ``from clipedit.pixels import …`` working."""
from clipedit.params import PARAMS, ImageParam, PixelImage, PyramidImage, make_image_param  # noqa: F401
from clipedit.text_to_image import GuidedImage, guide_image  # noqa: F401
