"""StyleGAN2 generator (Karras et al. 2020, config-f) in plain PyTorch, in rosinality's parameter layout.

Module and parameter names match rosinality/stylegan2-pytorch's ``Generator`` (the ``g_ema`` state dict in
``stylegan2-ffhq-config-f.pt`` that StyleCLIP uses), so its checkpoints load with ``load_state_dict`` as they
are. The reference code's ``upfirdn2d`` and ``fused_bias_act`` are custom CUDA ops that often fail to compile;
here they are ordinary tensor ops (:func:`upfirdn2d`, :func:`fused_leaky_relu`) that run on CPU, CUDA and MPS.

Shapes: ``z`` and ``w`` are ``(B, style_dim)``; W+ latents are ``(B, n_latent, style_dim)`` with
``n_latent = 2 * log2(size) - 2``; images are ``(B, 3, size, size)``, roughly in ``[-1, 1]``.

>>> G = Generator(StyleGAN2Config(size=16, style_dim=32, n_mlp=2, channels=((4, 32), (8, 32), (16, 16))))
>>> w = G.sample_w(2, seed=0)                     # (B, style_dim)
>>> wp = G.to_wplus(w)                            # (B, n_latent, style_dim)
>>> tuple(wp.shape), tuple(G.synthesis(wp).shape)
((2, 6, 32), (2, 3, 16, 16))
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class StyleGAN2Config:
    """Architecture. ``channel_multiplier=2`` is config-f; ``channels`` overrides the per-resolution widths."""

    size: int = 1024
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2
    lr_mlp: float = 0.01
    channels: tuple[tuple[int, int], ...] | None = None

    def widths(self) -> dict[int, int]:
        if self.channels is not None:
            return dict(self.channels)
        cm = self.channel_multiplier
        return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
                1024: 16 * cm}

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def n_latent(self) -> int:
        return self.log_size * 2 - 2

    def to_dict(self) -> dict:
        return asdict(self)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, slope: float = 0.2, scale: float = SQRT2) -> torch.Tensor:
    """``leaky_relu(x + bias) * sqrt(2)`` (bias per channel, dim 1)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), slope) * scale


