"""Regenerating images with zoo members and building the content-matched benchmark dataset.

Dataset layout (under the output folder):
    images/{split}/{generator}/{photo}.png     every prepared photo as each class sees it
    tiles/{split}/{generator}/{photo}_{top}_{left}.png
    index.csv                                  split,label,family,held_out,photo,top,left,path
    build.json                                 settings, split, sources (name, display_name, family, held_out, real)

`export.folders` (python -m export.dataset from-folders) builds the same layout from folders of
your own sources' images.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from export.generators import REAL, ZOO_DIR, Generator, check_name, listing, load_generator
from export.photos import (DEFAULT_SCALE, SPLIT_NAMES, Photo, folder_photos, load_splits, make_splits,
                           package_photos, photos_by_split, prepare)
from export.tiles import regenerate_tiled
from runtime.tiling import inside_grid
from runtime.errors import InputError
from runtime.intake import read_image, save_png

logger = logging.getLogger(__name__)


class Regenerators:
    """Zoo members loaded on first use, kept for the life of this object."""

    def __init__(self, folder: Path = ZOO_DIR):
        self.folder = folder
        self._models: dict[str, Generator] = {}

    def model(self, name: str) -> Generator:
        if name not in self._models:
            self._models[name] = load_generator(name, self.folder)
        return self._models[name]

    def __call__(self, name: str, image: np.ndarray, seed: int = 0) -> np.ndarray:
        """Regenerate a prepared (H, W, 3) uint8 image with `name`; `real` returns it unchanged.

        Diffusion noise is seeded by `seed`, the image content and the tile index, so the same
        input always gives the same output, and no two photos share a noise pattern."""
        check_name(name)
        if name == REAL:
            return image.copy()
        model = self.model(name)
        content = zlib.crc32(image.tobytes())

        def run(batch, index):
            return model.regenerate(batch, noise_seed=(seed * 1_000_003 + content + index) % 2**63)

        return regenerate_tiled(run, image, multiple=model.downsample)


class StagedOutput:
    """Write into a temporary sibling folder, move into place only when everything succeeded."""

    def __init__(self, target: Path):
        self.target = target

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", dir=self.target.parent))
        return self.staging

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        if not self.target.exists():
            os.replace(self.staging, self.target)
            return
        for item in sorted(self.staging.rglob("*")):
            destination = self.target / item.relative_to(self.staging)
            if item.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
            else:
                os.replace(item, destination)
        shutil.rmtree(self.staging, ignore_errors=True)


def regenerate_folder(generator: str, input_dir: Path, output_dir: Path, scale: float = 1.0,
                      seed: int = 0, zoo_dir: Path = ZOO_DIR) -> list[Path]:
    """Prepare and regenerate every image in `input_dir`; PNGs with the same stems in `output_dir`.

    Every file must be an image: a folder with anything else is refused before anything is written."""
    check_name(generator)
    if not 0 < scale <= 1:
        raise InputError(f"--scale must be in (0, 1], got {scale}")
    files = image_files(Path(input_dir))
    images = [(path.stem, read_image(path)) for path in files]
    regenerate = Regenerators(zoo_dir)
    if generator != REAL:
        regenerate.model(generator)
    written = []
    with StagedOutput(Path(output_dir)) as staging:
        for stem, image in images:
            save_png(regenerate(generator, prepare(image, scale), seed), staging / f"{stem}.png")
            written.append(Path(output_dir) / f"{stem}.png")
    return written


def image_files(folder: Path) -> list[Path]:
    """The image files of a folder (not recursive); InputError if it holds anything else or none."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    photos = folder_photos(folder)
    others = sorted(p.name for p in files if p not in [photo.path for photo in photos])
    if others:
        raise InputError(f"{folder}: not image files: {', '.join(others[:5])}"
                         + (f" and {len(others) - 5} more" if len(others) > 5 else ""))
    return [photo.path for photo in photos]


def _resolve_photos(photos_dir: Path | None, splits_file: Path | None, seed: int) -> dict[str, list[Photo]]:
    photos = folder_photos(photos_dir) if photos_dir else package_photos()
    if splits_file:
        splits = load_splits(splits_file)
    elif photos_dir:
        splits = make_splits([p.name for p in photos], seed=seed)
    else:
        splits = load_splits()
    return photos_by_split(photos, splits)


