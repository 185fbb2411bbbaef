"""Benchmark: StyleDrop adapter training and sampling.

* ms per adapter training step (batch 8: forward through the frozen backbone with adapters, backward to the adapters,
  AdamW), bottleneck adapter and LoRA at an equal budget, for the bundled ``clipedit/shapes-muse`` and an
  aMUSEd-256-shaped U-ViT (random init, diffusers' default UVit2DModel = aMUSEd-256's shape, CLIP-L-sized text);
* ms per two-scale sample (three transformer passes per step, 12 steps) against the base model's guided sample
  (two passes per step), offline and on the aMUSEd-256 shape;
* the adapter file's size; peak memory as in ``bench_masked.py``.

    python benchmarks/bench_styledrop.py [--skip-amused]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_guidance import machine, timed  # noqa: E402
from bench_masked import amused_shaped, peak_mb  # noqa: E402


def train_step_ms(tr, text, grid: int, micro: torch.Tensor, kind: str, rank: int, repeats: int,
                  dev: str) -> tuple[float, int, int]:
    from clipedit.models.adapters import attach_adapters
    from clipedit.sampler import mask_tokens

    tr.requires_grad_(False)
    ad = attach_adapters(tr, rank=rank, kind=kind)
    params = ad.trainable()
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=1e-3)
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, tr.config.codebook_size, (8, grid, grid), generator=g).to(dev)
    mask_id = tr.config.vocab_size - 1
    hidden, pooled = text.hidden.expand(8, -1, -1), text.pooled.expand(8, -1)

    def step():
        inp, mask = mask_tokens(target, mask_id, g)
        logits = tr(inp, encoder_hidden_states=hidden, pooled_text_emb=pooled, micro_conds=micro.expand(8, -1))
        loss = F.cross_entropy(logits.permute(0, 2, 3, 1)[mask], target[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
    ms = timed(step, repeats, dev)
    with tempfile.TemporaryDirectory() as d:
        size = ad.save(Path(d) / "a.pt").stat().st_size
    n = ad.num_parameters()
    ad.detach()
    return ms, n, size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-amused", action="store_true", help="leave out the 600 M-parameter aMUSEd-shaped rows")
    a = p.parse_args()
    from clipedit.data.styles import render_styled
    from clipedit.models.adapters import attach_adapters, lora_rank_for
    from clipedit.models.muse import MaskedGenerator, load_masked_generator
    from clipedit.sampler import masked_sample
    from clipedit.styledrop import StyleDropSettings, sample_style, train_style
    from clipedit.styledrop.guidance import two_scale_logits_fn

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"machine: {machine()}\n")
    print("| device | what | ms | ratio | parameters | file kB | peak memory MB |\n|---|---|---|---|---|---|---|")
    for dev in devices:
        gen = load_masked_generator("clipedit/shapes-muse", device=dev)
        text = gen.encode_text(["a red circle in striped style"])
        micro = gen.micro_conds(1)
        base_ms, n, size = train_step_ms(gen.transformer, text, 8, micro, "adapter", 8,
                                         a.repeats * 4, dev)
        print(f"| {dev} | shapes-muse: adapter training step, batch 8 (rank 8) | {base_ms:.1f} | 1.0x | {n:,} | "
              f"{size / 1024:.0f} | {peak_mb(dev):.0f} |", flush=True)
        rank = lora_rank_for(gen.transformer, n)
        ms, n2, size2 = train_step_ms(gen.transformer, text, 8, micro, "lora", rank, a.repeats * 4,
                                      dev)
        print(f"| {dev} | shapes-muse: LoRA training step, batch 8 (rank {rank}) | {ms:.1f} | {ms / base_ms:.2f}x | "
              f"{n2:,} | {size2 / 1024:.0f} | {peak_mb(dev):.0f} |", flush=True)
        style = train_style(gen, render_styled("red", "circle", "stripes").to(dev), ["a red circle"], "striped",
                            StyleDropSettings(steps=2), progress=False)
        plain = timed(lambda: sample_style(gen, None, "a blue star", progress=False), a.repeats, dev)
        styled = timed(lambda: sample_style(gen, style, "a blue star", progress=False), a.repeats, dev)
        print(f"| {dev} | shapes-muse: base sample, 12 steps, guidance 3 (2 passes/step) | {plain:.1f} | "
              f"{plain / base_ms:.1f}x | | | {peak_mb(dev):.0f} |")
        print(f"| {dev} | shapes-muse: two-scale sample, 12 steps (3 passes/step) | {styled:.1f} | "
              f"{styled / base_ms:.1f}x | | | {peak_mb(dev):.0f} |", flush=True)
        if not a.skip_amused:
            tr, t = amused_shaped(dev)
            micro16 = torch.tensor([[256.0, 256.0, 0.0, 0.0, 6.0]], device=dev)
            ms, n, size = train_step_ms(tr, t, 16, micro16, "adapter", 64, 1, dev)
            frac = n / sum(x.numel() for x in tr.parameters() if not x.requires_grad)
            print(f"| {dev} | aMUSEd-256-shaped U-ViT: adapter training step, batch 8 (rank 64, {frac:.2%} of the "
                  f"backbone) | {ms:.0f} | {ms / base_ms:.0f}x | {n:,} | {size / 1024:.0f} | {peak_mb(dev):.0f} |",
                  flush=True)
            ad = attach_adapters(tr, rank=64)

            # The transformer alone (no VQ model), its text given: enough for the sampler's logits.
            backbone = MaskedGenerator("amused-256-shaped", None, tr, lambda prompts: t, 256, _empty=t)
            fn = two_scale_logits_fn(backbone, ad, t)
            with torch.no_grad():
                a_ms = timed(lambda: masked_sample(fn, (1, 16, 16), tr.config.vocab_size - 1, 12,
                                                   generator=torch.Generator(device=dev).manual_seed(0), device=dev),
                             1, dev)
            print(f"| {dev} | aMUSEd-256-shaped U-ViT: two-scale sample, 12 steps (3 passes/step, no VQ decode) | "
                  f"{a_ms:.0f} | {a_ms / base_ms:.0f}x | | | {peak_mb(dev):.0f} |", flush=True)
            ad.detach()
            del tr


if __name__ == "__main__":
    main()
