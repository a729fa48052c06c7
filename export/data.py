"""Tile sets for the attributor: content-matched tiles of every class with their reconstructions.

A tile set holds, for N tiles of size S: the image `x` (uint8), its reconstruction `x_hat` and
the reconstructor latents `z = E(x)`, `z_hat = E(x_hat)` (float16), the source label, and a
content id shared by the tiles cut at the same place of the same photo (and perturbation) in
every class: the zoo is content-matched, so content and source can be varied independently.
Each tile is reconstructed on its own, exactly as the runtime does."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from export.reconstructor import Reconstructor
from export.tiles import to_unit
from runtime.tiling import inside_grid
from runtime.errors import InputError
from runtime.intake import read_image

logger = logging.getLogger(__name__)


@dataclass
class TileSet:
    x: torch.Tensor        # (N, 3, S, S) uint8
    x_hat: torch.Tensor    # (N, 3, S, S) float16, [-1, 1]
    z: torch.Tensor        # (N, Cz, S/d, S/d) float16
    z_hat: torch.Tensor
    labels: torch.Tensor   # (N,) int64 index into `names`
    content: torch.Tensor  # (N,) int64
    photos: list[str]
    names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index, device=None) -> tuple[torch.Tensor, ...]:
        """Float32 (x, x_hat, z, z_hat) for the given indices on `device` (None: where the set is),
        x in [-1, 1]."""
        x = to_unit(self.x[index].to(device))
        return (x, *(part[index].to(device).float() for part in (self.x_hat, self.z, self.z_hat)))


def content_matched(dataset: Path) -> bool:
    """Whether the dataset sees every photo through every class (`export.zoo build`), rather than
    each source bringing images of its own (`export.dataset from-folders`, where it says so)."""
    path = Path(dataset) / "build.json"
    return json.loads(path.read_text()).get("content_matched", True) if path.is_file() else True


def split_photos(dataset: Path, split: str, labels: list[str]) -> list[str]:
    """The names of a split's photos (contents) in a built dataset, over all `labels`."""
    root = Path(dataset) / "images" / split
    if not root.is_dir():
        raise InputError(f"{root}: no such split in the dataset (run `python -m export.zoo build`)")
    return sorted({p.stem for label in labels for p in (root / label).glob("*.png")})


def load_split_images(dataset: Path, split: str, labels: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """photo -> label -> full image of a built dataset's split. A content-matched dataset must hold
    every class of every photo; in another, each photo has the classes that brought it."""
    root = Path(dataset) / "images" / split
    matched = content_matched(dataset)
    images = {}
    for photo in split_photos(dataset, split, labels):
        images[photo] = {}
        for label in labels:
            path = root / label / f"{photo}.png"
            if path.is_file():
                images[photo][label] = read_image(path)
            elif matched:
                raise InputError(f"{path}: missing; the dataset must hold every class of every photo")
    return images


def cut_tiles(images: dict[str, dict[str, np.ndarray]], labels: list[str], tile: int,
              positions, perturb=None, content_offset: int = 0):
    """Cut tiles at the same places of every class a photo has (all of them in a content-matched
    dataset). `positions(photo, h, w)` gives (top, left) corners; `perturb` (optional) is applied
    to every class's full image before cutting. Returns numpy arrays."""
    xs, ys, contents, photos = [], [], [], []
    content = content_offset
    for photo, by_label in images.items():
        views = {label: (perturb(by_label[label]) if perturb else by_label[label]) for label in labels
                 if label in by_label}
        if not views:
            continue
        height, width = next(iter(views.values())).shape[:2]
        if min(height, width) < tile:
            continue
        for top, left in positions(photo, height, width):
            for index, label in enumerate(labels):
                if label not in views:
                    continue
                xs.append(views[label][top : top + tile, left : left + tile])
                ys.append(index)
                contents.append(content)
                photos.append(photo)
            content += 1
    if not xs:
        raise InputError(f"no {tile}x{tile} tile fits in any image")
    return np.stack(xs), np.array(ys), np.array(contents), photos


@torch.no_grad()
def reconstruct(reconstructor: Reconstructor, x_uint8: np.ndarray, batch: int = 256,
                progress: str | None = None) -> tuple[torch.Tensor, ...]:
    """(x uint8 tensor, x_hat, z, z_hat) for (N, S, S, 3) uint8 tiles; each tile on its own, on the
    reconstructor's device, the results kept on the CPU."""
    x_all = torch.from_numpy(x_uint8).permute(0, 3, 1, 2).contiguous()
    outs = {"x_hat": [], "z": [], "z_hat": []}
    steps = range(0, len(x_all), batch)
    for start in tqdm(steps, desc=progress, disable=progress is None, leave=False):
        x = to_unit(x_all[start : start + batch].to(reconstructor.device))
        for key, part in zip(("x_hat", "z", "z_hat"), reconstruct_tensor(reconstructor, x)):
            outs[key].append(part.cpu())
    return x_all, torch.cat(outs["x_hat"]), torch.cat(outs["z"]), torch.cat(outs["z_hat"])


@torch.no_grad()
def reconstruct_tensor(reconstructor: Reconstructor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(x_hat, z, z_hat) of tiles x ((N, 3, S, S) in [-1, 1]), in half precision as a TileSet stores them."""
    z = reconstructor.encode(x)
    x_hat = reconstructor.decode(z).clamp(-1, 1)
    return x_hat.half(), z.half(), reconstructor.encode(x_hat).half()


def make_tileset(reconstructor: Reconstructor, xs, ys, contents, photos, names, progress=None) -> TileSet:
    x, x_hat, z, z_hat = reconstruct(reconstructor, xs, progress=progress)
    return TileSet(x, x_hat, z, z_hat, torch.from_numpy(ys), torch.from_numpy(contents), photos, list(names))


def grid_positions(tile: int, stride: int):
    return lambda _photo, height, width: inside_grid(height, width, tile, stride)


def random_positions(tile: int, count_per_megapixel: float, rng: np.random.Generator):
    """Random corners (any phase), about `count_per_megapixel` per million pixels, at least 1."""
    def positions(_photo, height, width):
        count = max(1, round(count_per_megapixel * height * width / 1e6))
        tops = rng.integers(0, height - tile + 1, size=count)
        lefts = rng.integers(0, width - tile + 1, size=count)
        return list(zip(tops.tolist(), lefts.tolist()))

    return positions
