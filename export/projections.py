"""Multi-space projections of an image against its reconstruction ("diverse representations").

Every operator here is plain convolution / matrix multiplication, so it exports to ONNX as is.
Shapes: x, x_hat (N, 3, S, S) in [-1, 1]; latents (N, C, S/f, S/f)."""
from __future__ import annotations

import math

import torch
from torch import nn

# Fixed high-pass kernels of the SRM / noise-residual literature (first and second order
# derivatives, and the 3x3 and 5x5 "KV" kernels), each applied to every colour channel.
_FIRST = [[0, 0, 0], [0, -1, 1], [0, 0, 0]]
_SECOND = [[0, 0, 0], [1, -2, 1], [0, 0, 0]]
_KV3 = [[-1, 2, -1], [2, -4, 2], [-1, 2, -1]]
_KV5 = [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]]


def _kernel_bank() -> torch.Tensor:
    kernels = []
    for kernel, scale in ((_FIRST, 1.0), (_SECOND, 2.0), (_KV3, 4.0), (_KV5, 12.0)):
        k = torch.tensor(kernel, dtype=torch.float32) / scale
        pad = (5 - k.shape[0]) // 2
        kernels.append(nn.functional.pad(k, (pad, pad, pad, pad)))
        if kernel in (_FIRST, _SECOND):
            kernels.append(kernels[-1].t())
    return torch.stack(kernels)  # (6, 5, 5)


class FilterBank(nn.Module):
    """Noise residuals of the image itself: 6 fixed high-pass kernels x 3 channels = 18 maps."""

    def __init__(self):
        super().__init__()
        bank = _kernel_bank()
        self.register_buffer("weight", bank[:, None].repeat(3, 1, 1, 1), persistent=False)
        self.channels = bank.shape[0] * 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight, padding=2, groups=3)


class LogSpectrum(nn.Module):
    """log(1 + |DFT2(r)|) per channel, centred, by real matrix products (no complex ops)."""

    def __init__(self, size: int):
        super().__init__()
        k = torch.arange(size, dtype=torch.float64)
        angle = 2 * math.pi * torch.outer(k, k) / size
        shift = torch.roll(torch.eye(size, dtype=torch.float64), size // 2, dims=0)
        self.register_buffer("cos", (shift @ torch.cos(angle)).float(), persistent=False)
        self.register_buffer("sin", (shift @ torch.sin(angle)).float(), persistent=False)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        # F = W r W^T with W = cos - i sin (W symmetric before the shift)
        cos, sin = self.cos, self.sin
        real = cos @ r @ cos.t() - sin @ r @ sin.t()
        imag = -(cos @ r @ sin.t() + sin @ r @ cos.t())
        return torch.log1p(torch.sqrt(real * real + imag * imag + 1e-12))


def dct_matrix(size: int) -> torch.Tensor:
    """The orthonormal DCT-II matrix C (size x size): DCT2(X) = C X C^T."""
    n = torch.arange(size, dtype=torch.float64)
    matrix = torch.cos(math.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * size)) * math.sqrt(2 / size)
    matrix[0] /= math.sqrt(2)
    return matrix.float()


class LogDct(nn.Module):
    """log|DCT2| per channel (Frank et al. 2020's space), by real matrix products. The log keeps
    the small high-frequency coefficients, where upsampling traces sit, on the same footing as the
    large low-frequency ones."""

    def __init__(self, size: int, eps: float = 1e-3):
        super().__init__()
        self.register_buffer("matrix", dct_matrix(size), persistent=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = self.matrix @ x @ self.matrix.t()
        return torch.log(torch.sqrt(spectrum * spectrum + self.eps**2))
