"""Parameter-efficient adapters for the masked transformer (StyleDrop's bottleneck adapters).

StyleDrop (Sohn et al. 2023) tunes a small adapter in every transformer layer of Muse and freezes the rest. Here the
adapter is ``h + W_up · GELU(W_down · h)`` on the output of each of ``UVit2DModel``'s transformer layers, with
``W_up`` zero-initialised so that tuning starts exactly at the base model. Adapters are attached with forward hooks
(the backbone's code and weights are untouched), detached by removing them, and saved as a small file of their own
that records which backbone shape they belong to.

>>> import torch
>>> from clipedit.models.muse import build_shapes_transformer
>>> tr = build_shapes_transformer().eval()
>>> ids = torch.randint(0, 256, (1, 8, 8)); text = (torch.randn(1, 20, 128), torch.randn(1, 128))
>>> run = lambda: tr(ids, encoder_hidden_states=text[0], pooled_text_emb=text[1], micro_conds=torch.ones(1, 5))
>>> base = run()
>>> ad = attach_adapters(tr, rank=8)
>>> bool(torch.equal(run(), base)), ad.num_parameters(), f"{ad.fraction_of(tr):.2%}"   # zero-init: exactly the base
(True, 8736, '0.29%')
>>> ad.detach(); bool(torch.equal(run(), base))
True
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "clipedit-adapters/1"


class BottleneckAdapter(nn.Module):
    """``h + W_up · GELU(W_down · h)`` over the last dimension; ``W_up`` (and its bias) start at zero.

    Input and output ``(..., dim)``.
    """

    def __init__(self, dim: int, rank: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, rank)
        self.up = nn.Linear(rank, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(torch.nn.functional.gelu(self.down(h)))


def _layers(transformer: nn.Module) -> nn.ModuleList:
    layers = getattr(transformer, "transformer_layers", None)
    if layers is None:
        raise ValueError("adapters attach to a diffusers UVit2DModel (it has no transformer_layers)")
    return layers


def backbone_signature(transformer: nn.Module) -> dict[str, int]:
    """What an adapter file must match: layer count and width."""
    return {"layers": len(_layers(transformer)), "hidden_size": int(transformer.config.hidden_size)}


class AdapterSet(nn.Module):
    """One adapter per transformer layer, attached to a backbone through forward hooks."""

    def __init__(self, signature: dict[str, int], rank: int) -> None:
        super().__init__()
        self.signature, self.rank = dict(signature), int(rank)
        self.adapters = nn.ModuleList(BottleneckAdapter(signature["hidden_size"], rank)
                                      for _ in range(signature["layers"]))
        self._handles: list[Any] = []

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def attach(self, transformer: nn.Module) -> "AdapterSet":
        """Hook each adapter onto the output of its layer (moved to the backbone's device)."""
        if backbone_signature(transformer) != self.signature:
            raise ValueError(f"these adapters were made for a backbone with {self.signature}, "
                             f"not {backbone_signature(transformer)}")
        self.detach()
        self.to(next(transformer.parameters()).device)
        for layer, adapter in zip(_layers(transformer), self.adapters):
            self._handles.append(layer.register_forward_hook(lambda _m, _i, out, a=adapter: a(out)))
        return self

    def detach(self) -> None:
        """Remove the hooks: the backbone computes exactly what it did before."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def fraction_of(self, transformer: nn.Module) -> float:
        """Adapter parameters as a fraction of the backbone's."""
        return self.num_parameters() / sum(p.numel() for p in transformer.parameters())

    def save(self, path: str | os.PathLike, meta: dict | None = None) -> Path:
        """Write the adapters alone (a few kB to MB) with the backbone signature and ``meta``."""
        buf = io.BytesIO()
        torch.save({"format": FORMAT, "signature": self.signature, "rank": self.rank,
                    "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}, "meta": meta or {}}, buf)
        Path(path).write_bytes(buf.getvalue())
        return Path(path)


def attach_adapters(transformer: nn.Module, rank: int = 8) -> AdapterSet:
    """New zero-initialised adapters on every transformer layer of ``transformer``, attached."""
    if int(rank) < 1:
        raise ValueError(f"rank must be at least 1, got {rank}")
    return AdapterSet(backbone_signature(transformer), rank).attach(transformer)


def load_adapters(path: str | os.PathLike, transformer: nn.Module | None = None) -> tuple[AdapterSet, dict]:
    """Read an adapter file; attach it to ``transformer`` when given. Returns ``(adapters, meta)``.

    Raises:
        ValueError: not an adapter file, or made for a backbone of another shape (one line).
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a clipedit adapter file ({FORMAT}): {type(err).__name__}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} is not a clipedit adapter file ({FORMAT})")
    ad = AdapterSet(obj["signature"], obj["rank"])
    ad.load_state_dict(obj["state_dict"])
    if transformer is not None:
        ad.attach(transformer)
    return ad, obj.get("meta", {})
