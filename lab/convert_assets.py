"""Convert a bundled network from clipedit's earlier pickled ``.pt`` format to a model folder (safetensors).

    python -m lab.convert_assets adjustable OLD.pt clipedit/assets/adjustable-starry-night

Reads the old file with ``torch.load(weights_only=True)`` (tensors and plain containers only) and writes what
:mod:`clipedit.hub` reads. Kept for the record of how each shipped folder was made.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch


def adjustable(old: Path, out: Path) -> Path:
    from clipedit.style.adjustable import AdjustableConfig, AdjustableStyleNet

    ck = torch.load(old, map_location="cpu", weights_only=True)
    if ck.get("format") != "clipedit-adjustable-style/1":
        raise SystemExit(f"{old} is not an old adjustable-style checkpoint")
    cfg = dict(ck["config"])
    cfg["widths"] = tuple(cfg["widths"])
    net = AdjustableStyleNet(AdjustableConfig(**cfg))
    net.load_state_dict(ck["state_dict"])
    return net.save(out, ck.get("meta", {}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["adjustable"])
    p.add_argument("old", type=Path)
    p.add_argument("out", type=Path)
    a = p.parse_args(argv)
    print(f"wrote {adjustable(a.old, a.out)}")


if __name__ == "__main__":
    main()
