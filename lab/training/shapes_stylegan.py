"""Train a shapes-world StyleGAN2 as a neural renderer of a scene code: the bundled default demo generator
``clipedit/shapes-renderer`` (beside the earlier GAN ``clipedit/shapes-stylegan2``, whose shapes are softer: docs/research-notes.md).

The GAN route (:mod:`lab.training.shapes_gan`) reached every shape but left 40 % of samples soft or malformed
on a 2-core CPU. This trainer keeps StyleGAN2's architecture and file format (the same
:class:`~clipedit.styleclip.stylegan2.Generator`, rosinality's key names) and changes how it is fitted:

* a **scene code** ``f`` (23 numbers: one-hot colour, shape and background, colour jitter, background jitter,
  centre, size, rotation; :func:`sample_codes`) names one shapes-world scene exactly (:func:`render_code`);
* the **synthesis network** is trained to draw the scene its latent ``w = w0 + E f`` names, in pixels (object
  pixels weighted up, plus a blur pyramid) and in the frozen offline guide's image features (the ones the
  projected discriminator used), with ``E`` a learned ``(128, 23)`` embedding; codes are also shrunk toward the
  mean (truncation) so that ``ψ < 1`` still names a scene — the classes keep their argmax — and moved part of the
  way between classes (:func:`mix_classes`); shapes and backgrounds blend by a sharp softmax (:data:`SHARPNESS`),
  the colour as an RGB blend of the palette (:func:`palette_blend`), so that gradient edits have a path between
  classes;
* **W+ level mixing**: for part of the samples the fine W+ vectors name another code's colours
  (:func:`mix_levels`, :data:`FINE_FROM`), so the coarse vectors name the geometry and the fine ones the colours;
* the **mapping network** is not trained but *set in closed form* (:func:`set_mapping`) to the scene table
  :func:`scene_table`: 11 of ``z``'s 128 coordinates pick colour, shape and background by normal quantiles
  (steps 1/1000 wide) and give the continuous parts through a piecewise-linear normal CDF. So every ``z`` lands
  on a scene, the classes are balanced like the training data's, and ``ψ``-truncation keeps them.

    python -m lab.training.shapes_stylegan --init clipedit/assets/shapes-stylegan2 --minutes 55 --out runs/r
    python -m lab.training.shapes_stylegan --init runs/r --minutes 25 --out runs/r2  # copy into clipedit/assets to ship

:class:`SceneFunction` is the exact function a renderer approximates, as a generator, for asking what a perfect
renderer of the code would allow (``python -m lab.eval.stylegan_methods --only ideal``).

The checkpoint is rosinality's ``{"g_ema", "latent_avg", "config"}`` plus ``"scene_code"`` (``E``, ``w0``), so
:func:`clipedit.styleclip.load_generator` reads it like any generator.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.hub import read_checkpoint, save_checkpoint
from clipedit.styleclip.loaders import KIND as GENERATOR_KIND
from clipedit.weights import get_weights
from clipedit.data.shapes import BACKGROUNDS, BACKGROUND_NAMES, COLOUR_NAMES, COLOURS, SHAPES, render_shapes
from clipedit.styleclip.stylegan2 import Generator
from lab.common import add_out, state_for

#: (start, end) of the one-hot blocks in a scene code: colour, shape, background.
BLOCKS = ((0, len(COLOUR_NAMES)), (6, 6 + len(SHAPES)), (12, 12 + len(BACKGROUND_NAMES)))
N_CONT = 8  # colour jitter (3), background jitter (1), centre (2), size, rotation: each in [-1, 1]
N_CODE = BLOCKS[-1][1] + N_CONT
#: the mean scene code (one-hots uniform, continuous parts 0): codes are centred on it.
CODE_MEAN = torch.cat([torch.full((b - a,), 1 / (b - a)) for a, b in BLOCKS] + [torch.zeros(N_CONT)])
JITTER, SIZE_RANGE, MAX_ROTATION = 0.08, (0.22, 0.55), math.radians(20)  # as clipedit.data.shapes.sample_batch
#: class sharpness: shapes and backgrounds are blended by softmax(SHARPNESS · code block). A sample (ψ 0.7) is 93 %
#: one shape, an untruncated one 98.8 %, and between shapes the drawing changes smoothly. The colour is not blended
#: by a softmax (it leaves every other colour on a plateau: the gradient toward blue of a red object is ~1 % of the
#: one away from red) nor by an argmax (every class flat: edits changed no colour); see :func:`palette_blend`.
SHARPNESS = 6.0
#: the object colours ``(6, 3)`` in :data:`~clipedit.data.shapes.COLOUR_NAMES` order.
PALETTE = torch.tensor([COLOURS[c] for c in COLOUR_NAMES])
#: piecewise-linear normal CDF of the continuous parts: knots at these quantile levels map to LEVELS.
KNOTS, LEVELS = (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99), (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
#: W+ levels: vectors ``0 .. FINE_FROM - 1`` (StyleCLIP's coarse level, 4×4 to the 16×16 up-convolution) name the
#: geometry, vectors ``FINE_FROM ..`` (the medium level: 16×16 and 32×32) the colours. Training mixes the two
#: levels between codes (:func:`mix_levels`), so each level learns to read only its parts, as StyleGAN's layers do.
FINE_FROM = 4
#: the code coordinates the fine W+ vectors name: colour and background blocks, their jitter.
COLOUR_PARTS = torch.tensor([*range(*BLOCKS[0]), *range(*BLOCKS[2]), *range(BLOCKS[2][1], BLOCKS[2][1] + 4)])


def sample_codes(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random centred scene codes ``(n, 23)``: every colour, shape and background equally likely, the
    continuous parts uniform in ``[-1, 1]`` (the distribution of :func:`clipedit.data.shapes.sample_batch`)."""
    f = torch.zeros(n, N_CODE)
    rows = torch.arange(n)
    for a, b in BLOCKS:
        f[rows, a + torch.randint(0, b - a, (n,), generator=generator)] = 1
    f[:, -N_CONT:] = torch.rand(n, N_CONT, generator=generator) * 2 - 1
    return f - CODE_MEAN


