"""``clipedit models``: every downloadable and bundled weight file, and where it is."""
from __future__ import annotations

import argparse

NAME = "models"
TITLES = {"clip": "CLIP models (--model)", "magenta": "Magenta arbitrary style (stylize, style-text)",
          "styleclip": "StyleGAN2 generators and the identity network (edit, invert)",
          "perceptual": "VGG perceptual networks (draw --style, invert, Gatys)",
          "style": "Style networks trained by clipedit (adjust)",
          "masked": "Masked generators (generate --model, vqgan --generator)"}


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser(NAME, help="list every downloadable and bundled weight file and where it is")


def check(a: argparse.Namespace) -> None:
    return None


def run(a: argparse.Namespace) -> int:
    import clipedit.models  # noqa: F401  (registers the CLIP rows)
    from clipedit.data.paths import find_data
    from clipedit.weights import cache_dir, file_size, weight_files, where

    print(f"cache: {cache_dir()}   (auto: ViT-B/32 when its weights are cached or downloadable, else clipedit/shapes)")
    magenta = find_data("weights/magenta-arbitrary-stylization")
    for method in {w.method: None for w in weight_files()}:  # every family in the table, none left out
        print(f"\n{TITLES.get(method, method)}:")
        for w in weight_files(method):
            state = where(w, [magenta] if (method == "magenta" and magenta) else [])
            size = f"{file_size(w) / 2**20:.1f} MB" if file_size(w) else "?"
            print(f"  {w.name:38s} {state:9s} {size:>8s}  {w.licence}  {w.description}"
                  + (f"  <{w.url}>" if w.url else ""))
    print("\nAny open_clip model: --model open_clip:ARCH/TAG (pip install 'clipedit[openclip]'); it joins the table.")
    return 0
