"""StyleDrop round 2: iterative training with feedback.

1. Sample images of new content prompts with the round-1 adapters (two-scale guidance).
2. Score each for **text fidelity** — the :class:`~clipedit.guidance.guide.CLIPGuide` similarity of the image to its
   content prompt — and for **style fidelity** — the distance between the Magenta style embeddings of the image and
   the reference (:func:`clipedit.models.magenta.style_distance`, real weights).
3. Keep the top ``k`` by a combined score (each score standardised over the candidates, style distance with a minus
   sign), or the ones a person ticked (human feedback), and retrain the adapters **from scratch** on them plus the
   original image.

>>> import torch
>>> c = score_candidates(torch.tensor([0.30, 0.20, 0.25]), torch.tensor([1.0, 1.0, 3.0]))
>>> [round(x, 2) for x in c.tolist()]
[1.93, -0.52, -1.41]
>>> select_top(c, 2)
[0, 1]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from clipedit.defaults import STYLEDROP_TRAIN
from clipedit.models.muse import MaskedGenerator
from clipedit.styledrop.sample import sample_style
from clipedit.styledrop.train import StyleDropSettings, TrainedStyle, train_style


#: Round-2 content prompts for a general-purpose backbone (aMUSEd), used when the backbone recommends none of its own
#: (``gen.recommended["feedback_contents"]``, e.g. the offline model's colour-shape pairs).
GENERAL_FEEDBACK: tuple[str, ...] = (
    "a cat", "a house", "a tree", "a car", "a flower", "a mountain", "a bicycle", "a teapot")


def default_feedback_contents(gen: MaskedGenerator, content: str = "") -> list[str]:
    """The round-2 prompts for a backbone: those it recommends, else :data:`GENERAL_FEEDBACK` (the style image's own
    content left out)."""
    base = getattr(gen, "recommended", {}).get("feedback_contents", GENERAL_FEEDBACK)
    return [c for c in base if c != content.strip()]


def _standardise(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean()) / x.std(unbiased=False).clamp(min=1e-8)


def score_candidates(text_score: torch.Tensor, style_distance: torch.Tensor, text_weight: float = 1.0,
                     style_weight: float = 1.0) -> torch.Tensor:
    """Combined score ``(N,)``: ``w_t · z(text) − w_s · z(style distance)`` (``z``: standardised over the N)."""
    return text_weight * _standardise(text_score.float()) - style_weight * _standardise(style_distance.float())


def select_top(score: torch.Tensor, k: int) -> list[int]:
    """Indices of the ``k`` best scores, best first."""
    return score.topk(min(int(k), score.numel())).indices.tolist()


@dataclass
class Feedback:
    """Round-2 candidates: ``images (N, 3, H, W)``, their content prompts, both scores, the combined score and the
    kept indices (best first)."""

    images: torch.Tensor
    contents: list[str]
    text_score: torch.Tensor
    style_distance: torch.Tensor
    score: torch.Tensor
    kept: list[int] = field(default_factory=list)


def collect_feedback(gen: MaskedGenerator, style: TrainedStyle, reference: torch.Tensor, contents: Sequence[str],
                     n_per_prompt: int = STYLEDROP_TRAIN.n_per_prompt, top_k: int = STYLEDROP_TRAIN.top_k, *, guide_model: str | None = None,
                     lambda_a: float | None = None, lambda_b: float | None = None, seed: int = 0,
                     text_weight: float = 1.0, style_weight: float = 1.0,
                     progress: bool | None = None) -> Feedback:
    """Steps 1–3 of round 2 with automatic selection (``top_k`` by the combined score). ``guide_model`` scores text
    fidelity (default: the guide the backbone recommends, else ``"auto"``)."""
    from clipedit.guidance.guide import CLIPGuide
    from clipedit.models.magenta import style_distance

    kw = {k: v for k, v in (("lambda_a", lambda_a), ("lambda_b", lambda_b)) if v is not None}
    out = sample_style(gen, style, list(contents), n=n_per_prompt, seed=seed, progress=progress, **kw)
    per_image = [c for c in contents for _ in range(n_per_prompt)]
    if guide_model is None:
        guide_model = getattr(gen, "recommended", {}).get("guide", "auto")
    guide = CLIPGuide(list(dict.fromkeys(contents)), models=guide_model, augment="none", n_augs=1,
                      device=gen.device)
    sim = guide.similarity(out.images)  # (N, P)
    col = {p: i for i, p in enumerate(dict.fromkeys(contents))}
    text = sim[torch.arange(len(per_image)), torch.tensor([col[c] for c in per_image])]
    dist = style_distance(out.images, reference.to(out.images.device)).cpu()
    score = score_candidates(text, dist, text_weight, style_weight)
    return Feedback(out.images, per_image, text, dist, score, select_top(score, top_k))


def retrain_with_feedback(gen: MaskedGenerator, style: TrainedStyle, reference: torch.Tensor,
                          reference_content: str, feedback: Feedback, kept: Sequence[int] | None = None,
                          settings: StyleDropSettings | None = None, progress: bool | None = None) -> TrainedStyle:
    """Step 4: new adapters, from scratch, on the original image plus the kept candidates (``kept`` overrides the
    automatic choice: human feedback)."""
    idx = list(feedback.kept if kept is None else kept)
    if not idx:
        raise ValueError("no images kept: tick at least one image (or lower the bar) before round 2")
    ref = reference.to(feedback.images.device).float()
    if ref.shape[-2:] != feedback.images.shape[-2:]:  # a style image at its own size, candidates at the model's
        ref = torch.nn.functional.interpolate(ref, size=feedback.images.shape[-2:], mode="bilinear", antialias=True,
                                              align_corners=False)
    images = torch.cat([ref, feedback.images[idx]])
    contents = [reference_content] + [feedback.contents[i] for i in idx]
    s = settings or StyleDropSettings(**style.meta.get("settings", {}))
    out = train_style(gen, images, contents, style.meta["style"], s, progress=progress, round_=style.meta["round"] + 1)
    out.meta["feedback"] = {"candidates": len(feedback.contents), "kept": len(idx),
                            "text_score_kept": float(feedback.text_score[idx].mean()),
                            "style_distance_kept": float(feedback.style_distance[idx].mean()),
                            "text_score_all": float(feedback.text_score.mean()),
                            "style_distance_all": float(feedback.style_distance.mean())}
    return out

