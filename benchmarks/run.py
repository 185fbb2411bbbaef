"""One benchmark table: every method's step against its floor, measured in the same run.

A method's *step* is what one iteration of the library's own function costs (``draw``, ``styleclipdraw``,
``guide_image``, ``style_transfer_clip``, ``styleclip_edit``, ``gatys``, ``vqgan_clip``): the function is run for
``a`` and for ``a + k`` steps and the difference divided by ``k``, so set-up (model loading, target encoding, the
start image) cancels. Its *floor* is the forward + backward of the networks the method cannot avoid, on inputs of
the same shapes, with nothing else: CLIP on the augmented views (the views made beforehand), plus the style
network, the generator, ArcFace or VGG where the method runs one every step. ``ratio = step / floor``; the goal is
≤ 1.3. CLIP is ViT-B/32-shaped (random init: the real shape, no download), so the table runs offline anywhere.
Each row runs in a fresh subprocess; peak memory is that process's peak RSS on the CPU and
``torch.cuda.max_memory_allocated`` on a GPU. Where ``pydiffvg`` imports, CLIPDraw has a diffvg row too.

    python benchmarks/run.py            # the README's table
    python benchmarks/run.py --quick    # fewer repeats and views; < 2 minutes on 2 CPU cores
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from bench_draw import peak, scene_for  # noqa: E402
from bench_guidance import machine, timed  # noqa: E402

_SHARED = Path(__file__).resolve().parents[2] / "shared"  # the checkout's ../shared: paintings, Magenta's networks
PROMPT = "a drawing of a cat"


def vit_guide(device: str, augment: str, n_augs: int, prompt: str = PROMPT):
    import torch

    from clipedit.guidance import CLIPGuide
    from clipedit.models import KNOWN_CONFIGS, ClipModel, build_clip

    torch.manual_seed(0)
    cfg = KNOWN_CONFIGS["ViT-B/32"]
    model = ClipModel(build_clip(cfg), "ViT-B/32 (random init)", cfg).to(device).eval().requires_grad_(False)
    return CLIPGuide(prompt, models=model, augment=augment, n_augs=n_augs)


def clip_views(guide, image):
    """The guide's augmented views of ``image``, made once (the floor does not include augmentation)."""
    import torch

    with torch.no_grad():
        return guide.augments[0](image.to(guide.device), guide.n_augs)


def clip_floor(guide, views) -> None:
    """CLIP forward + backward on ready views: encode, cosine to the targets, backward to the views."""
    import torch.nn.functional as F

    from clipedit.guidance.guide import preprocess

    v = views.detach().requires_grad_()
    m = guide.models[0]
    emb = F.normalize(m.encode_image(preprocess(v, m)), dim=-1)
    (1 - emb @ guide.targets(0).T).mean().backward()


def per_step(run, a: int, k: int, device: str) -> float:
    """Seconds per step of ``run(steps)``: (time of a + k steps − time of a steps) / k, after one warm-up run."""
    import torch

    def once(steps: int) -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        run(steps)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t

    once(a)
    ta, tb = once(a), once(a + k)
    return max(tb - ta, 0.0) / k


def painting():
    from clipedit.imageio import load_image

    return load_image(_SHARED / "images" / "styles" / "starry_night.jpg")


# -- the methods: each returns {"step": s, "floor": s, "floor_is": text, "setting": text} -------------------------
def m_clipdraw(dev: str, quick: bool, renderer: str = "torch") -> dict:
    import torch

    from clipedit.draw import draw

    guide = vit_guide(dev, "clipdraw", 4)
    init = scene_for("256 @224, w 1-50", dev)  # part-way through a drawing: widths 1-50 px

    def run(steps: int):
        draw(PROMPT, guide=guide, init=init, steps=steps, canvas=224, renderer=renderer, seed=0,
             progress=False, device=dev)

    k = 3 if quick else 8
    views = clip_views(guide, torch.rand(1, 3, 224, 224))
    return {"step": per_step(run, 1, k, dev), "floor": timed(lambda: clip_floor(guide, views), k, dev) / 1000,
            "floor_is": "CLIP on 4 views", "setting": f"256 paths, 224 px, widths 1-50, {renderer} renderer"}


