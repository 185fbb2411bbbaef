"""CLIPDraw (Frans et al. 2021) and StyleCLIPDraw (Schaldenbrand et al. 2021).

Both optimise the points, widths and RGBA colours of Bézier strokes (:mod:`clipedit.draw.scene`) through a
differentiable renderer (:mod:`clipedit.draw.render`) with the shared :class:`~clipedit.guidance.CLIPGuide`
and the shared :func:`~clipedit.optim.optimize` loop. StyleCLIPDraw adds the VGG-16 style loss of
:class:`clipedit.losses.StyleLoss` to the same objective.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Callable, Sequence

import torch
from typing_extensions import Unpack

from clipedit.defaults import DRAW
from clipedit.device import select_device
from clipedit.draw.render import Renderer, make_renderer
from clipedit.draw.scene import Scene, random_strokes
from clipedit.draw.svg import save_svg, to_svg
from clipedit.guidance import CLIPGuide
from clipedit.guidance.guide import PromptLike
from clipedit.imageio import ImageLike, load_image, save_image
from clipedit.losses import StyleLoss
from clipedit.masks import composite
from clipedit.optim import OptimResult, RunFrames, RunOptions, optimize, seed_everything
from clipedit.report import write_report

# CLIPDraw's published numbers are diffvg half-widths (initial 1.0, clamp [1, 50], lr 0.1); clipedit's widths are
# full widths (see :class:`~clipedit.draw.scene.Path`), so each is doubled here: same strokes, same Adam steps.
CLIPDRAW_LRS = {"points": 1.0, "widths": 0.2, "colors": 0.01}
CLIPDRAW_WIDTH = 2.0
CLIPDRAW_WIDTH_RANGE = (DRAW.min_width, DRAW.max_width)


def drawing_settings(guide: CLIPGuide | None, steps: int | None = None, num_paths: int | None = None,
                     canvas: int | None = None) -> dict[str, int]:
    """``steps``, ``num_paths`` and ``canvas``: each as given, else what the guide's first model recommends
    (``model.recommended["draw"]``: the small offline guides draw 128 strokes on 128 px in 300 steps), else
    CLIPDraw's (:data:`clipedit.defaults.DRAW`: 1000 steps, 256 strokes, 224 px)."""
    rec = dict(getattr(guide.models[0], "recommended", {}).get("draw", {})) if guide is not None else {}
    given = {"steps": steps, "num_paths": num_paths, "canvas": canvas}
    return {k: int(v if v is not None else rec.get(k, getattr(DRAW, k))) for k, v in given.items()}


@dataclass
class DrawResult(RunFrames):
    """A finished drawing: ``scene`` (detached, CPU), ``image`` ``(1, 3, H, W)`` in [0, 1] (CPU), the run
    (loss history, snapshots) and the guide."""

    scene: Scene
    image: torch.Tensor
    run: OptimResult
    guide: CLIPGuide | None

    @property
    def history(self) -> list[dict[str, float]]:
        return self.run.history

    def render(self, scale: float = 1.0, renderer: str | Renderer = "auto") -> torch.Tensor:
        """The drawing at ``scale`` times the canvas (points and widths scaled: vectors stay sharp)."""
        with torch.no_grad():
            return make_renderer(renderer)(self.scene.scaled(scale)).cpu()

    def svg(self) -> str:
        return to_svg(self.scene)

    def save(self, path: str | os.PathLike, scale: float = 1.0) -> dict[str, FilePath]:
        """Write ``stem.png`` (at ``scale``), ``stem.svg`` and ``stem.json`` (loss history); returns the paths."""
        stem = FilePath(path).with_suffix("")
        png = save_image(self.render(scale) if scale != 1 else self.image, stem.with_suffix(".png"))
        svg = save_svg(self.scene, stem.with_suffix(".svg"))
        js = write_report(png, history=self.history, steps_run=self.run.steps_run, stopped=self.run.stopped)
        return {"png": png, "svg": svg, "json": js}


def _check_prompt(prompt) -> None:
    if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
        raise ValueError("the prompt is empty: describe what to draw, e.g. 'a red circle'")


