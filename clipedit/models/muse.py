"""The masked generative backbone (Muse / aMUSEd): a VQ tokenizer-decoder, a text encoder and a masked transformer.

One code path, two weight sets, the same two diffusers classes that aMUSEd (Patil et al. 2024) uses:

* ``diffusers.VQModel``: images ``(B, 3, H, W)`` in ``[0, 1]`` ↔ a grid of codebook indices ``(B, h, w)``;
* ``diffusers.UVit2DModel``: masked tokens + text → logits ``(B, K, h, w)`` over the ``K`` codebook entries;
* a text encoder giving per-token hidden states ``(B, L, D)`` and a pooled embedding ``(B, E)``.

Weight sets (:func:`load_masked_generator`):

* ``"clipedit/shapes-muse"``: bundled, trained by clipedit on the procedural shapes world
  (:mod:`lab.training.shapes_muse`), 32×32 images, 8×8 tokens, 512 local codes; its text encoder is the offline
  guide's text tower (``clipedit/shapes``), so any prompt tokenizes;
* ``"amused/amused-256"``: the real aMUSEd-256 (VQ-GAN, U-ViT, CLIP-L/14 text encoder through ``transformers``),
  from the one weights table (cached / downloaded files, checksum, the one offline error);
* a folder laid out like the Hugging Face repository (``vqvae/``, ``transformer/``, ``text_encoder/``,
  ``tokenizer/``), e.g. one you downloaded yourself.

This module is shared: the text-to-image sampler, VQGAN+CLIP and StyleDrop all build on :class:`MaskedGenerator`.

>>> import torch
>>> gen = load_masked_generator("clipedit/shapes-muse")
>>> gen.resolution, gen.token_grid, gen.codebook_size, gen.mask_id
(32, (8, 8), 512, 512)
>>> images = torch.rand(2, 3, 32, 32)
>>> tokens = gen.tokenize(images)
>>> tokens.shape, tokens.dtype, gen.detokenize(tokens).shape
(torch.Size([2, 8, 8]), torch.int64, torch.Size([2, 3, 32, 32]))
>>> text = gen.encode_text(["a blue star"])
>>> gen.logits(torch.full((1, 8, 8), gen.mask_id), text).shape
torch.Size([1, 512, 8, 8])
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from clipedit.weights import ModelUnavailableError, get_weights, resolve, weight_files

SHAPES_MUSE = "clipedit/shapes-muse"
AMUSED_256 = "amused/amused-256"
FORMAT = "clipedit-shapes-muse/1"

#: The offline VQ model: 32x32 RGB in [0, 1] -> 8x8 latents (three encoder blocks, two 2x downsamplings),
#: 512 codes of 16 dimensions (local: each the k-means cluster of its own 4x4 patch, see
#: :mod:`lab.training.shapes_muse`), aMUSEd's VQ-GAN flags (no mid-block attention, decoding by codebook lookup).
#: ``norm_type="spatial"`` (MoVQ's spatially conditioned normalisation in the decoder): with plain GroupNorm the
#: decoder, which normalises each image's features, had not learnt absolute colour after 300 steps (the judge read
#: 27 % of reconstructions' colours right; one object on a flat background carries its colour mostly in the
#: per-image statistics GroupNorm removes); re-injecting the quantised latents at every norm: 82 % (docs/research-notes.md).
SHAPES_VQ_CONFIG: dict[str, Any] = dict(
    in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(32, 64, 64), layers_per_block=1,
    act_fn="silu", latent_channels=16, sample_size=32, num_vq_embeddings=512, norm_num_groups=8,
    vq_embed_dim=16, scaling_factor=1.0, norm_type="spatial", mid_block_add_attention=False,
    lookup_from_codebook=True,
)
#: The offline masked transformer: aMUSEd's U-ViT at width 128, 4 transformer layers, 2 conv+attention blocks before
#: and after them (U-ViT has no position embedding: its depthwise convolutions carry position), conditioned on the
#: offline guide's text tower (width 128, pooled 128). vocab = 512 codes + the mask token.
SHAPES_TRANSFORMER_CONFIG: dict[str, Any] = dict(
    hidden_size=128, use_bias=False, hidden_dropout=0.0, cond_embed_dim=128, micro_cond_encode_dim=8,
    micro_cond_embed_dim=40, encoder_hidden_size=128, vocab_size=513, codebook_size=512, in_channels=64,
    block_out_channels=128, num_res_blocks=2, downsample=False, upsample=False, block_num_heads=2,
    num_hidden_layers=4, num_attention_heads=4, attention_dropout=0.0, intermediate_size=512,
    layer_norm_eps=1e-6, ln_elementwise_affine=True, sample_size=8,
)
#: aMUSEd's micro-conditioning: original width, height, crop top, crop left, aesthetic score.
DEFAULT_AESTHETIC = 6.0

def _diffusers():
    try:
        import diffusers  # noqa: F401
    except ImportError as err:  # pragma: no cover - diffusers is a core dependency
        raise ModelUnavailableError("the masked generator needs diffusers: pip install diffusers") from err
    from diffusers import UVit2DModel, VQModel

    return VQModel, UVit2DModel


@dataclass
class TextEmbedding:
    """A batch of encoded prompts: ``hidden (B, L, D)`` per-token states and ``pooled (B, E)``."""

    hidden: torch.Tensor
    pooled: torch.Tensor

    def __len__(self) -> int:
        return self.hidden.shape[0]

    def repeat(self, n: int) -> "TextEmbedding":
        """Each prompt ``n`` times in a row (``repeat_interleave``)."""
        return TextEmbedding(self.hidden.repeat_interleave(n, 0), self.pooled.repeat_interleave(n, 0))

    def __getitem__(self, index: torch.Tensor | slice | list[int]) -> "TextEmbedding":
        """The prompts at ``index`` (a long tensor, list or slice along the batch)."""
        return TextEmbedding(self.hidden[index], self.pooled[index])


class GuideTextEncoder(nn.Module):
    """The offline guide's text tower as a conditioning encoder: final-layer hidden states (after ``ln_final``)
    ``(B, context_length, width)`` and the projected end-of-text embedding ``(B, embed_dim)`` (what the guide's
    ``encode_text`` returns). Frozen."""

    def __init__(self, clip_model: nn.Module) -> None:
        super().__init__()
        self.clip = clip_model.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, prompts: Sequence[str]) -> TextEmbedding:
        m = self.clip.model
        tokens = self.clip.tokenize(list(prompts))
        x = m.token_embedding(tokens).type(m.dtype) + m.positional_embedding.type(m.dtype)
        x = m.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = m.ln_final(x).type(m.dtype)
        pooled = x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ m.text_projection
        return TextEmbedding(x.float(), pooled.float())


class HFTextEncoder(nn.Module):
    """aMUSEd's conditioning: ``transformers`` ``CLIPTextModelWithProjection`` + ``CLIPTokenizer``; hidden states
    of the penultimate layer ``(B, 77, 768)`` and ``text_embeds`` ``(B, 768)``, prompts padded to the tokenizer's
    maximum length, as the aMUSEd pipeline does. Frozen."""

    def __init__(self, model: nn.Module, tokenizer: Any) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer

    @torch.no_grad()
    def forward(self, prompts: Sequence[str]) -> TextEmbedding:
        ids = self.tokenizer(list(prompts), return_tensors="pt", padding="max_length", truncation=True,
                             max_length=self.tokenizer.model_max_length).input_ids
        out = self.model(ids.to(next(self.model.parameters()).device), return_dict=True, output_hidden_states=True)
        return TextEmbedding(out.hidden_states[-2].float(), out.text_embeds.float())


@dataclass
class MaskedGenerator:
    """A VQ model, a masked transformer and a text encoder, used together.

    Images are ``(B, 3, H, W)`` float in ``[0, 1]`` (aMUSEd's convention: no ``[-1, 1]`` normalisation). Tokens are
    ``(B, h, w)`` long in ``[0, codebook_size)``; :attr:`mask_id` marks masked positions. Everything lives on
    :attr:`device` (``to()`` moves the three parts).
    """

    name: str
    vq: nn.Module
    transformer: nn.Module
    text_encoder: nn.Module
    resolution: int
    aesthetic: float = DEFAULT_AESTHETIC
    _empty: TextEmbedding | None = field(default=None, repr=False)
    #: settings methods use with this backbone when the caller gives none (its weights-table row's, or its file's):
    #: ``guide`` (the CLIP model that scores its text), ``feedback_contents`` (StyleDrop's round-2 prompts).
    recommended: dict = field(default_factory=dict, repr=False)

    # -- sizes --------------------------------------------------------------------------------------------------
    @property
    def downsample(self) -> int:
        """Pixels per token side (2 ** (number of VQ blocks − 1))."""
        return 2 ** (len(self.vq.config.block_out_channels) - 1)

    @property
    def token_grid(self) -> tuple[int, int]:
        s = self.resolution // self.downsample
        return (s, s)

    @property
    def codebook_size(self) -> int:
        return int(self.transformer.config.codebook_size)

    @property
    def mask_id(self) -> int:
        """aMUSEd's convention: the last id of the transformer's vocabulary."""
        return int(self.transformer.config.vocab_size) - 1

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    def to(self, device: str | torch.device) -> "MaskedGenerator":
        for m in (self.vq, self.transformer, self.text_encoder):
            m.to(device)
        self._empty = None
        return self

    def eval(self) -> "MaskedGenerator":
        for m in (self.vq, self.transformer, self.text_encoder):
            m.eval()
        return self

    # -- text ---------------------------------------------------------------------------------------------------
    def encode_text(self, prompts: str | Sequence[str]) -> TextEmbedding:
        """Encode prompts (``""`` is the unconditional prompt used for classifier-free guidance)."""
        return self.text_encoder([prompts] if isinstance(prompts, str) else list(prompts))

    def empty_text(self, n: int) -> TextEmbedding:
        """The unconditional (empty prompt) embedding, ``n`` times (cached)."""
        if self._empty is None:
            self._empty = self.encode_text([""])
        return self._empty.repeat(n)

    def micro_conds(self, n: int) -> torch.Tensor:
        """``(n, 5)``: width, height, crop top, crop left, aesthetic score (aMUSEd's micro-conditioning)."""
        row = torch.tensor([self.resolution, self.resolution, 0.0, 0.0, self.aesthetic], device=self.device)
        return row.expand(n, 5)

    # -- transformer ---------------------------------------------------------------------------------------------
    def logits(self, tokens: torch.Tensor, text: TextEmbedding) -> torch.Tensor:
        """Logits ``(B, K, h, w)`` for tokens ``(B, h, w)`` (masked positions = :attr:`mask_id`)."""
        return self.transformer(tokens, encoder_hidden_states=text.hidden, pooled_text_emb=text.pooled,
                                micro_conds=self.micro_conds(tokens.shape[0])).float()

    def logits_fn(self, text: TextEmbedding, negative: TextEmbedding | None = None
                  ) -> Callable[[torch.Tensor, bool], torch.Tensor]:
        """The sampler's ``logits_fn(tokens, conditional)`` for a batch of prompts; ``negative`` (default: the empty
        prompt) is the unconditional branch of classifier-free guidance."""
        uncond = negative if negative is not None else self.empty_text(len(text))

        def fn(tokens: torch.Tensor, conditional: bool) -> torch.Tensor:
            return self.logits(tokens, text if conditional else uncond)

        return fn

    # -- sampling -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def preview(self, tokens: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """Decode a partly masked token grid for display: committed tokens decoded, still-masked cells grey.
        Returns ``(B, 3, H, W)`` in ``[0, 1]``."""
        t = torch.where(masked, torch.zeros_like(tokens), tokens)
        img = self.detokenize(t)
        cell = torch.nn.functional.interpolate(masked[:, None].float(), size=img.shape[-2:], mode="nearest")
        return img * (1 - cell) + 0.5 * cell

    @torch.no_grad()
    def inpainting(self, init: torch.Tensor, mask, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What inpainting starts from, as MaskGIT does: ``init`` ``(1, 3, H, W)`` in ``[0, 1]`` resized to the model's
        size and tokenized, :attr:`mask_id` in every token cell the mask (:mod:`clipedit.masks`) touches. Returns
        ``(tokens (n, h, w), image (1, 3, R, R), mask (1, 1, R, R))``, the last two to composite the result with."""
        import torch.nn.functional as F

        from clipedit.masks import as_mask

        size = (self.resolution, self.resolution)
        base = F.interpolate(init.float().to(self.device), size=size, mode="bilinear", antialias=True).clamp(0, 1)
        region = as_mask(mask, size).to(self.device)
        cells = F.max_pool2d((region > 0).float(), self.downsample)[0, 0] > 0
        start = self.tokenize(base).expand(n, -1, -1).clone()
        start[:, cells] = self.mask_id
        return start, base, region

    def sample(self, logits_fn: Callable[[torch.Tensor, bool], torch.Tensor], n: int, *, steps: int = 12,
               guidance: float = 0.0, temperature: float = 1.0, randomness: float = 4.5, seed: int | None = 0,
               plausibility: float | None = None, callback: Callable[[int, torch.Tensor, Mapping[str, float]], Any] | None = None,
               progress: bool | None = None, desc: str = "generate", frames: list[torch.Tensor] | None = None,
               frames_every: int = 1, init: torch.Tensor | None = None, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode ``n`` images with the one sampler (:func:`clipedit.sampler.masked_sample`) from any
        ``logits_fn(tokens, conditional)`` (e.g. :meth:`logits_fn`, or StyleDrop's two-scale guidance).

        Returns ``(images (n, 3, H, W) in [0, 1], tokens (n, h, w))``, both on the CPU. ``callback(step, preview,
        logs)`` runs after every step with :meth:`preview` of the partial grid; a progress bar when ``progress``.
        ``frames``: a list that receives the run as an animation through the same step callback: the all-masked grid
        (grey), the preview every ``frames_every`` steps, and the images returned. ``init``: ``(n, h, w)`` tokens to
        inpaint, :attr:`mask_id` where tokens are to be sampled (the others stay); or, with ``mask``, an image
        ``(1, 3, H, W)`` in ``[0, 1]`` to inpaint (:meth:`inpainting`), the result composited with it so that pixels
        where the mask is 0 are exactly ``init``'s.
        """
        from clipedit.progress import progress_bar
        from clipedit.sampler import DEFAULT_PLAUSIBILITY, masked_sample

        h, w = self.token_grid
        base = region = None
        if mask is not None:
            if init is None:
                raise ValueError("inpainting needs both init= (the image) and mask= (the region that may change)")
            init, base, region = self.inpainting(init, mask, n)
        if init is not None:  # inpainting: at most one commit per masked token
            steps = min(int(steps), int((init == self.mask_id).flatten(1).sum(1).min()))
        if not 1 <= int(steps) <= h * w:
            raise ValueError(f"steps must be between 1 and the number of tokens ({h * w}), got {steps}")
        g = torch.Generator(device=self.device)
        if seed is not None:
            g.manual_seed(int(seed))
        else:
            g.seed()
        bar = progress_bar(range(steps), desc=desc, progress=progress)
        if frames is not None and init is None:
            frames.append(torch.full((n, 3, self.resolution, self.resolution), 0.5))  # every token masked: grey
        elif frames is not None:
            with torch.no_grad():
                frames.append(self.preview(init.to(self.device), (init == self.mask_id).to(self.device)).cpu())

        def on_step(step: int, tokens: torch.Tensor, masked: torch.Tensor) -> None:
            bar.update(1)
            keep = frames is not None and (step + 1) % max(1, int(frames_every)) == 0
            if callback is not None or keep:
                preview = self.preview(tokens, masked).cpu()
                if keep:
                    frames.append(preview)
                if callback is not None:
                    callback(step + 1, preview, {"masked": float(masked.float().mean())})

        tokens = masked_sample(logits_fn, (n, h, w), self.mask_id, steps=steps, guidance=guidance,
                               temperature=temperature, randomness=randomness, generator=g, device=self.device,
                               plausibility=DEFAULT_PLAUSIBILITY if plausibility is None else plausibility,
                               callback=on_step, init=None if init is None else init.to(self.device))
        bar.close()
        with torch.no_grad():
            images = self.detokenize(tokens).cpu()
        if region is not None:
            from clipedit.masks import composite

            images = composite(images, base.cpu(), region.cpu())
        if frames is not None:  # the last frame is exactly the result
            if steps % max(1, int(frames_every)) == 0:
                frames[-1] = images
            else:
                frames.append(images)
        return images, tokens.cpu()

    # -- VQ ------------------------------------------------------------------------------------------------------
    def encode_latents(self, images: torch.Tensor) -> torch.Tensor:
        """Continuous pre-quantisation latents ``(B, vq_embed_dim, h, w)`` of images in ``[0, 1]``."""
        return self.vq.encode(images.to(self.device)).latents

    def quantize(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest codebook entries (straight-through gradient) and their indices ``(B, h, w)``."""
        z_q, _, (_, _, idx) = self.vq.quantize(latents)
        return z_q, idx.view(latents.shape[0], *latents.shape[-2:])

    @property
    def codebook(self) -> torch.Tensor:
        """``(K, vq_embed_dim)`` codebook vectors."""
        return self.vq.quantize.embedding.weight

    def decode_latents(self, latents: torch.Tensor, quantize: bool = False) -> torch.Tensor:
        """Decode continuous latents ``(B, vq_embed_dim, h, w)`` (optionally snapped to the codebook first) to
        images in ``[0, 1]``; differentiable."""
        if quantize:
            latents = self.quantize(latents)[0]
        dec = self.vq.post_quant_conv(latents)
        norm = latents if self.vq.config.norm_type == "spatial" else None
        return self.vq.decoder(dec, norm).clamp(0, 1)

    @torch.no_grad()
    def tokenize(self, images: torch.Tensor) -> torch.Tensor:
        """Codebook indices ``(B, h, w)`` of images ``(B, 3, H, W)`` in ``[0, 1]``."""
        return self.quantize(self.encode_latents(images))[1]

    def detokenize(self, tokens: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` in ``[0, 1]`` of tokens ``(B, h, w)``."""
        b, h, w = tokens.shape
        z = self.codebook[tokens.reshape(-1)].view(b, h, w, -1).permute(0, 3, 1, 2)
        return self.decode_latents(z)


# -- building and loading -------------------------------------------------------------------------------------------
def build_shapes_vq() -> nn.Module:
    """A freshly initialised offline VQ model (:data:`SHAPES_VQ_CONFIG`)."""
    VQModel, _ = _diffusers()
    return VQModel(**SHAPES_VQ_CONFIG)


def build_shapes_transformer() -> nn.Module:
    """A freshly initialised offline masked transformer (:data:`SHAPES_TRANSFORMER_CONFIG`)."""
    _, UVit2DModel = _diffusers()
    return UVit2DModel(**SHAPES_TRANSFORMER_CONFIG)


#: The model-folder kind (:mod:`clipedit.hub`) of the offline masked generator's format.
KIND = "shapes-muse"


def save_shapes_muse(path: str | os.PathLike, vq: nn.Module, transformer: nn.Module | None,
                     meta: dict | None = None, half: bool = True) -> Path:
    """Write the bundled format as a model folder (:mod:`clipedit.hub`): both configs and state dicts (float16 when
    ``half``: loads as float32) and ``meta``; returns the folder."""
    from clipedit.hub import save_checkpoint

    def sd(m: nn.Module) -> dict[str, torch.Tensor]:
        return {k: (v.half() if half and v.is_floating_point() else v).clone() for k, v in m.state_dict().items()}

    obj = {"format": FORMAT, "vq_config": dict(vq.config), "vq": sd(vq), "meta": meta or {},
           "transformer_config": dict(transformer.config) if transformer is not None else None,
           "transformer": sd(transformer) if transformer is not None else None}
    return save_checkpoint(path, obj, kind=KIND, card="A masked generative transformer (VQ model, U-ViT) on the "
                           "shapes world, trained with clipedit; `clipedit generate --model` takes this folder.")


def _clean_config(cfg: dict) -> dict:
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items() if not k.startswith("_")}


def read_shapes_muse(path: str | os.PathLike) -> tuple[nn.Module, nn.Module | None, dict]:
    """Read the bundled format (a model folder) into a float32 ``(VQModel, UVit2DModel or None, meta)``."""
    from clipedit.hub import read_checkpoint

    VQModel, UVit2DModel = _diffusers()
    try:
        obj = read_checkpoint(path, KIND)  # tensors and plain containers only
    except Exception as err:  # random bytes, truncated files, pickled objects: all one message
        raise ValueError(f"{path} is not a clipedit masked-generator file ({FORMAT}): "
                         f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} is not a clipedit masked-generator file ({FORMAT})")
    vq = VQModel(**_clean_config(obj["vq_config"]))
    vq.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in obj["vq"].items()})
    tr = None
    if obj.get("transformer") is not None:
        tr = UVit2DModel(**_clean_config(obj["transformer_config"]))
        tr.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in obj["transformer"].items()})
    return vq.eval().requires_grad_(False), (tr.eval().requires_grad_(False) if tr is not None else None), obj["meta"]


def load_pretrained_folder(folder: str | os.PathLike, name: str | None = None, resolution: int | None = None
                           ) -> MaskedGenerator:
    """Load a folder laid out like the aMUSEd repository (``vqvae/``, ``transformer/``, ``text_encoder/``,
    ``tokenizer/``) with each library's ``from_pretrained``; ``transformers`` is needed for the text encoder."""
    VQModel, UVit2DModel = _diffusers()
    try:
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer
    except ImportError as err:
        raise ModelUnavailableError("aMUSEd's text encoder needs transformers: pip install 'clipedit[amused]'"
                                    ) from err
    folder = Path(folder)
    missing = [d for d in ("vqvae", "transformer", "text_encoder", "tokenizer") if not (folder / d).is_dir()]
    if missing:
        raise ModelUnavailableError(f"{folder} lacks {', '.join(missing)}/: expected the aMUSEd repository layout")
    vq = VQModel.from_pretrained(folder / "vqvae").eval().requires_grad_(False)
    tr = UVit2DModel.from_pretrained(folder / "transformer").eval().requires_grad_(False)
    te = CLIPTextModelWithProjection.from_pretrained(folder / "text_encoder").eval().requires_grad_(False)
    tok = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    if resolution is None:
        resolution = int(tr.config.sample_size) * 2 ** (len(vq.config.block_out_channels) - 1)
        if tr.config.downsample:
            resolution *= 2
    return MaskedGenerator(name or str(folder), vq, tr, HFTextEncoder(te, tok), resolution)


def amused_folder(download_ok: bool = True) -> Path:
    """The local aMUSEd-256 folder: every file of the table resolved (cached, or downloaded with the one download
    function). Offline this fails at the first file, within seconds, with the table's one-line message."""
    paths = [resolve(w, download_ok=download_ok) for w in weight_files("masked") if w.name.startswith(AMUSED_256)]
    return paths[0].parent  # model_index.json sits at the repository root


def transformer_signature(name: str | os.PathLike) -> dict[str, int] | None:
    """The transformer's layer count and width from its config alone (no weights built): what an adapter file must
    match (:func:`clipedit.models.adapters.backbone_signature`). ``None`` when the config is not on this machine."""
    import json

    from clipedit.hub import CONFIG_FILE, is_pretrained_folder

    name = str(name)
    try:
        if name == SHAPES_MUSE or is_pretrained_folder(name):  # the bundled format: the config alone, no tensors
            path = resolve(get_weights(SHAPES_MUSE)) if name == SHAPES_MUSE else Path(name)
            cfg = json.loads((path / CONFIG_FILE).read_text())["checkpoint"].get("transformer_config")
        else:
            folder = Path(name) if Path(name).is_dir() else amused_folder(download_ok=False)
            cfg = json.loads((folder / "transformer" / "config.json").read_text())
    except Exception:  # not local, or not readable: the full load reports it properly
        return None
    if not cfg:
        return None
    return {"layers": int(cfg["num_hidden_layers"]), "hidden_size": int(cfg["hidden_size"])}


_CACHE: dict[str, MaskedGenerator] = {}
#: Tokens per image of the named generators, so that ``steps`` can be checked before a model loads.
TOKENS: dict[str, int] = {SHAPES_MUSE: 64, AMUSED_256: 256}


def list_generators() -> list[str]:
    """Names :func:`load_masked_generator` knows.

    >>> list_generators()
    ['clipedit/shapes-muse', 'amused/amused-256']
    """
    return [SHAPES_MUSE, AMUSED_256]


def load_masked_generator(name: str | os.PathLike = SHAPES_MUSE, device: str | torch.device | None = None,
                   download_ok: bool = True) -> MaskedGenerator:
    """The factory of the masked-generator family.

    Args:
        name: ``"clipedit/shapes-muse"`` (bundled), ``"amused/amused-256"`` (downloaded/cached), a folder in the
            aMUSEd layout, or a model folder in the bundled format (what the lab's trainer writes).
        device: defaults to :func:`clipedit.device.select_device`'s choice (``CLIPEDIT_DEVICE``, else the best).
    Raises:
        ModelUnavailableError: weights neither bundled, cached nor downloadable (one line, offline in seconds).
        ValueError: an unknown name.
    """
    from clipedit.device import select_device

    dev = select_device(device)
    key = f"{name}@{dev}"
    if key in _CACHE:
        return _CACHE[key]
    name = str(name)
    from clipedit.hub import is_pretrained_folder

    if name == SHAPES_MUSE or is_pretrained_folder(name):
        path = resolve(get_weights(SHAPES_MUSE)) if name == SHAPES_MUSE else Path(name)
        vq, tr, meta = read_shapes_muse(path)
        if tr is None:
            raise ModelUnavailableError(f"{path} holds only a VQ model (no transformer)")
        from clipedit.models.registry import load_clip

        guide = load_clip(meta.get("text_encoder", "clipedit/shapes"), device=dev)  # cached per device: never moved
        gen = MaskedGenerator(name, vq, tr, GuideTextEncoder(guide), int(meta.get("resolution", 32)))
        row = get_weights(SHAPES_MUSE).recommended if name == SHAPES_MUSE else {}
        gen.recommended = {"guide": meta.get("text_encoder", "clipedit/shapes"), **row, **meta.get("recommended", {})}
    elif name == AMUSED_256:
        gen = load_pretrained_folder(amused_folder(download_ok), AMUSED_256)
    elif Path(name).is_dir():
        gen = load_pretrained_folder(name)
    else:
        raise ValueError(f"unknown masked generator {name!r}; known: {', '.join(list_generators())}, "
                         "a folder in the aMUSEd layout or a clipedit model folder")
    gen.to(dev).eval()
    _CACHE[key] = gen
    return gen

