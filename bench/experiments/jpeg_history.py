"""How well the runtime reads a JPEG history from pixels (runtime.compression.jpeg_history), and a lossy
WebP's quality (runtime.compression.webp_saving), on the zoo's images.

    python bench/experiments/jpeg_history.py [--dataset data/zoo] [--qualities 95 90 85 75 60 50]
                                 [--webp-qualities 95 90 80 75 60 50] [--webp-every 4]
                                 [--output bench/experiments/results/jpeg_history.json]

Every image of every split and source of the zoo (none was ever a JPEG since its preparation, a
2x downscale) in several forms: as it is (`clean`: should show no history), saved as a JPEG at
each quality with 4:2:0 chroma (PIL's default) and, at 90, with 4:4:4, then decoded (`jpegQ`:
should show quality Q), and saved at 85 then resized to 3/4 (`jpeg85_resized`: the history is
gone, so none) or cropped by 3 rows and 5 columns, or by 8 and 8 (`jpeg85_shifted`: off the
8-pixel grid; `jpeg85_shifted_8`: on it, but off the 16-pixel grid of 4:2:0 chroma; both should
show quality 85). Per form: the
share with a history found, the share with the quality exact or within 1, the share with the
right subsampling (a gray image shows none: it is found as 4:2:0), and the smallest and largest
dip ratio (clean forms should stay above the runtime's HISTORY_DIP_RATIO, JPEG forms below), and
the seconds per estimate on this machine. Then every `--webp-every`th image saved as a lossy
WebP at each quality: the share whose estimated quality is within 2 and within 6 of the truth,
and the seconds per estimate.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import command_line, refuse_missing, write_result  # noqa: E402  (bench/)


def saved(image: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    return np.asarray(Image.open(buffer).convert("RGB"))


def forms(image: np.ndarray, qualities: list[int]) -> dict:
    """form name -> (pixels, the quality and subsampling to find, or None)."""
    out = {"clean": (image, None)}
    out.update({f"jpeg{q}": (saved(image, q), (q, 2)) for q in qualities})
    out["jpeg90_444"] = (saved(image, 90, 0), (90, 0))
    jpeg = saved(image, 85)
    height, width = jpeg.shape[:2]
    out["jpeg85_resized"] = (np.asarray(Image.fromarray(jpeg).resize((width * 3 // 4, height * 3 // 4),
                                                                     Image.Resampling.LANCZOS)), None)
    out["jpeg85_shifted"] = (jpeg[3:, 5:], (85, 2))
    out["jpeg85_shifted_8"] = (jpeg[8:, 8:], (85, 2))
    return out


def dip_ratio(image: np.ndarray) -> float:
    """The re-save error ratio jpeg_history compares with its threshold (inf: a flat crop)."""
    from runtime.compression import history_crop, jpeg_grid, resave_dip

    dip = resave_dip(history_crop(image, jpeg_grid(image)))
    return float("inf") if dip is None else dip[1]


def main(argv=None) -> int:
    import argparse
    import platform

    from runtime.compression import HISTORY_DIP_RATIO, WebpSaving, jpeg_history, webp_saving
    from runtime.intake import read_image

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "zoo")
    parser.add_argument("--qualities", type=int, nargs="+", default=[95, 90, 85, 75, 60, 50])
    parser.add_argument("--webp-qualities", type=int, nargs="*", default=[95, 90, 80, 75, 60, 50])
    parser.add_argument("--webp-every", type=int, default=4)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "experiments" / "results" / "jpeg_history.json")
    args = parser.parse_args(argv)
    if not all(30 <= q <= 95 for q in args.qualities):
        print(f"error: --qualities must be from 30 to 95 (what jpeg_history looks for), got {args.qualities}",
              file=sys.stderr)
        return 2
    if args.webp_every < 1 or not all(1 <= q <= 100 for q in args.webp_qualities):
        print("error: --webp-every must be at least 1 and --webp-qualities from 1 to 100", file=sys.stderr)
        return 2
    if refuse_missing([args.dataset / "build.json"]):
        return 2
    paths = sorted((args.dataset / "images").glob("*/*/*.png"))
    started = time.time()
    rows: dict[str, list[dict]] = {}
    spent, estimates = 0.0, 0
    for path in paths:
        for form, (pixels, truth) in forms(read_image(path), args.qualities).items():
            clock = time.perf_counter()
            found = jpeg_history(pixels)
            spent, estimates = spent + time.perf_counter() - clock, estimates + 1
            rows.setdefault(form, []).append({"found": found, "truth": truth, "ratio": dip_ratio(pixels)})
    result = {}
    for form, items in rows.items():
        found = [r for r in items if r["found"] is not None]
        entry = {"images": len(items), "history_found": len(found) / len(items),
                 "dip_ratio": {"min": min(r["ratio"] for r in items), "max": max(r["ratio"] for r in items)}}
        if items[0]["truth"] is not None:
            entry["quality_exact"] = np.mean([r["found"] is not None and r["found"].quality == r["truth"][0]
                                              for r in items]).item()
            entry["quality_within_1"] = np.mean([r["found"] is not None and abs(r["found"].quality - r["truth"][0]) <= 1
                                                 for r in items]).item()
            entry["subsampling_right"] = np.mean([r["found"] is not None and r["found"].subsampling == r["truth"][1]
                                                  for r in items]).item()
        result[form] = entry
    webp, clock = {}, time.perf_counter()
    for quality in args.webp_qualities:
        found = np.array([webp_saving(WebpSaving(quality).save(read_image(path))).quality
                          for path in paths[:: args.webp_every]])
        webp[f"webp{quality}"] = {"images": len(found), "quality_within_2": float(np.mean(abs(found - quality) <= 2)),
                                  "quality_within_6": float(np.mean(abs(found - quality) <= 6)),
                                  "median": float(np.median(found))}
    webp_seconds = (time.perf_counter() - clock) / max(1, sum(v["images"] for v in webp.values()))
    command = command_line("experiments/jpeg_history.py", argv)
    write_result(args.output, {"command": command, "platform": platform.platform(),
                               "dip_ratio_threshold": HISTORY_DIP_RATIO, "forms": result,
                               "seconds_per_estimate": spent / estimates, "webp": webp,
                               "webp_seconds_per_estimate": webp_seconds, "seconds": time.time() - started})
    return 0


if __name__ == "__main__":
    sys.exit(main())
