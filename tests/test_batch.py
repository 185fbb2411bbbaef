"""Folders of images: one output per input, bad files skipped in one line and listed, exit 1 if any failed, and an
interrupted run keeps what it finished."""
from __future__ import annotations

import os

import pytest
import torch

from clipedit.cli import main
from clipedit.cli.batch import run_batch
from clipedit.data.shapes import sample_batch
from clipedit.imageio import save_image
from clipedit.interrupt import EXIT_TERMINATED, Terminated


@pytest.fixture
def photos(tmp_path):
    """Three readable pictures, a file of random bytes and a truncated PNG, in one folder."""
    d = tmp_path / "in"
    d.mkdir()
    imgs = sample_batch(3, 48, torch.Generator().manual_seed(0), noise=0.0).images
    for i, img in enumerate(imgs):
        save_image(img[None], d / f"good{i}.png")
    (d / "noise.png").write_bytes(os.urandom(600))
    full = (d / "good0.png").read_bytes()
    (d / "cut.png").write_bytes(full[: len(full) // 2])
    (d / "notes.txt").write_text("not an image: a folder's other files are left alone")
    return d


def test_adjust_a_folder_writes_one_output_per_good_input_and_exits_1(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["adjust", str(photos), "--out", str(out), "--size", "32", "--style-weight", "2"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["good0.png", "good1.png", "good2.png"]
    err, stdout = capsys.readouterr()[::-1]
    skipped = [line for line in err.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2 and any("noise.png" in s for s in skipped) and any("cut.png" in s for s in skipped)
    assert "wrote 3 of 5" in stdout and "2 failed: cut.png, noise.png" in stdout


def test_a_glob_of_good_files_exits_0(photos, tmp_path, capsys):
    out = tmp_path / "globbed"
    assert main(["adjust", str(photos / "good*.png"), "--out", str(out), "--size", "32"]) == 0
    assert len(list(out.glob("*.png"))) == 3
    assert "wrote 3 of 3" in capsys.readouterr().out


def test_folder_input_refusals_are_one_line_before_work(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["adjust", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "names no input files" in capsys.readouterr().err
    assert main(["adjust", str(tmp_path / "nothing*.png"), "--out", str(tmp_path / "o")]) == 2
    (tmp_path / "a.png").write_bytes(b"x")
    assert main(["adjust", str(tmp_path / "*.png"), "--out", str(tmp_path / "one.png")]) == 2
    assert "give a folder" in capsys.readouterr().err


@pytest.mark.parametrize("signal_cls,code", [(KeyboardInterrupt, 130), (Terminated, EXIT_TERMINATED)])
def test_an_interrupted_folder_keeps_the_finished_outputs(tmp_path, signal_cls, code, capsys):
    files = [tmp_path / f"f{i}.png" for i in range(5)]
    out = tmp_path / "out"
    out.mkdir()

    def one(src, dst):
        if src.name == "f2.png":
            raise signal_cls()
        dst.write_text("done")

    assert run_batch(files, out, one, progress=False, desc="t") == code
    assert sorted(p.name for p in out.iterdir()) == ["f0.png", "f1.png"]
    assert "stopped with 3 not started" in capsys.readouterr().out


def test_invert_a_folder_then_edit_its_latents(photos, tmp_path):
    inv, edits = tmp_path / "inverted", tmp_path / "edits"
    assert main(["invert", str(photos / "good*.png"), "--out", str(inv), "--steps", "2", "--vgg", "random",
                 "--quiet"]) == 0
    assert sorted(p.name for p in inv.iterdir()) == sorted(
        [f"good{i}{s}" for i in range(3) for s in (".png", ".latent.safetensors")])
    assert main(["edit", "a blue circle", "--latent", str(inv), "--out", str(edits), "--steps", "2",
                 "--quiet"]) == 0
    assert sorted(p.name for p in edits.glob("*.png")) == ["good0.png", "good1.png", "good2.png"]
