"""What every lab script shares: where its outputs go, and how its numbers are written down.

* Trainers write where ``--out`` says (required); their resumable training state goes beside it
  (``OUT.state/``) unless ``--state`` says otherwise. Nothing is written into the package.
* Evaluation scripts write their numbers with :func:`write_results` to ``lab/results/<name>.json``, stamped with
  the machine, date, commit and command, and ``python -m lab.make_tables`` turns those files into the docs' tables.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from clipedit.report import provenance, write_json

RESULTS = Path(__file__).resolve().parent / "results"


def add_out(p: argparse.ArgumentParser, what: str = "the trained weights") -> None:
    """``--out`` (required) and ``--state`` (default ``OUT.state``) on a trainer's parser."""
    p.add_argument("--out", type=Path, required=True, help=f"where to write {what}")
    p.add_argument("--state", type=Path, default=None,
                   help="training-state folder for checkpoints and resume (default: OUT.state beside --out)")


def state_for(out: Path, state: Path | None) -> Path:
    """The training-state folder: ``state`` if given, else ``OUT.state`` beside ``out``."""
    return Path(state) if state is not None else Path(out).with_name(Path(out).name + ".state")


def write_results(name: str, rows: Sequence[dict[str, Any]], *, split: str, argv: Sequence[str] | None = None,
                  notes: str = "", folder: Path = RESULTS, merge_on: str | None = None) -> Path:
    """Write ``rows`` (one dict per table row) to ``folder/<name>.json`` with their provenance; returns the path.

    ``split`` names the prompts and seeds the rows were measured on (``"dev"`` or ``"test"``). ``merge_on``: keep the
    file's other rows and replace those whose value of this key a new row has (one generator of several, say).
    """
    rows = list(rows)
    if merge_on is not None and (folder / f"{name}.json").is_file():
        import json

        new = {r.get(merge_on) for r in rows}
        old = json.loads((folder / f"{name}.json").read_text()).get("rows", [])
        rows = [r for r in old if r.get(merge_on) not in new] + rows
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve() if argv else None
    root = RESULTS.parent.parent
    if script is not None and script.suffix == ".py" and root in script.parents:  # run as python -m lab.…
        argv = ["python", "-m", ".".join(script.relative_to(root).with_suffix("").parts), *argv[1:]]
    doc = {"name": name, "split": split, "notes": notes, **provenance(argv), "rows": list(rows)}
    return write_json(folder / f"{name}.json", doc)
