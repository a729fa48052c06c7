"""The causal-fingerprint model: multi-space residual encoder -> (f, c), fusion heads, VAE decoder.

    x, x_hat = image and its reconstruction R(x), (N, 3, S, S) in [-1, 1]
    z, z_hat = E(x), E(x_hat): reconstructor latents, (N, Cz, S/d, S/d)

Spaces (one encoder branch each): pixel residual r = x - x_hat; log spectrum of r; latent drift
z - z_hat; the noise residual of x through a fixed high-pass filter bank (the one space that does
not depend on the reconstructor, so a trace the reconstructor happens to reproduce is still seen);
the log-DCT of x and its difference to the log-DCT of x_hat, read at full frequency resolution
by a linear branch (a spectral peak means something only at its exact frequency).

Outputs: the causal fingerprint f (VAE posterior mean and log-variance), the content/style code
c, per-space source logits, fused logits on f, and the decision: normalized log-probabilities of
the product of the f head and the heads of `decision_spaces` (chosen on the validation photos
by training; empty: the f head alone). The decoder G(f, c) reconstructs r; for
counterfactuals it also reads the observed r: pixel-aligned convolutions under FiLM gains of
(f, c) (TraceDecoder) and per-frequency gains on r's DCT (SpectralTrace).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from export.projections import FilterBank, LogDct, LogSpectrum, dct_matrix

SPACES = ("pixel", "spectrum", "latent", "filterbank", "dct")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture settings; saved in the checkpoint and the manifest."""

    tile: int = 64
    num_classes: int = 10
    latent_channels: int = 4
    latent_downsample: int = 4
    width: int = 32
    branch_dim: int = 64
    fingerprint_dim: int = 32
    content_dim: int = 32
    residual_scale: float = 8.0  # residuals are ~0.05 in [-1, 1] units; bring them near unit scale
    trace_width: int = 24
    spectral_trace: bool = False  # the trace branch's per-frequency gains (SpectralTrace); off in older checkpoints
    dct_dropout: float = 0.5
    decision_spaces: tuple[str, ...] = ()
    spaces: tuple[str, ...] = SPACES

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Branch(nn.Module):
    """A small CNN from one projection to a feature vector. `positional` keeps where things are
    (a flattened 4x4 map: spectral peaks carry meaning by position); otherwise mean+std pooled."""

    def __init__(self, cin: int, width: int, out_dim: int, downsamples: int, positional: bool = False):
        super().__init__()
        # One cheap full-resolution layer sees single-pixel periodic traces; the rest is strided.
        layers = [_conv(cin, width // 2)]
        channels = width // 2
        for step in range(downsamples):
            out = width * 2 ** min(step, 1)
            layers.append(_conv(channels, out, stride=2))
            channels = out
        self.body = nn.Sequential(*layers)
        self.positional = positional
        self.pool = nn.AdaptiveAvgPool2d(4) if positional else None
        self.out = nn.Linear(channels * 16 if positional else channels * 2, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        if self.positional:
            h = self.pool(h).flatten(1)
        else:
            h = torch.cat([h.mean(dim=(2, 3)), h.flatten(2).std(dim=2)], dim=1)
        return torch.relu(self.out(h))


def decision(logits: torch.Tensor, space_logits: list[torch.Tensor]) -> torch.Tensor:
    """Normalized log-probabilities of a product of experts: the f head and the given space heads."""
    log_probs = torch.log_softmax(logits, dim=1)
    for extra in space_logits:
        log_probs = log_probs + torch.log_softmax(extra, dim=1)
    return torch.log_softmax(log_probs, dim=1)


class LinearBranch(nn.Module):
    """A map read position by position: per-feature standardization (batch statistics, frozen in
    eval), dropout against the few training contents, one linear layer."""

    def __init__(self, features: int, out_dim: int, dropout: float):
        super().__init__()
        self.norm = nn.BatchNorm1d(features, affine=False)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(features, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.out(self.drop(self.norm(x.flatten(1)))))


class GlobalDecoder(nn.Module):
    """The VAE part of G: (f, c) -> a residual tile, from 64 global numbers only."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.start = config.tile // 8
        width = config.width * 2
        self.project = nn.Linear(config.fingerprint_dim + config.content_dim, width * self.start**2)
        self.width = width
        self.body = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(width, config.width),
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(config.width, config.width // 2),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(config.width // 2, 3, 3, padding=1),
        )

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(code).view(-1, self.width, self.start, self.start))


class TraceDecoder(nn.Module):
    """The pixel-aligned part of G: the observed residual r, modulated by (f, c) (FiLM gains).

    No biases and no normalization, so a zero residual gives exactly zero: the fingerprint
    picture G(f, c0, 0) is the global decoder's alone, and G(f, c, r) - G(f', c, r) is zero
    when f' = f. A 64-number code cannot say where a periodic upsampling trace sits in a tile;
    this branch reads its phase from r, so a counterfactual can cancel it in place."""

    def __init__(self, config: ModelConfig, layers: int = 4):
        super().__init__()
        width = config.trace_width
        self.convs = nn.ModuleList(
            nn.Conv2d(3 if i == 0 else width, width, 3, padding=1 + (i % 2), dilation=1 + (i % 2), bias=False)
            for i in range(layers))
        self.gains = nn.Linear(config.fingerprint_dim + config.content_dim, width * layers)
        # Gains that differ clearly between fingerprints from the start: the counterfactual is a
        # difference of two passes, and near-equal gains would leave it stuck near zero.
        nn.init.normal_(self.gains.weight, std=0.5 / (config.fingerprint_dim + config.content_dim) ** 0.5)
        self.out = nn.Conv2d(width, 3, 3, padding=1, bias=False)
        # The output's overall scale, kept out of the trained weights (export.phase2.settle_trace_scale
        # sets it): Adam steps a weight by about lr whatever its size, so a weight scaled far down
        # would be wrecked by the first step of a run that continues it.
        self.register_buffer("conv_scale", torch.ones(()))
        self.width = width
        self.spectral = SpectralTrace(config) if config.spectral_trace else None

    def forward(self, code: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        gains = (1 + self.gains(code)).unflatten(1, (len(self.convs), self.width))[..., None, None]
        h = residual
        for i, conv in enumerate(self.convs):
            h = torch.relu(conv(h)) * gains[:, i]
        out = self.out(h) * self.conv_scale
        return out if self.spectral is None else out + self.spectral(code, residual)


class SpectralTrace(nn.Module):
    """Per-frequency gains on the residual's DCT, chosen by the code: DCT^-1(DCT(r) * W(f, c)).

    A counterfactual's difference DCT^-1(DCT(r) * W(code' - code)) rescales each DCT coefficient
    by the same factor in every tile, which shifts a log-DCT spectrum (Frank et al.'s space, and our
    dct head) by a fixed amount whatever the content: what the convolutions, 15 pixels wide, cannot
    do. Zero at initialization, so adding it to a trained decoder changes nothing until trained."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.register_buffer("matrix", dct_matrix(config.tile), persistent=False)
        self.gains = nn.Linear(config.fingerprint_dim + config.content_dim, 3 * config.tile**2, bias=False)
        nn.init.zeros_(self.gains.weight)
        self.register_buffer("scale", torch.ones(()))  # as TraceDecoder.conv_scale

    def forward(self, code: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        spectrum = self.matrix @ residual @ self.matrix.t()
        gains = self.gains(code).view_as(spectrum) * self.scale
        return self.matrix.t() @ (spectrum * gains) @ self.matrix


class ResidualDecoder(nn.Module):
    """G(f, c, r) -> residual (N, 3, S, S), in the same scaled units as the pixel projection:
    the global VAE decoder of (f, c) plus the trace decoder on the observed residual r."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.global_decoder = GlobalDecoder(config)
        self.trace = TraceDecoder(config)

    def forward(self, f: torch.Tensor, c: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        code = torch.cat([f, c], dim=1)
        out = self.global_decoder(code)
        return out if residual is None else out + self.trace(code, residual)


# Buffers added after checkpoints were made; such a checkpoint means their initial value (1).
LATER_BUFFERS = ("decoder.trace.conv_scale", "decoder.trace.spectral.scale")


class CausalFingerprintModel(nn.Module):
    """Residual encoder + fusion heads + VAE decoder. See the module docstring for the contract."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        w, d = config.width, config.branch_dim
        self.filterbank = FilterBank()
        self.spectrum = LogSpectrum(config.tile)
        self.log_dct = LogDct(config.tile)
        makers = {
            "pixel": lambda: Branch(3, w, d, downsamples=3),
            "spectrum": lambda: Branch(3, w, d, downsamples=3, positional=True),
            "latent": lambda: Branch(config.latent_channels, w, d, downsamples=1),
            "filterbank": lambda: Branch(self.filterbank.channels, w, d, downsamples=3),
            "dct": lambda: LinearBranch(4 * config.tile**2, d, config.dct_dropout),
        }
        self.branches = nn.ModuleDict({s: makers[s]() for s in config.spaces})
        self.space_heads = nn.ModuleDict({s: nn.Linear(d, config.num_classes) for s in config.spaces})
        fused = d * len(config.spaces)
        self.trunk = nn.Sequential(nn.Linear(fused, 128), nn.ReLU(inplace=True))
        self.fingerprint = nn.Linear(128, 2 * config.fingerprint_dim)
        self.content = nn.Linear(fused, config.content_dim)
        self.head = nn.Linear(config.fingerprint_dim, config.num_classes)
        self.decoder = ResidualDecoder(config)

    def projections(self, x, x_hat, z, z_hat) -> dict[str, torch.Tensor]:
        """The four spaces, scaled to roughly unit variance."""
        scale = self.config.residual_scale
        r = (x - x_hat) * scale
        makers = {
            "pixel": lambda: r,
            "spectrum": lambda: self.spectrum(r) - 2.0,
            "latent": lambda: (z - z_hat) * scale,
            "filterbank": lambda: self.filterbank(x) * scale,
            "dct": lambda: self._dct_space(x, x_hat),
        }
        spaces = {s: makers[s]() for s in self.config.spaces}
        spaces["pixel"] = r
        return spaces

    def _dct_space(self, x, x_hat) -> torch.Tensor:
        """(N, 4, S, S): log|DCT| of x's three channels, and of the grey residual's projection
        difference log|DCT(x)| - log|DCT(x_hat)|."""
        image = self.log_dct(x)
        grey = self.log_dct(x.mean(1, keepdim=True)) - self.log_dct(x_hat.mean(1, keepdim=True))
        return torch.cat([image, grey], dim=1)

    def encode(self, x, x_hat, z, z_hat) -> dict[str, torch.Tensor]:
        """Features of every space, f's posterior (mu, logvar), c, per-space and fused logits."""
        spaces = self.projections(x, x_hat, z, z_hat)
        features = {s: self.branches[s](spaces[s]) for s in self.config.spaces}
        joined = torch.cat([features[s] for s in self.config.spaces], dim=1)
        mu, logvar = self.fingerprint(self.trunk(joined)).chunk(2, dim=1)
        space_logits = {s: self.space_heads[s](features[s]) for s in self.config.spaces}
        logits = self.head(mu)
        return {
            "mu": mu,
            "logvar": logvar.clamp(-12, 6),
            "content": self.content(joined),
            "space_logits": space_logits,
            "logits": logits,
            "decision": decision(logits, [space_logits[s] for s in self.config.decision_spaces]),
            "residual": spaces["pixel"],
        }

    def decode(self, f: torch.Tensor, c: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """G(f, c, r): the residual in image units ([-1, 1] scale), (N, 3, S, S). `residual` is the
        observed x - x_hat in the same units (None or zeros: the global VAE decoder alone)."""
        r = None if residual is None else residual * self.config.residual_scale
        return self.decoder(f, c, r) / self.config.residual_scale