def mix_classes(code: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> torch.Tensor:
    """Move each class block of ``p`` of the codes part of the way toward another class of the same block
    (``(1 - t) e_a + t e_b``, ``t`` uniform): the paths an edit takes from one colour, shape or background to
    another, which truncation (shrinking toward the mean) never visits. ``code`` ``(B, 23)`` centred."""
    f = code + CODE_MEAN
    n, rows = code.shape[0], torch.arange(code.shape[0])
    for a, b in BLOCKS:
        k = b - a
        cur = f[:, a:b].argmax(1)
        other = (cur + torch.randint(1, k, (n,), generator=generator)) % k
        t = torch.rand(n, generator=generator) * (torch.rand(n, generator=generator) < p)
        f[rows, a + cur] -= t
        f[rows, a + other] += t
    return f - CODE_MEAN


def mix_levels(code_a: torch.Tensor, code_b: torch.Tensor, mixed: torch.Tensor) -> torch.Tensor:
    """The scene a W+ latent names whose coarse vectors come from ``code_a`` and, where ``mixed`` ``(B,)`` is
    true, whose fine vectors (from :data:`FINE_FROM`) come from ``code_b``: ``code_a``'s geometry with
    ``code_b``'s colours (:data:`COLOUR_PARTS`). Codes ``(B, 23)`` centred.

    >>> a, b = sample_codes(2, torch.Generator().manual_seed(0)), sample_codes(2, torch.Generator().manual_seed(1))
    >>> bool((mix_levels(a, b, torch.tensor([False, False])) == a).all())
    True
    """
    out = code_a.clone()
    rows = mixed.nonzero()[:, 0]
    out[rows[:, None], COLOUR_PARTS] = code_b[rows[:, None], COLOUR_PARTS]
    return out


def palette_blend(weights: torch.Tensor) -> torch.Tensor:
    """The object colour ``(B, 3)`` that colour-block weights ``(B, 6)`` (uncentred) name: ``Σ_k f_k · colour_k``,
    linear in the block. A one-hot block gives its palette colour exactly; truncation (shrinking toward the uniform
    block) pulls the colour toward the palette's mean, keeping its class; between two classes the colour walks the
    straight RGB line, which the colour phase of the offline guide
    (:func:`lab.training.shapes_guide.colour_finetune`) reads as a blend of the two colours. (A saturated hue
    line, and weights taken relative to the block's smallest entry, were tried instead: docs/research-notes.md.) Clamp to
    ``[0, 1]`` after adding jitter.

    >>> palette = torch.tensor([COLOURS[c] for c in COLOUR_NAMES])
    >>> bool(torch.allclose(palette_blend(torch.eye(6)), palette))
    True
    >>> palette_blend(torch.tensor([[0.5, 0, 0, 0, 0, 0.5]]))  # halfway from red to orange
    tensor([[0.9100, 0.3250, 0.0900]])
    """
    return weights @ PALETTE.to(weights)


def code_to_scene(code: torch.Tensor) -> dict[str, torch.Tensor]:
    """Centred codes ``(B, 23)`` (possibly shrunk or noisy) -> the scene they name: class indices (argmax of each
    block) and class weights ``colour_weights`` ``(B, 6)``, ``shape_weights`` ``(B, 6)``, ``background_weights``
    ``(B, 3)`` (softmax of :data:`SHARPNESS` × the block), ``colour_rgb`` ``(B, 3)`` (:func:`palette_blend`),
    the blended ``background_rgb`` ``(B, 3)``,
    ``center`` ``(B, 2)``, ``size`` and ``rotation`` ``(B,)``."""
    f = code.float().cpu() + CODE_MEAN
    weights = [torch.softmax(SHARPNESS * f[:, a:b], 1) for a, b in BLOCKS]
    colour, shape, background = (wt.argmax(1) for wt in weights)
    u = f[:, -N_CONT:].clamp(-1, 1)
    base = palette_blend(f[:, BLOCKS[0][0]:BLOCKS[0][1]])
    bg = weights[2] @ torch.tensor([BACKGROUNDS[b] for b in BACKGROUND_NAMES])
    size = SIZE_RANGE[0] + (SIZE_RANGE[1] - SIZE_RANGE[0]) * (u[:, 6] + 1) / 2
    margin = (1 - size * 1.1).clamp(min=0)
    return {"colour": colour, "shape": shape, "background": background, "colour_weights": weights[0],
            "shape_weights": weights[1], "background_weights": weights[2],
            "colour_rgb": (base + JITTER * u[:, :3]).clamp(0, 1), "background_rgb": (bg + JITTER * u[:, 3:4]).clamp(0, 1),
            "center": u[:, 4:6] * margin[:, None], "size": size, "rotation": u[:, 7] * MAX_ROTATION}


def render_code(code: torch.Tensor, resolution: int = 32) -> torch.Tensor:
    """The scene a code names, rendered: ``(B, 3, resolution, resolution)`` in ``[0, 1]`` on the CPU. The object's
    coverage is the ``shape_weights``-blend of the six shapes' anti-aliased masks (one shape when the code is
    sure of it).

    >>> code = sample_codes(2, torch.Generator().manual_seed(0))
    >>> tuple(render_code(code).shape)
    (2, 3, 32, 32)
    """
    s = code_to_scene(code)
    n = code.shape[0]
    one, zero = torch.ones(n, 3), torch.zeros(n, 3)
    mask = sum(s["shape_weights"][:, k, None, None, None] *
               render_shapes(torch.full((n,), k), one, zero, s["center"], s["size"], s["rotation"], resolution)[:, :1]
               for k in range(len(SHAPES)))
    img = s["background_rgb"][:, :, None, None] * (1 - mask) + s["colour_rgb"][:, :, None, None] * mask
    return img.clamp(0, 1)


def _thresholds() -> tuple[list[tuple[int, float]], list[tuple[int, float, float, float]]]:
    """The table's steps ``(z index, threshold)`` in block order, and its CDF pieces ``(z index, t0, t1, dF)``."""
    steps, j = [], 0
    for a, b in BLOCKS:
        k = b - a
        steps += [(j, float(torch.special.ndtri(torch.tensor(i / k)))) for i in range(1, k)]
        j += 1
    knots = [float(torch.special.ndtri(torch.tensor(q))) for q in KNOTS]
    pieces = [(j + c, knots[i], knots[i + 1], LEVELS[i + 1] - LEVELS[i]) for c in range(N_CONT) for i in range(len(KNOTS) - 1)]
    return steps, pieces


def scene_table(z: torch.Tensor) -> torch.Tensor:
    """The scene code every ``z`` ``(B, style_dim)`` names (the limit of :func:`set_mapping`'s mapping network):
    after StyleGAN's pixel norm, coordinate 0 picks the colour, 1 the shape, 2 the background (by normal
    quantiles: equally likely classes) and 3–10 give the continuous parts through a piecewise-linear normal CDF.
    Returns centred codes ``(B, 23)``."""
    zn = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    steps, pieces = _thresholds()
    f = torch.zeros(z.shape[0], N_CODE)
    rows, i = torch.arange(z.shape[0]), 0
    for j, (a, b) in enumerate(BLOCKS):
        k = b - a
        idx = sum((zn[:, j] > t).long() for _, t in steps[i:i + k - 1])
        f[rows, a + idx] = 1
        i += k - 1
    for c in range(N_CONT):
        F_ = sum(dF * ((zn[:, jj] - t0) / (t1 - t0)).clamp(0, 1) for jj, t0, t1, dF in pieces if jj == 3 + c)
        f[:, len(CODE_MEAN) - N_CONT + c] = 2 * F_ - 1
    return f - CODE_MEAN


class SceneEmbedding(nn.Module):
    """``w = w0 + E code``: ``code`` ``(B, 23)`` centred, ``w`` ``(B, style_dim)``; ``E`` is learned, ``w0`` fixed."""

    def __init__(self, w0: torch.Tensor, scale: float = 2.0, seed: int = 1) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(w0.numel(), N_CODE, generator=torch.Generator().manual_seed(seed)))
        self.E = nn.Parameter(scale * q)
        self.register_buffer("w0", w0.clone().float())

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.w0 + code @ self.E.T


