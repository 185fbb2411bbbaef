"""StyleDrop: LoRA beside the bottleneck adapters (zero-init is the base, detach restores it, parameter counts,
file round trips), two-scale guidance (λ_A = 0 without adapters is the base model bit for bit), round 2 selecting by
the scores it reports, the real path on a tiny aMUSEd configuration, the style taken as a rate over seeds, and bad
input refused in one line."""
from __future__ import annotations

import os

import pytest
import torch

from clipedit.cli import main
from clipedit.data.styles import STYLES, render_styled
from lab.eval.guided import EVAL_PAIRS, prompt_for
from clipedit.imageio import save_image
from clipedit.models.adapters import LoraSet, attach_adapters, load_adapters, lora_rank_for
from clipedit.models.muse import build_shapes_transformer, load_masked_generator
from clipedit.styledrop import (StyleDropSettings, collect_feedback, load_style, retrain_with_feedback, sample_style,
                                score_candidates, select_top, train_style, two_scale)
from clipedit.weights import get_weights

SHAPES_FEEDBACK = get_weights("clipedit/shapes-muse").recommended["feedback_contents"]
from tests.test_bad_input import one_line_exit_2, run_cli

peft = pytest.importorskip("peft")


def _run(tr, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 257, (2, 8, 8), generator=g)
    return tr(ids, encoder_hidden_states=torch.randn(2, 20, 128, generator=g),
              pooled_text_emb=torch.randn(2, 128, generator=g), micro_conds=torch.rand(2, 5, generator=g) * 32)


@pytest.fixture(scope="module")
def gen():
    return load_masked_generator("clipedit/shapes-muse", device="cpu")


@pytest.fixture
def magenta():
    """Round 2 scores style with Magenta's real style predictor: skip where its file is not on this machine."""
    pytest.importorskip("tflite")
    from clipedit.models.magenta import load_style_predictor, magenta_file

    try:
        magenta_file("predict", download_ok=False)
    except Exception:  # not in the data folder nor the cache
        from clipedit.data.paths import DATA_HINT

        pytest.skip(DATA_HINT.format(what="weights/magenta-arbitrary-stylization"))
    return load_style_predictor("cpu")


def test_lora_starts_at_the_base_switches_off_and_detaches_exactly(tmp_path):
    torch.manual_seed(0)
    tr = build_shapes_transformer().eval()
    base = _run(tr)
    lora = attach_adapters(tr, rank=2, kind="lora")
    assert isinstance(lora, LoraSet) and torch.equal(_run(tr), base)  # lora_B starts at zero
    with torch.no_grad():
        for p in lora.trainable():
            p.normal_(0, 0.1)
    changed = _run(tr)
    assert not torch.allclose(changed, base)
    with lora.disabled():
        assert torch.equal(_run(tr), base)
    path = lora.save(tmp_path / "lora", {"style": "x"})
    lora.detach()
    assert torch.equal(_run(tr), base)
    again, meta = load_adapters(path, tr)
    assert meta == {"style": "x"} and torch.allclose(_run(tr), changed, atol=1e-6)
    again.detach()
    assert torch.equal(_run(tr), base)


def test_parameter_budgets_are_reported_and_comparable():
    tr = build_shapes_transformer()
    ad = attach_adapters(tr, rank=8)
    n = ad.num_parameters()
    ad.detach()
    rank = lora_rank_for(tr, n)
    lora = attach_adapters(tr, rank=rank, kind="lora")
    # LoRA on q, k, v and out of both attentions: rank · (in + out) per projection.
    d, layers = tr.config.hidden_size, len(tr.transformer_layers)
    assert lora.num_parameters() == layers * 8 * rank * 2 * d
    assert abs(lora.num_parameters() - n) / n < 0.1 and lora.fraction_of(tr) < 0.01 and ad.fraction_of(tr) < 0.01
    lora.detach()


