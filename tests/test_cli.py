"""The command line: the main job offline, conventions, exit code 2 on bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from clipedit.cli import main


def test_guide_writes_png_and_json(tmp_path, capsys):
    out = tmp_path / "red.png"
    rc = main(["guide", "a red circle", "--model", "clipedit/shapes", "--steps", "5", "--out", str(out),
               "--quiet", "--device", "cpu", "--size", "64"])
    assert rc == 0
    assert Image.open(out).size == (64, 64)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["prompt"] == "a red circle" and len(report["loss"]) == 5
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("args, words", [
    (["guide", "  "], "empty"),
    (["guide", "a red circle", "--steps", "0"], "steps"),
    (["guide", "a red circle", "--init", "/nonexistent/x.png"], "not found"),
    (["guide", "a red circle", "--model", "ViT-Q/1"], "unknown model"),
    (["guide", "a red circle", "--device", "cuda:7"], "not available"),
])
def test_bad_input_exits_2_with_one_line(args, words, capsys, tmp_path):
    if "cuda" in " ".join(args):
        import torch
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
    rc = main(args + ["--out", str(tmp_path / "o.png"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and words in err and len(err.splitlines()) == 1


def test_console_script_runs_offline(tmp_path):
    """The installed entry point, as a user runs it (default model 'auto' -> offline guide)."""
    env = dict(os.environ, CLIPEDIT_OFFLINE="1", CLIPEDIT_CACHE=str(tmp_path / "cache"))
    exe = os.path.join(os.path.dirname(sys.executable), "clipedit")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "clipedit.cli"]
    r = subprocess.run(cmd + ["guide", "a blue square", "--steps", "3", "--out", str(tmp_path / "b.png"),
                              "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "b.png").is_file() and "offline guide" in r.stderr
    r = subprocess.run(cmd + ["models"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "clipedit/shapes" in r.stdout and "ViT-B/32" in r.stdout
