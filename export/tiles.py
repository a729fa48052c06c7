"""Tensor conversion, random training crops, and tiled regeneration of any-size images (tile grids:
runtime.tiling)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def to_unit(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (any layout) -> float32 in [-1, 1], the normalization export.to_onnx ships."""
    return pixels.float().div(127.5).sub(1.0)


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Values in [-1, 1] (any layout) -> uint8 pixels as a saved image holds them: clamped, rounded."""
    return x.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte()


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [-1, 1]."""
    return to_unit(torch.from_numpy(image).permute(2, 0, 1)[None])


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) in [-1, 1] -> (H, W, 3) uint8, rounded."""
    return to_images(tensor.reshape(1, -1, *tensor.shape[-2:]))[0]


def to_images(tensor: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8, rounded."""
    return to_pixels(tensor).permute(0, 2, 3, 1).cpu().numpy()


def random_crops(images: list[np.ndarray], size: int, count: int, rng: np.random.Generator) -> torch.Tensor:
    """`count` random `size` crops with random flips, photos drawn in proportion to their area."""
    areas = np.array([(im.shape[0] - size + 1) * (im.shape[1] - size + 1) for im in images], dtype=float)
    if (areas <= 0).any():
        raise ValueError(f"every photo must be at least {size}x{size}")
    picks = rng.choice(len(images), size=count, p=areas / areas.sum())
    crops = []
    for index in picks:
        image = images[index]
        top = rng.integers(0, image.shape[0] - size + 1)
        left = rng.integers(0, image.shape[1] - size + 1)
        crop = image[top : top + size, left : left + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops.append(crop)
    return to_unit(torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2))


def regenerate_tiled(
    fn: Callable[[torch.Tensor, int], torch.Tensor],
    image: np.ndarray,
    multiple: int,
    tile: int = 128,
    margin: int = 16,
) -> np.ndarray:
    """Apply an image-to-image `fn(batch, tile_index)` to an image of any size.

    The image is reflect-padded, cut into `tile` cores each seen with `margin` pixels of context
    (so seams fall outside every model's receptive field), and the cores are stitched back; the
    result has exactly the input's size. `tile` and `margin` must be multiples of `multiple`."""
    if tile % multiple or margin % multiple:
        raise ValueError(f"tile {tile} and margin {margin} must be multiples of {multiple}")
    height, width = image.shape[:2]
    rows, cols = -(-height // tile), -(-width // tile)
    pad_bottom, pad_right = rows * tile - height + margin, cols * tile - width + margin
    padded = np.pad(image, ((margin, pad_bottom), (margin, pad_right), (0, 0)), mode="symmetric")
    source = to_tensor(padded)
    out = torch.empty(1, 3, rows * tile, cols * tile)
    span = tile + 2 * margin
    for index, (row, col) in enumerate((r, c) for r in range(rows) for c in range(cols)):
        top, left = row * tile, col * tile
        window = source[:, :, top : top + span, left : left + span]
        result = fn(window, index)
        out[:, :, top : top + tile, left : left + tile] = result[:, :, margin : margin + tile, margin : margin + tile]
    return to_image(out[:, :, :height, :width])
