"""Seams of one-click anonymization: tiles changed on their own (the attribution grid) against
overlapping tiles whose changes cross-fade (runtime.tiling.blend_window), at two overlaps.

    python bench/experiments/anonymize_seams.py [--images A.png B.jpg ...] [--strides 64 48 32]

For each image and stride: the seam ratio of the change (export.metrics.seam_ratio over every line
where that stride's tiles start or end; raw, and after a 1-pixel Gaussian blur, which shows a
tile's offset in colour or brightness), SSIM, PSNR, the verdicts before and after, and seconds on
this machine, all strides side by side in one run. Default images: package photos with smooth areas (CI has them) and two generated
examples.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from report import command_line, write_result  # noqa: E402

PACKAGE_PHOTOS = ("rocket", "astronaut", "coffee", "chelsea")
EXAMPLES = ("examples/ddpm--coffee.png", "examples/vq--coffee.png")


def default_images() -> list[tuple[str, Path]]:
    from export.photos import package_photos

    photos = [(p.name, p.path) for p in package_photos() if p.name in PACKAGE_PHOTOS]
    return photos + [(Path(e).stem, ROOT / e) for e in EXAMPLES]


def measure(engine, name: str, image, strides: list[int]) -> dict:
    from export.metrics import seam_ratio, tile_lines
    from runtime.engine import Engine
    from runtime.tiling import covering_grid, pad_to_tile

    tile = engine.bundle.tile
    padded, _ = pad_to_tile(image, tile)
    row = {"image": name, "size": list(image.shape[:2]), "strides": {}}
    for stride in strides:
        manifest = copy.deepcopy(engine.bundle.manifest)
        manifest["anonymize"]["stride"] = stride
        variant = Engine(dataclasses.replace(engine.bundle, manifest=manifest), engine.graphs)
        started = time.perf_counter()
        out = variant.anonymize(image)
        seconds = time.perf_counter() - started
        change = out["image"].astype(float) - out["input"].astype(float)
        lines = tile_lines(covering_grid(*padded.shape[:2], tile, stride), tile, *image.shape[:2])
        row["strides"][str(stride)] = {"seam_ratio": round(seam_ratio(change, *lines), 3),
                                       "seam_ratio_blurred": round(seam_ratio(change, *lines, sigma=1), 3),
                                       "ssim": round(out["ssim"], 4), "psnr": round(out["psnr"], 2),
                                       "before": [out["before"]["verdict"], out["before"]["label"]],
                                       "after": [out["after"]["verdict"], out["after"]["label"]],
                                       "seconds": round(seconds, 2)}
    print(row, flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    from runtime.engine import Engine
    from runtime.errors import InputError
    from runtime.intake import read_image

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, nargs="+", help="default: package photos and two examples")
    parser.add_argument("--strides", type=int, nargs="+", default=[64, 48, 32])
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "experiments" / "results" / "anonymize_seams.json")
    args = parser.parse_args(argv)
    images = [(p.stem, p) for p in args.images] if args.images else default_images()
    try:
        engine = Engine.load(threads=2)
        loaded = [(name, read_image(path)) for name, path in images]
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.time()
    rows = [measure(engine, name, image, args.strides) for name, image in loaded]
    write_result(args.output, {"command": command_line("experiments/anonymize_seams.py", argv),
                               "bundle": engine.bundle.sha256, "provider": engine.provider, "threads": 2,
                               "platform": platform.platform(), "images": rows,
                               "seconds": round(time.time() - started, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