@torch.no_grad()
def shift_latent(G: Generator, c: torch.Tensor) -> None:
    """Re-bias every style layer so that ``G.synthesis(w + c)`` draws what ``G.synthesis(w)`` drew (``c``
    ``(style_dim,)``): the modulation is affine, so its bias absorbs the shift exactly."""
    for _, m, _ in G.style_layers():
        lin = m.modulation
        lin.bias -= (F.linear(c[None], lin.weight * lin.scale)[0]) / lin.lr_mul


@torch.no_grad()
def set_mapping(G: Generator, emb: SceneEmbedding, steepness: float = 1000.0) -> None:
    """Set ``G``'s 4-layer mapping network in closed form so that ``G.mapping(z) = w0 + E scene_table(z)`` (exactly,
    except within ``0.5 / steepness`` of a class threshold). Layer 1 makes clamp ramps from pairs of leaky ReLUs
    (``h(a) - h(a - 1) = √2 (0.2 + 0.8 clamp(a, 0, 1))``), layer 2 combines them into ``w``, layers 3–4 pass
    it through; this needs every ``w`` positive (the leaky ReLUs' linear side), so call :func:`shift_latent` and
    move ``emb.w0`` first (:func:`export` does). Rosinality's layout: ``style.1`` … ``style.4``."""
    layers = [m for m in G.style if hasattr(m, "weight")]
    d = G.style_dim
    steps, pieces = _thresholds()
    if len(layers) != 4 or d < 2 * (len(steps) + len(pieces)):
        raise ValueError("the closed-form mapping needs 4 mapping layers and style_dim >= 120")
    W1, b1 = torch.zeros(d, d), torch.zeros(d)
    ramps = []  # per ramp: (unit index of the pair's first unit)
    unit = 0
    for j, t in steps:  # a = K (zn_j - t) + 0.5: the step centred on t
        for off in (0.0, -1.0):
            W1[unit, j], b1[unit] = steepness, -steepness * t + 0.5 + off
            unit += 1
        ramps.append(unit - 2)
    for j, t0, t1, _ in pieces:  # a = (zn_j - t0) / (t1 - t0)
        for off in (0.0, -1.0):
            W1[unit, j], b1[unit] = 1 / (t1 - t0), -t0 / (t1 - t0) + off
            unit += 1
        ramps.append(unit - 2)
    # clamp(a) of ramp r = (h[u] - h[u+1]) / (0.8 √2) - 0.25: f = f0 + A @ clamps
    n_r = len(ramps)
    D = torch.zeros(n_r, d)
    for r, u in enumerate(ramps):
        D[r, u], D[r, u + 1] = 1 / (0.8 * math.sqrt(2)), -1 / (0.8 * math.sqrt(2))
    f0, A = torch.zeros(N_CODE), torch.zeros(N_CODE, n_r)
    r = 0
    for a, b in BLOCKS:  # one-hot from k - 1 steps: onehot_0 = 1 - s_1, onehot_i = s_i - s_{i+1}, onehot_last = s_last
        k = b - a
        f0[a] = 1
        for i in range(k - 1):
            A[a + i, r + i] -= 1
            A[a + i + 1, r + i] += 1
        r += k - 1
    for c in range(N_CONT):  # u = 2 F - 1
        f0[BLOCKS[-1][1] + c] = -1
        for _ in range(len(KNOTS) - 1):
            A[BLOCKS[-1][1] + c, r] = 2 * pieces[r - len(steps)][3]
            r += 1
    E, w0 = emb.E.detach().float().cpu(), emb.w0.float().cpu()
    const = w0 + E @ (f0 - CODE_MEAN - 0.25 * A.sum(1))  # w = const + E A D h
    W2, b2 = (E @ A @ D) / math.sqrt(2), const / math.sqrt(2)  # pre-activation w / √2 -> output w (w > 0)
    eye = torch.eye(d) / math.sqrt(2)
    for lin, (W, b) in zip(layers, ((W1, b1), (W2, b2), (eye, torch.zeros(d)), (eye, torch.zeros(d)))):
        lin.weight.copy_(W / lin.scale)
        lin.bias.copy_(b / lin.lr_mul)


