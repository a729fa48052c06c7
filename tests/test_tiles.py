"""Tiled processing of any-size images: exact size, no seams."""
import numpy as np
import pytest
import torch

from export.tiles import random_crops, regenerate_tiled, to_image, to_pixels, to_tensor, to_unit
from runtime.tiling import inside_grid


def _box_blur(batch: torch.Tensor, _index: int) -> torch.Tensor:
    kernel = torch.full((3, 1, 5, 5), 1 / 25)
    return torch.nn.functional.conv2d(batch, kernel, padding=2, groups=3)


@pytest.mark.parametrize("shape", [(97, 131), (131, 97), (300, 260), (5, 3)])
def test_tiled_result_equals_whole_image_result(shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    tiled = regenerate_tiled(_box_blur, image, multiple=4, tile=32, margin=8)
    padded = np.pad(image, ((8, 8), (8, 8), (0, 0)), mode="symmetric")
    whole = to_image(_box_blur(to_tensor(padded), 0))[8:-8, 8:-8]
    assert tiled.shape == image.shape
    assert np.array_equal(tiled, whole)


def test_tile_and_margin_must_fit_the_model_stride():
    with pytest.raises(ValueError, match="multiples"):
        regenerate_tiled(_box_blur, np.zeros((8, 8, 3), np.uint8), multiple=8, tile=36, margin=8)


def test_tile_grid_and_crops():
    assert inside_grid(130, 64, 64, 32) == [(0, 0), (32, 0), (64, 0)]
    images = [np.zeros((40, 50, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)]
    crops = random_crops(images, 32, 10, np.random.default_rng(0))
    assert crops.shape == (10, 3, 32, 32) and crops.min() >= -1 and crops.max() <= 1
    with pytest.raises(ValueError, match="at least"):
        random_crops(images, 48, 2, np.random.default_rng(0))


def test_pixels_round_trip_and_out_of_range_values_clamp_instead_of_wrapping():
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    unit = to_unit(pixels)
    assert unit.dtype == torch.float32 and unit.min() == -1 and unit.max() == 1
    assert torch.equal(to_pixels(unit), pixels)
    assert to_pixels(torch.tensor([-1.5, -1.0, 0.0, 1.0, 1.7])).tolist() == [0, 0, 128, 255, 255]
