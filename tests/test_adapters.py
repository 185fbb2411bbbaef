"""StyleDrop's bottleneck adapters on the masked transformer: zero-init equals the base, detach restores it exactly,
the parameter count, the file round trip, and a file for another backbone refused in one line."""
from __future__ import annotations

import pytest
import torch

from clipedit.models.adapters import AdapterSet, attach_adapters, load_adapters
from clipedit.models.muse import build_shapes_transformer


def _run(tr, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 257, (2, 8, 8), generator=g)
    return tr(ids, encoder_hidden_states=torch.randn(2, 20, 128, generator=g),
              pooled_text_emb=torch.randn(2, 128, generator=g), micro_conds=torch.rand(2, 5, generator=g) * 32)


@pytest.fixture
def tr():
    torch.manual_seed(0)
    return build_shapes_transformer().eval()


def test_zero_init_is_the_base_and_detach_restores_it(tr):
    base = _run(tr)
    ad = attach_adapters(tr, rank=4)
    assert torch.equal(_run(tr), base)
    with torch.no_grad():
        for p in ad.parameters():
            p.normal_(0, 0.1)
    assert not torch.allclose(_run(tr), base)  # non-zero adapters change the output ...
    ad.detach()
    assert torch.equal(_run(tr), base)  # ... and detaching gives the base back bit for bit
    ad.attach(tr)
    ad.attach(tr)  # attaching twice does not stack hooks
    assert len(ad._handles) == len(tr.transformer_layers)


def test_parameter_count_is_small(tr):
    ad = attach_adapters(tr, rank=8)
    layers, d = len(tr.transformer_layers), tr.config.hidden_size
    assert ad.num_parameters() == layers * (2 * d * 8 + 8 + d)
    assert ad.fraction_of(tr) < 0.01


def test_save_load_round_trip_and_wrong_backbone(tr, tmp_path):
    ad = attach_adapters(tr, rank=4)
    with torch.no_grad():
        for p in ad.parameters():
            p.normal_(0, 0.1)
    want = _run(tr)
    path = ad.save(tmp_path / "a", meta={"style": "test"})
    ad.detach()
    ad2, meta = load_adapters(path, tr)
    assert meta == {"style": "test"} and torch.equal(_run(tr), want)
    ad2.detach()
    other = build_shapes_transformer()
    other.transformer_layers = other.transformer_layers[:2]  # a backbone of another shape
    with pytest.raises(ValueError, match="made for a backbone") as err:
        load_adapters(path, other)
    assert "\n" not in str(err.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a clipedit adapter folder"):
        load_adapters(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="rank"):
        attach_adapters(tr, rank=0)
    assert isinstance(ad2, AdapterSet)
