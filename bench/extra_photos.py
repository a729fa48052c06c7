"""Write the package photo pool plus three more real photos to a folder, with a split file that
adds them to train, for `python -m export.zoo build --photos DIR --splits FILE`.

The extra photos ship in PyWavelets (aero, ascent: 512x512 grey) and mahotas (luispedro); they
are not in requirements-train.txt: `pip install PyWavelets mahotas` first. Validation and test
stay the committed ones, so a zoo built this way has the same val and test images as the default.

    python bench/extra_photos.py --output /tmp/photos-xp --splits /tmp/splits-xp.json
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from export.photos import load_splits, package_file, package_photos
from runtime.errors import InputError
from runtime.intake import save_png

GREY_NPZ = (("pywt", "data/aero.npz", "aero"), ("pywt", "data/ascent.npz", "ascent"))
FILES = (("mahotas", "demos/data/luispedro.jpg", "luispedro"),)


def _package_file(package: str, relative: str) -> Path:
    try:
        return package_file(package, relative)
    except InputError as error:
        raise SystemExit(f"error: {error} (this script needs `pip install PyWavelets mahotas`)") from error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="photo folder to write")
    parser.add_argument("--splits", type=Path, required=True, help="split file to write")
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    for photo in package_photos():
        shutil.copy(photo.path, args.output / f"{photo.name}{photo.path.suffix}")
    for package, relative, name in GREY_NPZ:
        grey = np.load(_package_file(package, relative))["data"]
        save_png(np.repeat(grey[..., None], 3, axis=2), args.output / f"{name}.png")
    for package, relative, name in FILES:
        path = _package_file(package, relative)
        shutil.copy(path, args.output / f"{name}{path.suffix}")
    splits = load_splits()
    splits["train"] = sorted(splits["train"] + [name for *_, name in GREY_NPZ + FILES])
    args.splits.write_text(json.dumps(splits, indent=1) + "\n")
    print(f"{len(list(args.output.iterdir()))} photos in {args.output}; split in {args.splits}")


if __name__ == "__main__":
    main()
