"""Convert a bundled network from clipedit's earlier pickled ``.pt`` format to a model folder (safetensors).

    python -m lab.convert_assets adjustable OLD.pt clipedit/assets/adjustable-starry-night
    python -m lab.convert_assets stylegan2-generator OLD.pt clipedit/assets/shapes-renderer   # likewise the others

Reads the old file with ``torch.load(weights_only=True)`` (tensors and plain containers only) and writes what
:mod:`clipedit.hub` reads: the same checkpoint structure, tensors in ``model.safetensors``. Kept for the record of
how each shipped folder was made.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

#: Each bundled format: its model-folder kind and the card that describes it.
CARDS = {
    "stylegan2-generator": "A 32 px StyleGAN2 demo generator of the shapes world, trained by clipedit.",
    "shapes-judge": "The independent shapes-world judge (colour and shape heads), trained by clipedit.",
    "clip-compact": "clipedit's small offline CLIP guide for the shapes world (only the trained token rows stored).",
    "shapes-muse": "clipedit's offline masked generator (VQ model + U-ViT) of the shapes world.",
}


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


def checkpoint(kind: str, old: Path, out: Path) -> Path:
    from clipedit.hub import save_checkpoint

    ck = torch.load(old, map_location="cpu", weights_only=True)
    if kind == "shapes-judge" and "state_dict" not in ck:  # the judge was a bare state dict
        ck = {"state_dict": ck}
    if kind == "stylegan2-generator":
        ck.setdefault("meta", {})["trainer"] = str(ck.get("meta", {}).get("trainer", "")).replace(
            "clipedit.training.", "lab.training.")
    return save_checkpoint(out, ck, kind=kind, card=CARDS[kind])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["adjustable", *CARDS])
    p.add_argument("old", type=Path)
    p.add_argument("out", type=Path)
    a = p.parse_args(argv)
    print(f"wrote {adjustable(a.old, a.out) if a.what == 'adjustable' else checkpoint(a.what, a.old, a.out)}")


if __name__ == "__main__":
    main()
