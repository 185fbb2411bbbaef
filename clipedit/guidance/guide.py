"""The CLIP guide: one differentiable text/image-prompt loss that every method reuses.

>>> import torch
>>> guide = CLIPGuide("a red circle", negatives=["a blue square"], models="clipedit/shapes", augment="cutouts",
...                   n_augs=8, device="cpu")
>>> images = torch.rand(1, 3, 96, 96, requires_grad=True)   # (B, 3, H, W) in [0, 1], any H, W
>>> out = guide(images)
>>> out.loss.backward()          # the gradient reaches the pixels
>>> images.grad.abs().sum() > 0
tensor(True)
>>> sorted(out.similarities)     # per-prompt cosine similarity, for logging
['a blue square', 'a red circle']

The loss, for models ``m`` with weights ``a_m``, prompts ``p`` with weights
``w_p`` (negative prompts enter with weight ``-w``), and ``N`` augmented views
``v`` of each image::

    loss = sum_m a_m * sum_p w_p * mean_v d(E_m(v), T_m(p))

where ``d`` is ``-cos`` (``loss="cosine"``) or the squared spherical distance
(``loss="spherical"``), ``E_m`` embeds a view after resizing it to the model's
input size and normalising with CLIP's mean/std, and ``T_m(p)`` is the
embedding of a text prompt, or of a target image for an image prompt. Prompt
embeddings are computed once, at construction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.guidance.augment import Augment, make_augment, resize_square
from clipedit.guidance.losses import LOSSES, cosine_similarity_matrix
from clipedit.imageio import as_image_batch, load_image
from clipedit.models.openai_clip import ClipModel


def preprocess(images: torch.Tensor, model: ClipModel) -> torch.Tensor:
    """Resize ``(B, 3, H, W)`` in ``[0, 1]`` to the model's input size and apply CLIP's mean/std.

    Differentiable. Non-square images are centre-cropped to a square first.
    """
    x = resize_square(images, model.input_resolution)
    return (x - model.mean.view(1, 3, 1, 1)) / model.std.view(1, 3, 1, 1)


def clip_embed(model: ClipModel, images: torch.Tensor) -> torch.Tensor:
    """Unit CLIP image embeddings ``(B, D)`` (float32, on the model's device) of images ``(B, 3, H, W)`` in
    ``[0, 1]``, without augmentation; differentiable."""
    return F.normalize(model.encode_image(preprocess(images.to(model.device), model)).float(), dim=-1)


@dataclass
class Prompt:
    """A guidance target: a text or an image, with a weight (negative = push away)."""

    text: str | None = None
    image: torch.Tensor | None = None
    weight: float = 1.0
    label: str = ""

    def __post_init__(self) -> None:
        if (self.text is None) == (self.image is None):
            raise ValueError("a Prompt needs exactly one of text or image")
        if self.text is not None:
            if not isinstance(self.text, str) or not self.text.strip():
                raise ValueError("prompt text is empty: describe what you want, e.g. 'a red circle'")
            self.text = self.text.strip()
        if not torch.isfinite(torch.tensor(float(self.weight))):
            raise ValueError(f"prompt weight must be finite, got {self.weight}")
        if not self.label:
            self.label = self.text if self.text is not None else f"image#{id(self.image) % 10000}"


PromptLike = Union[str, Prompt, tuple]


def _as_prompts(items: PromptLike | Sequence[PromptLike] | None, sign: float, default_weight: float) -> list[Prompt]:
    if items is None:
        return []
    if isinstance(items, (str, Prompt)) or (isinstance(items, tuple) and len(items) == 2
                                           and isinstance(items[1], (int, float))):
        items = [items]
    out = []
    for it in items:
        if isinstance(it, Prompt):
            p = it
        elif isinstance(it, str):
            p = Prompt(text=it, weight=default_weight)
        elif isinstance(it, tuple) and len(it) == 2:
            p = Prompt(text=it[0], weight=float(it[1]))
        else:
            raise ValueError(f"cannot make a prompt from {it!r}: use a str, (str, weight) or Prompt")
        out.append(Prompt(text=p.text, image=p.image, weight=sign * abs(p.weight), label=p.label))
    return out


@dataclass
class GuideOutput:
    """What a guide call returns.

    Attributes:
        loss: scalar tensor (differentiable).
        similarities: mean cosine similarity per prompt label (over views, images and models,
            model-weighted), as floats for logging.
        per_image: ``(B,)`` the loss of each image before averaging (detached).
    """

    loss: torch.Tensor
    similarities: dict[str, float] = field(default_factory=dict)
    per_image: torch.Tensor | None = None


class CLIPGuide(nn.Module):
    """CLIP guidance loss with weighted text/image prompts, negatives, augmentations and ensembles.

    Args:
        prompts: text prompts: ``"text"``, ``("text", weight)`` or :class:`Prompt`, or a list of them.
        negatives: prompts to move away from; their weights enter with a minus sign.
        image_prompts: target images (paths, PIL, tensors) or ``(image, weight)`` pairs.
        models: a model name (``"auto"``, ``"ViT-B/32"``, ``"clipedit/shapes"``, a file path), a
            loaded :class:`ClipModel`, or a list of them (ensemble).
        model_weights: one weight per model (default equal, summing to 1).
        augment: pipeline name (see :mod:`clipedit.guidance.augment`) or an :class:`Augment`.
        n_augs: views per image per step.
        loss: ``"cosine"`` or ``"spherical"``.
        negative_weight: default weight of negatives given as plain strings.
        device: where models and targets live (default: the first model's device).
    """

    def __init__(
        self,
        prompts: PromptLike | Sequence[PromptLike] | None = None,
        *,
        negatives: PromptLike | Sequence[PromptLike] | None = None,
        image_prompts: Sequence | None = None,
        models: Union[str, ClipModel, Sequence[Union[str, ClipModel]]] = "auto",
        model_weights: Sequence[float] | None = None,
        augment: str | Augment = "cutouts",
        n_augs: int = 8,
        loss: str = "cosine",
        negative_weight: float = 0.3,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        from clipedit.models.registry import load_clip

        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose from {sorted(LOSSES)}")
        if int(n_augs) < 1:
            raise ValueError(f"n_augs must be >= 1, got {n_augs}")
        self.loss_name, self.n_augs = loss, int(n_augs)
        # Prompts are checked before any model loads, so bad input fails fast.
        self.prompts: list[Prompt] = _as_prompts(prompts, +1.0, 1.0) + _as_prompts(negatives, -1.0, negative_weight)
        for item in image_prompts or []:
            img, w = (item if isinstance(item, tuple) else (item, 1.0))
            tensor = load_image(img) if not isinstance(img, torch.Tensor) else as_image_batch(img, "image prompt")
            self.prompts.append(Prompt(image=tensor, weight=float(w)))
        if not any(p.weight > 0 for p in self.prompts):
            raise ValueError("no positive prompt: give at least one text or image prompt to move towards")
        model_list = [models] if isinstance(models, (str, ClipModel)) else list(models)
        if not model_list:
            raise ValueError("at least one CLIP model is needed")
        self.models = nn.ModuleList(
            [m if isinstance(m, ClipModel) else load_clip(m, device=device) for m in model_list]
        )
        if device is not None:
            self.models.to(device)
        weights = model_weights if model_weights is not None else [1.0 / len(self.models)] * len(self.models)
        if len(weights) != len(self.models):
            raise ValueError(f"{len(weights)} model weights for {len(self.models)} models")
        self.model_weights = [float(w) for w in weights]
        self.augments = nn.ModuleList([make_augment(augment, m.input_resolution) for m in self.models])

        self._encode_targets()

    @property
    def device(self) -> torch.device:
        return self.models[0].device

    @torch.no_grad()
    def _encode_targets(self) -> None:
        """Embed every prompt once per model: buffers ``targets_i`` of shape ``(P, D_i)``, unit norm."""
        for i, m in enumerate(self.models):
            rows = []
            for p in self.prompts:
                if p.text is not None:
                    rows.append(m.encode_text(m.tokenize([p.text]))[0])
                else:
                    img = p.image.to(m.device)
                    rows.append(m.encode_image(preprocess(img, m)).mean(0))
            self.register_buffer(f"targets_{i}", F.normalize(torch.stack(rows), dim=-1), persistent=False)
        self.register_buffer("weights", torch.tensor([p.weight for p in self.prompts], dtype=torch.float32),
                             persistent=False)

    def targets(self, i: int) -> torch.Tensor:
        return getattr(self, f"targets_{i}")

    def embed(self, images: torch.Tensor, model_index: int = 0, n_augs: int | None = None) -> torch.Tensor:
        """Unit embeddings ``(B * n, D)`` of ``n`` augmented views per image for one model."""
        m, aug = self.models[model_index], self.augments[model_index]
        views = aug(images.to(m.device), n_augs or self.n_augs)
        return F.normalize(m.encode_image(preprocess(views, m)), dim=-1)

    def forward(self, images: torch.Tensor) -> GuideOutput:
        """Guidance loss for ``images`` ``(B, 3, H, W)`` in ``[0, 1]`` (see module docstring)."""
        x = as_image_batch(images, "images")
        b = x.shape[0]
        dist = LOSSES[self.loss_name]
        per_image = x.new_zeros(b)
        sims = torch.zeros(len(self.prompts))
        for i, (m, a) in enumerate(zip(self.models, self.model_weights)):
            emb = self.embed(x, i)  # (B*n, D)
            t = self.targets(i)
            d = dist(emb, t).view(b, -1, len(self.prompts)).mean(1)  # (B, P), mean over views
            li = (d * self.weights.to(d.device)).sum(-1)  # (B,)
            per_image = per_image + a * li.to(per_image.device)
            with torch.no_grad():
                sims += a * cosine_similarity_matrix(emb, t).mean(0).cpu()
        total = per_image.mean()
        wsum = sum(self.model_weights) or 1.0
        similarities = {p.label: float(s) / wsum for p, s in zip(self.prompts, sims)}
        return GuideOutput(total, similarities, per_image.detach())

    @torch.no_grad()
    def similarity(self, images: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of every image to every prompt without augmentation, ``(B, P)`` on the CPU
        (model-weighted over an ensemble)."""
        x = as_image_batch(images, "images")
        out = torch.zeros(x.shape[0], len(self.prompts))
        for i, (m, a) in enumerate(zip(self.models, self.model_weights)):
            emb = clip_embed(m, x)
            out += a * cosine_similarity_matrix(emb, self.targets(i)).cpu()
        return out / (sum(self.model_weights) or 1.0)

    @torch.no_grad()
    def score(self, images: torch.Tensor) -> dict[str, float]:
        """Per-prompt cosine similarity without augmentation, averaged over the images (evaluation)."""
        s = self.similarity(images).mean(0)
        return {p.label: float(v) for p, v in zip(self.prompts, s)}