def code_w_min(emb: SceneEmbedding) -> torch.Tensor:
    """The smallest value each ``w`` coordinate takes over all codes and truncations ``ψ`` in ``[0, 1]``
    (``(style_dim,)``): a linear function's minimum over the product of simplices and a box."""
    E = emb.E.detach().float().cpu()
    low = emb.w0.float().cpu() - E @ CODE_MEAN
    for a, b in BLOCKS:
        low = low + E[:, a:b].min(1).values
    low = low - E[:, -N_CONT:].abs().sum(1)
    return torch.minimum(low, emb.w0.float().cpu())


@torch.no_grad()
def export(G: Generator, emb: SceneEmbedding, out: Path | None = None, margin: float = 0.5, meta: dict | None = None) -> Generator:
    """A copy of ``G`` whose latents are all positive (:func:`shift_latent`) and whose mapping network is the scene
    table (:func:`set_mapping`); written to ``out`` in rosinality's format when given."""
    import copy

    G2 = copy.deepcopy(G).cpu().eval()
    emb2 = copy.deepcopy(emb).cpu()
    shift = max(0.0, margin - float(code_w_min(emb2).min()))
    c = torch.full((G2.style_dim,), shift)
    shift_latent(G2, c)
    emb2.w0 += c
    set_mapping(G2, emb2)
    G2.latent_avg.copy_(emb2.w0)  # the mean code is 0 (balanced classes, symmetric continuous parts)
    if out is not None:
        sd = {k: v.detach().clone() for k, v in G2.state_dict().items()}
        save_checkpoint(out, {"g_ema": sd, "latent_avg": G2.latent_avg.clone(), "config": G2.config.to_dict(),
                              "scene_code": {"E": emb2.E.detach().clone(), "w0": emb2.w0.clone()},
                              "recommended": dict(get_weights("clipedit/shapes-renderer").recommended),
                              "meta": meta or {}},
                        kind=GENERATOR_KIND, card="A 32 px StyleGAN2 trained by clipedit as a renderer of shapes-world "
                                                  "scene codes.")
    return G2


