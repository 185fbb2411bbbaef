"""Parameter-efficient adapters for the masked transformer: StyleDrop's bottleneck adapters, and LoRA through peft.

StyleDrop (Sohn et al. 2023) tunes a small adapter in every transformer layer of Muse and freezes the rest. Here the
adapter is ``h + W_up · GELU(W_down · h)`` on the output of each of ``UVit2DModel``'s transformer layers, with
``W_up`` zero-initialised so that tuning starts exactly at the base model. Adapters are attached with forward hooks
(the backbone's code and weights are untouched), switched off for a pass (two-scale guidance needs the base model's
logits too), detached by removing them, and saved as a small file of their own that records which backbone shape
they belong to.

:class:`LoraSet` is the alternative to compare against: LoRA (Hu et al. 2021) on the attention projections of every
transformer layer, injected by ``peft`` (an optional extra), with the same interface and file format.

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

import contextlib
import os
import re
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

#: The model-folder kind (:mod:`clipedit.hub`) of saved adapters.
KIND = "styledrop-adapters"
#: The adapter kinds: StyleDrop's bottleneck adapter, and LoRA through peft.
KINDS = ("adapter", "lora")
#: LoRA's targets: the query, key, value and output projections of both attentions in every transformer layer.
LORA_TARGETS = r".*transformer_layers\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"
_PEFT_NAME = "clipedit_style"


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
    """One bottleneck adapter per transformer layer, attached to a backbone through forward hooks."""

    kind = "adapter"

    def __init__(self, signature: dict[str, int], rank: int) -> None:
        super().__init__()
        self.signature, self.rank = dict(signature), int(rank)
        self.adapters = nn.ModuleList(BottleneckAdapter(signature["hidden_size"], rank)
                                      for _ in range(signature["layers"]))
        self._handles: list[Any] = []
        self.enabled = True

    def trainable(self) -> list[nn.Parameter]:
        """The parameters to tune (everything else stays frozen)."""
        return list(self.parameters())

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """Within the block the backbone computes exactly the base model (the adapters stay attached)."""
        was, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = was

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
            self._handles.append(layer.register_forward_hook(
                lambda _m, _i, out, a=adapter: a(out) if self.enabled else None))
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
        """Write the adapters alone (a few kB to MB) as a model folder, with the backbone signature and ``meta``."""
        return _write(path, self.kind, self.signature, self.rank, self.state_dict(), meta)


def _write(path: str | os.PathLike, kind: str, signature: dict, rank: int, state: dict, meta: dict | None) -> Path:
    """A model folder (:mod:`clipedit.hub`) of adapters: the tensors, and in ``config.json`` the adapter kind, rank,
    the backbone's shape they fit and ``meta`` (the style, prompts, settings, backbone name)."""
    from clipedit.hub import save_pretrained

    meta = dict(meta or {})
    style, model = meta.get("style", "a style"), meta.get("model", "a masked generative transformer")
    card = (f"StyleDrop {kind}s (rank {rank}) for the style \"{style}\" on {model} "
            f"({signature.get('layers')} layers, width {signature.get('hidden_size')}), trained with clipedit.\n\n"
            f"Use them: `clipedit styledrop sample {Path(path).name} \"a blue star\"`")
    return save_pretrained(path, state, {"adapter_kind": kind, "rank": rank, "signature": signature, "meta": meta},
                           kind=KIND, card=card)


def _peft():
    try:
        import peft
    except ImportError as err:
        raise ImportError("LoRA needs peft: pip install 'clipedit[lora]' (or pip install peft)") from err
    return peft


