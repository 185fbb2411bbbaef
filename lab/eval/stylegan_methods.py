"""The StyleCLIP family on the demo generator, judged: optimisation, mapper, global directions and StyleGAN-NADA.

``python -m lab.eval.stylegan_methods [--generator FOLDER] [--grid docs/nada.jpg]`` prints

1. the generator's quality (confident samples, distinct (colour, shape) readings, the judge's class histogram
   against the training distribution, and how often the judge reads the scene the latent's scene code names);
2. one comparison table over the same judged edits (``"a blue circle"`` on circles of other colours, ``"a green
   square"`` on squares of other colours, held-out latents): preprocessing time, time per edit, success (the judge
   reads the target colour and shape), what is kept (shape, background, object mask IoU) and ‖Δw‖;
3. the global-directions β sweep (channels changed, success);
4. the two NADA demonstrations (circle -> square, white -> black background): the judged target fraction before and
   after on fixed seeds, and what is kept;

and writes a before/after grid of the NADA generators. ``--only ideal --generator F`` runs the tests' optimisation
and mapper edits on the exact scene function of a scene-code renderer ``F`` (:func:`scene_function_edits`): what a
perfect renderer of that code would allow. Everything runs on the offline guide the bundled generators are edited
with (the guide the shapes generators recommend, ``clipedit/shapes-colour``); the judge never takes part in any method.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter

import torch

from clipedit.data.shapes import BACKGROUND_NAMES, BACKGROUNDS, COLOUR_NAMES, SHAPES, sample_batch
from lab.eval.edited import confident, foreground, iou
from clipedit.judge import judge
from clipedit.styleclip.loaders import recommended_settings

GUIDE = recommended_settings(None)["guide"]  # the colour-phase offline guide the shapes generators recommend

EDITS = (("a blue circle", "blue", "circle"), ("a green square", "green", "square"))
NADA_DEMOS = (("a circle", "a square"), ("a shape on a white background", "a shape on a black background"))


def background_of(images: torch.Tensor) -> list[str]:
    """The background name nearest to the median colour of the non-object pixels (``images`` ``(B, 3, H, W)``)."""
    fg = foreground(images)
    refs = torch.tensor([BACKGROUNDS[n] for n in BACKGROUND_NAMES])
    out = []
    for img, m in zip(images, fg):
        px = img.flatten(1)[:, ~m.flatten()]
        med = px.median(1).values if px.shape[1] else img.flatten(1).median(1).values
        out.append(BACKGROUND_NAMES[int((refs - med).norm(dim=1).argmin())])
    return out


@torch.no_grad()
def render(G, w: torch.Tensor) -> torch.Tensor:
    from clipedit.styleclip import to_unit

    return torch.cat([to_unit(G.synthesis(c)) for c in w.split(64)])


@torch.no_grad()
def quality(G, n: int = 512) -> dict:
    """Confident samples (ψ 0.7 and 1.0), distinct pairs, and the judge's class histograms vs real images."""
    from lab.eval.edited import sample_quality

    q = sample_quality(G, n)
    fake = render(G, torch.cat([G.sample_w(64, truncation=1.0, seed=200 + s) for s in range(n // 64)]))
    real = sample_batch(n, resolution=G.size, generator=torch.Generator().manual_seed(7), exclude=(), noise=0.0).images
    vf, vr = judge(fake), judge(real)
    out = dict(q)
    for what, names in (("shape", SHAPES), ("colour", COLOUR_NAMES)):
        hf, hr = Counter(getattr(vf, what)), Counter(getattr(vr, what))
        pf = torch.tensor([hf[k] / n for k in names])
        pr = torch.tensor([hr[k] / n for k in names])
        out[f"{what}_hist_fake"], out[f"{what}_hist_real"] = pf.tolist(), pr.tolist()
        out[f"{what}_tv"] = float((pf - pr).abs().sum() / 2)  # total variation distance of the histograms
    out["names_its_scene"] = scene_agreement(G, n)
    return out


@torch.no_grad()
def scene_agreement(G, n: int = 512, truncation: float = 0.7, seed: int = 300) -> dict[str, float]:
    """Does a latent draw the scene :func:`lab.training.shapes_stylegan.scene_table` names for its ``z``
    (ψ 0.7)? ``judged``: the judge reads that colour and shape; ``iou``: the object mask against the scene rendered
    exactly (:func:`~lab.training.shapes_stylegan.render_code`), mean and ``iou_<shape>`` per shape. About
    1/36 and near 0 for a generator whose mapping is not the scene table (a GAN's)."""
    from lab.training.shapes_stylegan import code_to_scene, render_code, scene_table

    z = torch.randn(n, G.style_dim, generator=torch.Generator().manual_seed(seed))
    w = G.mapping(z)
    avg = G.w_avg()
    x = render(G, avg + truncation * (w - avg))
    code = scene_table(z)
    v, named = judge(x), code_to_scene(code)
    ious = iou(foreground(x), foreground(render_code(truncation * code, G.size)))
    out = {"judged": sum(c == COLOUR_NAMES[i] and s == SHAPES[j] for c, s, i, j in
                         zip(v.colour, v.shape, named["colour"].tolist(), named["shape"].tolist())) / n,
           "iou": float(ious.mean())}
    out.update({f"iou_{k}": float(ious[named["shape"] == i].mean()) for i, k in enumerate(SHAPES)})
    return out


def pick(G, colour: str, shape: str, n: int, seed: int = 10_000) -> list[torch.Tensor]:
    """``n`` held-out latents (seeds from ``seed``) the judge reads confidently as ``shape`` in a colour other than
    ``colour``."""
    out = []
    for s in range(seed, seed + 4000, 64):
        w = G.sample_w(64, truncation=0.7, seed=s)
        v = judge(render(G, w))
        ok = confident(verdict=v)
        for i in range(64):
            if bool(ok[i]) and v.shape[i] == shape and v.colour[i] != colour:
                out.append(w[i:i + 1])
                if len(out) == n:
                    return out
    return out


def judge_edits(before: torch.Tensor, after: torch.Tensor, colour: str, shape: str) -> dict:
    vb, va = judge(before), judge(after)
    bb, ba = background_of(before), background_of(after)
    n = len(before)
    return {"success": sum(c == colour and s == shape for c, s in zip(va.colour, va.shape)) / n,
            "colour": sum(c == colour for c in va.colour) / n,
            "shape_kept": sum(a == b for a, b in zip(va.shape, vb.shape)) / n,
            "background_kept": sum(a == b for a, b in zip(ba, bb)) / n,
            "iou": float(iou(foreground(before), foreground(after)).mean())}


def mapper_rate(G, prompt: str = "a blue circle", steps: int = 60, seeds: tuple[int, ...] = (0, 1)) -> dict[str, int]:
    """The mapper protocol of the tests: a mapper for ``prompt`` ("a {colour} {shape}", either word optional)
    trained for ``steps`` (batch 8) per seed, then applied to 16 held-out latents (ψ 0.7) each. Returns how many the
    judge reads in the prompt's colour and in its shape, before and after, and the shapes kept, of
    ``n = 16 · len(seeds)``."""
    from clipedit.guidance import CLIPGuide
    from clipedit.models.registry import load_clip
    from clipedit.styleclip import to_unit
    from clipedit.styleclip.mapper import train_mapper

    words = prompt.split()
    colour = next((c for c in COLOUR_NAMES if c in words), None)
    shape = next((s for s in SHAPES if s in words), None)
    guide = CLIPGuide(prompt, models=load_clip(GUIDE, device="cpu"), augment="none", n_augs=1)
    out = {"colour_before": 0, "colour_after": 0, "shape_before": 0, "shape_after": 0, "shape_kept": 0,
           "n": 16 * len(seeds)}
    for seed in seeds:
        run = train_mapper(prompt, G, guide, steps=steps, batch=8, seed=seed, progress=False)
        w = G.to_wplus(torch.cat([G.sample_w(1, truncation=0.7, seed=5000 + 100 * seed + s) for s in range(16)]))
        with torch.no_grad():
            v0, v1 = judge(to_unit(G.synthesis(w))), judge(to_unit(G.synthesis(run.mapper.edit(w))))
        for when, v in (("before", v0), ("after", v1)):
            out[f"colour_{when}"] += sum(c == colour for c in v.colour)
            out[f"shape_{when}"] += sum(s == shape for s in v.shape)
        out["shape_kept"] += sum(a == b for a, b in zip(v0.shape, v1.shape))
    return out


def scene_function_edits(path: str, n: int = 24, steps: int = 100, mapper_steps: int = 60) -> dict:
    """The edits of the tests' protocols on the *exact* scene function of a renderer file
    (:class:`lab.training.shapes_stylegan.SceneFunction`): what a perfect renderer of that scene code would
    allow. ``optimisation``: StyleCLIP on ``n`` judged starts (``"a {another colour} {its shape}"``, ``steps``,
    λ_L2 0.008); ``mapper``: :func:`mapper_rate` for "a blue circle" with ``mapper_steps``."""
    from lab.eval.edited import evaluate_edits, pick_starts
    from lab.training.shapes_stylegan import SceneFunction

    G = SceneFunction.from_file(path)
    r = evaluate_edits(G, pick_starts(G, n, seed=0), l2_lambda=0.008, steps=steps)
    m = mapper_rate(G, "a blue circle", mapper_steps)
    return {"optimisation": r["both"], "optimisation_shape_kept": r["shape"], "optimisation_dw": r["dw"],
            "mapper_blue_before": m["colour_before"], "mapper_blue_after": m["colour_after"],
            "mapper_shape_kept": m["shape_kept"],
            "mapper_n": m["n"]}


NADA_SETTINGS = {"augment": "cutouts", "n_augs": 4}  # NADA's own setting (no views) moved the judge less here


def fs3_table(G, fs3_samples: int):
    from clipedit.models.registry import load_clip
    from clipedit.styleclip.global_directions import channel_directions

    t = time.perf_counter()
    table = channel_directions(G, load_clip(GUIDE, device="cpu"), n_samples=fs3_samples, progress=False)
    return table, time.perf_counter() - t


def compare(G, n: int, steps_opt: int, steps_mapper: int, steps_nada: int, table, table_s: float,
            log=print) -> list[dict]:
    from clipedit.guidance import CLIPGuide
    from clipedit.models.registry import load_clip
    from clipedit.styleclip import styleclip_edit
    from clipedit.styleclip.global_directions import STYLECLIP_ALPHA_BETA, default_alpha_beta, global_edit, text_direction
    from clipedit.styleclip.mapper import train_mapper
    from clipedit.styleclip.nada import nada

    clip = load_clip(GUIDE, device="cpu")
    settings = {"global directions": STYLECLIP_ALPHA_BETA, "global directions (demo default)": default_alpha_beta(G)}
    rows: dict[str, dict] = {m: {"pre": 0.0, "edit_s": [], "judged": [], "dw": []} for m in
                             ("optimisation", "mapper", *settings, "NADA")}
    for name in settings:
        rows[name]["pre"] = table_s
    for prompt, colour, shape in EDITS:
        starts = pick(G, colour, shape, n)
        w = torch.cat(starts)
        wp = G.to_wplus(w)
        before = render(G, wp)
        # optimisation
        outs, dws = [], []
        t = time.perf_counter()
        for x in starts:
            r = styleclip_edit(prompt, generator=G, latent=x, model=GUIDE, steps=steps_opt, seed=0, progress=False)
            outs.append(r.image)
            dws.append(float((r.latent - r.start).norm()))
        rows["optimisation"]["edit_s"].append((time.perf_counter() - t) / len(starts))
        rows["optimisation"]["judged"].append(judge_edits(before, torch.cat(outs), colour, shape))
        rows["optimisation"]["dw"] += dws
        # mapper
        guide = CLIPGuide(prompt, models=clip, augment="none", n_augs=1)
        t = time.perf_counter()
        run = train_mapper(prompt, G, guide, steps=steps_mapper, batch=8, seed=0, progress=False)
        rows["mapper"]["pre"] += time.perf_counter() - t
        with torch.no_grad():
            t = time.perf_counter()
            edited_w = torch.cat([run.mapper.edit(x[None]) for x in wp])
            after = render(G, edited_w)
            rows["mapper"]["edit_s"].append((time.perf_counter() - t) / len(starts))
        rows["mapper"]["judged"].append(judge_edits(before, after, colour, shape))
        rows["mapper"]["dw"] += (edited_w - wp).flatten(1).norm(dim=1).tolist()
        # global directions: from "a {shape}" to the prompt
        dt = text_direction(clip, prompt, f"a {shape}")
        for name, (alpha, beta) in settings.items():
            t = time.perf_counter()
            after = torch.cat([global_edit(G, x, table, dt, alpha=alpha, beta=beta).image for x in starts])
            rows[name]["edit_s"].append((time.perf_counter() - t) / len(starts))
            rows[name]["judged"].append(judge_edits(before, after, colour, shape))
        # NADA: the whole generator from "a {shape}" to the prompt
        t = time.perf_counter()
        r = nada(G, f"a {shape}", prompt, clip, steps=steps_nada, seed=0, progress=False, **NADA_SETTINGS)
        rows["NADA"]["pre"] += time.perf_counter() - t
        with torch.no_grad():
            t = time.perf_counter()
            after = torch.cat([render(r.generator, x) for x in starts])
            rows["NADA"]["edit_s"].append((time.perf_counter() - t) / len(starts))
        rows["NADA"]["judged"].append(judge_edits(before, after, colour, shape))
        log(f"  {prompt}: {len(starts)} starts done")
    out = []
    for name, r in rows.items():
        j = {k: sum(d[k] for d in r["judged"]) / len(r["judged"]) for k in r["judged"][0]}
        out.append({"method": name, "pre_s": r["pre"], "edit_ms": 1000 * sum(r["edit_s"]) / len(r["edit_s"]), **j,
                    "dw": (sum(r["dw"]) / len(r["dw"])) if r["dw"] else None, "n": n * len(EDITS)})
    return out


def beta_sweep(G, n: int, table, betas=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3), alphas=(4.1,)) -> list[dict]:
    from clipedit.models.registry import load_clip
    from clipedit.styleclip.global_directions import global_edit, text_direction

    clip = load_clip(GUIDE, device="cpu")
    sets = []  # starts, images and text directions once, not once per β
    for prompt, colour, shape in EDITS:
        starts = pick(G, colour, shape, n)
        sets.append((colour, shape, starts, render(G, torch.cat(starts)), text_direction(clip, prompt, f"a {shape}")))
    rows = []
    for beta in betas:
        for alpha in alphas:
            judged, chans = [], []
            for colour, shape, starts, before, dt in sets:
                edits = [global_edit(G, x, table, dt, alpha=alpha, beta=beta) for x in starts]
                chans.append(edits[0].n_channels)
                judged.append(judge_edits(before, torch.cat([e.image for e in edits]), colour, shape))
            rows.append({"beta": beta, "alpha": alpha, "channels": sum(chans) / len(chans),
                         **{k: sum(d[k] for d in judged) / len(judged) for k in judged[0]}})
    return rows


def nada_demos(G, steps: int, n: int = 64, grid: str | None = None, log=print) -> list[dict]:
    from clipedit.models.registry import load_clip
    from clipedit.styleclip.nada import nada

    clip = load_clip(GUIDE, device="cpu")
    w = torch.cat([G.sample_w(1, truncation=0.7, seed=20_000 + s) for s in range(n)])
    before = render(G, w)
    vb, bb = judge(before), background_of(before)
    rows, pics = [], [before[:8]]
    for source, target in NADA_DEMOS:
        t = time.perf_counter()
        r = nada(G, source, target, clip, steps=steps, seed=0, progress=False, **NADA_SETTINGS)
        secs = time.perf_counter() - t
        after = render(r.generator, w)
        va, ba = judge(after), background_of(after)
        if "background" in target:
            goal = target.split()[-2]
            hit_b, hit_a = sum(b == goal for b in bb) / n, sum(b == goal for b in ba) / n
            kept = {"shape_kept": sum(a == b for a, b in zip(va.shape, vb.shape)) / n}
        else:
            goal = target.split()[-1]
            hit_b, hit_a = sum(s == goal for s in vb.shape) / n, sum(s == goal for s in va.shape) / n
            kept = {"background_kept": sum(a == b for a, b in zip(ba, bb)) / n}
        rows.append({"source": source, "target": target, "before": hit_b, "after": hit_a, "seconds": secs,
                     "colour_kept": sum(a == b for a, b in zip(va.colour, vb.colour)) / n,
                     "iou": float(iou(foreground(before), foreground(after)).mean()), **kept})
        pics.append(after[:8])
        log(f"  NADA {source!r} -> {target!r}: {hit_b:.0%} -> {hit_a:.0%} ({secs:.0f} s)")
    if grid:
        import torch.nn.functional as F
        from torchvision.utils import save_image

        save_image(F.interpolate(torch.cat(pics), scale_factor=4, mode="nearest"), grid, nrow=8, padding=2,
                   pad_value=1.0)
        log(f"wrote {grid}")
    return rows


def main(argv: list[str] | None = None) -> None:
    from clipedit.styleclip import load_generator

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", default=None)
    p.add_argument("--n", type=int, default=8, help="starts per edit prompt (two prompts)")
    p.add_argument("--steps-opt", type=int, default=300)
    p.add_argument("--steps-mapper", type=int, default=300)
    p.add_argument("--steps-nada", type=int, default=200)
    p.add_argument("--fs3-samples", type=int, default=64)
    p.add_argument("--grid", default=None, help="write the NADA before/after grid here")
    p.add_argument("--only", nargs="*", default=["quality", "compare", "beta", "grid", "nada"],
                   choices=["quality", "compare", "beta", "grid", "nada", "ideal"],
                   help="'ideal': the tests' edits on the exact scene function of a renderer --generator")
    a = p.parse_args(argv)
    if "ideal" in a.only:  # refused before any work: the file must be a scene-code renderer
        from lab.training.shapes_stylegan import SceneFunction

        if not a.generator:
            p.error("--only ideal needs --generator: a scene-code renderer file")
        try:
            SceneFunction.from_file(a.generator)
        except (OSError, ValueError, RuntimeError, KeyError) as e:
            p.error(f"--only ideal: {e}")
    torch.manual_seed(0)
    G = load_generator(a.generator, device="cpu")
    if "quality" in a.only:
        q = quality(G)
        print(f"confident (p > 0.9 colour and shape): ψ 0.7 {q['confident_trunc0.7']:.0%}, ψ 1.0 "
              f"{q['confident_trunc1.0']:.0%} (real {q['confident_real']:.0%}); distinct pairs in 512: "
              f"{q['distinct_pairs']} of 36")
        sa = q["names_its_scene"]
        print(f"the scene the latent names (scene table, ψ 0.7): judge reads it {sa['judged']:.0%}, object mask IoU "
              f"{sa['iou']:.2f} (" + ", ".join(f"{k} {sa['iou_' + k]:.2f}" for k in SHAPES) + ")")
        from lab.common import write_results

        write_results("stylegan_quality", [{
            "generator": a.generator or "clipedit/shapes-renderer (default)", "confident_07": q["confident_trunc0.7"],
            "confident_10": q["confident_trunc1.0"], "pairs": q["distinct_pairs"], "shape_tv": round(q["shape_tv"], 2),
            "colour_tv": round(q["colour_tv"], 2), "names_scene": sa["judged"], "iou": round(sa["iou"], 2), "n": 512}],
            split="n/a", notes="512 samples per figure from fresh latents; no prompts, nothing chosen on them.",
            merge_on="generator")
        for what, names in (("shape", SHAPES), ("colour", COLOUR_NAMES)):
            print(f"{what} histogram (judge, ψ 1.0 vs real): " + ", ".join(
                f"{k} {f:.2f}/{r:.2f}" for k, f, r in zip(names, q[f"{what}_hist_fake"], q[f"{what}_hist_real"]))
                + f"; total variation {q[f'{what}_tv']:.2f}", flush=True)
    if {"compare", "beta", "grid"} & set(a.only):
        table, table_s = fs3_table(G, a.fs3_samples)
        print(f"\nfs3 {tuple(table.fs3.shape)}: {a.fs3_samples} samples per channel, {table_s:.0f} s", flush=True)
    if "compare" in a.only:
        from lab.common import write_results

        rows = compare(G, a.n, a.steps_opt, a.steps_mapper, a.steps_nada, table, table_s)
        write_results("stylegan_methods", [
            {"method": r["method"], "prep_s": f"{r['pre_s']:.0f}", "ms_per_edit": round(r["edit_ms"]),
             "success": r["success"], "shape_kept": r["shape_kept"], "background_kept": r["background_kept"],
             "iou": round(r["iou"], 2), "n": 2 * a.n} for r in rows], split="dev",
            notes=f"{a.generator or 'the default demo'}; 'a blue circle' on {a.n} held-out circles and 'a green "
                  f"square' on {a.n} held-out squares.")
        print("\n| method | preprocessing (s) | time per edit (ms) | success | shape kept | background kept | "
              "mask IoU | ‖Δw‖ |\n|---|---|---|---|---|---|---|---|")
        for r in rows:
            dw = f"{r['dw']:.2f}" if r["dw"] is not None else \
                "— (S space)" if r["method"].startswith("global directions") else "0 (weights change)"
            print(f"| {r['method']} | {r['pre_s']:.0f} | {r['edit_ms']:.0f} | {r['success']:.0%} | {r['shape_kept']:.0%} "
                  f"| {r['background_kept']:.0%} | {r['iou']:.2f} | {dw} |", flush=True)
    if "beta" in a.only:
        print("\n| β | channels changed | success | colour | shape kept | background kept | mask IoU |\n"
              "|---|---|---|---|---|---|---|")
        for r in beta_sweep(G, a.n, table):
            print(f"| {r['beta']} | {r['channels']:.0f} | {r['success']:.0%} | {r['colour']:.0%} | {r['shape_kept']:.0%} "
                  f"| {r['background_kept']:.0%} | {r['iou']:.2f} |", flush=True)
    if "grid" in a.only:
        print("\n| β | α | channels | success | colour | shape kept | background kept | mask IoU |\n"
              "|---|---|---|---|---|---|---|---|")
        for r in beta_sweep(G, a.n, table, betas=(0.15, 0.3, 0.4, 0.5), alphas=(1.0, 2.0, 4.1)):
            print(f"| {r['beta']} | {r['alpha']} | {r['channels']:.0f} | {r['success']:.0%} | {r['colour']:.0%} | "
                  f"{r['shape_kept']:.0%} | {r['background_kept']:.0%} | {r['iou']:.2f} |", flush=True)
    if "ideal" in a.only:
        r = scene_function_edits(a.generator)
        print(f"\nexact scene function of {a.generator}: optimisation {r['optimisation']:.0%} both right (shape kept "
              f"{r['optimisation_shape_kept']:.0%}, ‖Δw‖ {r['optimisation_dw']:.2f}); mapper 'a blue circle': blue "
              f"{r['mapper_blue_before']} -> {r['mapper_blue_after']} of {r['mapper_n']}, shape kept "
              f"{r['mapper_shape_kept']}", flush=True)
    if "nada" in a.only:
        rows = nada_demos(G, a.steps_nada, grid=a.grid)
        from lab.common import write_results

        write_results("nada_demos", [{
            "edit": f'"{r["source"]}" → "{r["target"]}"', "generator": a.generator or "renderer (default)",
            "before": r["before"], "after": r["after"], "colour_kept": r["colour_kept"],
            "also_kept": (f"shape {r['shape_kept']:.0%}" if "shape_kept" in r else f"background {r['background_kept']:.0%}"),
            "iou": round(r["iou"], 2), "n": 64} for r in rows], split="dev",
            notes=f"64 fixed latents, psi 0.7, {a.steps_nada} steps, noise strengths frozen.", merge_on="generator")
        print("\n| NADA | target before | target after | colour kept | other kept | mask IoU | training (s) |\n"
              "|---|---|---|---|---|---|---|")
        for r in rows:
            other = f"shape {r['shape_kept']:.0%}" if "shape_kept" in r else f"background {r['background_kept']:.0%}"
            print(f"| {r['source']} → {r['target']} | {r['before']:.0%} | {r['after']:.0%} | {r['colour_kept']:.0%} | "
                  f"{other} | {r['iou']:.2f} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
