"""Train the adjustable (loss-conditional) style network, and the fixed-λ networks it is compared with.

One-off, on the shared training loop (:mod:`clipedit.training.loop`: seed, step/time budget, checkpoints, resume)::

    # the bundled network: λ log-uniform on [0.1, 10]^5 per example
    python -m lab.training.adjustable_style --style starry_night --steps 3500 --out runs/adjustable-starry-night
    # a fixed-λ network with the same step budget (YOTO's baseline)
    python -m lab.training.adjustable_style --fixed 1,10,10,10,10 --steps 3500 --out runs/fixed_s10
    # the table of docs/style.md: each loss term on held-out photos, conditioned vs fixed
    python -m lab.training.adjustable_style compare runs/fixed_*

Per example the loss is ``Σ_i λ_i t_i / Σ_i λ_i`` over the normalised terms ``t`` of
:class:`~clipedit.style.adjustable.AdjustableLoss` (content, four Gram terms). Dividing by ``Σ λ`` leaves each
example's optimum where it is (only ratios of weights matter) and keeps examples with large weights from
dominating the gradient.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch

from clipedit.data.paths import example_image
from clipedit.data.photos import load_photo, photo_names, random_crops
from clipedit.imageio import load_image
from clipedit.style.adjustable import (MOBILENET_CONTENT_LAYER, MOBILENET_STYLE_LAYERS, VGG_CONTENT_LAYER,
                                       VGG_STYLE_LAYERS, AdjustableLoss, AdjustableStyleNet, VGGActivations,
                                       mobilenet_features, sample_loss_weights)
from clipedit.training.loop import LoopConfig, TrainState, train_loop

from clipedit.weights import ASSETS  # noqa: E402  (reads the bundled network; never writes there)
from clipedit.report import write_json  # noqa: E402
from lab.common import add_out, state_for, write_results  # noqa: E402
STYLE_SIZE = 256
PHOTO_SIZE = 256
CALIBRATION_SEED = 1234


LOSS_NETWORKS = ("mobilenet", "vgg16")


def make_loss(style: str, photos: Sequence[torch.Tensor], crop: int, loss_net: str = "mobilenet") -> AdjustableLoss:
    """The loss for painting ``style`` (a name in the data folder's ``images/styles`` or a path), calibrated on 16
    fixed crops of ``photos``. ``loss_net``: ``"mobilenet"`` (Magenta's predictor, always here) or ``"vgg16"``
    (torchvision's ImageNet VGG-16: cached or downloaded, else :class:`~clipedit.weights.ModelUnavailableError`)."""
    if loss_net not in LOSS_NETWORKS:
        raise ValueError(f"loss_net must be one of {LOSS_NETWORKS}, got {loss_net!r}")
    path = Path(style) if Path(style).suffix else example_image("styles", style)
    if loss_net == "vgg16":
        feats, layers, content = VGGActivations(), VGG_STYLE_LAYERS, VGG_CONTENT_LAYER
    else:
        feats, layers, content = mobilenet_features(), MOBILENET_STYLE_LAYERS, MOBILENET_CONTENT_LAYER
    loss = AdjustableLoss(feats, load_image(path, STYLE_SIZE), layers, content)
    loss.calibrate(random_crops(photos, 16, crop, torch.Generator().manual_seed(CALIBRATION_SEED)))
    return loss


def train(style: str = "starry_night", out: Path = Path("adjustable"), steps: int | None = 2500, minutes: float | None = None,
          batch: int = 4, size: int = 128, lr: float = 1e-3, seed: int = 0, fixed: Sequence[float] | None = None,
          state_dir: Path | None = None, progress: bool | None = None, loss_net: str = "mobilenet") -> AdjustableStyleNet:
    """Train one network (conditioned on λ, or for the single ``fixed`` λ) and write it to ``out``."""
    photos = [load_photo(n, PHOTO_SIZE) for n in photo_names("train")]
    loss_fn = make_loss(style, photos, size, loss_net)
    net = AdjustableStyleNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    k = net.config.n_weights
    fixed_t = None if fixed is None else torch.tensor([float(v) for v in fixed])
    if fixed_t is not None and fixed_t.numel() != k:
        raise ValueError(f"--fixed needs {k} weights (content, then {k - 1} style layers)")

    def step(state: TrainState) -> dict[str, float]:
        g = state.generators["data"]
        content = random_crops(photos, batch, size, g).to(state.device)
        lam = (sample_loss_weights(batch, k, g) if fixed_t is None else fixed_t.expand(batch, -1)).to(state.device)
        loss_fn.to(state.device)
        terms = loss_fn(state.modules["net"](content, lam), content)
        loss = ((lam * terms).sum(1) / lam.sum(1)).mean()
        opt_ = state.optimizers["opt"]
        opt_.zero_grad(set_to_none=True)
        state.backward(loss)
        opt_.step()
        return {"loss": loss.item(), "content": terms[:, 0].mean().item(), "style": terms[:, 1:].mean().item()}

    def save(state: TrainState) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        state.unwrap("net").save(out, {
            "style": Path(style).stem, "steps": state.step, "minutes": round(state.seconds / 60, 2), "batch": batch,
            "size": size, "lr": lr, "seed": seed, "fixed": None if fixed_t is None else fixed_t.tolist(),
            "base": loss_fn.base.tolist(), "loss_net": loss_net, "style_layers": list(loss_fn.style_layers),
            "content_layer": loss_fn.content_layer, "train_photos": photo_names("train"), "log": state.log[-200:]})

    cfg = LoopConfig(steps=steps, minutes=minutes, seed=seed, state_dir=state_dir, checkpoint_every=250,
                     log_every=50, progress=progress)
    state = train_loop(step, {"net": net}, {"opt": opt}, cfg, generators={"data": torch.Generator()},
                       on_checkpoint=save, desc="adjustable" if fixed_t is None else "fixed-λ")
    print(f"wrote {out} after {state.step} steps ({state.seconds / 60:.1f} min), stopped: {state.stopped}")
    return state.unwrap("net").eval().requires_grad_(False)


@torch.no_grad()
def compare(conditioned: Path, fixed_nets: Sequence[Path], size: int = 256) -> list[dict]:
    """Each normalised loss term on the held-out photos (short side ``size``): the conditioned network at each fixed
    network's λ against that fixed network. Returns one row per (λ, network)."""
    cond = AdjustableStyleNet.load(conditioned)
    photos = [load_photo(n, size) for n in photo_names("held_out")]
    loss_fn = make_loss(cond.meta["style"], [load_photo(n, PHOTO_SIZE) for n in photo_names("train")],
                        cond.meta["size"], cond.meta.get("loss_net", "mobilenet"))
    if "base" in cond.meta:  # score with the normalisation the network was trained with, not a re-calibration
        loss_fn.base.copy_(torch.tensor(cond.meta["base"]))
    rows = []
    for path in fixed_nets:
        fixed = AdjustableStyleNet.load(path)
        lam = torch.tensor(fixed.meta["fixed"])
        for label, net in (("conditioned", cond), ("fixed", fixed)):
            terms = torch.stack([loss_fn(net(p[None], lam), p[None])[0] for p in photos]).mean(0)
            weighted = float((lam * terms).sum() / lam.sum())
            rows.append({"lambda": lam.tolist(), "network": label, "terms": terms.tolist(), "weighted": weighted})
    return rows


def markdown_table(rows: Sequence[dict]) -> str:
    """The comparison as a docs/style.md table: one line per (λ, network), the terms and the λ-weighted loss."""
    k = len(rows[0]["terms"]) - 1
    head = "| λ (content; style layers 1-4) | network | content | " + " | ".join(f"style {i + 1}" for i in range(k))
    lines = [head + " | λ-weighted loss |", "|---" * (k + 4) + "|"]
    for r in rows:
        lam = r["lambda"]
        lam_s = f"{lam[0]:g}; " + ", ".join(f"{v:g}" for v in lam[1:])
        lines.append(f"| {lam_s} | {r['network']} | " + " | ".join(f"{t:.3f}" for t in r["terms"])
                     + f" | {r['weighted']:.3f} |")
    return "\n".join(lines)


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:
        p = argparse.ArgumentParser(prog="adjustable_style compare")
        p.add_argument("fixed", nargs="+", type=Path)
        p.add_argument("--conditioned", type=Path, default=ASSETS / "adjustable-starry-night")
        p.add_argument("--json", type=Path, default=None, help="also write the rows here")
        a = p.parse_args(argv[1:])
        rows = compare(a.conditioned, a.fixed)
        if a.json:
            write_json(a.json, {"rows": rows})
        write_results("adjustable", [
            {"lambda": f"{r['lambda'][0]:g}; " + ", ".join(f"{v:g}" for v in r["lambda"][1:]), "network": r["network"],
             "content": round(r["terms"][0], 3), **{f"style{i + 1}": round(t, 3) for i, t in enumerate(r["terms"][1:])},
             "weighted": round(r["weighted"], 3)} for r in rows], split="test",
            notes="Held-out photos (never trained on, never used for a choice) at 256 px; normalised terms, lower is "
                  "better.")
        print(markdown_table(rows))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--style", default="starry_night", help="painting name in images/styles, or a path")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget (over all resumes)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=128, help="training crop size")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fixed", type=_floats, default=None, help="train for one λ: content,style1,…,style4")
    add_out(p, "the network")
    p.add_argument("--loss-net", choices=LOSS_NETWORKS, default="mobilenet",
                   help="loss network: Magenta's MobileNetV2 (default, always available) or ImageNet VGG-16")
    a = p.parse_args(argv)
    train(a.style, a.out, a.steps, a.minutes, a.batch, a.size, a.lr, a.seed, a.fixed, state_for(a.out, a.state), loss_net=a.loss_net)


if __name__ == "__main__":
    main()
