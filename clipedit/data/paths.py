"""Where clipedit finds third-party data (style networks, paintings, photos) on this machine.

Search order: ``$CLIPEDIT_DATA_DIR``, then a ``shared/`` folder beside the current directory or
beside the source checkout (``../shared`` from the repository root, as in clipedit's development
and CI machines). Files found there are used in place; nothing is copied.
"""
from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def data_dirs() -> list[Path]:
    """Existing candidate data folders, in search order."""
    cands = []
    if os.environ.get("CLIPEDIT_DATA_DIR"):
        cands.append(Path(os.environ["CLIPEDIT_DATA_DIR"]).expanduser())
    cands += [Path.cwd() / "shared", Path.cwd().parent / "shared", _REPO.parent / "shared"]
    seen, out = set(), []
    for c in cands:
        c = c.resolve()
        if c.is_dir() and c not in seen:
            seen.add(c)
            out.append(c)
    return out


def find_data(relpath: str) -> Path | None:
    """The first ``<data dir>/<relpath>`` that exists, or ``None``."""
    for d in data_dirs():
        p = d / relpath
        if p.exists():
            return p
    return None


def example_image(kind: str, name: str) -> Path:
    """A bundled example picture: ``kind`` is ``"content"`` or ``"styles"``, ``name`` the stem (e.g. ``"tubingen"``).

    Raises:
        FileNotFoundError: no data folder holds it (set ``CLIPEDIT_DATA_DIR``).
    """
    p = find_data(f"images/{kind}/{name}.jpg")
    if p is None:
        raise FileNotFoundError(f"example image images/{kind}/{name}.jpg not found in {data_dirs() or 'any data folder'}; "
                                "set CLIPEDIT_DATA_DIR to the folder that holds images/")
    return p
