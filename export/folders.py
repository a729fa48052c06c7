"""A dataset from folders of images, one subfolder per source: the way to train on your own sources.

    python -m export.dataset from-folders SRC --output DATASET

SRC holds `real/` (camera photos) and one folder per other source, named as the source is to be
called (`sd15/`, `my-gan/`); an optional `SRC/sources.json` gives display names, families and
held-out flags: {"sd15": {"display_name": "Stable Diffusion 1.5", "family": "latent-diffusion",
"held_out": false}}. Files with the same stem in several folders are one content (the same scene
through several sources; they must have the same size) and land in the same split; other files are
split by a seeded shuffle, so that every source has images to train on and to validate with.
Images are kept at their own size. The dataset has the layout `export.zoo build` writes (images
by split and source, build.json with its sources), less the tile PNGs, and it says whether its
contents are matched across sources (training reads this).
"""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from export.generators import REAL
from export.photos import SPLIT_NAMES
from runtime.bundle import SOURCE_NAME
from runtime.errors import InputError

logger = logging.getLogger(__name__)

SOURCES_FILE = "sources.json"
SOURCE_KEYS = ("display_name", "family", "held_out")


def source_rows(folder: Path, names: list[str]) -> list[dict]:
    """The sources' rows (name, display_name, family, held_out, real), "real" first, with the
    settings of `folder/sources.json` where it gives them."""
    path = folder / SOURCES_FILE
    given = {}
    if path.is_file():
        try:
            given = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(given, dict) or not all(isinstance(v, dict) for v in given.values()):
            raise InputError(f"{path}: must map each source's name to {{display_name, family, held_out}}")
    strangers = sorted(set(given) - set(names))
    if strangers:
        raise InputError(f"{path}: names sources with no folder in {folder}: {', '.join(strangers)}")
    rows = []
    for name in [REAL] + sorted(n for n in names if n != REAL):
        settings = given.get(name, {})
        extra = sorted(set(settings) - set(SOURCE_KEYS))
        if extra:
            raise InputError(f"{path}: {name}: unknown settings {', '.join(extra)} (known: {', '.join(SOURCE_KEYS)})")
        row = {"name": name,
               "display_name": str(settings.get("display_name", "Camera / real photo" if name == REAL else name)),
               "family": str(settings.get("family", REAL if name == REAL else name)),
               "held_out": settings.get("held_out", False), "real": name == REAL}
        if not isinstance(row["held_out"], bool):
            raise InputError(f"{path}: {name}: held_out must be true or false, got {row['held_out']!r}")
        if row["real"] and row["held_out"]:
            raise InputError(f"{path}: the real class cannot be held out")
        rows.append(row)
    if not any(not row["real"] and not row["held_out"] for row in rows):
        raise InputError(f"{folder}: needs at least one source besides real/ that is not held out")
    return rows


def source_folders(folder: Path) -> dict[str, list[Path]]:
    """source name -> its image files; refuses anything that is not a source folder of images."""
    from export.dataset import image_files

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    stray = [p.name for p in entries if p.is_file() and p.name != SOURCES_FILE]
    if stray:
        raise InputError(f"{folder}: files outside a source folder: {', '.join(stray[:5])} "
                         f"(put each source's images in {folder}/<source>/)")
    sources = {p.name: p for p in entries if p.is_dir()}
    bad = [name for name in sources if not SOURCE_NAME.match(name)]
    if bad:
        raise InputError(f"{folder}: source folder names must be lower-case letters, digits, '.', '_' or '-' "
                         f"(they become labels): {', '.join(bad)}")
    if REAL not in sources:
        raise InputError(f"{folder}: no {REAL}/ folder; put camera photos there (they are the real class)")
    return {name: image_files(path) for name, path in sources.items()}