class LoraSet:
    """LoRA on :data:`LORA_TARGETS` of a diffusers ``UVit2DModel``, injected by ``peft``; the same interface as
    :class:`AdapterSet`. ``lora_B`` starts at zero (peft's default), so tuning starts exactly at the base model;
    ``lora_alpha = rank`` (scale 1)."""

    kind = "lora"

    def __init__(self, signature: dict[str, int], rank: int) -> None:
        self.signature, self.rank = dict(signature), int(rank)
        self.transformer: nn.Module | None = None
        self._kept: dict[str, torch.Tensor] | None = None  # the weights while detached

    @property
    def attached(self) -> bool:
        return self.transformer is not None

    def attach(self, transformer: nn.Module) -> "LoraSet":
        if backbone_signature(transformer) != self.signature:
            raise ValueError(f"these adapters were made for a backbone with {self.signature}, "
                             f"not {backbone_signature(transformer)}")
        peft = _peft()
        self.detach()
        transformer.add_adapter(peft.LoraConfig(r=self.rank, lora_alpha=self.rank, lora_dropout=0.0,
                                                target_modules=LORA_TARGETS, init_lora_weights=True), _PEFT_NAME)
        self.transformer = transformer
        if self._kept is not None:
            self.load_state_dict(self._kept)
        return self

    def detach(self) -> None:
        """Take the LoRA weights out of the backbone (kept here for a later :meth:`attach`): the wrapped layers then
        compute exactly their base layers."""
        if self.transformer is not None:
            self._kept = {k: v.detach().clone() for k, v in self.state_dict().items()}
            self.transformer.delete_adapters(_PEFT_NAME)
            self.transformer = None

    def _tr(self) -> nn.Module:
        if self.transformer is None:
            raise RuntimeError("the LoRA adapters are not attached to a backbone")
        return self.transformer

    def trainable(self) -> list[nn.Parameter]:
        return [p for n, p in self._tr().named_parameters() if "lora_" in n]

    def parameters(self) -> Iterator[nn.Parameter]:
        return iter(self.trainable())

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        tr = self._tr()
        tr.disable_adapters()
        try:
            yield
        finally:
            tr.enable_adapters()

    def num_parameters(self) -> int:
        if self.transformer is None and self._kept is not None:
            return sum(v.numel() for v in self._kept.values())
        return sum(p.numel() for p in self.trainable())

    def fraction_of(self, transformer: nn.Module) -> float:
        base = sum(p.numel() for n, p in transformer.named_parameters() if "lora_" not in n)
        return self.num_parameters() / base

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.transformer is None and self._kept is not None:
            return dict(self._kept)
        return _peft().get_peft_model_state_dict(self._tr(), adapter_name=_PEFT_NAME)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if self.transformer is None:
            self._kept = dict(state)
            return
        _peft().set_peft_model_state_dict(self._tr(), state, adapter_name=_PEFT_NAME)

    def save(self, path: str | os.PathLike, meta: dict | None = None) -> Path:
        return _write(path, self.kind, self.signature, self.rank, self.state_dict(), meta)


StyleAdapters = AdapterSet | LoraSet


@contextlib.contextmanager
def attached(adapters: StyleAdapters, transformer: nn.Module) -> Iterator[StyleAdapters]:
    """Attach for the block and detach after it: a shared (cached) backbone is left as it was found."""
    adapters.attach(transformer)
    try:
        yield adapters
    finally:
        adapters.detach()


def attach_adapters(transformer: nn.Module, rank: int = 8, kind: str = "adapter") -> StyleAdapters:
    """New adapters (``kind``: ``"adapter"`` bottleneck or ``"lora"``) on every transformer layer, attached; they
    start at exactly the base model."""
    if int(rank) < 1:
        raise ValueError(f"rank must be at least 1, got {rank}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    cls = AdapterSet if kind == "adapter" else LoraSet
    return cls(backbone_signature(transformer), rank).attach(transformer)


def lora_rank_for(transformer: nn.Module, budget: int) -> int:
    """The LoRA rank whose parameter count is nearest ``budget`` (e.g. a bottleneck adapter's count)."""
    per_rank = 0
    for name, mod in transformer.named_modules():
        mod = getattr(mod, "base_layer", mod)  # a layer peft has wrapped (adapters attached, or deleted since)
        if isinstance(mod, nn.Linear) and re.fullmatch(LORA_TARGETS, name):
            per_rank += mod.in_features + mod.out_features
    return max(1, round(budget / per_rank))


def load_adapters(path: str | os.PathLike, transformer: nn.Module | None = None) -> tuple[StyleAdapters, dict]:
    """Read an adapter folder (or Hub repo id); attach it to ``transformer`` when given. Returns ``(adapters, meta)``.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: not an adapter folder, or made for a backbone of another shape (one line).
    """
    from clipedit.hub import load_pretrained

    try:
        state, cfg = load_pretrained(path, KIND)
    except FileNotFoundError as err:
        if Path(path).exists():  # a file, or a folder that is not a model folder
            raise ValueError(f"{path} is not a clipedit adapter folder ({KIND}): {err}") from None
        raise
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path} is not a clipedit adapter folder ({KIND}): {str(err).splitlines()[0]}") from None
    kind = cfg.get("adapter_kind", "adapter")
    if kind not in KINDS:
        raise ValueError(f"{path} holds adapters of an unknown kind {kind!r}")
    ad: StyleAdapters = (AdapterSet if kind == "adapter" else LoraSet)(cfg["signature"], cfg["rank"])
    try:
        ad.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path} is a damaged adapter folder: {str(err).splitlines()[0]}") from None
    if transformer is not None:
        ad.attach(transformer)
    return ad, cfg.get("meta", {})
