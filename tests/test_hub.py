"""Trained things as model folders (safetensors + config.json + a model card), loaded by path or Hub repo id."""
from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import clipedit
from clipedit import hub
from clipedit.weights import ModelUnavailableError

PACKAGE = Path(clipedit.__file__).resolve().parent


def test_a_folder_round_trips_tensors_and_config_exactly(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b.c": torch.arange(5)}
    config = {"architecture": {"width": 4, "levels": [0, 4, 8]}, "note": "ünïcode", "nested": {"x": None}}
    folder = hub.save_pretrained(tmp_path / "m", tensors, config, kind="demo", card="Demo.")
    back, cfg = hub.load_pretrained(folder, "demo")
    assert set(back) == set(tensors) and all(torch.equal(back[k], tensors[k]) for k in tensors)
    assert {k: cfg[k] for k in config} == config and cfg["clipedit_kind"] == "demo"
    assert json.loads((folder / "config.json").read_text()) == cfg  # plain JSON, nothing pickled
    assert "library_name: clipedit" in (folder / "README.md").read_text()
    with pytest.raises(ValueError, match="holds a demo, not a latent-mapper"):
        hub.load_pretrained(folder, "latent-mapper")


def test_every_family_saves_a_folder_and_reloads_with_identical_outputs(tmp_path):
    from clipedit.models.adapters import attach_adapters, load_adapters
    from clipedit.models.muse import build_shapes_transformer
    from clipedit.style.adjustable import AdjustableStyleNet, loss_weights
    from clipedit.styleclip import Generator, StyleGAN2Config, load_generator
    from clipedit.styleclip.mapper import LevelsMapper, load_mapper, save_mapper
    from clipedit.styleclip.nada import save_generator

    torch.manual_seed(0)
    G = Generator(StyleGAN2Config(size=16, style_dim=32, n_mlp=2, channel_multiplier=1, channels=((4, 32), (8, 16), (16, 8))))
    G.recommended = {"neutral": "a blob"}
    w = G.sample_w(2, seed=1)
    G2 = load_generator(save_generator(G, tmp_path / "gen", {"source": "a circle", "target": "a square"}))
    assert torch.equal(G.synthesis(w, noise_mode="const"), G2.synthesis(w, noise_mode="const"))
    assert G2.recommended == {"neutral": "a blob"}

    m = LevelsMapper(G.n_latent, 32)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
    m2, prompt = load_mapper(save_mapper(m, tmp_path / "mapper", "a blue circle", {"steps": 3}))
    wp = G.to_wplus(w)
    assert prompt == "a blue circle" and torch.equal(m.edit(wp), m2.edit(wp))

    net = AdjustableStyleNet()
    x = torch.rand(1, 3, 32, 32)
    back = AdjustableStyleNet.load(net.save(tmp_path / "adjustable", {"style": "x"}))
    assert torch.equal(net(x, loss_weights(1, 2)), back(x, loss_weights(1, 2)))

    tr = build_shapes_transformer()
    ad = attach_adapters(tr, rank=2)
    with torch.no_grad():
        for p in ad.parameters():
            p.normal_(0, 0.1)
    saved = {k: v.clone() for k, v in ad.state_dict().items()}
    folder = ad.save(tmp_path / "adapters", {"style": "striped"})
    ad.detach()
    again, meta = load_adapters(folder)
    assert meta == {"style": "striped"} and all(torch.equal(again.state_dict()[k], v) for k, v in saved.items())
    for f in ("gen", "mapper", "adjustable", "adapters"):  # each a folder of safetensors, config.json and a card
        assert sorted(p.name for p in (tmp_path / f).iterdir()) == ["README.md", "config.json", "model.safetensors"]
        assert load_file(str(tmp_path / f / "model.safetensors"))


def test_a_repo_id_offline_fails_at_once_in_one_line(monkeypatch):
    from clipedit.styleclip.mapper import load_mapper

    for env in ("CLIPEDIT_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(env, "1")
        t = time.perf_counter()
        with pytest.raises(ModelUnavailableError) as err:
            load_mapper("someone/a-blue-circle-mapper")
        assert time.perf_counter() - t < 5
        msg = str(err.value)
        assert "\n" not in msg and "--local-dir" in msg and "pass the folder" in msg, msg
        monkeypatch.delenv(env)


def test_a_repo_id_goes_through_huggingface_hub(tmp_path, monkeypatch):
    """What ``from_pretrained`` asks huggingface_hub for, and that the snapshot it returns is read."""
    import huggingface_hub

    from clipedit.styleclip.mapper import LevelsMapper, load_mapper, save_mapper

    folder = save_mapper(LevelsMapper(8, 16), tmp_path / "snapshot", "a red star")
    calls = []

    def fake_snapshot(repo_id, **kw):
        calls.append((repo_id, kw))
        return str(folder)

    monkeypatch.setenv("CLIPEDIT_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    _, prompt = load_mapper("someone/red-star-mapper")
    assert prompt == "a red star" and calls[0][0] == "someone/red-star-mapper"
    assert set(calls[0][1]["allow_patterns"]) == {"model.safetensors", "config.json", "README.md"}


def test_push_to_hub_uploads_the_folder(tmp_path, monkeypatch):
    import huggingface_hub

    folder = hub.save_pretrained(tmp_path / "m", {"w": torch.ones(1)}, {}, kind="demo", card="Demo.")
    done = {}

    class FakeApi:
        def __init__(self, token=None):
            done["token"] = token

        def create_repo(self, repo_id, private=False, exist_ok=False):
            done["repo"] = (repo_id, private, exist_ok)
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, folder_path, repo_id):
            done["upload"] = (folder_path, repo_id)

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert hub.push_to_hub(folder, "me/demo").endswith("me/demo")
    assert done["upload"] == (str(folder), "me/demo") and done["repo"][2]
    with pytest.raises(FileNotFoundError):
        hub.push_to_hub(tmp_path, "me/demo")


def test_outputs_that_cannot_be_a_folder_are_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        hub.check_folder_out(tmp_path / "f")
    with pytest.raises(ValueError, match="not a .pt file"):
        hub.check_folder_out(tmp_path / "adapter.pt")


def test_the_trained_families_never_pickle():
    """The mapper, NADA's generators, StyleDrop's adapters and the adjustable network are written and read as
    model folders only: their modules call neither torch.save nor torch.load."""
    for rel in ("styleclip/mapper.py", "styleclip/nada.py", "models/adapters.py", "style/adjustable.py", "hub.py"):
        calls = [ast.unparse(n.func) for n in ast.walk(ast.parse((PACKAGE / rel).read_text()))
                 if isinstance(n, ast.Call)]
        assert not [c for c in calls if c in ("torch.save", "torch.load")], rel
    src = (PACKAGE / "styleclip" / "loaders.py").read_text()
    save = src[src.index("def save_generator"):src.index("def recommended_settings")]
    assert "torch.save" not in save


#: Where the library may still call torch.load: readers of other projects' files, each weights_only (tensors and
#: plain containers, never code). clipedit's own formats are model folders or .safetensors files.
THIRD_PARTY_READERS = {
    ("losses/perceptual.py", "_torchvision_weights"), ("losses/perceptual.py", "__init__"),  # torchvision's VGG
    ("models/registry.py", "read_state_dict"),       # OpenAI CLIP and users' state-dict checkpoints
    ("styleclip/edit.py", "load_latents"),           # e4e / pSp / StyleCLIP latent files
    ("styleclip/identity.py", "load_arcface"),       # ArcFace IR-SE50
    ("styleclip/loaders.py", "_load_storage_bytes"), ("styleclip/loaders.py", "_state_from_file"),  # rosinality, NVIDIA
}


def test_no_clipedit_written_file_is_read_or_written_with_pickle():
    """torch.save appears nowhere in the library, torch.load only in readers of other projects' formats, and the
    bundled assets hold no pickle (every one is a model folder of safetensors and JSON)."""
    found = set()
    for py in PACKAGE.rglob("*.py"):
        for fn in ast.walk(ast.parse(py.read_text())):
            if isinstance(fn, ast.FunctionDef):
                for n in ast.walk(fn):
                    if isinstance(n, ast.Call) and ast.unparse(n.func) in ("torch.save", "torch.load"):
                        assert ast.unparse(n.func) == "torch.load", f"{py.relative_to(PACKAGE)}:{n.lineno} torch.save"
                        assert any(k.arg == "weights_only" for k in n.keywords), f"{py}:{n.lineno} not weights_only"
                        found.add((py.relative_to(PACKAGE).as_posix(), fn.name))
    assert found <= THIRD_PARTY_READERS, found - THIRD_PARTY_READERS
    assets = PACKAGE / "assets"
    assert not [p for p in assets.rglob("*") if p.is_file() and p.suffix in (".pt", ".pth", ".pkl", ".bin", ".ckpt")]
    for folder in (p for p in assets.iterdir() if p.is_dir()):
        assert hub.is_pretrained_folder(folder), folder
        assert load_file(str(folder / "model.safetensors"))