def assign_splits(contents: dict[str, set[str]], shares: dict[str, float], seed: int) -> dict[str, str]:
    """content stem -> split. Contents held by the same sources are shuffled together (seeded) and
    dealt out by `shares` ({"val": .., "test": ..}, train the rest); each such group gives val
    one content before train when it has two or more, so every source can be validated."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for stem, holders in contents.items():
        groups.setdefault(tuple(sorted(holders)), []).append(stem)
    rng = np.random.default_rng(seed)
    split_of = {}
    for key in sorted(groups):
        stems = rng.permutation(sorted(groups[key])).tolist()
        count = len(stems)
        val = max(1 if count >= 2 else 0, round(count * shares["val"]))
        test = min(round(count * shares["test"]), max(0, count - val - 1))
        for index, stem in enumerate(stems):
            split_of[stem] = "val" if index < val else "test" if index < val + test else "train"
    return split_of


def from_folders(folder: Path, output: Path, val_share: float = 0.15, test_share: float = 0.15,
                 seed: int = 0, tile: int = 64) -> dict:
    """Build a dataset from `folder` (see the module docstring) into `output`; returns its build.json."""
    from export.dataset import StagedOutput, camera_tables
    from runtime.intake import read_image, save_png

    folder = Path(folder)
    if not (0 <= val_share < 1 and 0 <= test_share < 1 and val_share + test_share < 1):
        raise InputError(f"--val and --test must be shares in [0, 1) with a sum below 1, got {val_share}, {test_share}")
    files = source_folders(folder)
    rows = source_rows(folder, list(files))
    contents: dict[str, set[str]] = {}
    for name, paths in files.items():
        for path in paths:
            contents.setdefault(path.stem, set()).add(name)
    split_of = assign_splits(contents, {"val": val_share, "test": test_share}, seed)
    for row in rows:
        if row["held_out"]:
            continue
        held = {split_of[p.stem] for p in files[row["name"]]}
        if not {"train", "val"} <= held:
            raise InputError(f"{folder / row['name']}: {len(files[row['name']])} image(s); a source needs at least "
                             "two (one to train on, one to validate with)")
    index, sizes = [], {}
    rows_by_name = {row["name"]: row for row in rows}
    with StagedOutput(Path(output)) as staging:
        for split in SPLIT_NAMES:  # an empty split is still a split of the dataset
            (staging / "images" / split).mkdir(parents=True)
        for name, paths in sorted(files.items()):
            for path in paths:
                image = read_image(path)
                if min(image.shape[:2]) < tile:
                    raise InputError(f"{path}: {image.shape[1]}x{image.shape[0]} is smaller than a {tile}-pixel tile")
                first = sizes.setdefault(path.stem, (image.shape[:2], path))
                if first[0] != image.shape[:2]:
                    raise InputError(f"{path} and {first[1]} share the stem {path.stem!r}, so they are one content, "
                                     "but their sizes differ; give them different names or the same size")
                split = split_of[path.stem]
                relative = Path("images", split, name, f"{path.stem}.png")
                save_png(image, staging / relative)
                row = rows_by_name[name]
                index.append({"split": split, "label": name, "family": row["family"], "held_out": int(row["held_out"]),
                              "photo": path.stem, "path": relative.as_posix()})
        with open(staging / "index.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(index[0]))
            writer.writeheader()
            writer.writerows(index)
        known = {row["name"] for row in rows if not row["held_out"]}
        matched = all(known <= holders for holders in contents.values() if known & holders)
        settings = {"tile": tile, "seed": seed, "shares": {"val": val_share, "test": test_share},
                    "content_matched": matched,
                    "camera_tables": camera_tables([p for p in files[REAL] if split_of[p.stem] == "train"]),
                    "labels": [row["name"] for row in rows],
                    "splits": {s: sorted(stem for stem, got in split_of.items() if got == s) for s in SPLIT_NAMES},
                    "photos": str(folder), "sources": rows}
        (staging / "build.json").write_text(json.dumps(settings, indent=2) + "\n")
    logger.info("%d images of %d sources into %s (contents matched: %s)", len(index), len(rows), output, matched)
    return settings
