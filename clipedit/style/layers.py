"""Moved to :mod:`clipedit.models.style_layers`; this alias keeps the old import path working."""
from clipedit.models.style_layers import *  # noqa: F401,F403
