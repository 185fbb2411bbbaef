"""Model registry: checkpoint round trips, the download cache, offline errors, 'auto', devices."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import torch

from clipedit.device import select_device
from clipedit import weights
from clipedit.models import registry
from clipedit.weights import WeightFile
from clipedit.models.openai_clip import KNOWN_CONFIGS, infer_config
from clipedit.models.registry import ModelSpec, ModelUnavailableError, load_clip
from tests.conftest import TINY_RN, TINY_VIT, make_tiny


def embeddings(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(2, 3, model.input_resolution, model.input_resolution, generator=g)
    tok = model.tokenize(["a red circle", "a photo of a dog on the grass"])
    with torch.no_grad():
        return model.encode_image(img), model.encode_text(tok)


@pytest.mark.parametrize("config", [TINY_VIT, TINY_RN], ids=["vit", "resnet"])
def test_state_dict_checkpoint_round_trip(tmp_path, config):
    model = make_tiny(config, 7)
    # OpenAI's state dicts are fp16 on disk for most tensors; include that and the extra int keys.
    sd = {k: (v.half() if v.dim() > 1 else v) for k, v in model.model.state_dict().items()}
    path = tmp_path / "tiny.pt"
    torch.save(sd, path)
    loaded = load_clip(path, device="cpu", cache=False)
    assert loaded.config == config
    assert next(loaded.model.parameters()).dtype == torch.float32
    ref = make_tiny(config, 7)
    ref.model.load_state_dict({k: v.float() for k, v in sd.items()})
    for a, b in zip(embeddings(loaded), embeddings(ref)):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_torchscript_archive_round_trip(tmp_path):
    """OpenAI ships TorchScript archives; their state_dict is read and rebuilt in float32."""
    model = make_tiny(TINY_VIT, 3)
    tok = model.tokenize(["a"])
    img = torch.rand(1, 3, 32, 32)
    traced = torch.jit.trace(model.model, (img, tok), check_trace=False)
    path = tmp_path / "ViT-tiny.pt"
    traced.save(str(path))
    loaded = load_clip(path, device="cpu", cache=False)
    for a, b in zip(embeddings(loaded), embeddings(model)):
        assert torch.allclose(a, b, atol=1e-5)


def test_infer_config_of_real_shapes():
    # The registry's known shapes survive a state-dict round trip of shapes only (meta tensors: no memory).
    from dataclasses import asdict

    from clip.model import CLIP

    for name, cfg in KNOWN_CONFIGS.items():
        with torch.device("meta"):
            net = CLIP(**asdict(cfg))
        assert infer_config(net.state_dict()) == cfg, name


def test_not_a_clip_checkpoint(tmp_path):
    p = tmp_path / "x.pt"
    torch.save({"weight": torch.zeros(2)}, p)
    with pytest.raises(ValueError, match="not an OpenAI-format CLIP"):
        load_clip(p, device="cpu", cache=False)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello")
    with pytest.raises(ValueError, match="neither"):
        load_clip(junk, device="cpu", cache=False)
    with pytest.raises(FileNotFoundError):
        load_clip(tmp_path / "missing" / "x.pt", device="cpu", cache=False)
    with pytest.raises(ValueError, match="unknown model"):
        load_clip("ViT-Z/99", device="cpu", cache=False)


def _spec(url: str, sha: str | None = None, filename: str = "Fake-B-32.pt") -> ModelSpec:
    return ModelSpec(WeightFile("fake", filename, url, sha, "test"), registry._load_file)


def test_offline_download_fails_fast_with_the_path(cache, monkeypatch):
    monkeypatch.setenv("CLIPEDIT_OFFLINE", "0")
    spec = _spec("http://127.0.0.1:9/clip/models/abc/Fake-B-32.pt", "0" * 64)  # port 9: nothing listens
    t = time.time()
    with pytest.raises(ModelUnavailableError) as err:
        weights.resolve(spec.weights)
    assert time.time() - t < 5
    msg = str(err.value)
    assert str(cache / "Fake-B-32.pt") in msg and "CLIPEDIT_CACHE" in msg and "load_clip(" in msg
    assert not cache.exists()  # no empty cache folder left behind
    monkeypatch.setenv("CLIPEDIT_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="CLIPEDIT_OFFLINE"):
        weights.resolve(spec.weights)


def test_real_names_error_offline(cache):
    with pytest.raises(ModelUnavailableError) as err:
        load_clip("ViT-B/32", device="cpu", cache=False)
    assert "ViT-B-32.pt" in str(err.value) and str(cache) in str(err.value)


def test_download_verifies_checksum_and_caches(cache, http_server, monkeypatch):
    monkeypatch.setenv("CLIPEDIT_OFFLINE", "0")
    root, base = http_server
    model = make_tiny(TINY_VIT, 5)
    src = root / "Fake-B-32.pt"
    torch.save(model.model.state_dict(), src)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    bad = _spec(f"{base}/Fake-B-32.pt", "f" * 64)
    with pytest.raises(ModelUnavailableError, match="checksum mismatch"):
        weights.download(bad.weights, progress=False)
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-written stays
    good = _spec(f"{base}/Fake-B-32.pt", sha)
    path = weights.download(good.weights, progress=False)
    assert path == cache / "Fake-B-32.pt" and weights.sha256_file(path) == sha
    registry.register_model(good)
    try:
        loaded = load_clip("fake", device="cpu", cache=False)
        for a, b in zip(embeddings(loaded), embeddings(model)):
            assert torch.allclose(a, b, atol=1e-5)
        src.unlink()  # now served from the cache, no network needed
        monkeypatch.setenv("CLIPEDIT_OFFLINE", "1")
        assert load_clip("fake", device="cpu", cache=False).config == TINY_VIT
    finally:
        registry._REGISTRY.pop("fake")


def test_auto_falls_back_to_the_offline_guide(cache, capsys):
    model = load_clip("auto", device="cpu", cache=False)
    assert model.name == "clipedit/shapes"
    err = capsys.readouterr().err
    assert "offline guide" in err and len(err.strip().splitlines()) == 1


def test_half_precision_is_refused_on_cpu(tiny_vit):
    with pytest.raises(RuntimeError, match="GPU"):
        tiny_vit.half_()


def test_device_selection(monkeypatch):
    monkeypatch.delenv("CLIPEDIT_DEVICE", raising=False)
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert select_device().type in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA"):
            select_device("cuda")
    monkeypatch.setenv("CLIPEDIT_DEVICE", "cpu")
    assert select_device().type == "cpu"


def test_model_listing():
    names = registry.list_models()
    assert {"auto", "ViT-B/32", "ViT-B/16", "RN50", "clipedit/shapes"} <= set(names)
    spec = registry.get_spec("ViT-B/32")
    assert spec.weights.filename == "ViT-B-32.pt" and len(spec.weights.sha256) == 64
    assert spec.weights is weights.get_weights("ViT-B/32")  # the registry holds the table's row, not a copy
    assert (weights.ASSETS / "shapes-guide" / "model.safetensors").is_file()  # a model folder: no pickle