def test_two_scale_formula_and_lambda_a_zero_is_the_base_model(gen):
    a, c, u = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(two_scale(a, c, u, 2.0, 5.0), a + 2 * (a - c) + 5 * (c - u))
    from clipedit.masked import generate

    for guidance in (0.0, 3.0):
        base = generate(["a blue star", "a green heart"], model=gen, n=2, guidance=guidance, seed=3, progress=False)
        mine = sample_style(gen, None, ["a blue star", "a green heart"], n=2, lambda_a=0.0, lambda_b=guidance, seed=3,
                            progress=False)
        assert torch.equal(base.tokens, mine.tokens)


def test_two_scale_logits_use_the_adapters_for_l_adapt_only(gen):
    from clipedit.models.adapters import attached
    from clipedit.styledrop import two_scale_logits_fn

    style = train_style(gen, render_styled("red", "circle", "stripes"), ["a red circle"], "striped",
                        StyleDropSettings(steps=1), progress=False)
    with torch.no_grad():
        for p in style.adapters.parameters():
            p.normal_(0, 0.05)  # clearly non-zero adapters
    ids = torch.randint(0, 256, (2, 8, 8), generator=torch.Generator().manual_seed(1))
    text = gen.encode_text(["a blue star in striped style"] * 2)
    with torch.no_grad():
        l_cond, l_uncond = gen.logits(ids, text), gen.logits(ids, gen.empty_text(2))
        with attached(style.adapters, gen.transformer) as ad:
            l_adapt = gen.logits(ids, text)
            got = two_scale_logits_fn(gen, ad, text, lambda_a=2.0, lambda_b=3.0, plausibility=0.0)(ids, True)
            kept = two_scale_logits_fn(gen, ad, text, lambda_a=2.0, lambda_b=3.0)(ids, True)
    assert not torch.allclose(l_adapt, l_cond)
    assert torch.allclose(got, l_adapt + 2.0 * (l_adapt - l_cond) + 3.0 * (l_cond - l_uncond), atol=1e-5)
    p = torch.softmax(l_adapt, 1)  # by default, only codes plausible under the adapted model stay
    assert torch.equal(torch.isfinite(kept), p >= 0.1 * p.amax(1, keepdim=True))
    assert torch.equal(kept[torch.isfinite(kept)], got[torch.isfinite(kept)])


def test_adapters_are_detached_after_training_and_sampling(gen, tmp_path):
    ids = torch.randint(0, 256, (1, 8, 8), generator=torch.Generator().manual_seed(0))
    text = gen.encode_text(["a red circle"])
    before = gen.logits(ids, text)
    style = train_style(gen, render_styled("red", "circle", "stripes"), ["a red circle"], "striped",
                        StyleDropSettings(steps=3, batch=2), progress=False)
    sample_style(gen, style, "a blue star", steps=2, progress=False)
    assert not style.adapters.attached and torch.equal(gen.logits(ids, text), before)
    assert all(not p.requires_grad for p in gen.transformer.parameters())
    path = style.save(tmp_path / "s")
    assert (path / "model.safetensors").stat().st_size < 100_000
    back = load_style(path)
    assert back.meta["style"] == "striped" and back.meta["prompts"] == ["a red circle in striped style"]


