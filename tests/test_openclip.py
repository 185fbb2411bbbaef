"""open_clip models through load_clip("open_clip:ARCH/TAG"), tested like the OpenAI path: on a tiny architecture and
checkpoint built here, a local download server, and the real tags' offline error."""
from __future__ import annotations

import hashlib
import json
import time

import pytest
import torch

from clipedit.guidance import CLIPGuide
from clipedit.models import ClipModel, load_clip
from clipedit.weights import WEIGHTS, ModelUnavailableError, WeightFile, register_weights

open_clip = pytest.importorskip("open_clip")

# The same config keys as open_clip's model_configs/*.json, at toy size.
TINY = {"embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1}}
ARCH = "clipedit-tiny-test"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("open_clip_cfg")
    (folder / f"{ARCH}.json").write_text(json.dumps(TINY))
    open_clip.add_model_config(folder)
    torch.manual_seed(0)
    return open_clip.create_model(ARCH).eval()


def reference_embeddings(ref, image, texts):
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    tokens = open_clip.get_tokenizer(ARCH)(texts)
    with torch.no_grad():
        return ref.encode_image((image - mean) / std), ref.encode_text(tokens)


def check_same_model(model, ref):
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    texts = ["a red circle", "a photo of a dog"]
    want_img, want_txt = reference_embeddings(ref, image, texts)
    with torch.no_grad():
        got_img = model.encode_image((image - model.mean.view(1, 3, 1, 1)) / model.std.view(1, 3, 1, 1))
        got_txt = model.encode_text(model.tokenize(texts))
    assert torch.allclose(got_img, want_img, atol=1e-5) and torch.allclose(got_txt, want_txt, atol=1e-5)


def test_checkpoint_file_round_trip_and_guidance(tmp_path, reference, device):
    path = tmp_path / "tiny.pt"
    torch.save(reference.state_dict(), path)
    model = load_clip(f"open_clip:{ARCH}/{path}", device="cpu", cache=False)
    assert isinstance(model, ClipModel) and (model.input_resolution, model.context_length) == (32, 16)
    assert model.dtype == torch.float32 and not any(p.requires_grad for p in model.parameters())
    check_same_model(model, reference)
    # The shared guide drives it like any CLIP: gradients reach the pixels.
    guide = CLIPGuide("a red circle", models=[model.to(device)], augment="cutouts", n_augs=2)
    x = torch.rand(1, 3, 48, 48, device=device, requires_grad=True)
    out = guide(x)
    out.loss.backward()
    assert torch.isfinite(out.loss) and float(x.grad.abs().sum()) > 0


def test_named_weights_download_verify_and_cache(cache, http_server, monkeypatch, reference):
    monkeypatch.setenv("CLIPEDIT_OFFLINE", "0")
    root, base = http_server
    src = root / "tiny.pt"
    torch.save(reference.state_dict(), src)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    key = f"open_clip:{ARCH}/test"
    try:
        register_weights(WeightFile(
            key, f"open_clip-{ARCH}-test.pt", f"{base}/tiny.pt", "0" * 64, "tiny test", src.stat().st_size, "MIT", "clip"))
        with pytest.raises(ModelUnavailableError, match="checksum mismatch"):
            load_clip(key, device="cpu", cache=False)
        assert not cache.exists() or not any(cache.iterdir())
        register_weights(WeightFile(key, f"open_clip-{ARCH}-test.pt", f"{base}/tiny.pt", sha, "tiny test",
                                                src.stat().st_size, "MIT", "clip"))
        check_same_model(load_clip(key, device="cpu", cache=False), reference)
        src.unlink()  # now served from the cache, no network needed
        monkeypatch.setenv("CLIPEDIT_OFFLINE", "1")
        check_same_model(load_clip(key, device="cpu", cache=False), reference)
    finally:
        WEIGHTS.pop(key, None)


def test_real_tags_fail_fast_offline_with_the_path(cache):
    t = time.time()
    with pytest.raises(ModelUnavailableError) as err:
        load_clip("open_clip:ViT-B-32/laion2b_s34b_b79k", device="cpu", cache=False)
    msg = str(err.value)
    assert time.time() - t < 5 and "open_clip-ViT-B-32-laion2b_s34b_b79k.safetensors" in msg and str(cache) in msg
    assert len(msg.splitlines()) == 1
    # Tags open_clip knows but clipedit does not list up front join the one table on first use.
    with pytest.raises(ModelUnavailableError):
        load_clip("open_clip:RN50/openai", device="cpu", cache=False)
    assert WEIGHTS["open_clip:RN50/openai"].sha256 == "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762"


@pytest.mark.parametrize("name, words", [
    ("open_clip:ViT-Q-99/laion", "no architecture"),
    ("open_clip:ViT-B-32/no_such_tag", "no pretrained weights"),
    ("open_clip:ViT-B-32", "open_clip:ARCH/TAG"),
    ("open_clip:ViT-B-32/missing/file.pt", "not found"),
])
def test_bad_open_clip_names(name, words):
    with pytest.raises((ValueError, FileNotFoundError), match=words):
        load_clip(name, device="cpu", cache=False)


def test_the_table_lists_the_open_clip_families():
    from clipedit.models import list_models

    names = list_models()
    for family in ("laion2b", "datacomp", "SigLIP", "MobileCLIP"):
        assert any(family in n for n in names), family
