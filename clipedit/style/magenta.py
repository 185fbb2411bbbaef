"""Moved to :mod:`clipedit.models.magenta` (shared by the style and StyleDrop methods); this alias keeps the old import
path working."""
from clipedit.models.magenta import *  # noqa: F401,F403
