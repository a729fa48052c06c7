"""Tile geometry, the one place it is defined for the runtime and for training: a grid that covers
every pixel (what users get), a grid of the tiles that fit inside, reflect padding for small
images, and blending overlapping tiles back into a full image. numpy only."""
from __future__ import annotations

import numpy as np


def _starts(length: int, size: int, stride: int) -> list[int]:
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)  # a last tile flush with the edge, so every pixel is covered
    return starts


def covering_grid(height: int, width: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of `size` tiles at `stride` covering an image of at least size x size."""
    if height < size or width < size:
        raise ValueError(f"{height}x{width} is smaller than a {size}x{size} tile; pad it first")
    return [(top, left) for top in _starts(height, size, stride) for left in _starts(width, size, stride)]


def spread_grid(height: int, width: int, size: int, stride: int, max_tiles: int) -> list[tuple[int, int]]:
    """The covering grid, or where it has more than `max_tiles` tiles, a sub-grid of its rows and
    columns spread evenly over the image (the first and last of each kept), at most `max_tiles`."""
    tops, lefts = _starts(height, size, stride), _starts(width, size, stride)
    if len(tops) * len(lefts) <= max_tiles:
        return [(top, left) for top in tops for left in lefts]
    rows = max(1, min(len(tops), round((max_tiles * len(tops) / len(lefts)) ** 0.5)))
    columns = max(1, min(len(lefts), max_tiles // rows))

    def spread(starts: list[int], count: int) -> list[int]:
        return [starts[i] for i in np.unique(np.linspace(0, len(starts) - 1, count).round().astype(int))]

    return [(top, left) for top in spread(tops, rows) for left in spread(lefts, columns)]


def inside_grid(height: int, width: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of every `size` tile at `stride` that fits inside the image (no edge tiles:
    the dataset's tiles and training's validation grid)."""
    return [(top, left) for top in range(0, height - size + 1, stride)
            for left in range(0, width - size + 1, stride)]


def pad_to_tile(image: np.ndarray, size: int) -> tuple[np.ndarray, bool]:
    """Reflect-pad the bottom/right of an (H, W, C) image to at least size x size; (image, padded?)."""
    height, width = image.shape[:2]
    pad_h, pad_w = max(0, size - height), max(0, size - width)
    if not (pad_h or pad_w):
        return image, False
    mode = "reflect" if min(height, width) > 1 else "edge"
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode), True


def cut(image: np.ndarray, positions: list[tuple[int, int]], size: int) -> np.ndarray:
    """(N, size, size, C) tiles of an (H, W, C) image."""
    return np.stack([image[top : top + size, left : left + size] for top, left in positions])


def blend_window(size: int, stride: int) -> np.ndarray:
    """(size, size) weights for blending tiles cut at `stride`: 1 inside, a sin^2 taper over the
    `size - stride` pixels at each edge where the next tile overlaps (shifted copies sum to 1, so
    tiles cross-fade instead of meeting at a seam); all ones when tiles do not overlap."""
    overlap = min(size - stride, size // 2)
    ramp = np.ones(size)
    if overlap > 0:
        rising = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap) ** 2
        ramp[:overlap], ramp[size - overlap :] = rising, rising[::-1]
    return np.outer(ramp, ramp)


def blend(tiles: np.ndarray, positions: list[tuple[int, int]], height: int, width: int,
          window: np.ndarray | None = None) -> np.ndarray:
    """(N, S, S, C) tiles back into an (H, W, C) float32 image: where they overlap, their mean
    weighted by `window` ((S, S); None: plain mean)."""
    size, channels = tiles.shape[1], tiles.shape[3]
    weights = np.ones((size, size)) if window is None else window
    total = np.zeros((height, width, channels), dtype=np.float64)
    count = np.zeros((height, width, 1), dtype=np.float64)
    for tile, (top, left) in zip(tiles, positions):
        total[top : top + size, left : left + size] += tile * weights[:, :, None]
        count[top : top + size, left : left + size, 0] += weights
    return (total / np.maximum(count, 1e-12)).astype(np.float32)
