"""Progress bars: one policy for every long loop (optimisation, training, downloads).

``progress=None`` (the default everywhere) draws a bar when someone is watching: stderr is a terminal, or the
code runs in a Jupyter kernel (where ``tqdm.auto`` draws a widget). A log file gets no bar unless
``progress=True`` asks for one, and then at most two updates a second (``mininterval``), never one per
``set_postfix``.

>>> progress_enabled(False), progress_enabled(True)
(False, True)
>>> bar = progress_bar(range(3), desc="demo", progress=False)
>>> sum(bar)
3
"""
from __future__ import annotations

import sys
from typing import Iterable, TypeVar

T = TypeVar("T")

#: Set once any bar has been drawn in this process: error messages then start on a fresh line.
DRAWN = False


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def progress_enabled(progress: bool | None) -> bool:
    """Whether to draw a bar: the caller's explicit choice, else only for a terminal or a notebook."""
    if progress is not None:
        return bool(progress)
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) or _in_notebook()


def progress_bar(iterable: Iterable[T], desc: str = "", progress: bool | None = None, total: int | None = None,
                 leave: bool = False):
    """A ``tqdm.auto`` bar over ``iterable`` following the policy above (a disabled bar when it says no)."""
    from tqdm.auto import tqdm

    global DRAWN
    on = progress_enabled(progress)
    DRAWN = DRAWN or on
    return tqdm(iterable, desc=desc, total=total, disable=not on, leave=leave, mininterval=0.5, dynamic_ncols=True)


def fresh_line() -> str:
    """``"\\n"`` when a bar may have left the cursor mid-line on stderr, else ``""`` (for one-line error messages)."""
    return "\n" if DRAWN else ""
