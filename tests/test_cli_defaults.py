"""Every default of the command line is the library's: each CLI option that feeds a library parameter must have the
same default as that parameter's signature (both read :mod:`clipedit.defaults`), and every option is accounted for:
a new option fails here until it is mapped or listed as the CLI's own."""
from __future__ import annotations

import argparse
import inspect

import pytest

from clipedit.cli import build_parser

#: CLI-only options: where outputs go, how the run is shown, and what selects a code path rather than a value.
CLI_ONLY = {"help", "out", "quiet", "progress", "device", "scale", "negative", "init", "latent", "style", "image",
            "content", "prompt", "source", "target", "adapter", "method", "mapper", "multistyle", "weights", "space",
            "generator", "rounds", "paper", "feedback", "no_quantize", "layer_weights", "action", "command",
            "neutral", "alpha", "beta", "layers", "video", "every", "mask", "photo"}


def _functions():
    from clipedit.draw.clipdraw import draw, styleclipdraw
    from clipedit.masked.generate import generate
    from clipedit.masked.vqgan import vqgan_clip
    from clipedit.style.adjustable import adjust
    from clipedit.style.arbitrary import load_arbitrary_style, style_transfer_clip, stylize
    from clipedit.styleclip.edit import project, styleclip_edit
    from clipedit.styleclip.global_directions import edit_global
    from clipedit.styleclip.mapper import train_mapper
    from clipedit.styleclip.nada import nada
    from clipedit.styledrop.feedback import collect_feedback
    from clipedit.styledrop.sample import sample_style
    from clipedit.styledrop.train import StyleDropSettings
    from clipedit.text_to_image import guide_image

    # command path -> [(library callable, {cli dest: library parameter})]
    return {
        ("guide",): [(guide_image, {"steps": "steps", "lr": "lr", "param": "param", "augment": "augment",
                                    "n_augs": "n_augs", "size": "size", "seed": "seed", "model": "model"})],
        ("stylize",): [(stylize, {"strength": "strength", "size": "content_size"}),
                       (load_arbitrary_style, {"transfer": "transfer"})],
        ("style-text",): [(style_transfer_clip, {"steps": "steps", "l2": "l2_weight", "n_augs": "n_augs",
                                                 "size": "content_size", "seed": "seed", "model": "model"})],
        ("adjust",): [(adjust, {"content_weight": "content_weight", "style_weight": "style_weight",
                                "size": "content_size", "style": "style"})],
        ("draw",): [(draw, {"steps": "steps", "paths": "num_paths", "canvas": "canvas", "max_width": "max_width",
                            "augment": "augment", "n_augs": "n_augs", "renderer": "renderer", "seed": "seed",
                            "model": "model"}),
                    (styleclipdraw, {"style_weight": "style_weight", "style_loss": "style_loss", "vgg": "vgg_weights"})],
        ("edit",): [(styleclip_edit, {"steps": "steps", "lr": "lr", "l2": "l2_lambda", "id": "id_lambda",
                                      "truncation": "truncation", "space": "space", "mode": "mode", "seed": "seed",
                                      "model": "model"}),
                    (edit_global, {"samples": "n_samples"})],
        ("mapper", "train"): [(train_mapper, {"steps": "steps", "batch": "batch", "lr": "lr", "l2": "l2_lambda",
                                              "id": "id_lambda", "seed": "seed"})],
        ("nada",): [(nada, {"steps": "steps", "batch": "batch", "lr": "lr", "train_noise": "train_noise",
                            "seed": "seed"})],
        ("invert",): [(project, {"steps": "steps", "lr": "lr", "mse": "mse", "perceptual": "perceptual",
                                 "vgg": "vgg_weights", "seed": "seed"})],
        ("generate",): [(generate, {"steps": "steps", "n": "n", "guidance": "guidance", "temperature": "temperature",
                                    "plausibility": "plausibility", "model": "model", "seed": "seed"})],
        ("vqgan",): [(vqgan_clip, {"steps": "steps", "lr": "lr", "n_augs": "n_augs", "size": "size", "seed": "seed",
                                   "model": "model"})],
        ("styledrop", "train"): [(StyleDropSettings, {"seed": "seed"}),
                                 (collect_feedback, {"feedback_n": "n_per_prompt", "top_k": "top_k"})],
        ("styledrop", "sample"): [(sample_style, {"n": "n", "lambda_a": "lambda_a", "lambda_b": "lambda_b",
                                                  "steps": "steps", "seed": "seed"})],
    }


#: Options left ``None`` on purpose: the library (or the settings object) decides, and the help says what it picks.
LIBRARY_DECIDES = {("styledrop", "train"): {"steps": "steps", "batch": "batch", "lr": "lr", "rank": "rank",
                                            "kind": "kind"},
                   ("style-text",): {"lr": "lr"}}


def _subparser(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in p._actions if not isinstance(a, argparse._SubParsersAction)}


def _default(fn, param: str):
    return inspect.signature(fn).parameters[param].default


@pytest.mark.parametrize("path", list(_functions()), ids=" ".join)
def test_every_cli_default_is_the_librarys(path):
    parser = _subparser(build_parser(), path)
    opts = _options(parser)
    mapped: set[str] = set()
    for fn, mapping in _functions()[path]:
        for dest, param in mapping.items():
            assert dest in opts, f"{' '.join(path)}: no option {dest}"
            assert opts[dest].default == _default(fn, param), (
                f"clipedit {' '.join(path)} --{dest.replace('_', '-')} defaults to {opts[dest].default!r}, "
                f"the library's {fn.__name__}({param}=) to {_default(fn, param)!r}")
            mapped.add(dest)
    decides = LIBRARY_DECIDES.get(path, {})
    for dest in decides:
        assert opts[dest].default is None, f"{dest} should be left to the library"
    if path == ("styledrop", "train"):  # the settings object's defaults are quoted in the help
        from clipedit.styledrop.train import StyleDropSettings

        for dest, field in decides.items():
            assert str(getattr(StyleDropSettings(), field)) in opts[dest].help.replace("0.001", "1e-03") \
                or f"{getattr(StyleDropSettings(), field):g}" in opts[dest].help
    unaccounted = set(opts) - mapped - set(decides) - CLI_ONLY - {"model"}
    assert not unaccounted, f"clipedit {' '.join(path)}: options with no library counterpart listed: {unaccounted}"


def test_the_help_quotes_the_default_it_uses():
    """Every numeric default that argparse holds is the number its help text states."""
    parser = build_parser()
    for path in _functions():
        for dest, action in _options(_subparser(parser, path)).items():
            if isinstance(action.default, (int, float)) and not isinstance(action.default, bool) and action.help \
                    and "default" in action.help and dest != "seed":
                assert f"default {action.default:g}" in action.help or f"default {action.default}" in action.help, \
                    (path, dest, action.help)


def test_draw_defaults_come_from_the_guide():
    """``draw`` leaves steps, paths and canvas to the guide model: the offline guide recommends smaller ones."""
    from clipedit.defaults import DRAW
    from clipedit.draw.clipdraw import drawing_settings
    from clipedit.guidance import CLIPGuide

    small = drawing_settings(CLIPGuide("a red circle", models="clipedit/shapes", augment="none", n_augs=1))
    assert small == {"steps": 300, "num_paths": 128, "canvas": 128}
    assert drawing_settings(None) == {"steps": DRAW.steps, "num_paths": DRAW.num_paths, "canvas": DRAW.canvas}
    given = drawing_settings(CLIPGuide("a red circle", models="clipedit/shapes", augment="none", n_augs=1), steps=7)
    assert given["steps"] == 7 and given["canvas"] == 128