def m_styleclipdraw(dev: str, quick: bool) -> dict:
    import torch

    from clipedit.draw import styleclipdraw
    from clipedit.losses import VGGFeatures
    from clipedit.losses.style import STROTSS_LAYERS

    guide = vit_guide(dev, "clipdraw", 4)
    init = scene_for("256 @224, w 1-50", dev)
    style = painting()

    def run(steps: int):
        styleclipdraw(PROMPT, style, guide=guide, init=init, steps=steps, canvas=224,
                      renderer="torch", vgg_weights=None, clip_until=1.0, seed=0, progress=False, device=dev)

    vgg = VGGFeatures(STROTSS_LAYERS, arch="vgg16", weights=None).to(dev)
    views = clip_views(guide, torch.rand(1, 3, 224, 224))

    def floor():
        clip_floor(guide, views)
        x = torch.rand(1, 3, 224, 224, device=dev, requires_grad=True)
        sum(f.mean() for f in vgg(x).values()).backward()

    k = 3 if quick else 8
    return {"step": per_step(run, 1, k, dev), "floor": timed(floor, k, dev) / 1000,
            "floor_is": "CLIP on 4 views + VGG-16 at 224", "setting": "256 paths, 224 px, STROTSS style term"}


def m_guide_image(dev: str, quick: bool, param: str = "pixels") -> dict:
    import torch

    from clipedit.text_to_image import guide_image

    guide = vit_guide(dev, "cutouts", 8)

    def run(steps: int):
        guide_image(PROMPT, guide=guide, steps=steps, size=256, param=param, seed=0, progress=False, device=dev)

    k = 4 if quick else 10
    views = clip_views(guide, torch.rand(1, 3, 256, 256))
    return {"step": per_step(run, 1, k, dev), "floor": timed(lambda: clip_floor(guide, views), k, dev) / 1000,
            "floor_is": "CLIP on 8 views", "setting": f"256 px, {param}, 8 cutouts"}


def m_style_transfer_clip(dev: str, quick: bool) -> dict:
    import torch

    from clipedit.style import style_transfer_clip
    from clipedit.style.arbitrary import load_arbitrary_style

    os.environ.setdefault("CLIPEDIT_DATA_DIR", str(_SHARED))
    net = load_arbitrary_style(device=dev)
    guide = vit_guide(dev, "affine_jitter", 8, "a mosaic of blue and green glass")
    content = torch.rand(1, 3, 256, 256)

    def run(steps: int):
        style_transfer_clip(content, "a mosaic of blue and green glass", net=net, guide=guide, steps=steps,
                            content_size=256, seed=0, progress=False, device=dev)

    views = clip_views(guide, torch.rand(1, 3, 256, 256))
    c = content.to(dev)

    def floor():
        clip_floor(guide, views)
        e = torch.zeros(1, 100, device=dev, requires_grad=True)
        net(c, e).mean().backward()

    k = 3 if quick else 8
    return {"step": per_step(run, 1, k, dev), "floor": timed(floor, k, dev) / 1000,
            "floor_is": "CLIP on 8 views + Magenta T(C, E)", "setting": "content 256, 8 affine+jitter views"}


def m_styleclip_edit(dev: str, quick: bool) -> dict:
    import torch

    from clipedit.styleclip import IRSE50, Generator, IdentityLoss, StyleGAN2Config, styleclip_edit

    torch.manual_seed(0)
    G = Generator(StyleGAN2Config(size=256)).to(dev).eval().requires_grad_(False)
    G.latent_avg.normal_()
    guide = vit_guide(dev, "none", 1, "a person with purple hair")
    arc = IRSE50().to(dev).eval().requires_grad_(False)
    ident = IdentityLoss(arc)

    def run(steps: int):
        styleclip_edit("a person with purple hair", generator=G, guide=guide, steps=steps, identity=ident,
                       id_lambda=0.005, progress=False, device=dev, seed=0)

    views = clip_views(guide, torch.rand(1, 3, 256, 256))
    with torch.no_grad():
        ref = ident.embed(torch.rand(1, 3, 256, 256, device=dev))

    def floor():
        lat = torch.randn(1, G.config.n_latent, G.config.style_dim, device=dev, requires_grad=True)
        (G.synthesis(lat).mean() + ident(torch.rand(1, 3, 256, 256, device=dev, requires_grad=True),
                                         ref_embedding=ref)).backward()
        clip_floor(guide, views)

    k = 2 if quick else 5
    return {"step": per_step(run, 1, k, dev), "floor": timed(floor, k, dev) / 1000,
            "floor_is": "StyleGAN2 + CLIP + ArcFace", "setting": "config-f 256 px, W+, identity term"}


