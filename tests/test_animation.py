"""The optimisation and the sampler's steps as animations: frames kept through the loops' own callbacks, written as
GIF (Pillow) and MP4 (imageio-ffmpeg), decoded back; the CLI's --video and --every, refused before any work when
they cannot be written."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from PIL import Image

from clipedit.animation import check_animation_path, save_animation
from clipedit.cli import main
from clipedit.optim import optimize


def _mp4_frames(path) -> tuple[int, tuple[int, int]]:
    import imageio.v3 as iio

    frames = iio.imread(path, plugin="pyav") if importlib.util.find_spec("av") else iio.imread(path)
    return len(frames), frames.shape[1:3]


def test_optimize_keeps_the_start_every_kth_step_and_the_result():
    x = torch.zeros(1, 3, 8, 8, requires_grad=True)
    start = torch.sigmoid(x).detach().clone()
    run = optimize([x], lambda step: ((torch.sigmoid(x) - 1) ** 2).mean(), 7, lr=0.5, render=lambda: torch.sigmoid(x),
                   keep_snapshots=True, callback_every=3, progress=False)
    assert [s for s, _ in run.snapshots] == [0, 3, 6, 7]
    assert torch.equal(run.frames[0], start) and torch.equal(run.frames[-1], run.image.cpu())
    assert not torch.equal(run.frames[1], run.frames[2])  # the frames follow the run
    plain = optimize([torch.zeros(1, requires_grad=True)], lambda s: torch.zeros((), requires_grad=True), 3,
                     progress=False)
    assert plain.frames == []  # nothing is kept unless asked


def test_a_method_result_has_the_frames_of_its_run(tiny_vit):
    from clipedit.guidance import CLIPGuide
    from clipedit.text_to_image import guide_image

    guide = CLIPGuide("a red circle", models=[tiny_vit], augment="none", n_augs=1)
    res = guide_image("a red circle", guide=guide, steps=5, size=32, keep_snapshots=True, callback_every=2,
                      progress=False)
    assert len(res.frames) == 4 and torch.equal(res.frames[-1], res.image)  # steps 0, 2, 4 and the result
    assert res.frames[0].shape == res.image.shape


@pytest.mark.parametrize("steps,every,count", [(4, 1, 5), (4, 3, 3), (6, 3, 3)])
def test_generation_frames_start_masked_and_end_on_the_images(steps, every, count):
    from clipedit.masked import generate

    out = generate("a red circle", n=2, steps=steps, seed=0, frames_every=every, progress=False)
    assert len(out.frames) == count
    assert torch.all(out.frames[0] == 0.5) and torch.equal(out.frames[-1], out.images)
    assert all(f.shape == out.images.shape for f in out.frames)
    assert generate("a red circle", steps=steps, seed=0, progress=False).frames == []


def test_gif_and_mp4_decode_to_the_frames_written(tmp_path):
    frames = [torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(i)) for i in range(5)]
    gif = save_animation(frames, tmp_path / "run.gif", fps=5)
    with Image.open(gif) as im:
        assert im.n_frames == 5 and im.size == (272, 144)  # two 128 px tiles, 2 px padding (262 x 132), rounded up to 16
    mp4 = save_animation(frames, tmp_path / "run.mp4", fps=5)
    n, hw = _mp4_frames(mp4)
    assert n == 5 and hw == (144, 272)


def test_mp4_without_the_extra_is_one_line_naming_it(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "imageio_ffmpeg" else real(name, *a))
    with pytest.raises(ImportError) as err:
        check_animation_path(tmp_path / "run.mp4")
    assert "clipedit[video]" in str(err.value) and "\n" not in str(err.value)
    assert check_animation_path(tmp_path / "run.gif").suffix == ".gif"  # a GIF needs only Pillow
    with pytest.raises(ValueError, match=".gif or an .mp4"):
        check_animation_path(tmp_path / "run.avi")


def test_cli_video_for_generation_and_guidance(tmp_path, capsys):
    gif = tmp_path / "gen.gif"
    assert main(["generate", "a red circle", "--steps", "4", "--n", "2", "--out", str(tmp_path / "g.png"),
                 "--video", str(gif), "--quiet"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 5
    mp4 = tmp_path / "guide.mp4"
    assert main(["guide", "a red circle", "--steps", "6", "--size", "32", "--n-augs", "1", "--model", "clipedit/shapes",
                 "--out", str(tmp_path / "o.png"), "--video", str(mp4), "--every", "2", "--quiet"]) == 0
    assert _mp4_frames(mp4)[0] == 4  # steps 0, 2, 4, 6
    assert "frames" in capsys.readouterr().out


@pytest.mark.parametrize("args,words", [
    (["guide", "a red circle", "--video", "{tmp}/run.avi"], [".gif or an .mp4"]),
    (["draw", "a red circle", "--video", "{tmp}"], ["is a folder"]),
    (["guide", "a red circle", "--every", "3"], ["--every", "--video"]),
    (["edit", "a blue circle", "--method", "global", "--video", "{tmp}/e.gif"], ["--video", "--method global"]),
])
def test_cli_video_refused_before_any_work(args, words, tmp_path, capsys, monkeypatch):
    from clipedit import cli

    monkeypatch.setattr(cli, "SUBCOMMANDS", {k: None for k in cli.SUBCOMMANDS})  # any work would crash
    args = [x.replace("{tmp}", str(tmp_path)) for x in args] + ["--out", str(tmp_path / "o.png")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
