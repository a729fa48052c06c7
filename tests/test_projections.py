"""The fixed projections of the multi-space encoder against reference implementations."""
import numpy as np
import torch
from scipy.fft import dctn, fft2, fftshift

from export.model import CausalFingerprintModel, ModelConfig
from export.projections import LogDct, LogSpectrum


def test_log_dct_matches_scipy():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    reference = np.log(np.sqrt(dctn(x.numpy().astype(np.float64), axes=(2, 3), norm="ortho") ** 2 + 1e-6))
    np.testing.assert_allclose(LogDct(32)(x).numpy(), reference, atol=2e-4)


def test_log_spectrum_matches_numpy_fft():
    r = torch.randn(2, 3, 32, 32) * 0.1
    reference = np.log1p(np.abs(fftshift(fft2(r.numpy().astype(np.float64)), axes=(2, 3))))
    np.testing.assert_allclose(LogSpectrum(32)(r).numpy(), reference, atol=2e-4)


def test_dct_space_sees_a_single_frequency_trace_that_pooling_would_blur():
    """A checkerboard (the trace of a 2x upsampler) lands on the highest DCT coefficient of the
    image channels; the DCT space keeps the full frequency grid for the linear branch."""
    model = CausalFingerprintModel(ModelConfig(tile=16)).eval()
    grid = torch.tensor([[(-1.0) ** (i + j) for j in range(16)] for i in range(16)])
    x = (0.05 * grid).expand(1, 3, 16, 16).contiguous()
    space = model.projections(x, torch.zeros_like(x), torch.zeros(1, 4, 4, 4), torch.zeros(1, 4, 4, 4))["dct"]
    assert space.shape == (1, 4, 16, 16)
    image = space[0, :3]
    assert torch.equal(image.flatten(1).argmax(1), torch.full((3,), 16 * 16 - 1))
    # x_hat is zero: the projection difference is the image's own log-DCT minus the floor
    assert space[0, 3, 15, 15] > space[0, 3, 0, 0] + 5
