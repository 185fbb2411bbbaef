"""The bad-input table of docs/cli.md, row by row: each input is refused with one line and exit status 2 before any
work starts (or, for SIGTERM, the best result so far is saved and the process exits 143)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from clipedit import cli
from clipedit.cli import main


@pytest.fixture
def no_work(monkeypatch):
    """Replace every subcommand's work with a failure: a row passes only if its check refused the input first."""
    def forbidden(a):
        raise AssertionError(f"{a.command} started work on bad input")
    monkeypatch.setattr(cli, "SUBCOMMANDS", {k: forbidden for k in cli.SUBCOMMANDS})


def run_cli(args, capsys):
    t = time.perf_counter()
    rc = main(args)
    seconds = time.perf_counter() - t
    err = capsys.readouterr().err.strip()
    return rc, err, seconds


def one_line_exit_2(rc, err, seconds, *words):
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    assert seconds < 1.0, seconds


@pytest.mark.parametrize("args, words", [
    (["guide", "a red circle", "--out", "."], ["is a folder"]),
    (["guide", "a red circle", "--out", "{tmp}/"], ["is a folder"]),
    (["draw", "a red circle", "--out", "{tmp}"], ["is a folder"]),
    (["guide", "a red circle", "--out", "/proc/a.png"], ["cannot be written"]),
    (["guide", "a red circle", "--size", "100000"], ["GiB", "limit", "--size"]),
    (["draw", "a red circle", "--canvas", "100000"], ["GiB", "limit", "--canvas"]),
    (["guide", "a red circle", "--device", "nonsense"], ["unknown device", "available here: cpu"]),
    (["draw", "a red circle", "--paths", "0"], ["--paths", "at least 1"]),
    (["draw", "a red circle", "--steps", "0"], ["--steps", "at least 1"]),
    (["guide", "a red circle", "--lr", "nan"], ["--lr", "finite"]),
    (["guide", "   "], ["empty"]),
    (["stylize", "{tmp}/missing.jpg", "{tmp}/missing2.jpg"], ["not found"]),
    (["edit", "a blue circle", "--generator", "{tmp}/missing.pt"], ["not found"]),
    (["edit", "a blue circle", "--generator", "stylegan2-ffhq-typo"], ["--generator file not found", "clipedit models"]),
    (["edit", "a blue circle", "--latent", "{tmp}/missing.pt"], ["--latent file not found"]),
    (["invert", "{tmp}/missing.png"], ["not found"]),
    (["generate", ""], ["empty"]),
    (["generate", "a blue star", "--steps", "0"], ["--steps", "at least 1"]),
    (["generate", "a blue star", "--steps", "65"], ["at most the number of tokens (64)"]),
    (["generate", "a blue star", "--model", "amused/amused-256", "--steps", "300"], ["tokens (256)"]),
    (["generate", "a blue star", "--guidance", "nan"], ["--guidance", "finite"]),
    (["generate", "a blue star", "--n", "0"], ["--n", "at least 1"]),
    (["generate", "a blue star", "--temperature", "0"], ["--temperature", "> 0"]),
    (["generate", "a blue star", "--plausibility", "1"], ["--plausibility", "[0, 1)"]),
    (["generate", "a blue star", "--model", "no/such-model"], ["unknown model", "clipedit/shapes-muse"]),
    (["generate", "a blue star", "--out", "."], ["is a folder"]),
    (["vqgan", "  "], ["empty"]),
    (["vqgan", "a yellow star", "--generator", "nope"], ["unknown generator"]),
    (["vqgan", "a yellow star", "--init", "{tmp}/missing.png"], ["not found"]),
    (["vqgan", "a yellow star", "--size", "30"], ["multiple"]),
    (["vqgan", "a yellow star", "--lr", "-1"], ["--lr", "> 0"]),
    (["nada", "a circle", "a circle"], ["same text"]),
    (["nada", "a circle", "a square", "--layers", "9"], ["--layers 9", "8 W+ layers"]),
    (["nada", "a circle", "a square", "--generator", "{tmp}/missing.pt"], ["--generator file not found"]),
    (["nada", "a circle", "  "], ["target text is empty"]),
    (["mapper", "train", "  "], ["empty"]),
    (["mapper", "train", "a blue circle", "--generator", "{tmp}/missing.pt"], ["--generator file not found"]),
    (["edit", "a blue circle", "--method", "mapper"], ["--method mapper needs --mapper"]),
    (["edit", "a blue circle", "--method", "mapper", "--mapper", "{tmp}/missing.pt"], ["--mapper file not found"]),
    (["edit", "a shape", "--method", "global"], ["neutral text are the same"]),
    (["edit", "a blue circle", "--method", "global", "--beta", "2"], ["--beta", "[0, 1]"]),
])
def test_refused_before_any_work(args, words, tmp_path, capsys, no_work):
    args = [x.replace("{tmp}", str(tmp_path)) for x in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "o.png")]
    one_line_exit_2(*run_cli(args + ["--quiet"], capsys), *words)