def make_kernel(k) -> torch.Tensor:
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative pads crop), FIR-filter with ``kernel``, downsample.

    ``x`` ``(B, C, H, W)``; ``kernel`` ``(kh, kw)``. Same result as the reference CUDA op, in tensor ops.
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    x = x[:, :, max(-p0, 0): x.shape[2] - max(-p1, 0), max(-p0, 0): x.shape[3] - max(-p1, 0)]
    k = torch.flip(kernel, [0, 1]).to(x)[None, None].expand(c, 1, *kernel.shape)
    x = F.conv2d(x, k, groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x ** 2, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights scaled at run time by ``lr_mul / sqrt(in)``)."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: str | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.activation, self.scale, self.lr_mul = activation, (1 / math.sqrt(in_dim)) * lr_mul, lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, None if self.bias is None else self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """Conv with equalised learning rate (used by the discriminator)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.scale, self.stride, self.padding = 1 / math.sqrt(in_ch * kernel ** 2), stride, padding
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class Blur(nn.Module):
    def __init__(self, kernel, pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * upsample_factor ** 2
        self.register_buffer("kernel", k)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, kernel, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated (and by default demodulated) convolution; ``upsample`` = transposed conv + blur."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel=(1, 3, 3, 1)) -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_ch * kernel ** 2)
        self.padding = kernel // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel, kernel))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None, s: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(B, in, H, W)``; ``style`` a ``w`` ``(B, style_dim)``, or ``s`` the StyleSpace vector
        ``(B, in)`` that the modulation layer would make of it (global directions edit ``s`` directly)."""
        # Scale the input channels by the style and the output channels by the demodulation factor around one
        # shared convolution: the same result as per-sample modulated weights (grouped convolution), but an
        # ordinary batched conv, several times faster on CPUs.
        b = x.shape[0]
        s = self.modulation(style) if s is None else s  # (B, in)
        weight = self.scale * self.weight[0]  # (out, in, k, k)
        x = x * s[:, :, None, None]
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), padding=0, stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            demod = torch.rsqrt((s[:, None, :] ** 2 * weight.pow(2).sum([2, 3])[None]).sum(2) + 1e-8)  # (B, out)
            out = out * demod.view(b, -1, 1, 1)
        return out


class NoiseInjection(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            b, _, h, w = x.shape
            noise = x.new_empty(b, 1, h, w).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, style_dim: int, upsample: bool = False,
                 blur_kernel=(1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel, style_dim, upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style, noise=None, s=None):
        return self.activate(self.noise(self.conv(x, style, s), noise))


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, style_dim: int, upsample: bool = True, blur_kernel=(1, 3, 3, 1)) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None, s=None):
        out = self.conv(x, style, s) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class Generator(nn.Module):
    """StyleGAN2 generator: mapping network ``z -> w`` and synthesis network ``w (W or W+) -> image``.

    Noise: each layer's noise is drawn fresh unless given; ``noise_mode="const"`` uses the fixed buffers
    ``noises.noise_i`` (saved in checkpoints, so a checkpoint renders deterministically).
    """

    def __init__(self, config: StyleGAN2Config = StyleGAN2Config(), blur_kernel=(1, 3, 3, 1)) -> None:
        super().__init__()
        self.config = config
        self.size, self.style_dim = config.size, config.style_dim
        if config.size < 4 or 2 ** config.log_size != config.size:
            raise ValueError(f"size must be a power of two >= 4, got {config.size}")
        layers = [PixelNorm()] + [EqualLinear(config.style_dim, config.style_dim, lr_mul=config.lr_mlp,
                                              activation="fused_lrelu") for _ in range(config.n_mlp)]
        self.style = nn.Sequential(*layers)
        ch = config.widths()
        self.channels = ch
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, config.style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(ch[4], config.style_dim, upsample=False)
        self.log_size = config.log_size
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs, self.upsamples, self.to_rgbs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = (i + 5) // 2
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, 2 ** res, 2 ** res))
        in_ch = ch[4]
        for i in range(3, self.log_size + 1):
            out_ch = ch[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, config.style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_ch, out_ch, 3, config.style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_ch, config.style_dim))
            in_ch = out_ch
        self.n_latent = config.n_latent
        # not in rosinality's state dict (it stores ``latent_avg`` beside ``g_ema``): filled by loaders / mean_latent
        self.register_buffer("latent_avg", torch.zeros(config.style_dim), persistent=False)

    # -- latents ---------------------------------------------------------------------------------------------
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``(B, style_dim)`` -> ``w`` ``(B, style_dim)``."""
        return self.style(z)

    @torch.no_grad()
    def latent_stats(self, n: int = 10_000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean ``w`` ``(style_dim,)`` over ``n`` seeded random ``z``, and the RMS distance of ``w`` from it (scalar)."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.style_dim, generator=g).to(self.input.input.device)
        with torch.no_grad():
            ws = torch.cat([self.style(c) for c in z.split(1000)])
        mean = ws.mean(0)
        return mean, ((ws - mean) ** 2).sum(1).mean().sqrt()

    def mean_latent(self, n: int = 10_000, seed: int = 0) -> torch.Tensor:
        """Mean ``w`` over ``n`` random ``z`` (``(style_dim,)``)."""
        return self.latent_stats(n, seed)[0]

    def w_avg(self) -> torch.Tensor:
        """The checkpoint's ``latent_avg`` when it has one, else :meth:`mean_latent` (cached)."""
        if not bool(self.latent_avg.abs().sum() > 0):
            self.latent_avg.copy_(self.mean_latent())
        return self.latent_avg

    def sample_w(self, n: int = 1, truncation: float = 1.0, seed: int | None = None) -> torch.Tensor:
        """Random ``w`` ``(n, style_dim)`` with truncation toward the mean latent."""
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.style_dim, generator=g).to(self.input.input.device)
        with torch.no_grad():
            w = self.mapping(z)
            if truncation != 1.0:
                avg = self.w_avg()
                w = avg + truncation * (w - avg)
        return w

    def to_wplus(self, w: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` -> ``(B, n_latent, D)`` (W+ latents pass through)."""
        return w if w.ndim == 3 else w[:, None].repeat(1, self.n_latent, 1)

    # -- StyleSpace ------------------------------------------------------------------------------------------
    def style_layers(self) -> list[tuple[str, ModulatedConv2d, int]]:
        """``(name, modulated conv, W+ index)`` of every style layer in synthesis order: StyleSpace (Wu et al.
        2021) is the concatenation of their modulation outputs ``s``, one channel per input channel. ``to_rgb``
        layers are part of it; StyleCLIP's global directions leave them out."""
        out = [("conv1", self.conv1.conv, 0), ("to_rgb1", self.to_rgb1.conv, 1)]
        for k, rgb in enumerate(self.to_rgbs):
            i = 1 + 2 * k
            out += [(f"convs.{2 * k}", self.convs[2 * k].conv, i), (f"convs.{2 * k + 1}", self.convs[2 * k + 1].conv, i + 1),
                    (f"to_rgbs.{k}", rgb.conv, i + 2)]
        return out

    def styles(self, w: torch.Tensor) -> list[torch.Tensor]:
        """``w`` ``(B, D)`` or W+ ``(B, n_latent, D)`` -> the StyleSpace vectors ``[(B, channels_l)]`` per style layer
        (:meth:`style_layers` order); :meth:`synthesis` with ``styles=`` renders them.

        >>> G = Generator(StyleGAN2Config(size=8, style_dim=16, n_mlp=1, channels=((4, 8), (8, 4))))
        >>> [tuple(s.shape) for s in G.styles(G.sample_w(2, seed=0))]
        [(2, 8), (2, 8), (2, 8), (2, 4), (2, 4)]
        """
        latent = self.to_wplus(w)
        return [m.modulation(latent[:, j]) for _, m, j in self.style_layers()]

    # -- synthesis -------------------------------------------------------------------------------------------
    def noise_buffers(self) -> list[torch.Tensor]:
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def synthesis(self, w: torch.Tensor | None, noise: list[torch.Tensor | None] | None = None,
                  noise_mode: str = "const", styles: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``w`` ``(B, D)`` or W+ ``(B, n_latent, D)`` -> image ``(B, 3, size, size)``.

        ``noise``: per-layer tensors; otherwise ``noise_mode`` ``"const"`` (checkpoint buffers) or ``"random"``.
        ``styles``: StyleSpace vectors (:meth:`styles`) used instead of the modulation of ``w`` (then ``w`` may be
        ``None``).
        """
        if styles is not None:
            if len(styles) != len(self.style_layers()):
                raise ValueError(f"expected {len(self.style_layers())} style vectors, got {len(styles)}")
            b = styles[0].shape[0]
            latent = styles[0].new_zeros(b, self.n_latent, self.style_dim)  # unused: every layer gets its s
        else:
            latent = self.to_wplus(w)
        if latent.shape[1] != self.n_latent or latent.shape[2] != self.style_dim:
            raise ValueError(f"W+ latent must be (B, {self.n_latent}, {self.style_dim}), got {tuple(latent.shape)}")
        S = list(styles) if styles is not None else [None] * len(self.style_layers())
        if noise is None:
            if noise_mode not in ("const", "random"):
                raise ValueError(f"noise_mode must be 'const' or 'random', got {noise_mode!r}")
            noise = self.noise_buffers() if noise_mode == "const" else [None] * self.num_layers
        out = self.input(latent.shape[0])
        out = self.conv1(out, latent[:, 0], noise=noise[0], s=S[0])
        skip = self.to_rgb1(out, latent[:, 1], s=S[1])
        i = 1
        for k, (conv1, conv2, n1, n2, to_rgb) in enumerate(zip(self.convs[::2], self.convs[1::2], noise[1::2],
                                                               noise[2::2], self.to_rgbs)):
            out = conv1(out, latent[:, i], noise=n1, s=S[2 + 3 * k])
            out = conv2(out, latent[:, i + 1], noise=n2, s=S[3 + 3 * k])
            skip = to_rgb(out, latent[:, i + 2], skip, s=S[4 + 3 * k])
            i += 2
        return skip

    def forward(self, z: torch.Tensor, truncation: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        """``z`` ``(B, style_dim)`` -> image ``(B, 3, size, size)`` in about [-1, 1]."""
        w = self.mapping(z)
        if truncation != 1.0:
            avg = self.w_avg()
            w = avg + truncation * (w - avg)
        return self.synthesis(w, noise_mode=noise_mode)


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> [0, 1] (clamped)."""
    return ((images + 1) / 2).clamp(0, 1)
