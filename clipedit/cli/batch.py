"""Folders of images: one output per input under ``--out DIR``, one progress bar, a bad file skipped in one line.

``clipedit stylize``, ``adjust``, ``style-text`` and ``invert`` take a folder or a glob (``"photos/*.jpg"``) where
they take one image, and ``edit`` a folder or glob of latent files (``--latent``, e.g. ``invert``'s outputs). Every input that cannot be read is named in one line and skipped; a summary ends the run; the exit
status is 1 if any input failed, 0 otherwise. Each output is written as soon as it is made, so Ctrl-C or SIGTERM
keeps everything finished (the run then exits 130 or 143).
"""
from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path
from typing import Callable

from clipedit.cli.common import UsageError

#: What counts as an image in a folder (by suffix, case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def is_many(spec: str) -> bool:
    """Whether an input names many images: an existing folder, or a pattern with ``*``, ``?`` or ``[``."""
    return Path(spec).expanduser().is_dir() or any(ch in spec for ch in "*?[")


def expand(spec: str, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """The images a folder or glob names, sorted; a folder's files are filtered by suffix, a glob's are taken as named
    (so an unreadable one is reported, not silently skipped).

    Raises:
        UsageError: nothing matches.
    """
    p = Path(spec).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in suffixes)
    else:
        files = sorted(Path(f) for f in glob.glob(str(p)) if Path(f).is_file())
    if not files:
        raise UsageError(f"{spec!r} names no input files ({', '.join(suffixes)})")
    return files


def check_out_folder(out: Path, default: str) -> Path:
    """``--out`` for a folder run: a folder (made if missing; the single-file default becomes its stem)."""
    from clipedit.checks import check_output

    folder = Path(out)
    if str(out) == default:  # the single-file default "stylized.png" becomes the folder "stylized/"
        folder = Path(default).with_suffix("")
    if folder.suffix and not folder.is_dir():
        raise UsageError(f"--out {str(out)!r}: with a folder of inputs, give a folder for the outputs")
    check_output(folder / ".probe.png", "--out")
    return folder


def run_batch(files: list[Path], out_dir: Path, one: Callable[[Path, Path], None], *, progress: bool | None,
              desc: str, suffix: str = ".png") -> int:
    """Run ``one(input, output)`` for every file, one output per input (``out_dir/<stem><suffix>``); returns the exit
    status: 0 if all succeeded, 1 if any failed, 130/143 when interrupted (what was written stays)."""
    from clipedit.interrupt import EXIT_TERMINATED, Terminated
    from clipedit.progress import fresh_line, progress_bar

    done: list[Path] = []
    failed: list[tuple[Path, str]] = []
    stopped = 0
    bar = progress_bar(files, desc=desc, progress=progress)
    try:
        for f in bar:
            out = out_dir / (f.stem.removesuffix(".latent") + suffix)  # invert's photo.latent.safetensors: photo.png
            try:
                one(f, out)
                done.append(out)
            except (OSError, ValueError) as err:  # unreadable, truncated, not an image: one line, then the next
                reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                failed.append((f, reason))
                print(f"{fresh_line()}skipped {f}: {reason}", file=sys.stderr)
    except Terminated:
        stopped = EXIT_TERMINATED
    except KeyboardInterrupt:
        stopped = 130
    finally:
        bar.close()
    left = len(files) - len(done) - len(failed)
    print(f"{fresh_line()}wrote {len(done)} of {len(files)} to {out_dir}/"
          + (f"; {len(failed)} failed: " + ", ".join(f.name for f, _ in failed) if failed else "")
          + (f"; stopped with {left} not started" if stopped else ""))
    return stopped or (1 if failed else 0)


def add_many_help(p: argparse.ArgumentParser) -> None:
    """A line in the subcommand's help about folders and globs."""
    p.epilog = ((p.epilog or "") + " The input may be a folder or a quoted glob (\"photos/*.jpg\"): one output per input "
                "under --out DIR; unreadable files are skipped and listed; exit status 1 if any failed.").strip()