def build(output: Path, photos_dir: Path | None = None, splits_file: Path | None = None,
          generators: list[str] | None = None, limit_photos: int | None = None, tile: int = 64,
          stride: int = 32, scale: float = DEFAULT_SCALE, seed: int = 0, zoo_dir: Path = ZOO_DIR,
          train_scales: tuple[float, ...] = (), native_crop: int = 0) -> list[dict]:
    """Build the content-matched dataset: every photo of every split through every class.

    `train_scales` adds each train photo again at these scales (of the original file), named
    `<photo>-x<scale>`: more content and coarser detail for training, while validation and test
    stay exactly as they are without it. `native_crop` adds each train photo once more as it came
    from the camera, named `<photo>-native`: a centre crop of at most that side at full resolution,
    on the 16-pixel grid of the file's JPEG blocks, so the real class and every generator see native
    pixels too. Deterministic for a given seed. Returns the index rows."""
    from tqdm import tqdm

    rows_by_name = {row["name"]: row for row in listing()}
    labels = generators or list(rows_by_name)
    for name in labels:
        check_name(name)
    if stride < 1 or tile < 8:
        raise InputError(f"need tile >= 8 and stride >= 1, got tile {tile}, stride {stride}")
    for extra in train_scales:
        if not 0 < extra <= 1 or extra == scale:
            raise InputError(f"each train scale must be in (0, 1] and differ from --scale {scale}, got {extra}")
    if native_crop and native_crop < tile:
        raise InputError(f"--native-crop must be at least a tile ({tile}), got {native_crop}")
    by_split = _resolve_photos(photos_dir, splits_file, seed)
    if limit_photos:
        by_split = {split: photos[:limit_photos] for split, photos in by_split.items()}
    regenerate = Regenerators(zoo_dir)
    for name in labels:
        if name != REAL:
            regenerate.model(name)
    jobs = [(split, photo.name, photo.path, scale) for split in SPLIT_NAMES for photo in by_split[split]]
    jobs += [("train", f"{photo.name}-x{extra:g}", photo.path, extra)
             for extra in train_scales for photo in by_split["train"]]
    if native_crop:
        jobs += [("train", f"{photo.name}-native", photo.path, None) for photo in by_split["train"]]
    index: list[dict] = []
    with StagedOutput(Path(output)) as staging:
        for split, photo_name, path, photo_scale in tqdm(jobs, desc="build", unit="photo"):
            prepared = native_centre(read_image(path), native_crop) if photo_scale is None else \
                prepare(read_image(path), photo_scale)
            if min(prepared.shape[:2]) < tile:
                logger.warning("%s: %s after preparation is smaller than a %d tile; skipped",
                               photo_name, prepared.shape[:2], tile)
                continue
            for name in labels:
                image = regenerate(name, prepared, seed)
                save_png(image, staging / "images" / split / name / f"{photo_name}.png")
                for top, left in inside_grid(*image.shape[:2], tile, stride):
                    relative = Path("tiles", split, name, f"{photo_name}_{top}_{left}.png")
                    save_png(image[top : top + tile, left : left + tile], staging / relative)
                    row = rows_by_name[name]
                    index.append({"split": split, "label": name, "family": row["family"],
                                  "held_out": int(row["held_out"]), "photo": photo_name,
                                  "top": top, "left": left, "path": relative.as_posix()})
        with open(staging / "index.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(index[0]) if index else ["path"])
            writer.writeheader()
            writer.writerows(index)
        settings = {"tile": tile, "stride": stride, "scale": scale, "train_scales": list(train_scales),
                    "native_crop": native_crop,
                    "camera_tables": camera_tables([photo.path for photo in by_split["train"]]),
                    "seed": seed, "labels": labels,
                    "splits": {s: [p.name for p in by_split[s]] for s in SPLIT_NAMES},
                    "photos": str(photos_dir) if photos_dir else "package photos",
                    "sources": [{**rows_by_name[n], "real": n == REAL} for n in labels]}
        (staging / "build.json").write_text(json.dumps(settings, indent=2) + "\n")
    return index


def native_centre(image: np.ndarray, side: int) -> np.ndarray:
    """A centre crop of at most side x side, its corner on the 16-pixel grid (JPEG blocks and
    chroma subsampling keep their phase)."""
    from PIL import Image

    from export.conditions import centre_crop

    return np.asarray(centre_crop(Image.fromarray(image), side, side, multiple=16))


def camera_tables(paths: list[Path]) -> list[dict]:
    """How the cameras among `paths` saved their JPEGs (quantization tables and subsampling; a
    JPEG with camera EXIF, Make or Model), for training's `camera_jpeg` arrivals."""
    from PIL import Image

    from export.conditions import camera_template

    tables = []
    for path in paths:
        with Image.open(path) as image:
            exif = image.getexif() if image.format == "JPEG" else {}
        if exif and (exif.get(0x010F) or exif.get(0x0110)):
            template = camera_template(Path(path).read_bytes())
            entry = {"qtables": [list(template["qtables"][k]) for k in sorted(template["qtables"])],
                     "subsampling": template["subsampling"]}
            if entry not in tables:
                tables.append(entry)
    return tables


def read_index(folder: Path) -> list[dict]:
    """The index rows of a built dataset."""
    path = Path(folder) / "index.csv"
    if not path.is_file():
        raise InputError(f"{path}: not a built dataset (run `python -m export.zoo build`)")
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def main(argv: list[str] | None = None) -> int:
    """python -m export.dataset from-folders SRC --output DATASET: see export.folders."""
    import argparse

    from export import folders
    from runtime.errors import exit_code

    parser = argparse.ArgumentParser(prog="python -m export.dataset", description="Build a training dataset.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    make = commands.add_parser("from-folders", help="one subfolder per source (real/ for camera photos)",
                               description=folders.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    make.add_argument("source", type=Path, metavar="SRC", help="folder with real/ and one folder per source")
    make.add_argument("--output", required=True, type=Path, help="the dataset folder to write")
    make.add_argument("--val", type=float, default=0.15, help="share of each source's contents for validation")
    make.add_argument("--test", type=float, default=0.15, help="share of each source's contents for test")
    make.add_argument("--seed", type=int, default=0, help="seed of the split's shuffle")
    make.add_argument("--tile", type=int, default=64, help="the model's tile side: smaller images are refused")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def run() -> None:
        built = folders.from_folders(args.source, args.output, args.val, args.test, args.seed, args.tile)
        counts = {split: len(stems) for split, stems in built["splits"].items()}
        print(f"{args.output}: {len(built['sources'])} sources ({', '.join(built['labels'])}); contents by split {counts}")

    return exit_code(run)


if __name__ == "__main__":
    sys.exit(main())
