"""StyleGAN2 (pure PyTorch), its checkpoint formats, the identity loss, StyleCLIP editing and the projector.
Every checkpoint here is built by the test in the real formats (no downloads)."""
from __future__ import annotations

import os
import pickle
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from clipedit.guidance import CLIPGuide
from clipedit.styleclip import (Generator, IdentityLoss, IRSE50, StyleGAN2Config, UnsafePickleError, load_generator,
                                load_latents, project, styleclip_edit, to_unit)
from clipedit.styleclip.stylegan2 import ModulatedConv2d, upfirdn2d

SMALL = StyleGAN2Config(size=16, style_dim=32, n_mlp=2, channels=((4, 32), (8, 24), (16, 16)))


def small_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    G = Generator(SMALL)
    with torch.no_grad():  # non-trivial noise strengths and biases so every parameter matters
        for name, p in G.named_parameters():
            if name.endswith("noise.weight") or name.endswith("activate.bias") or name.endswith("to_rgb1.bias"):
                p.uniform_(-0.3, 0.3)
    return G.eval()


def test_config_f_has_rosinality_shapes_and_size():
    with torch.device("meta"):
        G = Generator(StyleGAN2Config())
    sd = G.state_dict()
    assert sum(p.numel() for p in G.parameters()) == 30_370_060  # rosinality's g_ema, config-f 1024
    expect = {"style.8.weight": (512, 512), "input.input": (1, 512, 4, 4), "conv1.conv.weight": (1, 512, 512, 3, 3),
              "convs.0.conv.blur.kernel": (4, 4), "to_rgbs.0.upsample.kernel": (4, 4), "noises.noise_16": (1, 1, 1024, 1024),
              "convs.15.conv.weight": (1, 32, 32, 3, 3), "to_rgbs.7.conv.weight": (1, 3, 32, 1, 1),
              "convs.15.noise.weight": (1,), "to_rgb1.bias": (1, 3, 1, 1)}
    assert {k: tuple(sd[k].shape) for k in expect} == expect
    assert G.n_latent == 18 and G.num_layers == 17


def test_modulated_conv_equals_the_grouped_weight_formulation():
    torch.manual_seed(0)
    for up in (False, True):
        m = ModulatedConv2d(8, 6, 3, 16, upsample=up)
        x, s = torch.randn(3, 8, 8, 8), torch.randn(3, 16)
        w = m.scale * m.weight * m.modulation(s).view(3, 1, 8, 1, 1)  # per-sample weights, as in the paper
        w = w * torch.rsqrt(w.pow(2).sum([2, 3, 4]) + 1e-8).view(3, 6, 1, 1, 1)
        if up:
            ref = F.conv_transpose2d(x.reshape(1, 24, 8, 8), w.transpose(1, 2).reshape(24, 6, 3, 3), stride=2, groups=3)
            ref = m.blur(ref.view(3, 6, 17, 17))
        else:
            ref = F.conv2d(x.reshape(1, 24, 8, 8), w.view(18, 8, 3, 3), padding=1, groups=3).view(3, 6, 8, 8)
        assert torch.allclose(m(x, s), ref, atol=1e-5)


def test_upfirdn2d_against_direct_definition():
    torch.manual_seed(0)
    x, k = torch.randn(1, 2, 5, 5), torch.rand(4, 4)
    out = upfirdn2d(x, k, up=2, pad=(2, 1))
    # direct: zero-insert, pad, correlate with the flipped kernel
    z = torch.zeros(1, 2, 10, 10)
    z[:, :, ::2, ::2] = x
    z = F.pad(z, (2, 1, 2, 1))
    ref = torch.zeros(1, 2, z.shape[2] - 3, z.shape[3] - 3)
    kf = torch.flip(k, [0, 1])
    for i in range(ref.shape[2]):
        for j in range(ref.shape[3]):
            ref[:, :, i, j] = (z[:, :, i:i + 4, j:j + 4] * kf).sum((-1, -2))
    assert torch.allclose(out, ref, atol=1e-5)
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8)
    blurred = upfirdn2d(ramp, torch.full((3, 3), 1 / 9), pad=(1, 1))
    assert torch.allclose(blurred[..., 1:-1, 1:-1], ramp[..., 1:-1, 1:-1], atol=1e-5)  # a box filter keeps a ramp


def test_rosinality_checkpoint_round_trip(tmp_path):
    G = small_generator()
    G.latent_avg.copy_(G.mean_latent(2000))
    sd = G.state_dict()
    assert "latent_avg" not in sd and "noises.noise_4" in sd and "convs.2.conv.blur.kernel" in sd
    torch.save({"g_ema": sd, "latent_avg": G.latent_avg.clone()}, tmp_path / "g.pt")  # no "config": inferred
    H = load_generator(tmp_path / "g.pt", device="cpu")
    assert H.config.size == 16 and H.config.widths() == SMALL.widths() and H.config.n_mlp == 2
    w = G.sample_w(2, truncation=0.7, seed=3)
    assert torch.equal(H.synthesis(w), G.synthesis(w))
    assert torch.allclose(H.latent_avg, G.latent_avg)