def draw(
    prompt: PromptLike | Sequence[PromptLike] | None,
    *,
    negatives: PromptLike | Sequence[PromptLike] | None = None,
    model: str | Sequence[str] = "auto",
    num_paths: int | None = None,
    steps: int | None = None,
    canvas: int | None = None,
    max_width: float = DRAW.max_width,
    min_width: float = DRAW.min_width,
    augment: str = DRAW.augment,
    n_augs: int = DRAW.n_augs,
    lrs: dict[str, float] | None = None,
    seed: int | None = 0,
    init: Scene | None = None,
    photo: ImageLike | None = None,
    mask=None,
    renderer: str | Renderer = DRAW.renderer,
    extra_loss: Callable[[torch.Tensor, int], tuple[torch.Tensor, dict[str, float]]] | None = None,
    clip_until: float = 1.0,
    device: str | torch.device | None = None,
    guide: CLIPGuide | None = None,
    desc: str = "clipdraw",
    **control: Unpack[RunOptions],
) -> DrawResult:
    """The shared stroke optimiser behind :func:`clipdraw` and :func:`styleclipdraw`.

    ``extra_loss(image, step) -> (loss, logs)`` is added to the CLIP loss; the CLIP loss is used for steps
    ``< clip_until * steps`` only. ``prompt=None`` (with ``extra_loss``) optimises the extra loss alone.
    ``steps``, ``num_paths`` and ``canvas`` left ``None`` follow :func:`drawing_settings` (the guide's own).
    ``photo``: draw over this picture (resized to the canvas) instead of white. ``mask`` (with ``photo``): the region
    the strokes may change (:mod:`clipedit.masks`); every rendering is composited with the photo, so pixels where the
    mask is 0 are exactly the photo's.
    """
    if prompt is None and extra_loss is None:
        raise ValueError("nothing to optimise: give a prompt or an extra loss")
    if prompt is not None:
        _check_prompt(prompt)
    for what, v in (("num_paths", num_paths), ("steps", steps)):
        if v is not None and v < 1:
            raise ValueError(f"{what} must be >= 1, got {v}")
    if (canvas is not None and canvas < 8) or not 0 < min_width <= max_width:
        raise ValueError("num_paths must be >= 1, canvas >= 8 and 0 < min_width <= max_width")
    dev = select_device(device)
    seed_everything(seed)
    if guide is None and prompt is not None:
        guide = CLIPGuide(prompt, negatives=negatives, models=model, augment=augment, n_augs=n_augs, device=dev)
    chosen = drawing_settings(guide, steps, num_paths, canvas)
    steps, num_paths, canvas = chosen["steps"], chosen["num_paths"], chosen["canvas"]
    start = init.detach() if init is not None else random_strokes(num_paths, canvas, canvas,
                                                                   stroke_width=CLIPDRAW_WIDTH, seed=seed)
    region = None
    if mask is not None and photo is None:
        raise ValueError("mask= limits the strokes to a region of a photo: give photo= too")
    if photo is not None:
        start.background = load_image(photo).to(torch.float32)[0].cpu()
        start.background = torch.nn.functional.interpolate(start.background[None], size=(canvas, canvas),
                                                           mode="bilinear", antialias=True)[0].clamp(0, 1)
    if mask is not None:
        from clipedit.masks import as_mask

        region = as_mask(mask, (canvas, canvas)).to(dev)
    scene = start.to(dev)
    scene.requires_grad_(True)
    rend = make_renderer(renderer)
    if hasattr(rend, "manual_seed"):  # a sampling renderer (diffvg): a fresh sample pattern per step, from the seed
        rend.manual_seed(seed)
    rates = {**CLIPDRAW_LRS, **(lrs or {})}
    groups = [{"params": scene.parameters("points"), "lr": rates["points"], "schedule": "step"},
              {"params": scene.parameters("widths"), "lr": rates["widths"], "schedule": None},
              {"params": scene.parameters("colors"), "lr": rates["colors"], "schedule": None}]
    clip_steps = int(round(clip_until * steps))

    def render_now() -> torch.Tensor:  # with a mask, the photo outside the region (what the guide sees too)
        return rend(scene) if region is None else composite(rend(scene), scene.background[None], region)

    def closure(step: int):
        image = render_now()
        logs: dict[str, float] = {}
        loss = image.new_zeros(())
        if guide is not None and step < clip_steps:
            out = guide(image)
            loss = loss + out.loss
            logs.update(out.similarities)
            logs["clip_loss"] = float(out.loss.detach())
        if extra_loss is not None:
            extra, more = extra_loss(image, step)
            loss = loss + extra
            logs.update(more)
        return loss, logs

    def project() -> None:  # CLIPDraw's clamps after each step
        for p in scene.paths:
            p.width.clamp_(min_width, max_width)
            p.color.clamp_(0.0, 1.0)

    run = optimize(groups, closure, steps, render=render_now, **control, desc=desc, post_step=project)
    final = scene.detach().to("cpu")
    return DrawResult(final, run.image.detach().cpu(), run, guide)


