"""The ``clipedit`` command line: one small module per subcommand, each registering its parser, its up-front
checks and its run.

Every subcommand follows the same conventions: ``--out PATH`` (outputs in several formats go beside it with the same
stem, the JSON report among them), ``--seed``, ``--steps``, ``--device``, ``--model``; bad input exits with code 2
and a one-line message before any model loads. Defaults come from :mod:`clipedit.defaults`, the same values the
library's signatures use.

    clipedit guide "a red circle" --out out.png
    clipedit stylize content.jpg style.jpg --out out.png --strength 0.8
    clipedit style-text content.jpg "a mosaic of blue and green glass" --out out.png
    clipedit draw "a red circle" --out drawing.png            # CLIPDraw: PNG + SVG + JSON
    clipedit draw "a red circle" --style painting.jpg          # StyleCLIPDraw
    clipedit edit "a blue circle" --out edit.png              # StyleCLIP on the offline demo generator
    clipedit edit "a person with purple hair" --generator stylegan2-ffhq-config-f --latent latents.pt
    clipedit edit "a blue circle" --method global             # StyleCLIP global directions
    clipedit mapper train "a blue circle" --out m/; clipedit edit "a blue circle" --method mapper --mapper m/
    clipedit nada "a circle" "a square" --out g/; clipedit edit "a blue square" --generator g/
    clipedit invert photo.jpg --generator ffhq.pkl --out inverted.png
    clipedit generate "a blue star" --out g.png --n 4          # masked generation (offline shapes model)
    clipedit vqgan "a yellow star" --out v.png [--init image.png]
    clipedit styledrop train style.png --content "a red circle" --out my-style/ [--rounds 2]
    clipedit styledrop sample my-style/ "a blue star" --out s.png [--lambda-a 2 --lambda-b 3 --n 4]
    clipedit models
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable

from clipedit.cli.common import OneLineParser, UsageError

#: The subcommands' modules, in the order ``--help`` lists them.
COMMAND_MODULES = ("guide", "stylize", "style_text", "adjust", "draw", "edit", "mapper", "nada", "invert", "generate",
                   "vqgan", "styledrop", "models")
_MODULES = [importlib.import_module(f"clipedit.cli.{name}") for name in COMMAND_MODULES]  # light: argparse only
#: What each subcommand runs, and its up-front checks (run before any model loads).
SUBCOMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {m.NAME: m.run for m in _MODULES}
CHECKS: dict[str, Callable[[argparse.Namespace], None]] = {m.NAME: m.check for m in _MODULES}


def build_parser() -> argparse.ArgumentParser:
    """The ``clipedit`` parser with every subcommand registered (no torch import)."""
    parser = OneLineParser(prog="clipedit", description="CLIP-guided, text-driven image manipulation")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for mod in _MODULES:
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 143 terminated by SIGTERM)."""
    parser = build_parser()
    try:
        a = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a one-line usage error (2)
        return done.code if isinstance(done.code, int) else 0
    from clipedit.interrupt import EXIT_TERMINATED, Terminated, sigterm_as_interrupt
    from clipedit.progress import fresh_line
    from clipedit.weights import ModelUnavailableError

    def fail(message: str) -> int:
        print(f"{fresh_line()}clipedit {a.command}: error: {message}", file=sys.stderr)
        return 2

    try:
        CHECKS[a.command](a)  # refuse bad input before any model loads
    except (UsageError, ValueError, FileNotFoundError, ImportError) as err:
        return fail(str(err))
    from clipedit.optim import NonFiniteLossError

    with sigterm_as_interrupt() as term:
        try:
            rc = SUBCOMMANDS[a.command](a)
        except Terminated:
            print(f"{fresh_line()}clipedit {a.command}: terminated before a result existed", file=sys.stderr)
            return EXIT_TERMINATED
        except (UsageError, ValueError, FileNotFoundError, ImportError, ModelUnavailableError,
                NonFiniteLossError) as err:
            return fail(str(err))
    if term.terminated:  # SIGTERM mid-run: the best result so far was saved above
        print(f"clipedit {a.command}: terminated; saved the best result so far", file=sys.stderr)
        return EXIT_TERMINATED
    return rc


__all__ = ["main", "build_parser", "SUBCOMMANDS", "CHECKS", "UsageError"]
