"""Portable train tiles: a sample of the tiles a training run cuts, as one lossless PNG mosaic, for
training on a machine that has neither the dataset nor room for it (a GPU reached through a small
upload). The counterfactual phase reads only generated tiles, so a pack of those is enough for
`python -m export.chain` there; the reconstructions are made again where the pack is opened.

    python -m export.tilepack pack --dataset data/zoo --output pack --tiles 6000 --generated-only --judges 4
    python -m export.tilepack unpack --pack pack --output runs/chain/tiles-train.pt --device cuda

The sample is uniform over the tiles `export.train` would cut with the same settings (seed,
tiles per megapixel, augmentation draws); `--max-bytes` shrinks it until the PNG fits. `--judges N`
also fits the run's N dct-linear surrogates into the pack (they need the whole train split), where
`export.chain` finds them once they are copied into its folder.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MOSAIC_COLUMNS = 64
PACK_FILES = ("tiles.png", "tiles.json", "build.json")


def choose(labels: np.ndarray, real_index: int, count: int, generated_only: bool, seed: int) -> np.ndarray:
    """Sorted indices of a seeded uniform sample of at most `count` tiles (only generated ones if
    asked)."""
    pool = np.flatnonzero(labels != real_index) if generated_only else np.arange(len(labels))
    return np.sort(np.random.default_rng(seed).permutation(pool)[:count])


def to_mosaic(tiles: np.ndarray, columns: int = MOSAIC_COLUMNS) -> np.ndarray:
    """(N, S, S, 3) uint8 tiles as one image, `columns` tiles a row, the last row padded with zeros."""
    count, size = len(tiles), tiles.shape[1]
    rows = -(-count // columns)
    padded = np.zeros((rows * columns, size, size, 3), np.uint8)
    padded[:count] = tiles
    return padded.reshape(rows, columns, size, size, 3).swapaxes(1, 2).reshape(rows * size, columns * size, 3)


def from_mosaic(mosaic: np.ndarray, count: int, size: int) -> np.ndarray:
    """The first `count` (size, size, 3) tiles of a `to_mosaic` image."""
    rows, columns = mosaic.shape[0] // size, mosaic.shape[1] // size
    tiles = mosaic.reshape(rows, size, columns, size, 3).swapaxes(1, 2).reshape(rows * columns, size, size, 3)
    return np.ascontiguousarray(tiles[:count])


def write_pack(output: Path, tiles: np.ndarray, index: dict) -> int:
    """Write a pack's tiles and index; returns the PNG's size in bytes."""
    from runtime.intake import save_png

    save_png(to_mosaic(tiles), output / "tiles.png")
    (output / "tiles.json").write_text(json.dumps(index))
    return (output / "tiles.png").stat().st_size


def pack(dataset: Path, output: Path, count: int, generated_only: bool, max_bytes: int | None,
         config=None) -> dict:
    """Cut the train tiles as `export.train` with `config` would, write a sample of `count` as a
    pack (fewer, by the ratio overshot, until the PNG is at most `max_bytes`). Returns the index."""
    from export.config import TrainConfig
    from export.trainset import known_labels, train_tile_arrays

    config = config or TrainConfig(dataset=str(dataset))
    labels, _ = known_labels(dataset)
    xs, ys, contents, photos = train_tile_arrays(config, labels)
    output.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dataset / "build.json", output / "build.json")
    while True:
        chosen = choose(ys, labels.index("real"), count, generated_only, config.seed)
        index = {"names": labels, "tile": config.tile, "labels": ys[chosen].tolist(),
                 "content": contents[chosen].tolist(), "photos": [photos[i] for i in chosen],
                 "cut_from": len(ys), "generated_only": generated_only,
                 "settings": {k: getattr(config, k) for k in ("seed", "tiles_per_megapixel", "augment_draws")}}
        size = write_pack(output, xs[chosen], index)
        logger.info("%d of %d tiles: %.1f MB", len(chosen), len(ys), size / 1e6)
        if max_bytes is None or size <= max_bytes or len(chosen) <= 1:
            return index
        count = max(1, int(len(chosen) * max_bytes / size * 0.98))


def read_pack(folder: Path) -> tuple[np.ndarray, dict]:
    """(uint8 tiles (N, S, S, 3), index) of a pack folder."""
    from runtime.errors import InputError
    from runtime.intake import read_image

    missing = [name for name in PACK_FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(f"{folder}: not a tile pack (missing {', '.join(missing)})")
    index = json.loads((folder / "tiles.json").read_text())
    tiles = from_mosaic(read_image(folder / "tiles.png"), len(index["labels"]), index["tile"])
    return tiles, index


def unpack(folder: Path, output: Path, device: str = "auto", reconstructor_source: str = "",
           dataset: Path | None = None):
    """The pack as a TileSet (reconstructed on `device`) saved at `output`, the cache file
    `export.train` looks for in its run folder; with `dataset`, the pack's build.json is put there
    (all a run needs of a dataset when its tiles and surrogates are given). Returns the TileSet."""
    import torch

    from export.data import make_tileset
    from export.reconstructor import load_reconstructor
    from export.config import torch_device

    tiles, index = read_pack(folder)
    reconstructor = load_reconstructor(reconstructor_source or None).to(torch_device(device))
    tileset = make_tileset(reconstructor, tiles, np.array(index["labels"]), np.array(index["content"]),
                           index["photos"], index["names"], progress="reconstruct packed tiles")
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tileset, output)
    if dataset is not None:
        dataset.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "build.json", dataset / "build.json")
    return tileset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.tilepack", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("pack", help="write a sample of a dataset's train tiles as a pack folder")
    make.add_argument("--dataset", type=Path, required=True)
    make.add_argument("--output", type=Path, required=True)
    make.add_argument("--tiles", type=int, required=True, help="how many tiles (at most)")
    make.add_argument("--generated-only", action="store_true", help="no real tiles (all the counterfactual phase reads)")
    make.add_argument("--max-bytes", type=int, help="fewer tiles until the PNG is at most this size")
    make.add_argument("--tiles-per-megapixel", type=float, help="as the run that will read it (default: export.train's)")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--judges", type=int, default=0, help="also fit this many dct-linear surrogates into the pack")
    opened = sub.add_parser("unpack", help="reconstruct a pack into a run folder's tile cache")
    opened.add_argument("--pack", type=Path, required=True)
    opened.add_argument("--output", type=Path, required=True, help="e.g. RUN/tiles-train.pt")
    opened.add_argument("--device", default="auto")
    opened.add_argument("--reconstructor", default="", help="empty: the embedded one")
    opened.add_argument("--dataset", type=Path, help="a folder to receive the pack's build.json")
    args = parser.parse_args(argv)
    if args.command == "pack" and args.tiles < 1:
        parser.error(f"--tiles must be at least 1, got {args.tiles}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from runtime.errors import exit_code

    return exit_code(lambda: (pack_command if args.command == "pack" else unpack_command)(args))


def pack_command(args) -> None:
    from dataclasses import replace

    from export.config import TrainConfig
    from export.judges import load_or_fit_judges

    config = TrainConfig(dataset=str(args.dataset), seed=args.seed)
    if args.tiles_per_megapixel is not None:
        config = replace(config, tiles_per_megapixel=args.tiles_per_megapixel)
    index = pack(args.dataset, args.output, args.tiles, args.generated_only, args.max_bytes, config)
    print(f"{len(index['labels'])} of {index['cut_from']} tiles in {args.output}")
    if args.judges > 0:
        load_or_fit_judges(replace(config, output=str(args.output), judges=args.judges), index["names"])
        print(f"{args.judges} dct-linear surrogate(s) in {args.output}")


def unpack_command(args) -> None:
    tileset = unpack(args.pack, args.output, args.device, args.reconstructor, args.dataset)
    print(f"{len(tileset)} tiles in {args.output}")


if __name__ == "__main__":
    sys.exit(main())
