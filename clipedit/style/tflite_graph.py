"""Moved to :mod:`clipedit.models.tflite_graph` (shared by the style and StyleDrop methods); this alias keeps the old import
path working."""
from clipedit.models.tflite_graph import *  # noqa: F401,F403
