"""Moved to :mod:`clipedit.losses`; this alias keeps ``from clipedit.style.losses import …`` working."""
from clipedit.losses import *  # noqa: F401,F403
from clipedit.losses import __all__  # noqa: F401
from clipedit.losses.perceptual import _torchvision_weights  # noqa: F401
