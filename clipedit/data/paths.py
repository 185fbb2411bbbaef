"""Where clipedit finds third-party data (style networks, paintings, photos) on this machine.

Only where the user says: ``$CLIPEDIT_DATA_DIR`` (one folder, or several joined by ``os.pathsep``). The installed
library never guesses folders from the current directory or its own location; clipedit's tests and notebooks
point ``CLIPEDIT_DATA_DIR`` at the checkout's ``../shared``. Files found there are used in place; nothing is
copied. Downloadable weights have a second home, the cache (:mod:`clipedit.weights`).

>>> import os
>>> old = os.environ.pop("CLIPEDIT_DATA_DIR", None)
>>> data_dirs(), find_data("images")
([], None)
>>> if old is not None: os.environ["CLIPEDIT_DATA_DIR"] = old
"""
from __future__ import annotations

import os
from pathlib import Path


#: What to do when the data folder lacks something (``what``): one line, for errors and for skipped tests.
DATA_HINT = ("needs clipedit's third-party data folder (paintings, photos, Magenta's networks): set CLIPEDIT_DATA_DIR "
             "to a folder holding {what} (README: Data)")


def data_dirs() -> list[Path]:
    """Existing folders named by ``$CLIPEDIT_DATA_DIR``, in order."""
    out: list[Path] = []
    for part in (os.environ.get("CLIPEDIT_DATA_DIR") or "").split(os.pathsep):
        if part.strip():
            p = Path(part).expanduser().resolve()
            if p.is_dir() and p not in out:
                out.append(p)
    return out


def find_data(relpath: str) -> Path | None:
    """The first ``<data dir>/<relpath>`` that exists, or ``None``."""
    for d in data_dirs():
        p = d / relpath
        if p.exists():
            return p
    return None


def example_image(kind: str, name: str) -> Path:
    """An example picture from the data folder: ``kind`` is ``"content"`` or ``"styles"``, ``name`` the stem
    (e.g. ``"tubingen"``).

    Raises:
        FileNotFoundError: no data folder holds it (set ``CLIPEDIT_DATA_DIR``).
    """
    p = find_data(f"images/{kind}/{name}.jpg")
    if p is None:
        raise FileNotFoundError(f"example image images/{kind}/{name}.jpg not found in {data_dirs() or 'any data folder'}: "
                                + DATA_HINT.format(what="images/").removeprefix("needs "))
    return p