def test_round_two_keeps_what_its_scores_rank_highest(gen, magenta, tmp_path):
    ref = render_styled("red", "circle", "stripes")
    style = train_style(gen, ref, ["a red circle"], "striped", StyleDropSettings(steps=3, batch=2), progress=False)
    fb = collect_feedback(gen, style, ref, list(SHAPES_FEEDBACK[:3]), n_per_prompt=2, top_k=3, progress=False)
    assert len(fb.contents) == 6 and fb.images.shape[0] == 6
    assert torch.allclose(fb.score, score_candidates(fb.text_score, fb.style_distance))
    # the reported scores are what they say: the guide's similarity to each image's own prompt, the Magenta distance
    from clipedit.guidance.guide import CLIPGuide
    from clipedit.models.magenta import style_distance

    guide = CLIPGuide(list(SHAPES_FEEDBACK[:3]), models="clipedit/shapes", augment="none", n_augs=1)
    sim = guide.similarity(fb.images)
    own = torch.stack([sim[i, list(SHAPES_FEEDBACK[:3]).index(c)] for i, c in enumerate(fb.contents)])
    assert torch.allclose(fb.text_score, own, atol=1e-5)
    assert torch.allclose(fb.style_distance, style_distance(fb.images, ref), atol=1e-4)
    assert fb.kept == select_top(fb.score, 3)
    others = [i for i in range(6) if i not in fb.kept]
    assert fb.score[fb.kept].min() >= fb.score[others].max()
    r2 = retrain_with_feedback(gen, style, ref, "a red circle", fb, settings=StyleDropSettings(steps=2, batch=2),
                               progress=False)
    assert r2.meta["round"] == 2 and r2.meta["feedback"]["kept"] == 3
    assert r2.meta["contents"] == ["a red circle"] + [fb.contents[i] for i in fb.kept]
    human = retrain_with_feedback(gen, style, ref, "a red circle", fb, kept=[5], settings=StyleDropSettings(steps=1),
                                  progress=False)
    assert human.meta["contents"] == ["a red circle", fb.contents[5]]
    with pytest.raises(ValueError, match="no images kept"):
        retrain_with_feedback(gen, style, ref, "a red circle", fb, kept=[], progress=False)


def test_feedback_prompts_are_never_evaluation_prompts():
    from clipedit.styledrop.feedback import default_feedback_contents

    evaluated = {prompt_for(c, s) for c, s in EVAL_PAIRS}
    gen = load_masked_generator("clipedit/shapes-muse", device="cpu")
    assert default_feedback_contents(gen) == list(SHAPES_FEEDBACK) and gen.recommended["guide"] == "clipedit/shapes"
    assert not evaluated & set(SHAPES_FEEDBACK)


def test_style_references_stay_in_range_and_vary_with_the_style():
    imgs = [render_styled("green", "star", s) for s in STYLES]
    assert all(i.shape == (1, 3, 32, 32) and 0 <= float(i.min()) and float(i.max()) <= 1 for i in imgs)
    assert all(not torch.equal(imgs[0], x) for x in imgs[1:])


def test_style_is_taken_as_a_rate_over_seeds(gen, magenta):
    """Round 1 moves samples of new content towards the reference's Magenta style embedding, for most seeds."""
    from clipedit.models.magenta import style_distance

    sp = magenta
    ref = render_styled("red", "circle", "stripes")
    prompts = ["a blue square", "a yellow star", "a green triangle"]
    base = style_distance(sample_style(gen, None, prompts, n=2, seed=0, progress=False).images, ref, sp).mean()
    closer = 0
    seeds = (0, 1, 2)
    for seed in seeds:
        style = train_style(gen, ref, ["a red circle"], "striped", StyleDropSettings(steps=150, seed=seed),
                            progress=False)
        styled = sample_style(gen, style, prompts, n=2, seed=seed, progress=False).images
        closer += bool(style_distance(styled, ref, sp).mean() < base)
    assert closer >= 2, f"round 1 came closer to the style in only {closer} of {len(seeds)} seeds"


def test_the_real_path_runs_on_a_tiny_amused(tmp_path):
    pytest.importorskip("transformers")
    from tests.test_masked import make_tiny_amused

    folder = make_tiny_amused(tmp_path / "amused-256")
    tiny = load_masked_generator(str(folder), device="cpu")
    ref = torch.rand(1, 3, tiny.resolution, tiny.resolution, generator=torch.Generator().manual_seed(0))
    for kind in ("adapter", "lora"):
        style = train_style(tiny, ref, ["a photo of a cat"], "noisy", StyleDropSettings(steps=2, batch=2, kind=kind),
                            progress=False)
        out = sample_style(tiny, style, "a dog", n=2, steps=3, progress=False)
        assert out.images.shape == (2, 3, tiny.resolution, tiny.resolution) and not style.adapters.attached


