"""Write the docs' results tables from the data files in ``lab/results/`` (the only place numbers are typed).

Each docs page marks a table's place with ``<!-- results:NAME -->`` … ``<!-- /results:NAME -->``; this script
renders ``lab/results/NAME.json`` there: the rows, each rate with its 95 % Wilson interval where the file gives
``n``, and a line saying which split, machine, date, commit and command produced it.

    python -m lab.make_tables            # rewrite the tables in docs/*.md
    python -m lab.make_tables --check    # exit 1 if a table differs from its data (the test suite runs this)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "lab" / "results"
DOCS = ROOT / "docs"
MARK = re.compile(r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)

PCT, NUM, INT, TXT = "pct", "num", "int", "txt"
#: What each table shows: (key in the rows, column header, format). A ``pct`` column of a file whose rows carry
#: ``n`` gets its 95 % interval.
TABLES: dict[str, list[tuple[str, str, str]]] = {
    "guided": [("setting", "augmentation", TXT), ("colour", "colour right", PCT), ("shape", "shape right", PCT),
               ("both", "both right", PCT), ("held_out_both", "held-out pairs: both", PCT), ("n", "n", INT),
               ("s_per_run", "s / run", NUM)],
    "zero_shot": [("pairs", "pairs", TXT), ("both", "colour + shape", PCT), ("colour", "colour", PCT),
                  ("shape", "shape", PCT), ("n", "n", INT)],
    "drawn": [("setting", "augmentation", TXT), ("colour", "colour right", PCT), ("shape", "shape right", PCT),
              ("both", "both right", PCT), ("held_out_both", "held-out pairs: both", PCT), ("n", "n", INT),
              ("s_per_run", "s / run", NUM)],
    "renderers": [("scene", "scene", TXT), ("mean_abs_8x8", "8×8: mean abs", NUM), ("off_8x8", "8×8: px off > 0.1", PCT),
                  ("mean_abs_2x2", "2×2: mean abs", NUM), ("off_2x2", "2×2: px off > 0.1", PCT)],
    "adjustable": [("lambda", "λ (content; style layers 1-4)", TXT), ("network", "network", TXT),
                   ("content", "content", NUM), ("style1", "style 1", NUM), ("style2", "style 2", NUM),
                   ("style3", "style 3", NUM), ("style4", "style 4", NUM), ("weighted", "λ-weighted loss", NUM)],
    "stylegan_methods": [("method", "method", TXT), ("prep_s", "preprocessing (s)", TXT),
                         ("ms_per_edit", "ms / edit", INT), ("success", "success", PCT),
                         ("shape_kept", "shape kept", PCT), ("background_kept", "background kept", PCT),
                         ("iou", "mask IoU", NUM), ("n", "n", INT)],
    "generated": [("setting", "setting", TXT), ("colour", "colour right", PCT), ("shape", "shape right", PCT),
                  ("both", "both right", PCT), ("seen_both", "seen pairs: both", PCT),
                  ("held_out_both", "held-out pairs: both", PCT), ("n", "n", INT), ("s_per_image", "s / image", NUM)],
    "styledrop": [("style", "style", TXT), ("model", "model", TXT), ("colour", "colour right", PCT),
                  ("shape", "shape right", PCT), ("both", "both right", PCT),
                  ("style_distance", "style distance to reference", NUM), ("from_base", "distance from base sample", NUM),
                  ("n", "n", INT)],
    "stylegan_quality": [("generator", "generator", TXT), ("confident_07", "confident, ψ 0.7", PCT),
                         ("confident_10", "confident, ψ 1.0", PCT), ("pairs", "distinct pairs (of 36)", INT),
                         ("shape_tv", "shape histogram TV", NUM), ("colour_tv", "colour histogram TV", NUM),
                         ("names_scene", "draws the scene its latent names", PCT), ("iou", "mask IoU", NUM),
                         ("n", "n", INT)],
    "nada_demos": [("edit", "source → target", TXT), ("generator", "generator", TXT), ("before", "target before", PCT),
                   ("after", "target after", PCT), ("colour_kept", "colour kept", PCT), ("also_kept", "also kept", TXT),
                   ("iou", "mask IoU", NUM), ("n", "n", INT)],
    "vqgan": [("setting", "setting", TXT), ("colour", "colour right", PCT), ("shape", "shape right", PCT),
              ("both", "both right", PCT), ("seen_both", "seen pairs: both", PCT),
              ("held_out_both", "held-out pairs: both", PCT), ("n", "n", INT), ("s_per_run", "s / run", NUM)],
    "guided_test": [("setting", "setting", TXT), ("colour", "colour right", PCT), ("shape", "shape right", PCT),
                    ("both", "both right", PCT), ("n", "n", INT), ("s_per_run", "s / run", NUM)],
    "generated_test": [("setting", "setting", TXT), ("colour", "colour right", PCT), ("shape", "shape right", PCT),
                       ("both", "both right", PCT), ("n", "n (images)", INT), ("s_per_run", "s / run", NUM)],
    "main_job": [("command", "command", TXT), ("both", "both right (test seeds)", PCT), ("n", "n", INT),
                 ("dev_both", "both right (dev seeds, used to choose)", PCT), ("s_per_run", "s / run", NUM)],
    "benchmarks": [("device", "device", TXT), ("method", "method", TXT), ("setting", "setting", TXT),
                   ("step_s", "step (s)", NUM), ("floor_s", "floor (s)", NUM), ("floor_is", "floor is", TXT),
                   ("ratio", "step / floor", NUM), ("peak_mib", "peak (MiB)", INT)],
}
#: Rates whose 95 % interval is shown (the headline of each table).
INTERVAL = {"both", "success", "after"}


def wilson(p: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate ``p`` observed over ``n`` trials.

    >>> [round(v, 3) for v in wilson(0.8, 40)]
    [0.652, 0.895]
    """
    if n <= 0:
        return (0.0, 1.0)
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def _cell(value, fmt: str, key: str, n: int | None) -> str:
    if value is None:
        return "—"
    if fmt == PCT:
        text = f"{100 * value:.0f} %" if abs(100 * value - round(100 * value)) < 0.05 else f"{100 * value:.1f} %"
        if key in INTERVAL and n:
            lo, hi = wilson(value, n)
            text += f" ({100 * lo:.0f}–{100 * hi:.0f})"
        return text
    if fmt == INT:
        return f"{int(value):,}"
    if fmt == NUM:
        return f"{value:g}"
    return str(value)


