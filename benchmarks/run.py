"""One benchmark table: every method's step against its floor, measured in the same run.

A method's *step* is what one iteration of the library's own function costs (``draw``, ``styleclipdraw``,
``guide_image``, ``style_transfer_clip``, ``styleclip_edit``, ``gatys``, ``vqgan_clip``): the function is run for
1 and for ``1 + k`` steps and the difference divided by ``k``, so set-up (model loading, target encoding, the
start image) cancels; step and floor are each measured 2 (``--quick``) or 3 times, interleaved, and the fastest
kept (:func:`measure`). Its *floor* is the forward + backward of the networks the method cannot avoid, on inputs of
the same shapes, with nothing else: CLIP on the augmented views (the views made beforehand), plus the style
network, the generator, ArcFace or VGG where the method runs one every step. ``ratio = step / floor``; the goal is
≤ 1.3. CLIP is ViT-B/32-shaped (random init: the real shape, no download), so the table runs offline anywhere.
In the full run each row runs in a fresh subprocess and
peak memory is that process's peak RSS on the CPU and ``torch.cuda.max_memory_allocated`` on a GPU; ``--quick``
runs every row in one subprocess (imports and ViT-B/32 built once) and leaves memory to the full run. Where ``pydiffvg`` imports, CLIPDraw has a diffvg row too.

    python benchmarks/run.py            # the table of docs/benchmarks.md
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
from bench_guidance import machine  # noqa: E402

_SHARED = Path(__file__).resolve().parents[2] / "shared"  # the checkout's ../shared: paintings, Magenta's networks
PROMPT = "a drawing of a cat"


_VIT: dict = {}


def vit_guide(device: str, augment: str, n_augs: int, prompt: str = PROMPT):
    import torch

    from clipedit.guidance import CLIPGuide
    from clipedit.models import KNOWN_CONFIGS, ClipModel, build_clip

    if device not in _VIT:  # built once per process (--quick runs every row in one process)
        torch.manual_seed(0)
        cfg = KNOWN_CONFIGS["ViT-B/32"]
        _VIT[device] = ClipModel(build_clip(cfg), "ViT-B/32 (random init)", cfg).to(device).eval().requires_grad_(False)
    return CLIPGuide(prompt, models=_VIT[device], augment=augment, n_augs=n_augs)


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


def _clock(fn, device: str) -> float:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t


def measure(run, floor, k: int, device: str, repeats: int) -> dict:
    """``{"step", "floor"}`` in seconds. The step is ``(t(1 + k) - t(1)) / k`` for ``run(steps)``, the floor the mean
    of ``k`` calls of ``floor()``; after one warm-up of each, both are measured ``repeats`` times, interleaved (so
    a load that comes and goes hits both alike), and the fastest of each is kept (timeit's rule: slower repeats
    are other processes' doing, not the code's)."""
    run(1)
    floor()
    ta, tb, tf = [], [], []
    for _ in range(repeats):
        ta.append(_clock(lambda: run(1), device))
        tb.append(_clock(lambda: run(1 + k), device))
        tf.append(_clock(lambda: [floor() for _ in range(k)], device) / k)
    return {"step": max(min(tb) - min(ta), 0.0) / k, "floor": min(tf)}


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

    k = 3 if quick else 8  # the headline figure: five repeats even in --quick
    views = clip_views(guide, torch.rand(1, 3, 224, 224))
    return {**measure(run, lambda: clip_floor(guide, views), k, dev, 5),
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

    k = 2 if quick else 8
    return {**measure(run, floor, k, dev, 1 if quick else 3),
            "floor_is": "CLIP on 4 views + VGG-16 at 224", "setting": "256 paths, 224 px, STROTSS style term"}


def m_guide_image(dev: str, quick: bool, param: str = "pixels") -> dict:
    import torch

    from clipedit.text_to_image import guide_image

    guide = vit_guide(dev, "cutouts", 8)

    def run(steps: int):
        guide_image(PROMPT, guide=guide, steps=steps, size=256, param=param, seed=0, progress=False, device=dev)

    k = 2 if quick else 10
    views = clip_views(guide, torch.rand(1, 3, 256, 256))
    return {**measure(run, lambda: clip_floor(guide, views), k, dev, 1 if quick else 3),
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

    k = 2 if quick else 8
    return {**measure(run, floor, k, dev, 1 if quick else 3),
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
    return {**measure(run, floor, k, dev, 1 if quick else 3),
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

    k = 2 if quick else 8
    return {**measure(run, floor, k, dev, 1 if quick else 3), "floor_is": "VGG-19 at 256",
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
    return {**measure(run, floor, k, dev, 1 if quick else 3),
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


QUICK_SKIPS = ("guide_image (pyramid)", "CLIPDraw (diffvg)")  # in the full run only


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="one process, one repeat (five for CLIPDraw), 2 steps, 8 VQGAN views, no pyramid or diffvg row, "
                        "no memory: < 2 min on 2 cores")
    p.add_argument("--devices", nargs="*", default=None)
    p.add_argument("--only", nargs="*", default=None, choices=list(METHODS), metavar="METHOD")
    p.add_argument("--json", type=Path, default=None,
                   help="also write the rows, with machine, date, commit and command, to this file "
                        "(lab/results/benchmarks.json feeds docs/benchmarks.md)")
    p.add_argument("--_rows", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._rows:  # inside the subprocess: the named rows, one JSON line each
        names, dev, quick = json.loads(a._rows[0]), a._rows[1], a._rows[2] == "1"
        for name in names:
            try:
                r = METHODS[name](dev, quick)
            except Exception as err:  # noqa: BLE001 - one failed row must not hide the others
                print(json.dumps({"name": name, "error": f"{type(err).__name__}: {err}"[:100]}), flush=True)
                continue
            print(json.dumps(dict(r, name=name, peak=peak(dev) if len(names) == 1 else None)), flush=True)
        return
    import torch

    from clipedit.draw import diffvg_available

    t0 = time.time()
    devices = a.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    names = [n for n in (a.only or METHODS) if n != "CLIPDraw (diffvg)" or diffvg_available()]
    if a.quick and not a.only:
        names = [n for n in names if n not in QUICK_SKIPS]
    env = dict(os.environ, CLIPEDIT_OFFLINE="1")
    print(f"machine: {machine()}")
    print(f"device(s): {', '.join(devices)}; {'quick' if a.quick else 'full'} run; step = the library's own loop, "
          "floor = the unavoidable networks' forward + backward, same run"
          + ("; --quick runs every row in one process, so peak memory is measured in the full run only" if a.quick
             else "") + "\n")
    print("| device | method | setting | step (s) | floor (s) | floor is | step / floor | peak (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    clipdraw = None
    table: list[dict] = []
    for dev in devices:
        # one process per row (its own peak memory) in the full run; one for all rows in --quick (imports and the
        # ViT-B/32 built once: ~6 s a row)
        for group in ([names] if a.quick else [[n] for n in names]):
            r = subprocess.run([sys.executable, __file__, "--_rows", json.dumps(group), dev, "1" if a.quick else "0"],
                               capture_output=True, text=True, env=env)
            rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
            done = {x["name"] for x in rows}
            why = (r.stderr.strip().splitlines() or ["?"])[-1][:100]
            rows += [{"name": n, "error": why} for n in group if n not in done]
            for x in rows:
                name = x["name"]
                if "error" in x:
                    print(f"| {dev} | {name} | failed: {x['error']} | | | | | |", flush=True)
                    table.append({"device": dev, "method": name, "setting": f"failed: {x['error']}"})
                    continue
                ratio = x["step"] / x["floor"]
                if name == "CLIPDraw" and dev == devices[0]:
                    clipdraw = ratio
                mem = f"{x['peak']:.0f}" if x["peak"] is not None else "—"
                print(f"| {dev} | {name} | {x['setting']} | {x['step']:.3f} | {x['floor']:.3f} | {x['floor_is']} | "
                      f"{ratio:.2f} | {mem} |", flush=True)
                table.append({"device": dev, "method": name, "setting": x["setting"], "step_s": round(x["step"], 3),
                              "floor_s": round(x["floor"], 3), "floor_is": x["floor_is"], "ratio": round(ratio, 2),
                              "peak_mib": None if x["peak"] is None else round(x["peak"])})
    if "cuda" not in devices:
        print("| cuda | every method | | not measured: no GPU on this machine | | | | |")
    print(f"\n({time.time() - t0:.0f} s)")
    if clipdraw is not None:
        print(f"clipdraw step / CLIP floor: {clipdraw:.2f}")
    if a.json:
        from clipedit.report import provenance, write_json

        doc = {"name": "benchmarks", "split": "n/a", "notes": ("quick" if a.quick else "full") + " run; ratios are "
               "within this one run", **provenance(["python", "benchmarks/run.py", *sys.argv[1:]]), "rows": table}
        doc["machine"] = machine()
        print(f"wrote {write_json(a.json, doc)}")


if __name__ == "__main__":
    main()