def test_generator_determinism_noise_and_gradients():
    G = small_generator()
    w = G.sample_w(1, seed=0)
    assert torch.equal(G.synthesis(w), G.synthesis(w))  # const noise buffers
    assert not torch.equal(G.synthesis(w, noise_mode="random"), G.synthesis(w, noise_mode="random"))
    wp = G.to_wplus(w).clone().requires_grad_(True)
    G.synthesis(wp).mean().backward()
    assert wp.grad is not None and (wp.grad.abs().sum(-1) > 0).all()  # every layer's w matters
    t = G.sample_w(50, truncation=0.0, seed=1)
    assert torch.allclose(t, G.w_avg().expand_as(t), atol=1e-5)
    with pytest.raises(ValueError, match="W\\+"):
        G.synthesis(torch.zeros(1, 3, 32))


# -- NVIDIA pickles --------------------------------------------------------------------------------------------
def _to_nvidia(sd: dict[str, torch.Tensor], size: int) -> dict[str, torch.Tensor]:
    """rosinality -> NVIDIA stylegan2-ada-pytorch names (written independently of the library's converter)."""
    out = {}
    for k, v in sd.items():
        if k.startswith("style."):
            i, kind = k.split(".")[1:]
            out[f"mapping.fc{int(i) - 1}.{kind}"] = v
    out["synthesis.b4.const"] = sd["input.input"][0]

    def layer(src, dst):
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.noise_strength"] = sd[f"{src}.noise.weight"][0]
        out[f"{dst}.bias"] = sd[f"{src}.activate.bias"]

    def rgb(src, dst):
        out[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        out[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        out[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        out[f"{dst}.bias"] = sd[f"{src}.bias"].flatten()

    layer("conv1", "synthesis.b4.conv1")
    rgb("to_rgb1", "synthesis.b4.torgb")
    out["synthesis.b4.conv1.noise_const"] = sd["noises.noise_0"][0, 0]
    r, i = 8, 0
    while r <= size:
        layer(f"convs.{2 * i}", f"synthesis.b{r}.conv0")
        layer(f"convs.{2 * i + 1}", f"synthesis.b{r}.conv1")
        rgb(f"to_rgbs.{i}", f"synthesis.b{r}.torgb")
        out[f"synthesis.b{r}.conv0.noise_const"] = sd[f"noises.noise_{2 * i + 1}"][0, 0]
        out[f"synthesis.b{r}.conv1.noise_const"] = sd[f"noises.noise_{2 * i + 2}"][0, 0]
        out[f"synthesis.b{r}.conv0.resample_filter"] = torch.ones(4, 4) / 16
        out[f"synthesis.b{r}.resample_filter"] = torch.ones(4, 4) / 16
        r, i = r * 2, i + 1
    return out


@pytest.fixture
def fake_nvidia_modules(monkeypatch):
    """The module names NVIDIA's pickles reference, so the test can write a pickle in their format."""
    tu, pers, dn, dnu = (types.ModuleType(n) for n in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"))

    def _reconstruct_persistent_obj(meta):  # what NVIDIA's code would run; our reader must never call it
        raise AssertionError("the pickle's own reconstruct function was called")

    pers._reconstruct_persistent_obj = _reconstruct_persistent_obj
    _reconstruct_persistent_obj.__module__, _reconstruct_persistent_obj.__qualname__ = "torch_utils.persistence", "_reconstruct_persistent_obj"

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    dnu.EasyDict = EasyDict
    for name, mod in (("torch_utils", tu), ("torch_utils.persistence", pers), ("dnnlib", dn), ("dnnlib.util", dnu)):
        monkeypatch.setitem(sys.modules, name, mod)
    return pers, EasyDict


class _Persistent:
    """Pickles like an NVIDIA ``@persistent_class`` network: reconstruct function + meta with source and state."""

    def __init__(self, class_name, params, buffers, modules):
        self.meta = dict(type="class", version=6, module_src="raise SystemExit('never run me')", class_name=class_name,
                         state={"_parameters": params, "_buffers": buffers, "_modules": modules, "training": False,
                                "_init_kwargs": {"z_dim": 32}})

    def __reduce__(self):
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,))


def _tree(flat: dict[str, torch.Tensor], name="Generator") -> _Persistent:
    params, buffers, children = {}, {}, {}
    for k, v in flat.items():
        head, _, rest = k.partition(".")
        if rest:
            children.setdefault(head, {})[rest] = v
        elif head.endswith(("noise_const", "resample_filter", "w_avg")):
            buffers[head] = v
        else:
            params[head] = torch.nn.Parameter(v.clone())
    return _Persistent(name, params, buffers, {k: _tree(v, k) for k, v in children.items()})


def test_nvidia_pickle_loads_without_running_its_code(tmp_path, fake_nvidia_modules):
    _, EasyDict = fake_nvidia_modules
    G = small_generator(1)
    nv = _to_nvidia(G.state_dict(), 16)
    nv["mapping.w_avg"] = G.mean_latent(2000)
    path = tmp_path / "network-snapshot.pkl"
    with open(path, "wb") as f:
        pickle.dump({"G_ema": _tree(nv), "training_set_kwargs": EasyDict(resolution=16), "augment_pipe": None}, f)
    H = load_generator(path, device="cpu")
    w = G.sample_w(2, seed=5)
    assert torch.allclose(H.synthesis(w), G.synthesis(w), atol=1e-6)
    assert torch.allclose(H.latent_avg, nv["mapping.w_avg"])


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path):
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": evil}))
    with pytest.raises(UnsafePickleError, match="refusing to unpickle"):
        load_generator(path, device="cpu")
    assert not evil.marker.exists()
    path.write_bytes(pickle.dumps({"G_ema": types.SimpleNamespace(a=1)}))
    with pytest.raises(UnsafePickleError):
        load_generator(path, device="cpu")


# -- identity ----------------------------------------------------------------------------------------------------
def test_irse50_layout_and_identity_loss(tmp_path):
    torch.manual_seed(0)
    net = IRSE50().eval()
    sd = net.state_dict()
    assert len(net.body) == 24 and tuple(sd["output_layer.3.weight"].shape) == (512, 25088)
    assert tuple(sd["body.0.res_layer.5.fc1.weight"].shape) == (4, 64, 1, 1) and "body.3.shortcut_layer.1.running_var" in sd
    torch.save(sd, tmp_path / "model_ir_se50.pth")
    from clipedit.styleclip import load_arcface

    loaded = load_arcface(tmp_path / "model_ir_se50.pth", device="cpu")
    loss = IdentityLoss(loaded)
    face = torch.rand(1, 3, 256, 256) * 2 - 1
    assert float(loss(face, face)) == pytest.approx(0.0, abs=1e-5)
    small, big = (float(loss((face + s * torch.randn_like(face)).clamp(-1, 1), face)) for s in (0.1, 0.8))
    assert 0 < small < big
    custom = IdentityLoss(lambda x: x.flatten(1), crop=None, size=8)  # any embedding network and crop
    assert float(custom(face, face)) == pytest.approx(0.0, abs=1e-5) and float(custom(-face, face)) > 1.5


# -- editing and inversion ---------------------------------------------------------------------------------------
def test_l2_term_keeps_the_latent_near_the_start(tiny_vit):
    G = small_generator()
    guide = CLIPGuide("a purple square", models=[tiny_vit], augment="none", n_augs=1)
    dist = {}
    for lam in (0.0, 0.05, 1.0):
        r = styleclip_edit("a purple square", generator=G, guide=guide, l2_lambda=lam, id_lambda=0, steps=25,
                           seed=0, progress=False)
        dist[lam] = float((r.latent - r.start).norm())
        assert r.latent.shape == (1, G.n_latent, G.style_dim) and r.image.shape == (1, 3, 16, 16)
    assert dist[0.0] > dist[0.05] > dist[1.0] > 0
    free = styleclip_edit("a purple square", generator=G, guide=guide, mode="free_generation", steps=3, seed=0,
                          progress=False)
    assert "l2" not in free.history[0]
    wr = styleclip_edit("a purple square", generator=G, guide=guide, space="w", steps=3, seed=0, progress=False)
    assert torch.equal(wr.latent[0, 0], wr.latent[0, -1])  # one w for every layer
    with pytest.raises(ValueError, match="mode"):
        styleclip_edit("x", generator=G, guide=guide, mode="nope")


def test_latents_file_and_projector_reduce_error(tmp_path):
    G = small_generator(2)
    w = G.sample_w(3, truncation=0.5, seed=7)
    torch.save(G.to_wplus(w), tmp_path / "latents.pt")  # e4e/pSp/StyleCLIP layout (N, n_latent, D)
    lat = load_latents(tmp_path / "latents.pt", index=1, generator=G)
    assert lat.shape == (1, G.n_latent, G.style_dim) and torch.equal(lat[0], G.to_wplus(w)[1])
    with pytest.raises(ValueError, match="out of range"):
        load_latents(tmp_path / "latents.pt", index=5)
    target = to_unit(G.synthesis(G.to_wplus(w[:1])))
    res = project(target, generator=G, steps=60, vgg_weights=None, perceptual=0.1, progress=False)
    mse = res.run.series("mse")
    start_err = float(F.mse_loss(to_unit(G.synthesis(res.start)), target))
    assert mse[-1] < 0.5 * start_err
    assert float(F.mse_loss(res.image, target)) < 0.5 * start_err