def render(name: str, page: Path | None = None) -> str:
    """The markdown of table ``name`` from ``lab/results/name.json``, with its provenance line (its link relative to
    ``page``, default a page in ``docs/``)."""
    doc = json.loads((RESULTS / f"{name}.json").read_text())
    cols = TABLES[name]
    lines = ["| " + " | ".join(h for _, h, _ in cols) + " |", "|" + "---|" * len(cols)]
    for row in doc["rows"]:
        lines.append("| " + " | ".join(_cell(row.get(k), f, k, row.get("n")) for k, _, f in cols) + " |")
    ci = " Rates in brackets: 95 % Wilson interval over n." if any(k in INTERVAL for k, _, _ in cols) else ""
    lines.append("")
    link = os.path.relpath(RESULTS / f"{name}.json", (page or DOCS / "x.md").parent)
    lines.append(f"*Data: [`lab/results/{name}.json`]({link}), split: {doc['split']}; "
                 f"{doc['machine']}; {doc['date']}, commit `{doc['commit']}`. Reproduce: `{doc['command']}`.{ci}*")
    return "\n".join(lines) + "\n"


def update(text: str, page: Path | None = None) -> str:
    """``text`` (of ``page``) with every marked table re-rendered from its data file."""
    return MARK.sub(lambda m: m.group(1) + render(m.group("name"), page) + m.group(4), text)


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only check; exit 1 where a table differs from its data")
    a = p.parse_args(argv)
    stale = []
    for page in pages():
        text = page.read_text()
        new = update(text, page)
        if new != text:
            stale.append(page)
            if not a.check:
                page.write_text(new)
    for page in stale:
        print(f"{'stale' if a.check else 'updated'}: {page.relative_to(ROOT)}")
    return 1 if (a.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