def m_gatys(dev: str, quick: bool) -> dict:
    import torch

    from clipedit.losses import GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS, VGGFeatures
    from clipedit.style import gatys

    vgg = VGGFeatures(tuple(GATYS_STYLE_LAYERS) + tuple(GATYS_CONTENT_LAYERS), "vgg19", weights=None,
                      pool="avg").to(dev)
    content, style = torch.rand(1, 3, 256, 256), torch.rand(1, 3, 256, 256)

    def run(steps: int):
        gatys(content, style, steps=steps, size=256, vgg=vgg, seed=0, progress=False, device=dev)

    def floor():
        x = torch.rand(1, 3, 256, 256, device=dev, requires_grad=True)
        sum(f.mean() for f in vgg(x).values()).backward()

    k = 3 if quick else 8
    return {"step": per_step(run, 1, k, dev), "floor": timed(floor, k, dev) / 1000, "floor_is": "VGG-19 at 256",
            "setting": "256 px, 5 style + 1 content layers"}


def m_vqgan_clip(dev: str, quick: bool) -> dict:
    import torch

    from clipedit.masked import vqgan_clip
    from clipedit.models.muse import load_masked_generator

    gen = load_masked_generator("clipedit/shapes-muse", device=dev)
    n = 8 if quick else 32
    guide = vit_guide(dev, "cutouts", n, "a yellow star")

    def run(steps: int):
        vqgan_clip("a yellow star", generator=gen, guide=guide, steps=steps, seed=0, progress=False, device=dev)

    lat = gen.encode_latents(torch.rand(1, 3, 32, 32)).detach()
    views = clip_views(guide, torch.rand(1, 3, 32, 32))

    def floor():
        z = lat.clone().requires_grad_()
        gen.decode_latents(z).mean().backward()
        clip_floor(guide, views)

    k = 2 if quick else 5
    return {"step": per_step(run, 1, k, dev), "floor": timed(floor, k, dev) / 1000,
            "floor_is": f"VQ decoder + CLIP on {n} views", "setting": f"clipedit/shapes-muse 32 px, {n} cutouts"}


METHODS = {
    "CLIPDraw": m_clipdraw,
    "CLIPDraw (diffvg)": lambda dev, quick: m_clipdraw(dev, quick, "diffvg"),
    "StyleCLIPDraw": m_styleclipdraw,
    "guide_image (pixels)": m_guide_image,
    "guide_image (pyramid)": lambda dev, quick: m_guide_image(dev, quick, "pyramid"),
    "StyleTransferCLIP": m_style_transfer_clip,
    "StyleCLIP edit": m_styleclip_edit,
    "Gatys": m_gatys,
    "VQGAN+CLIP": m_vqgan_clip,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats (and 8 VQGAN views): < 2 min on 2 cores")
    p.add_argument("--devices", nargs="*", default=None)
    p.add_argument("--only", nargs="*", default=None, choices=list(METHODS), metavar="METHOD")
    p.add_argument("--_one", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._one:
        name, dev, quick = a._one
        r = METHODS[name](dev, quick == "1")
        print(json.dumps(dict(r, peak=peak(dev))))
        return
    import torch

    from clipedit.draw import diffvg_available

    t0 = time.time()
    devices = a.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    names = [n for n in (a.only or METHODS) if n != "CLIPDraw (diffvg)" or diffvg_available()]
    env = dict(os.environ, CLIPEDIT_OFFLINE="1")
    print(f"machine: {machine()}")
    print(f"device(s): {', '.join(devices)}; {'quick' if a.quick else 'full'} run; step = the library's own loop, "
          "floor = the unavoidable networks' forward + backward, same run\n")
    print("| device | method | setting | step (s) | floor (s) | floor is | step / floor | peak (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    clipdraw = None
    for dev in devices:
        for name in names:
            r = subprocess.run([sys.executable, __file__, "--_one", name, dev, "1" if a.quick else "0"],
                               capture_output=True, text=True, env=env)
            if r.returncode != 0:
                print(f"| {dev} | {name} | failed: {(r.stderr.strip().splitlines() or ['?'])[-1][:100]} | | | | | |",
                      flush=True)
                continue
            x = json.loads(r.stdout.strip().splitlines()[-1])
            ratio = x["step"] / x["floor"]
            if name == "CLIPDraw" and dev == devices[0]:
                clipdraw = ratio
            print(f"| {dev} | {name} | {x['setting']} | {x['step']:.3f} | {x['floor']:.3f} | {x['floor_is']} | "
                  f"{ratio:.2f} | {x['peak']:.0f} |", flush=True)
    if "cuda" not in devices:
        print("| cuda | every method | | not measured: no GPU on this machine | | | | |")
    print(f"\n({time.time() - t0:.0f} s)")
    if clipdraw is not None:
        print(f"clipdraw step / CLIP floor: {clipdraw:.2f}")


if __name__ == "__main__":
    main()
