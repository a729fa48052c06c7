"""Anonymization strength against quality: the shipped runtime at several PSNR floors, on whole
test images of every known generator (photos never seen in training), re-attributed as saved.

    python bench/experiments/anonymize_strength.py [--images data/zoo/images/test] [--floors 30 33 35 36 38]
                                       [--output bench/experiments/results/anonymize_strength.json]

`--images` is a dataset split folder (one sub-folder per label, as `python -m export.zoo build`
writes); only the bundle's known generators are anonymized. Per floor: SSIM and PSNR to the input,
the share of images whose attribution still names the true source, and the share of tiles that do.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import command_line, write_result  # noqa: E402  (bench/)


def measure(engine, images: list[tuple[str, Path]], floor: float) -> dict:
    """Anonymize every (label, path) at one PSNR floor; the summary of what came out."""
    ssim, psnr, named, tile_share = [], [], [], []
    for label, path in images:
        result = engine.anonymize(path, psnr_floor_db=floor)
        after = result["after"]
        ssim.append(result["ssim"])
        psnr.append(result["psnr"] if result["psnr"] is not None else float("inf"))
        named.append(after["label"] == label)
        tile_share.append(np.mean([tile == label for tile in after["tiles"]["labels"]]))
    return {"psnr_floor_db": floor, "images": len(images),
            "ssim_mean": float(np.mean(ssim)), "ssim_min": float(np.min(ssim)),
            "psnr_mean": float(np.mean(psnr)), "psnr_min": float(np.min(psnr)),
            "image_true_source_rate": float(np.mean(named)), "tile_true_source_share": float(np.mean(tile_share))}


def main(argv=None) -> int:
    from runtime.engine import Engine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=ROOT / "data" / "zoo" / "images" / "test")
    parser.add_argument("--floors", type=float, nargs="+", default=[30.0, 33.0, 35.0, 36.0, 38.0],
                        help="PSNR floors in dB (the bundle's default floor is always added)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "experiments" / "results" / "anonymize_strength.json")
    args = parser.parse_args(argv)
    if not args.images.is_dir():
        print(f"error: {args.images}: no such folder (build it: python -m export.zoo build --output data/zoo)",
              file=sys.stderr)
        return 2

    engine = Engine.load(device="cpu")
    generators = engine.generators
    images = [(label, path) for label in generators for path in sorted((args.images / label).glob("*.png"))]
    started = time.time()
    before = float(np.mean([engine.attribute(path)["label"] == label for label, path in images]))
    floors = sorted(set(args.floors) | {engine.psnr_floor_db})
    rows = [measure(engine, images, floor) for floor in floors]
    result = {
        "command": command_line("experiments/anonymize_strength.py", argv),
        "images": sorted({path.stem for _, path in images}), "generators": generators,
        "bundle_psnr_floor_db": engine.psnr_floor_db, "provider": engine.provider,
        "platform": platform.platform(), "image_true_source_rate_before": before,
        "chance": 1 / len(generators), "floors": rows, "seconds": time.time() - started,
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