class SceneFunction(Generator):
    """The exact scene function a renderer approximates, as a :class:`Generator` (the limit a *perfect* renderer
    reaches; for diagnosing edits): ``mapping(z) = w0 + E scene_table(z)`` and ``synthesis(w)`` renders, exactly
    (:func:`render_code`), the scene that the coarse W+ vectors' code (geometry) and the fine ones' (colours,
    :data:`FINE_FROM`) name, each read back as ``pinv(E) (mean w - w0)``. Differentiable in the colour and the
    shape / background blends; the layout (centre, size, rotation) renders as hard masks, so gradients do not move
    it. Images ``(B, 3, 32, 32)`` in ``[-1, 1]`` on the CPU; ``E`` ``(style_dim, 23)``, ``w0`` ``(style_dim,)``.

    >>> emb = SceneEmbedding(torch.zeros(128))
    >>> G = SceneFunction(emb.E.detach(), emb.w0)
    >>> z = torch.randn(2, 128, generator=torch.Generator().manual_seed(0))
    >>> bool(torch.allclose(G.synthesis(G.mapping(z)), render_code(scene_table(z)) * 2 - 1, atol=1e-4))
    True
    """

    def __init__(self, E: torch.Tensor, w0: torch.Tensor) -> None:
        from lab.training.shapes_gan import DEMO_CONFIG

        super().__init__(DEMO_CONFIG)  # a Generator (its weights unused), so every editing method accepts it
        self.requires_grad_(False)
        self.register_buffer("E", E.detach().float().cpu().clone())
        self.register_buffer("w0", w0.detach().float().cpu().clone())
        self.register_buffer("P", torch.linalg.pinv(self.E))
        self.latent_avg.copy_(self.w0)

    @classmethod
    def from_file(cls, path: str | Path) -> "SceneFunction":
        """The scene function of a renderer file's ``scene_code`` (``E``, ``w0``)."""
        ck = read_checkpoint(path, GENERATOR_KIND)
        if "scene_code" not in ck:
            raise ValueError(f"{path}: not a scene-code renderer (no 'scene_code'); train one with this module")
        return cls(ck["scene_code"]["E"], ck["scene_code"]["w0"])

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.w0 + scene_table(z.cpu()).to(z.device) @ self.E.T

    def synthesis(self, w, noise=None, noise_mode: str = "const", styles=None) -> torch.Tensor:
        if styles is not None:
            raise ValueError("the scene function has no StyleSpace: pass w")
        wp = self.to_wplus(w)
        coarse, fine = ((wp[:, sl].mean(1) - self.w0) @ self.P.T for sl in (slice(0, FINE_FROM), slice(FINE_FROM, None)))
        mixed = torch.ones(wp.shape[0], dtype=torch.bool)
        return render_code(mix_levels(coarse, fine, mixed), self.size).to(wp.device) * 2 - 1