def _one_line_2(args, capsys, *words):
    one_line_exit_2(*run_cli(args, capsys), *words)  # the bad-input table's own check: one line, exit 2, < 1 s


def test_bad_input_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    from clipedit import cli

    monkeypatch.setattr(cli, "SUBCOMMANDS", {k: (lambda a: 1 / 0) for k in cli.SUBCOMMANDS})  # no work may start
    good = save_image(render_styled("red", "circle", "stripes"), tmp_path / "style.png")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:60])
    junk = tmp_path / "junk.png"
    junk.write_bytes(os.urandom(300))
    _one_line_2(["styledrop", "train", str(good), "--content", "a red circle", "--out", str(tmp_path / "a.pt")], capsys,
                "writes a folder")  # a model folder, never a single pickle file
    _one_line_2(["styledrop", "train", str(good), "--content", "a red circle", "--out", str(good)], capsys, "is a file")
    out = ["--out", str(tmp_path / "adapter")]
    _one_line_2(["styledrop", "train", str(tmp_path / "missing.png"), "--content", "a red circle", *out], capsys,
                "not found")
    _one_line_2(["styledrop", "train", str(junk), "--content", "a red circle", *out], capsys, "style image")
    _one_line_2(["styledrop", "train", str(corrupt), "--content", "a red circle", *out], capsys, "style image")
    _one_line_2(["styledrop", "train", str(good), "--content", "  ", *out], capsys, "--content is empty")
    _one_line_2(["styledrop", "train", str(good), "--content", "a red circle", "--steps", "0", *out], capsys, "--steps")
    _one_line_2(["styledrop", "train", str(good), "--content", "a red circle", "--model", "nope", *out], capsys,
                "unknown model")
    # an adapter file made for another backbone, and files that are not adapter files
    tr = build_shapes_transformer()
    tr.transformer_layers = tr.transformer_layers[:2]
    other = attach_adapters(tr, rank=4)
    other_file = other.save(tmp_path / "other", {"style": "x", "model": "clipedit/shapes-muse"})
    png = ["--out", str(tmp_path / "s.png")]
    _one_line_2(["styledrop", "sample", str(other_file), "a blue star", *png], capsys, "trained for a backbone")
    _one_line_2(["styledrop", "sample", str(junk), "a blue star", *png], capsys, "not a clipedit adapter folder")
    _one_line_2(["styledrop", "sample", str(tmp_path / "none.pt"), "a blue star", *png], capsys, "not found")
    _one_line_2(["styledrop", "sample", str(other_file), "  ", *png], capsys, "empty")
    _one_line_2(["styledrop", "sample", str(other_file), "a blue star", "--lambda-a", "nan", *png], capsys,
                "--lambda-a")


def test_cli_trains_two_rounds_and_samples(tmp_path, capsys, magenta):
    # a style image larger than the model's images (64 px against 32): resized where needed
    style = save_image(render_styled("red", "circle", "stripes", resolution=64), tmp_path / "striped_thing.png")
    assert main(["styledrop", "train", str(style), "--content", "a red circle", "--steps", "4", "--rounds", "2",
                 "--feedback", "a blue square", "a green star", "--feedback-n", "2", "--top-k", "2",
                 "--out", str(tmp_path / "ad"), "--quiet"]) == 0
    for name in ("ad/model.safetensors", "ad/config.json", "ad/README.md", "ad.png", "ad.json", "ad_feedback.png"):
        assert (tmp_path / name).is_file(), name
    assert load_style(tmp_path / "ad").meta["style"] == "striped thing"  # the default descriptor: the file name
    assert main(["styledrop", "sample", str(tmp_path / "ad"), "a blue star", "--n", "2", "--steps", "4",
                 "--out", str(tmp_path / "s.png"), "--quiet"]) == 0
    assert (tmp_path / "s.png").is_file() and "wrote" in capsys.readouterr().out