def test_image_over_pils_pixel_limit(tmp_path, capsys, monkeypatch, no_work):
    big = tmp_path / "big.png"
    Image.new("RGB", (200, 100), "white").save(big)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 20,000 pixels: over the limit (PIL only warns below 2x)
    one_line_exit_2(*run_cli(["guide", "a red circle", "--init", str(big), "--out", str(tmp_path / "o.png")], capsys),
                    "20,000 pixels", "PIL's limit")
    from clipedit.imageio import load_image
    with pytest.raises(ValueError, match="PIL's limit"):
        load_image(big)


def _bad_generators(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    rand = tmp_path / "random.pt"
    rand.write_bytes(os.urandom(4096))
    obj = tmp_path / "object.pt"
    torch.save({"g_ema": Evil()}, obj)
    pkl = tmp_path / "random.pkl"
    pkl.write_bytes(os.urandom(4096))
    return marker, [rand, obj, pkl]


def test_load_generator_on_bad_files_explains_and_runs_nothing(tmp_path, capsys):
    from clipedit.styleclip import load_generator

    marker, files = _bad_generators(tmp_path)
    for path in files:
        with pytest.raises(ValueError) as err:
            load_generator(path)
        msg = str(err.value)
        assert str(path) in msg and "expected a rosinality .pt" in msg and "clipedit models" in msg, msg
        assert len(msg.splitlines()) == 1 and "Traceback" not in msg
        rc, line, _ = run_cli(["edit", "a blue circle", "--generator", str(path), "--out", str(tmp_path / "e.png"),
                               "--quiet", "--model", "clipedit/shapes"], capsys)
        assert rc == 2 and len(line.splitlines()) == 1 and "not a StyleGAN2 checkpoint" in line
    assert "pickled Python objects" in str(pytest.raises(ValueError, load_generator, files[1]).value)
    assert not marker.exists()  # nothing in the file ever ran


def _cli_command():
    exe = os.path.join(os.path.dirname(sys.executable), "clipedit")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "clipedit.cli"]


def test_sigterm_saves_the_best_so_far_and_exits_143(tmp_path):
    out = tmp_path / "t.png"
    proc = subprocess.Popen(_cli_command() + ["guide", "a red circle", "--steps", "100000", "--model", "clipedit/shapes",
                                              "--size", "32", "--n-augs", "1", "--progress", "--out", str(out)],
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, CLIPEDIT_DEVICE="cpu"))
    seen = ""
    deadline = time.time() + 180
    while not re.search(r"\| *[1-9]\d*/100000", seen) and time.time() < deadline:  # steps have been taken
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 143, seen + rest
    assert out.is_file()
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["stopped"] == "terminated" and 0 < report["steps_run"] < 100000
    last = rest.strip().splitlines()[-1]
    assert last.startswith("clipedit guide: terminated; saved the best result so far")


def test_progress_bar_policy(tmp_path, capsys):
    from clipedit.optim import optimize

    x = torch.zeros(3, requires_grad=True)
    optimize([x], lambda s: (x - 1).pow(2).sum(), steps=50, progress=None)  # stderr is no terminal here: no bar
    assert capsys.readouterr().err == ""
    # Asked for explicitly, a bar refreshes at its own pace, not once per step and per postfix.
    optimize([x], lambda s: (x - 1).pow(2).sum(), steps=2000, progress=True)
    err = capsys.readouterr().err
    assert 0 < err.count("\r") < 200, err.count("\r")


def test_error_line_starts_on_a_fresh_line_after_a_bar(tmp_path, capsys):
    rc = main(["guide", "a red circle", "--model", "clipedit/shapes", "--steps", "2", "--size", "32", "--progress",
               "--out", str(tmp_path / "ok.png")])
    assert rc == 0
    capsys.readouterr()
    rc = main(["guide", "a red circle", "--model", "ViT-Q/1", "--out", str(tmp_path / "o.png"), "--progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("\n") and err.strip().startswith("clipedit guide: error: unknown model")