def render_loss(out: torch.Tensor, target: torch.Tensor, features=None, feature_weight: float = 1.0) -> torch.Tensor:
    """L1 with object pixels weighted ×5, plus L1 on 2/4/8-pooled images (so a misplaced object still gets a
    gradient toward its place), plus the frozen guide's features (``features``: image ``[-1, 1]`` -> list of maps),
    each normalised by the target's mean magnitude. ``out``/``target`` ``(B, 3, H, W)`` in ``[-1, 1]``."""
    obj = ((target - target[:, :, :1, :1]).abs().amax(1, keepdim=True) > 0.1).float()
    loss = ((out - target).abs() * (1 + 4 * obj)).mean()
    for k in (2, 4, 8):
        loss = loss + 2 * (F.avg_pool2d(out, k) - F.avg_pool2d(target, k)).abs().mean()
    if features is not None and feature_weight > 0:
        fo, ft = features(out), features(target)
        loss = loss + feature_weight * sum((a - b).abs().mean() / b.abs().mean().clamp(min=1e-3) for a, b in zip(fo, ft))
    return loss


def train(minutes: float = 50.0, batch: int = 32, seed: int = 0, out: Path = Path("shapes-renderer"), state: Path | None = None,
          resume: bool = False, steps: int | None = None, progress: bool | None = None, init: Path | None = None,
          feature_weight: float = 1.0, lr: float = 0.002, log_every: int = 250, level_mix: float = 0.5) -> Generator:
    """Fit the synthesis network and ``E`` on the shared loop (:func:`clipedit.training.loop.train_loop`) for
    ``minutes`` or ``steps``; ``init``: start the synthesis from a generator file of the demo's config (the GAN's);
    ``level_mix``: the fraction of samples whose fine W+ vectors name another code's colours (:func:`mix_levels`);
    ``state``: the training-state folder (``resume=True`` continues). Writes ``out`` (:func:`export`) at every
    checkpoint."""
    from clipedit.training.loop import LoopConfig, TrainState, train_loop
    from lab.training.shapes_gan import DEMO_CONFIG, ProjectedDiscriminator

    G = Generator(DEMO_CONFIG)
    ck = read_checkpoint(init, GENERATOR_KIND) if init is not None else None
    emb = SceneEmbedding(ck["latent_avg"].reshape(-1).float() if ck is not None else torch.zeros(G.style_dim))
    if ck is not None:
        G.load_state_dict(ck["g_ema"], strict=False)
        if "scene_code" in ck:  # a renderer already: keep its embedding
            emb.E.data.copy_(ck["scene_code"]["E"])
            emb.w0.copy_(ck["scene_code"]["w0"])
    guide = ProjectedDiscriminator() if feature_weight > 0 else None  # only its frozen feature tower is used
    synth = [p for n, p in G.named_parameters() if not n.startswith("style.")]
    for p in G.style.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam([*synth, *emb.parameters()], lr=lr, betas=(0.9, 0.99))

    def step(st: TrainState) -> dict[str, float]:
        if st.accelerator.num_processes > 1:
            raise RuntimeError("the demo StyleGAN2 trainer runs in one process (no `accelerate launch` across devices)")
        g, G_, E_ = st.generators["data"], st.unwrap("G"), st.unwrap("emb")
        codes = []
        for _ in range(2):  # the coarse and (for mixed samples) the fine vectors' codes
            code = mix_classes(sample_codes(batch, g), g, p=0.25)
            psi = torch.where(torch.rand(batch, 1, generator=g) < 0.5, torch.ones(batch, 1),
                              0.4 + 0.6 * torch.rand(batch, 1, generator=g))  # truncated codes name the same classes
            noise = 0.05 * torch.randn(batch, N_CODE, generator=g)
            codes.append(code * psi + noise)
        mixed = torch.rand(batch, generator=g) < level_mix
        w = G_.to_wplus(E_(codes[0].to(st.device)))
        w[mixed.to(st.device), FINE_FROM:] = E_(codes[1][mixed].to(st.device))[:, None]
        w = w + 0.04 * torch.randn(w.shape, generator=g).to(st.device)  # each W+ vector its own noise
        target = render_code(mix_levels(codes[0], codes[1], mixed)).to(st.device) * 2 - 1
        loss = render_loss(G_.synthesis(w), target, guide.features if guide is not None else None, feature_weight)
        o = st.optimizers["opt"]
        o.zero_grad(set_to_none=True)
        st.backward(loss)
        o.step()
        return {"loss": loss.item()}

    def checkpoint(st: TrainState) -> None:
        export(st.unwrap("G"), st.unwrap("emb"), out, meta={"steps": st.step, "minutes": round(st.seconds / 60, 2),
                                                           "log": st.log, "batch": batch, "level_mix": level_mix,
                                                           "trainer": "lab.training.shapes_stylegan",
                                                           "colour": "palette_blend"})

    cfg = LoopConfig(steps=steps, minutes=minutes if steps is None else None, seed=seed, state_dir=state,
                     resume=resume, checkpoint_every=log_every, log_every=log_every, progress=progress)
    st = train_loop(step, {"G": G, "emb": emb}, {"opt": opt}, cfg, generators={"data": torch.Generator()},
                    on_checkpoint=checkpoint, desc="shapes StyleGAN2 (renderer)")
    print(f"wrote {out} after {st.step} steps ({st.seconds / 60:.1f} min in all)")
    return export(st.unwrap("G"), st.unwrap("emb"))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=50.0)
    p.add_argument("--steps", type=int, default=None, help="a step budget instead of --minutes")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--features", type=float, default=1.0, help="weight of the frozen guide's feature loss (0: pixels only)")
    p.add_argument("--level-mix", type=float, default=0.5,
                   help="fraction of samples whose fine W+ vectors name another code's colours (0: one w for all)")
    add_out(p, "the generator")
    p.add_argument("--init", type=Path, default=None, help="start the synthesis network from this generator file")
    p.add_argument("--resume", action="store_true", help="continue from --state")
    a = p.parse_args(argv)
    if a.minutes <= 0 or a.batch < 1 or (a.steps is not None and a.steps < 1):
        p.error("--minutes, --batch and --steps must be positive")
    if not 0 <= a.level_mix <= 1:
        p.error("--level-mix must be in [0, 1]")
    if a.init is not None and not a.init.exists():
        p.error(f"--init: no such generator {a.init}")
    train(a.minutes, a.batch, a.seed, a.out, state_for(a.out, a.state), a.resume, a.steps, init=a.init, feature_weight=a.features, lr=a.lr,
          level_mix=a.level_mix)


if __name__ == "__main__":
    main()
