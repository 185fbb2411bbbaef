"""Shared fixtures: tiny CLIP models in OpenAI's format, built here (no weights are downloaded).
Session set-up (offline, data folder, ``--device``, ``--test-seed``) is in the repository's root ``conftest.py``."""
from __future__ import annotations

import functools
import http.server
import threading

import pytest
import torch

from clipedit.data.paths import find_data
from clipedit.models.openai_clip import ClipConfig, ClipModel, build_clip

TINY_VIT = ClipConfig(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=64, vision_patch_size=8,
                      context_length=16, vocab_size=49408, transformer_width=64, transformer_heads=1,
                      transformer_layers=2)
TINY_RN = ClipConfig(embed_dim=32, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=8,
                     vision_patch_size=None, context_length=16, vocab_size=49408, transformer_width=64,
                     transformer_heads=1, transformer_layers=1)


def make_tiny(config: ClipConfig, seed: int = 0, name: str = "tiny") -> ClipModel:
    torch.manual_seed(seed)
    net = build_clip(config)
    # Random BatchNorm statistics and non-zero last-BN gains so every layer matters in round trips.
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            torch.nn.init.uniform_(mod.weight, 0.5, 1.5)
    return ClipModel(net, name, config)


@pytest.fixture
def tiny_vit(device) -> ClipModel:
    return make_tiny(TINY_VIT, 0, "tiny-vit").to(device)


@pytest.fixture
def tiny_rn(device) -> ClipModel:
    return make_tiny(TINY_RN, 1, "tiny-rn").to(device)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("CLIPEDIT_CACHE", str(d))
    return d


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def needs_data(*relpaths: str) -> pytest.MarkDecorator:
    """Skip, in one line saying how to get it, where the third-party data folder lacks any of ``relpaths``."""
    from clipedit.data.paths import DATA_HINT  # one wording for tests and notebooks

    missing = [p for p in relpaths if find_data(p) is None]
    return pytest.mark.skipif(bool(missing), reason=DATA_HINT.format(what=", ".join(missing) or "it"))
