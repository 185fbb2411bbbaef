"""Train the earlier offline demo StyleGAN2 (``clipedit/shapes-stylegan2``, a GAN) on the procedural shapes world.

A small StyleGAN2 (the same :class:`~clipedit.styleclip.stylegan2.Generator` that loads FFHQ checkpoints, at
32x32 with narrow layers) against a small residual discriminator with minibatch-stddev, non-saturating
logistic loss, lazy R1 (γ = 1, every 16 steps), DiffAugment-style translation, style mixing (p = 0.9) and an
EMA of the generator — the StyleGAN2 recipe scaled down to a 2-core CPU — plus a projected discriminator on the
frozen offline guide (:class:`ProjectedDiscriminator`), without which the shapes collapsed to round blobs. Images
come from :func:`clipedit.data.shapes.sample_batch` (every colour/shape pair, three backgrounds), rendered on the fly.

    python -m lab.training.shapes_gan --minutes 40 --projected 0 --state runs/g0    # the first demo generator
    python -m lab.training.shapes_gan --init clipedit/assets/shapes-stylegan2 --minutes 110 --out runs/gan

The checkpoint is in rosinality's format (``{"g_ema": state_dict, "latent_avg": w_avg, ...}``) plus the
architecture under ``"config"``, so :func:`clipedit.styleclip.load_generator` reads it like FFHQ's.
"""
from __future__ import annotations

import argparse
import copy
import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from clipedit.hub import read_checkpoint, save_checkpoint
from clipedit.styleclip.loaders import KIND as GENERATOR_KIND
from clipedit.weights import get_weights
from clipedit.data.shapes import sample_batch
from clipedit.styleclip.stylegan2 import EqualConv2d, EqualLinear, Generator, StyleGAN2Config
from lab.common import add_out, state_for

DEMO_CONFIG = StyleGAN2Config(size=32, style_dim=128, n_mlp=4, channels=((4, 128), (8, 96), (16, 64), (32, 32)))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.c1, self.c2 = EqualConv2d(cin, cin, 3, padding=1), EqualConv2d(cin, cout, 3, padding=1)
        self.skip = EqualConv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        y = F.leaky_relu(self.c1(x), 0.2) * math.sqrt(2)
        y = F.avg_pool2d(F.leaky_relu(self.c2(y), 0.2) * math.sqrt(2), 2)
        return (y + F.avg_pool2d(self.skip(x), 2)) / math.sqrt(2)