def clipdraw(prompt: PromptLike | Sequence[PromptLike], **kwargs) -> DrawResult:
    """Draw ``prompt`` with Bézier strokes (CLIPDraw).

    Defaults follow the CLIPDraw paper and notebook: 256 paths of 1–3 segments started near random points,
    2 px wide, widths clamped to [2, 100] px, Adam with learning rates points 1.0 / widths 0.2 / colours 0.01 (the
    paper's 1.0, [1, 50] and 0.1 are diffvg half-widths; clipedit's widths are full widths), the points'
    rate decayed x0.4 at 50% and x0.1 at 75% of the steps, 4 augmented views (RandomPerspective 0.5 +
    RandomResizedCrop 0.7–0.9, white fill), negative prompts weighted 0.3, CLIP normalisation, 1000 steps,
    224x224 canvas, white background; a guide model that recommends its own steps, paths and canvas gets those (the
    small offline guides: 300 steps, 128 paths, 128 px; :func:`drawing_settings`). Keyword arguments: see :func:`draw` (``negatives``, ``model``,
    ``num_paths``, ``steps``, ``canvas``, ``min_width``, ``max_width``, ``augment``, ``n_augs``, ``lrs``, ``seed``, ``init``,
    ``renderer``, ``device``, ``callback``, ``callback_every``, ``keep_snapshots``, ``progress``, ``stop``).

    Returns a :class:`DrawResult`: ``.image``, ``.scene`` (vectors), ``.save("out")`` writes PNG + SVG + JSON,
    ``.render(scale=4)`` re-renders at any resolution.
    """
    _check_prompt(prompt)
    return draw(prompt, **kwargs)


def styleclipdraw(prompt: PromptLike | Sequence[PromptLike], style_image: ImageLike, *,
                  style_weight: float = DRAW.style_weight, style_loss: str = DRAW.style_loss,
                  vgg_weights: str | os.PathLike | None = DRAW.vgg_weights,
                  clip_until: float = 0.9, style_samples: int = 1024, **kwargs) -> DrawResult:
    """StyleCLIPDraw: CLIPDraw's strokes optimised jointly for the text and for the style of ``style_image``.

    Loss ``L = L_CLIP + style_weight * L_style`` where ``L_style`` is the STROTSS loss of StyleCLIPDraw
    (relaxed EMD + moment + palette terms on VGG-16 hypercolumns at 1024 random positions; ``style_loss="gram"``
    uses Gram matrices instead). As in StyleCLIPDraw the CLIP term is dropped for the last 10% of the steps
    (``clip_until=0.9``) so the strokes settle into the style. ``vgg_weights``: ``"auto"`` (torchvision's ImageNet
    VGG-16 when cached or downloadable, else a random-init VGG-16 with a notice), ``"imagenet"`` (required), a
    local state-dict path, or ``None`` (random init: offline, weaker style features).
    Other keyword arguments as :func:`clipdraw`.
    """
    _check_prompt(prompt)
    if style_weight < 0:
        raise ValueError(f"style_weight must be >= 0, got {style_weight}")
    dev = select_device(kwargs.get("device"))
    if kwargs.get("guide") is None:  # built here so that the canvas the guide recommends sizes the style loss
        kwargs["guide"] = CLIPGuide(prompt, negatives=kwargs.pop("negatives", None), models=kwargs.pop("model", "auto"),
                                    augment=kwargs.pop("augment", DRAW.augment), n_augs=kwargs.pop("n_augs", DRAW.n_augs),
                                    device=dev)
    canvas = drawing_settings(kwargs["guide"], canvas=kwargs.get("canvas"))["canvas"]
    kwargs["canvas"] = canvas
    loss_fn = StyleLoss(load_image(style_image), kind=style_loss, weights=vgg_weights, samples=style_samples, size=canvas).to(dev)

    def extra(image: torch.Tensor, step: int):
        value = loss_fn(image)
        return style_weight * value, {"style_loss": float(value.detach())}

    return draw(prompt, extra_loss=extra, clip_until=clip_until, desc="styleclipdraw", **kwargs)
