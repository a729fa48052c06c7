"""The photo pool: real photos shipped inside installed packages (or a user's folder), the one
preparation every class of the benchmark goes through, and the by-photo train/val/test split."""
from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from runtime.errors import InputError
from runtime.intake import IMAGE_SUFFIXES, read_image

logger = logging.getLogger(__name__)

SPLITS_FILE = Path(__file__).with_name("splits.json")
SPLIT_NAMES = ("train", "val", "test")
# Anti-aliased 2x downscale: wipes the 8x8 JPEG block grid some source photos carry, so no class
# can be told apart by the traces of its source file format.
DEFAULT_SCALE = 0.5

# (package, path inside the package, photo name). Real photographs only: synthetic test charts,
# logos, silhouettes and the stereo twin of motorcycle_left are left out.
PACKAGE_PHOTOS = (
    ("skimage", "data/astronaut.png", "astronaut"),
    ("skimage", "data/brick.png", "brick"),
    ("skimage", "data/camera.png", "camera"),
    ("skimage", "data/cell.png", "cell"),
    ("skimage", "data/chelsea.png", "chelsea"),
    ("skimage", "data/clock_motion.png", "clock_motion"),
    ("skimage", "data/coffee.png", "coffee"),
    ("skimage", "data/coins.png", "coins"),
    ("skimage", "data/grass.png", "grass"),
    ("skimage", "data/gravel.png", "gravel"),
    ("skimage", "data/hubble_deep_field.jpg", "hubble_deep_field"),
    ("skimage", "data/ihc.png", "ihc"),
    ("skimage", "data/moon.png", "moon"),
    ("skimage", "data/motorcycle_left.png", "motorcycle"),
    ("skimage", "data/page.png", "page"),
    ("skimage", "data/retina.jpg", "retina"),
    ("skimage", "data/rocket.jpg", "rocket"),
    ("skimage", "data/text.png", "text"),
    ("sklearn", "datasets/images/china.jpg", "china"),
    ("sklearn", "datasets/images/flower.jpg", "flower"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "grace_hopper"),
    # gradio's demo photos (gradio is pinned by requirements.txt; its CGI "groot" render is left out).
    ("gradio", "test_data/cheetah2.jpg", "cheetah_cub"),
    ("gradio", "media_assets/images/cheetah.jpg", "cheetah"),
    ("gradio", "media_assets/images/lion.jpg", "lion"),
    ("gradio", "media_assets/images/tower.jpg", "tower"),
)


@dataclass(frozen=True)
class Photo:
    """One source photo: a unique name and the file it is read from."""

    name: str
    path: Path


def package_file(package: str, relative: str) -> Path:
    """A file inside an installed package (found without importing it); InputError if the package
    is not installed or lacks the file."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise InputError(f"package {package!r} is not installed; install requirements-train.txt")
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        raise InputError(f"{path} is missing from the installed {package}")
    return path


def package_photos() -> list[Photo]:
    """The built-in pool: photos that ship inside scikit-image, scikit-learn, matplotlib and gradio."""
    return [Photo(name, package_file(package, relative)) for package, relative, name in PACKAGE_PHOTOS]


def folder_photos(folder: str | Path) -> list[Photo]:
    """Every image file in a folder (not recursive), named by file stem; InputError if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise InputError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    stems = [p.stem for p in images]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise InputError(f"{folder}: several files share the stem {duplicates[0]!r}; stems name outputs")
    return [Photo(p.stem, p) for p in images]


def prepare(image: np.ndarray, scale: float = DEFAULT_SCALE) -> np.ndarray:
    """The preparation every class gets: RGB uint8 (H, W, 3) in, anti-aliased resize by `scale`
    (Lanczos, which low-passes before it subsamples), RGB uint8 out. Scale 1 leaves it as is."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if scale == 1.0:
        return image.copy()
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def load_prepared(photo: Photo, scale: float = DEFAULT_SCALE) -> np.ndarray:
    """Read and prepare one photo."""
    return prepare(read_image(photo.path), scale)


def make_splits(names: list[str], seed: int = 0, val: int = 3, test: int = 5) -> dict[str, list[str]]:
    """Split photo names by photo into train / val / test with a seeded shuffle."""
    if len(set(names)) != len(names):
        raise InputError("photo names must be unique to split by photo")
    if len(names) < val + test + 1:
        raise InputError(f"need at least {val + test + 1} photos to split, got {len(names)}")
    order = np.random.default_rng(seed).permutation(sorted(names)).tolist()
    return {
        "test": sorted(order[:test]),
        "val": sorted(order[test : test + val]),
        "train": sorted(order[test + val :]),
    }


def load_splits(path: Path = SPLITS_FILE) -> dict[str, list[str]]:
    """The committed by-photo split."""
    splits = json.loads(path.read_text())
    return {name: splits[name] for name in SPLIT_NAMES}


def photos_by_split(photos: list[Photo], splits: dict[str, list[str]]) -> dict[str, list[Photo]]:
    """Group photos by split; every photo must be in exactly one split."""
    by_name = {p.name: p for p in photos}
    assigned = [n for split in SPLIT_NAMES for n in splits[split]]
    missing = sorted(set(by_name) - set(assigned))
    unknown = sorted(set(assigned) - set(by_name))
    if missing or unknown or len(assigned) != len(set(assigned)):
        raise InputError(f"split does not match the photos: missing {missing}, unknown {unknown}")
    return {split: [by_name[n] for n in splits[split]] for split in SPLIT_NAMES}