class Discriminator(nn.Module):
    """32x32 -> logit: fromRGB, residual blocks 32->16->8->4, minibatch stddev, conv, two linear layers."""

    def __init__(self, widths=(32, 64, 96, 128)) -> None:
        super().__init__()
        self.rgb = EqualConv2d(3, widths[0], 1)
        self.blocks = nn.Sequential(*[DBlock(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.final = EqualConv2d(widths[-1] + 1, widths[-1], 3, padding=1)
        self.fc = EqualLinear(widths[-1] * 16, widths[-1], activation="fused_lrelu")
        self.out = EqualLinear(widths[-1], 1)

    def forward(self, x):
        x = F.leaky_relu(self.rgb(x), 0.2) * math.sqrt(2)
        x = self.blocks(x)
        b = x.shape[0]
        g = min(4, b)
        std = x.view(g, -1, *x.shape[1:]).std(0, unbiased=False).mean([1, 2, 3])  # (b/g,)
        x = torch.cat([x, std.repeat(g)[:, None, None, None].expand(b, 1, *x.shape[2:])], 1)
        x = F.leaky_relu(self.final(x), 0.2) * math.sqrt(2)
        return self.out(self.fc(x.flatten(1)))


class ProjectedDiscriminator(nn.Module):
    """Projected-GAN discriminator (Sauer et al. 2021): small trainable heads on the *frozen* offline guide's image
    tower (``clipedit/shapes``, CLIP's ModifiedResNet trained on captions that name the shape). Its features at
    16x16, 8x8 and 4x4 already separate stars from circles, so the generator is pushed to match the real
    distribution of shapes, not only of colours and layouts (the pixel discriminator alone let every shape collapse
    to a round blob). The guide is not the judge: the independent judge never takes part in training.

    Input ``(B, 3, 32, 32)`` in ``[-1, 1]``; output ``(B, 1)`` logits, the sum of the per-scale heads' mean logits.
    """

    def __init__(self, guide: str = "clipedit/shapes") -> None:
        super().__init__()
        from clipedit.models.openai_clip import CLIP_MEAN, CLIP_STD
        from clipedit.models.registry import load_clip

        visual = load_clip(guide, device="cpu").model.visual.float().eval().requires_grad_(False)
        object.__setattr__(self, "visual", visual)  # frozen, not a sub-module: not saved, not optimised
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1))
        self.heads = nn.ModuleList(nn.Sequential(EqualConv2d(c, 64, 1), nn.LeakyReLU(0.2), EqualConv2d(64, 64, 3, padding=1),
                                                 nn.LeakyReLU(0.2), EqualConv2d(64, 1, 1)) for c in (64, 128, 256))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        v = self.visual.to(x.device)
        x = F.interpolate((x + 1) / 2, size=v.input_resolution, mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        x = v.relu1(v.bn1(v.conv1(x)))
        x = v.relu2(v.bn2(v.conv2(x)))
        x = v.avgpool(v.relu3(v.bn3(v.conv3(x))))
        f1 = v.layer1(x)
        f2 = v.layer2(f1)
        return [f1, f2, v.layer3(f2)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(h(f).mean([1, 2, 3])[:, None] for h, f in zip(self.heads, self.features(x)))


def translate(x: torch.Tensor, frac: float = 0.125) -> torch.Tensor:
    """DiffAugment-style random translation (per sample, up to ``frac`` of the side, zero padding): applied to real
    and generated images alike before the discriminator, so it cannot win by memorising exact layouts."""
    b = x.shape[0]
    shift = (torch.rand(b, 2, device=x.device) * 2 - 1) * frac * 2  # in [-1, 1] grid units
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=False)


def real_batch(n: int, g: torch.Generator) -> torch.Tensor:
    return sample_batch(n, resolution=32, generator=g, exclude=(), noise=0.0).images * 2 - 1


def make_latents(G: Generator, n: int, mixing: float = 0.9) -> torch.Tensor:
    z = torch.randn(2, n, G.style_dim)
    w = G.mapping(z.view(-1, G.style_dim)).view(2, n, -1)
    wp = w[0][:, None].repeat(1, G.n_latent, 1)
    if random.random() < mixing:
        cut = random.randint(1, G.n_latent - 1)
        wp = torch.cat([wp[:, :cut], w[1][:, None].repeat(1, G.n_latent - cut, 1)], 1)
    return wp


def save(G_ema: Generator, out: Path, meta: dict) -> None:
    G_ema.latent_avg.copy_(G_ema.mean_latent(10_000))
    sd = {k: v.detach().clone() for k, v in G_ema.state_dict().items()}
    save_checkpoint(out, {"g_ema": sd, "latent_avg": G_ema.latent_avg.clone(), "config": G_ema.config.to_dict(),
                          "recommended": dict(get_weights("clipedit/shapes-stylegan2").recommended), "meta": meta},
                    kind=GENERATOR_KIND, card="A 32 px StyleGAN2 GAN of the shapes world, trained by clipedit.")


def train(minutes: float = 35.0, batch: int = 32, seed: int = 0, out: Path = Path("shapes-gan"), r1_gamma: float = 1.0,
          log_every: int = 200, state: Path | None = None, resume: bool = False, steps: int | None = None,
          progress: bool | None = None, projected: float = 1.0, init: Path | None = None) -> Generator:
    """Train for ``minutes`` (wall clock, over all resumes) or ``steps``, on the shared loop
    (:func:`clipedit.training.loop.train_loop`). ``state``: the training-state folder (G, D, EMA, optimisers, RNGs)
    so ``resume=True`` continues a run; the EMA generator is written to ``out`` every ``log_every`` steps.
    ``projected``: weight of the :class:`ProjectedDiscriminator` term (0: the pixel discriminator alone, as the
    first demo generator was trained). ``init``: start G (and its EMA) from a generator file in the same config."""
    from clipedit.training.loop import LoopConfig, TrainState, train_loop

    G, D = Generator(DEMO_CONFIG), Discriminator()
    if init is not None:
        G.load_state_dict(read_checkpoint(init, GENERATOR_KIND)["g_ema"])
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    P = ProjectedDiscriminator() if projected > 0 else None
    g_opt = torch.optim.Adam(G.parameters(), lr=0.002, betas=(0.0, 0.99))
    d_params = [*D.parameters(), *(P.parameters() if P is not None else ())]
    d_opt = torch.optim.Adam(d_params, lr=0.002, betas=(0.0, 0.99))
    ema_beta = 0.5 ** (batch / 10_000)  # EMA half-life of 10k images

    def step(st: TrainState) -> dict[str, float]:
        if st.accelerator.num_processes > 1:
            # G is driven through synthesis(W+), not forward(), so a data-parallel wrapper would not sync its gradients.
            raise RuntimeError("the demo GAN trainer runs in one process (no `accelerate launch` across devices)")
        D_, g_raw, P_ = st.modules["D"], st.unwrap("G"), st.modules.get("P")

        def critic(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = translate(x)
            return D_(x), (P_(x) if P_ is not None else x.new_zeros(x.shape[0], 1))

        # discriminator
        real = real_batch(batch, st.generators["data"]).to(st.device)
        with torch.no_grad():
            fake = g_raw.synthesis(make_latents(g_raw, batch), noise_mode="random")
        (df, pf), (dr, pr) = critic(fake), critic(real)
        d_loss = F.softplus(df).mean() + F.softplus(-dr).mean()
        p_loss = F.softplus(pf).mean() + F.softplus(-pr).mean()
        d_opt_, g_opt_ = st.optimizers["d_opt"], st.optimizers["g_opt"]
        d_opt_.zero_grad(set_to_none=True)
        st.backward(d_loss + projected * p_loss)
        d_opt_.step()
        if st.step % 16 == 0:  # lazy R1
            real.requires_grad_(True)
            (grad,) = torch.autograd.grad(D_(real).sum(), real, create_graph=True)
            r1 = grad.pow(2).sum([1, 2, 3]).mean()
            d_opt_.zero_grad(set_to_none=True)
            st.backward(r1_gamma / 2 * r1 * 16)
            d_opt_.step()
        # generator
        fake = g_raw.synthesis(make_latents(g_raw, batch), noise_mode="random")
        df, pf = critic(fake)
        g_loss, gp_loss = F.softplus(-df).mean(), F.softplus(-pf).mean()
        g_opt_.zero_grad(set_to_none=True)
        st.backward(g_loss + projected * gp_loss)
        g_opt_.step()
        with torch.no_grad():
            for pe, p in zip(G_ema.parameters(), g_raw.parameters()):
                pe.lerp_(p, 1 - ema_beta)
            for be, b_ in zip(G_ema.buffers(), g_raw.buffers()):
                be.copy_(b_)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "p_loss": p_loss.item(), "gp_loss": gp_loss.item()}

    def checkpoint(st: TrainState) -> None:
        save(G_ema, out, {"steps": st.step, "minutes": round(st.seconds / 60, 2), "log": st.log, "batch": batch})

    cfg = LoopConfig(steps=steps, minutes=minutes if steps is None else None, seed=seed, state_dir=state,
                     resume=resume, checkpoint_every=log_every, log_every=log_every, progress=progress)
    modules = {"G": G, "D": D, **({"P": P} if P is not None else {})}
    st = train_loop(step, modules, {"g_opt": g_opt, "d_opt": d_opt}, cfg,
                    generators={"data": torch.Generator()}, on_checkpoint=checkpoint, desc="shapes GAN",
                    extra_state={"G_ema": G_ema})
    print(f"wrote {out} after {st.step} steps ({st.seconds / 60:.1f} min in all)")
    return G_ema


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=35.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    add_out(p, "the generator")
    p.add_argument("--steps", type=int, default=None, help="a step budget instead of --minutes")
    p.add_argument("--resume", action="store_true", help="continue from --state")
    p.add_argument("--projected", type=float, default=1.0, help="weight of the projected (frozen-guide) discriminator; 0: off")
    p.add_argument("--init", type=Path, default=None, help="start the generator from this generator file")
    p.add_argument("--r1", type=float, default=1.0, help="R1 gamma of the pixel discriminator")
    a = p.parse_args(argv)
    train(a.minutes, a.batch, a.seed, a.out, r1_gamma=a.r1, state=state_for(a.out, a.state), resume=a.resume, steps=a.steps,
          projected=a.projected, init=a.init)


if __name__ == "__main__":
    main()
