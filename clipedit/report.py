"""The one JSON report writer: every command's ``.json`` beside its output, and every lab result file.

Values are made JSON-safe on the way out (tensors and numpy arrays become lists or numbers, paths become
strings, tuples become lists), so callers pass what they have. Torch-free: the CLI imports it at start-up.

>>> import json, tempfile, pathlib
>>> p = write_json(pathlib.Path(tempfile.mkdtemp()) / "r.json", {"steps": 3, "size": (64, 64)})
>>> json.loads(p.read_text())
{'steps': 3, 'size': [64, 64]}
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence


def jsonable(value: Any) -> Any:
    """``value`` with tensors, arrays, paths and tuples turned into plain JSON types (recursively)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return str(value)
    if hasattr(value, "tolist"):  # torch.Tensor, numpy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def write_json(path: str | os.PathLike, obj: Mapping[str, Any]) -> Path:
    """Write ``obj`` as indented JSON to ``path`` (its folder is made); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(obj), indent=1, ensure_ascii=False) + "\n")
    return path


def write_report(output: str | os.PathLike, **fields: Any) -> Path:
    """Write a command's report beside its main output (``out.png`` → ``out.json``); returns the JSON path."""
    return write_json(Path(output).with_suffix(".json"), fields)


def _commit() -> str:
    """The checkout's commit, ``+uncommitted`` when its tracked code differs from it (``unknown`` outside git)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=here)
        # code only: the results and the docs generated from them change with every measurement
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                                ":(top,exclude)lab/results", ":(top,exclude)docs", ":(top,exclude)README.md"],
                               capture_output=True, text=True, timeout=5, cwd=here).stdout.strip()
        return (out.stdout.strip() or "unknown") + ("+uncommitted" if dirty and out.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> str:
    """One line naming this machine: processor, core count, OS and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def provenance(argv: Sequence[str]) -> dict[str, str]:
    """Where a number came from: ``machine``, ``date`` (UTC, ISO), ``commit`` and ``command``."""
    return {"machine": machine(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
            "commit": _commit(), "command": " ".join(argv)}


__all__ = ["jsonable", "write_json", "write_report", "machine", "provenance"]
