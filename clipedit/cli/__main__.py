"""``python -m clipedit.cli``: the same as the ``clipedit`` command."""
import sys

from clipedit.cli import main

sys.exit(main())
