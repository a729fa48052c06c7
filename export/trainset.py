"""The tiles a run trains and validates on: content-matched tiles of a built dataset's photos, under
the config's perturbations (export.augment), reconstructed."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from export.config import AUGMENTS, TrainConfig

logger = logging.getLogger(__name__)


def dataset_sources(dataset: Path) -> dict[str, dict]:
    """A built dataset's sources, as its build.json records them: name -> {name, display_name,
    family, held_out}, "real" first. Training, evaluation and export read labels from here."""
    from runtime.errors import InputError

    path = Path(dataset) / "build.json"
    if not path.is_file():
        raise InputError(f"{dataset}: not a dataset (no build.json; build one with `python -m export.zoo build` "
                         "or `python -m export.dataset from-folders`)")
    build = json.loads(path.read_text())
    rows = build["sources"] if "sources" in build else build["zoo"]  # "zoo": datasets built before sources were data
    if not rows or rows[0]["name"] != "real":
        raise InputError(f"{path}: the first source must be the real class, got {[r['name'] for r in rows][:3]}")
    return {row["name"]: row for row in rows}


def known_labels(dataset: Path) -> tuple[list[str], list[str]]:
    """(known labels, held-out labels) of a built dataset, "real" first."""
    sources = dataset_sources(dataset).values()
    return [row["name"] for row in sources if not row["held_out"]], [row["name"] for row in sources if row["held_out"]]


def build_train_tiles(config: TrainConfig, reconstructor, labels):
    """The train TileSet: `train_tile_arrays`, reconstructed."""
    from export.data import make_tileset

    return make_tileset(reconstructor, *train_tile_arrays(config, labels), labels, progress="reconstruct train tiles")


def train_tile_arrays(config: TrainConfig, labels):
    """(uint8 tiles (N, S, S, 3), labels, content ids, photo names) of the train photos: random
    phase, each photo under `augment_draws` perturbations, one per family in AUGMENT_FAMILIES
    order, random strength (the same perturbation for every class of a photo, so content stays
    matched)."""
    import numpy as np

    from export.data import cut_tiles, load_split_images, random_positions
    from runtime.errors import InputError

    rng = np.random.default_rng(config.seed)
    images = load_split_images(Path(config.dataset), "train", labels)
    families, draw_perturbation = perturbations(config)
    parts, offset = [], 0
    for draw in range(config.augment_draws):
        family = families[draw % len(families)]
        for photo, by_label in images.items():
            _name, perturb = draw_perturbation(family, rng)
            positions = random_positions(config.tile, config.tiles_per_megapixel, rng)
            try:
                xs, ys, contents, photos = cut_tiles({photo: by_label}, labels, config.tile, positions,
                                                     perturb, content_offset=offset)
            except InputError as error:
                logger.warning("%s skipped: %s", photo, error)
                continue
            offset = int(contents.max()) + 1
            parts.append((xs, ys, contents, photos))
    xs = np.concatenate([p[0] for p in parts])
    ys = np.concatenate([p[1] for p in parts])
    contents = np.concatenate([p[2] for p in parts])
    photos = [name for p in parts for name in p[3]]
    return xs, ys, contents, photos


def perturbations(config: TrainConfig):
    """(families, draw) of the config's augmentation: draw(family, rng) -> (name, function)."""
    from export.augment import ARRIVAL_FAMILIES, AUGMENT_FAMILIES, arrival, augmentation
    from runtime.errors import InputError

    if config.augment == "benchmark":
        return AUGMENT_FAMILIES, augmentation
    if config.augment != "arrival":
        raise InputError(f"--augment {config.augment!r}: choose from {', '.join(AUGMENTS)}")
    build = json.loads((Path(config.dataset) / "build.json").read_text())
    tables = build.get("camera_tables", [])
    return ARRIVAL_FAMILIES, lambda family, rng: arrival(family, rng, tables)


def build_eval_tiles(config: TrainConfig, reconstructor, split: str, labels, perturb=None, stride=None):
    """Grid tiles of a split (optionally perturbed), every class, reconstructed."""
    from export.data import cut_tiles, grid_positions, load_split_images, make_tileset

    images = load_split_images(Path(config.dataset), split, labels)
    xs, ys, contents, photos = cut_tiles(images, labels, config.tile,
                                         grid_positions(config.tile, stride or config.val_stride), perturb)
    return make_tileset(reconstructor, xs, ys, contents, photos, labels)


def load_or_build_tiles(config: TrainConfig, reconstructor, labels):
    import torch

    cache = Path(config.output) / "tiles-train.pt"
    if cache.is_file():
        return torch.load(cache, weights_only=False, map_location="cpu")
    tiles = build_train_tiles(config, reconstructor, labels)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tiles, cache)
    return tiles
