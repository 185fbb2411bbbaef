"""Benchmark: masked generation and VQGAN+CLIP.

* ms per decoding step (two transformer passes: conditional + unconditional, guidance 3) and per full 12-step sample
  (with the VQ decode), for the bundled ``clipedit/shapes-muse`` and for an aMUSEd-256-shaped U-ViT (random init,
  diffusers' default UVit2DModel configuration = aMUSEd-256's, 16x16 tokens, CLIP-L-sized conditioning);
* ms per VQGAN+CLIP step (decode the latents, 32 cutouts through the guide, backward to the latents, Adam) against
  the CLIP floor (the same 32 cutouts of a fixed image, forward + backward, nothing else);
* peak memory: CUDA's allocator peak per row; on the CPU, the process's peak resident set after each row (rows run
  from small to large, so each figure bounds that row).

    python benchmarks/bench_masked.py [--skip-amused]
"""
from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_guidance import machine, timed  # noqa: E402


def peak_mb(dev: str) -> float:
    if dev.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def amused_shaped(dev: str):
    """aMUSEd-256's transformer shape (diffusers' UVit2DModel defaults), random weights, and CLIP-L-sized text."""
    from diffusers import UVit2DModel

    from clipedit.models.muse import TextEmbedding

    tr = UVit2DModel(sample_size=16).to(dev).eval()
    text = TextEmbedding(torch.randn(1, 77, 768, device=dev), torch.randn(1, 768, device=dev))
    return tr, text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-amused", action="store_true", help="leave out the 600 M-parameter aMUSEd-shaped rows")
    a = p.parse_args()
    from clipedit.guidance import CLIPGuide
    from clipedit.masked import generate
    from clipedit.models.muse import load_masked_generator
    from clipedit.params import VQLatentImage
    from clipedit.sampler import masked_sample

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"machine: {machine()}\n")
    print("| device | what | ms | ratio | peak memory MB |\n|---|---|---|---|---|")
    for dev in devices:
        gen = load_masked_generator("clipedit/shapes-muse", device=dev)
        text = gen.encode_text(["a blue star"])
        fn = gen.logits_fn(text)
        grid = torch.full((1, 8, 8), gen.mask_id, device=dev)
        with torch.no_grad():
            step_ms = timed(lambda: (fn(grid, True), fn(grid, False)), a.repeats * 5, dev)
        print(f"| {dev} | shapes-muse: one decoding step (cond + uncond), 8x8 tokens | {step_ms:.1f} | 1.0x | "
              f"{peak_mb(dev):.0f} |", flush=True)
        sample_ms = timed(lambda: generate("a blue star", model=gen, seed=0, progress=False), a.repeats, dev)
        print(f"| {dev} | shapes-muse: full sample, 12 steps + VQ decode | {sample_ms:.1f} | "
              f"{sample_ms / step_ms:.1f}x | {peak_mb(dev):.0f} |", flush=True)

        guide = CLIPGuide("a yellow star", models="clipedit/shapes", augment="cutouts", n_augs=32, loss="spherical",
                          device=dev)
        fixed = torch.rand(1, 3, 32, 32, device=dev, requires_grad=True)
        floor_ms = timed(lambda: guide(fixed).loss.backward(), a.repeats * 3, dev)
        image = VQLatentImage(gen, 32, generator=torch.Generator().manual_seed(0))
        opt = torch.optim.Adam(image.parameters(), lr=0.1)

        def vq_step():
            opt.zero_grad()
            guide(image()).loss.backward()
            opt.step()
            image.project()
        vq_ms = timed(vq_step, a.repeats * 3, dev)
        print(f"| {dev} | CLIP floor: 32 cutouts of a fixed 32 px image, guide forward + backward | {floor_ms:.1f} | "
              f"1.0x | {peak_mb(dev):.0f} |")
        print(f"| {dev} | VQGAN+CLIP step (shapes-muse decoder, 32 cutouts) | {vq_ms:.1f} | "
              f"{vq_ms / floor_ms:.2f}x | {peak_mb(dev):.0f} |", flush=True)

        if not a.skip_amused:
            tr, t = amused_shaped(dev)
            micro = torch.tensor([[256.0, 256.0, 0.0, 0.0, 6.0]], device=dev)

            def logits(tokens, conditional):
                return tr(tokens, encoder_hidden_states=t.hidden, pooled_text_emb=t.pooled, micro_conds=micro)
            g16 = torch.full((1, 16, 16), 8255, device=dev)
            with torch.no_grad():
                a_step = timed(lambda: (logits(g16, True), logits(g16, False)), 1, dev)
                print(f"| {dev} | aMUSEd-256-shaped U-ViT ({sum(x.numel() for x in tr.parameters()) / 1e6:.0f} M "
                      f"params): one decoding step, 16x16 tokens | {a_step:.0f} | {a_step / step_ms:.0f}x | "
                      f"{peak_mb(dev):.0f} |", flush=True)
                a_sample = timed(lambda: masked_sample(logits, (1, 16, 16), 8255, 12, guidance=3.0,
                                                       generator=torch.Generator(device=dev).manual_seed(0),
                                                       device=dev), 1, dev)
                print(f"| {dev} | aMUSEd-256-shaped U-ViT: full sample, 12 steps (no VQ decode) | {a_sample:.0f} | "
                      f"{a_sample / step_ms:.0f}x | {peak_mb(dev):.0f} |", flush=True)
            del tr


if __name__ == "__main__":
    main()
