"""The real-world benchmark: whole images through the runtime, as visitors bring them.

Held-out camera photos at their native resolution (the test pool of `export/pools.json`), human-made
non-photos, and the zoo's regenerations of test photos (known sources and held-out members), each
under the ways images travel: `native`, `half` (0.5x Lanczos, PNG), `jpeg75`, `web1080` (longest
side 1080, JPEG 85), `camera_saved` (generated images saved as JPEG with a camera's quantization
tables and its EXIF copied in; camera photos as they are) and two that training must never use:
`webp_small` (0.37x bicubic, WebP 80) and `screenshot125` (a centre crop upscaled 125%, PNG).
Every image goes through `Engine.attribute` as the bytes of a file, on the grid users get.

    python -m export.pools fetch --output data/pools --pool test
    python bench/real_world.py generate --pools data/pools --generated data/real-world-zoo --photos 52   # torch side
    python bench/real_world.py --pools data/pools --generated data/real-world-zoo [--bundle B]

Rates are over images; upper bounds are Clopper-Pearson 95% (two-sided). Per-image outcomes are
kept in a cache (--cache) so a stopped run goes on where it was.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from report import command_line, write_result  # noqa: E402
from export.conditions import CONDITIONS, MAX_NATIVE_PIXELS, NEVER_TRAINED, SCREENSHOT_CROP  # noqa: E402
from export.realworld import GENERATE_CROP, GENERATE_SCALE, generated_items, measure, pool_items, prepared_crop  # noqa: E402
from runtime.errors import InputError  # noqa: E402

OUTCOMES = ("real", "generated", "unknown", "inconclusive")


# ---------------------------------------------------------------- outcomes and rates
def upper95(count: int, total: int) -> float | None:
    """The Clopper-Pearson 95% upper bound of a rate of count / total."""
    from scipy.stats import binomtest

    return float(binomtest(count, total).proportion_ci(0.95, method="exact").high) if total else None


def rate(count: int, total: int) -> float | None:
    return count / total if total else None


def summarize(rows: list[dict], group: str) -> dict:
    """The figures of one group of images under one condition (rows: {outcome, label, source})."""
    total = len(rows)
    counts = {kind: sum(row["outcome"] == kind for row in rows) for kind in OUTCOMES}
    if group == "camera":
        return {"photos": total, "named_real": rate(counts["real"], total), "unknown": rate(counts["unknown"], total),
                "inconclusive": rate(counts["inconclusive"], total),
                "accused": rate(counts["generated"], total), "accused_count": counts["generated"],
                "accused_upper95": upper95(counts["generated"], total)}
    if group == "illustration":
        return {"images": total, "accused": rate(counts["generated"], total), "accused_count": counts["generated"],
                "accused_upper95": upper95(counts["generated"], total),
                "named_real": rate(counts["real"], total), "unknown": rate(counts["unknown"], total)}
    named = [row for row in rows if row["outcome"] == "generated"]
    figures = {"images": total, "named_real": rate(counts["real"], total), "unknown": rate(counts["unknown"], total),
               "inconclusive": rate(counts["inconclusive"], total)}
    if group == "known":
        right = sum(row["label"] == row["source"] for row in named)
        return {**figures, "accuracy": rate(right, total), "wrong_source": rate(len(named) - right, total)}
    return {**figures, "wrong_source": rate(len(named), total)}   # held out: any known name is wrong


def report(rows: dict[str, list[dict]]) -> dict:
    """`conditions` with each group's figures and the camera photos accused, by name; at the top
    level the non-photos' figure at `native`."""
    conditions = {}
    for condition, condition_rows in rows.items():
        groups = {"camera": "camera", "known": "generated_known", "held_out": "generated_held_out",
                  "illustration": "illustrations"}
        conditions[condition] = {key: summarize([r for r in condition_rows if r["group"] == group], group)
                                 for group, key in groups.items()}
        conditions[condition]["camera_accused"] = [
            {"name": r["name"], "label": r["label"], "confidence": r["confidence"]}
            for r in condition_rows if r["group"] == "camera" and r["outcome"] == "generated"]
        conditions[condition]["ece_p_generated"] = calibration_error(condition_rows)
        conditions[condition]["seconds_per_megapixel"] = round(
            sum(r["seconds"] for r in condition_rows) / max(1e-9, sum(np.prod(r["pixels"]) for r in condition_rows) / 1e6), 3)
    native = rows.get("native", next(iter(rows.values())))
    illustrations = summarize([r for r in native if r["group"] == "illustration"], "illustration")
    return {"conditions": conditions, "illustrations": illustrations}


def calibration_error(rows: list[dict]) -> float | None:
    """ECE of the answers' probability that a generator made the image, over camera photos (truth 0)
    and generated images (truth 1); None for a runtime whose answers carry no such probability."""
    from export.verdict import expected_calibration_error

    scored = [r for r in rows if r["group"] != "illustration" and r.get("p_generated") is not None]
    if not scored:
        return None
    p = np.array([r["p_generated"] for r in scored])
    return round(expected_calibration_error(p, np.array([r["group"] != "camera" for r in scored], dtype=float)), 4)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def markdown(result: dict) -> str:
    """The result as a page: one row per condition, the figures a visitor meets."""
    images = result["images"]
    lines = [
        "# Real-world benchmark", "",
        f"Made by `{result['command']}` on bundle `{result['bundle']['sha256'][:12]}` "
        f"(tile {result['runtime']['tile']}, stride {result['runtime']['stride']}, {result['runtime']['provider']}): "
        f"whole images through the runtime. {images['camera']} held-out camera photos at native resolution "
        f"(`export/pools.json`, test pool), {images['illustration']} human-made non-photos, {images['known']} "
        f"images of known zoo sources and {images['held_out']} of held-out members regenerated from test photos. "
        "Accused: named as a known generator. Upper bounds: Clopper-Pearson 95%. "
        f"`{'`, `'.join(result['settings']['never_trained'])}`: conditions training must never use.", "",
        "| condition | camera: named real | camera: accused (95% upper) | camera: unknown | known sources: accuracy "
        "| known: named real | known: wrong source | held out: unknown | held out: named real | non-photos accused |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for condition, figures in result["conditions"].items():
        camera, known, held = figures["camera"], figures["generated_known"], figures["generated_held_out"]
        lines.append(
            f"| {condition} | {percent(camera['named_real'])} | {percent(camera['accused'])} "
            f"({percent(camera['accused_upper95'])}) | {percent(camera['unknown'])} | {percent(known['accuracy'])} "
            f"| {percent(known['named_real'])} | {percent(known['wrong_source'])} | {percent(held['unknown'])} "
            f"| {percent(held['named_real'])} | {percent(figures['illustrations']['accused'])} |")
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("command", nargs="?", default="measure", choices=("measure", "generate"))
    parser.add_argument("--pools", type=Path, default=ROOT / "data" / "pools", help="a fetched export.pools folder")
    parser.add_argument("--generated", type=Path, default=ROOT / "data" / "real-world-zoo",
                        help="FOLDER/SOURCE/NAME.png (measure: read; generate: written)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "real_world.json")
    parser.add_argument("--bundle", help="a bundle folder or Hub repo id (default: the shipped weights/)")
    parser.add_argument("--revision", help="the Hub revision of --bundle")
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "real_world_cache.jsonl",
                        help="per-image outcomes, so a stopped run goes on (entries of another bundle are ignored)")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: all cores)")
    parser.add_argument("--pool", default="test", choices=("test", "val"),
                        help="generate: whose camera photos to regenerate (val: for the verdict's calibration)")
    parser.add_argument("--photos", type=int, help="generate: regenerate at most this many photos, spread over the pool")
    parser.add_argument("--zoo", type=Path, help="generate: the zoo's weights folder (default: export/assets/zoo)")
    return parser


def generate(args) -> int:
    """Regenerate a pool's camera photos with every zoo member (prepared as the zoo's benchmark is,
    centre-cropped to GENERATE_CROP): OUTPUT/MEMBER/PHOTO.png."""
    from export.dataset import Regenerators
    from export.generators import REAL, ZOO_DIR, listing
    from runtime.intake import save_png

    cameras = [item for item in pool_items(args.pools, args.pool) if item.group == "camera"]
    if args.photos and args.photos < len(cameras):  # spread over the pool, not its first package
        cameras = [cameras[i] for i in np.linspace(0, len(cameras) - 1, args.photos).round().astype(int)]
    regenerate = Regenerators(args.zoo or ZOO_DIR)
    members = [row["name"] for row in listing() if row["name"] != REAL]
    started = time.time()
    for item in cameras:
        crop = prepared_crop(item.path)
        for member in members:
            path = args.generated / member / f"{item.name}.png"
            if not path.is_file():
                save_png(regenerate(member, crop), path)
        print(f"{item.name}: {len(members)} members ({time.time() - started:.0f} s)", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            return generate(args)
        from runtime.engine import Engine

        engine = Engine.load(args.bundle, args.revision, threads=args.threads)
        labels = {label.name for label in engine.labels}
        items = pool_items(args.pools, "test") + generated_items(args.generated, labels)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.time()
    rows = measure(engine, items, args.conditions, args.cache)
    manifest = engine.bundle.manifest
    result = {
        "command": command_line("real_world.py", argv),
        "bundle": {"source": engine.bundle.describe(), "sha256": engine.bundle.sha256,
                   "provenance": manifest.get("provenance", {}).get("commit")},
        "runtime": {"tile": engine.bundle.tile, "stride": engine.bundle.stride,
                    "reference_tiles": engine.reference_tiles, "provider": engine.provider,
                    "threads": args.threads, "grid": "covering tiles of every pixel (runtime.tiling.covering_grid)"},
        "images": {group: sum(item.group == group for item in items)
                   for group in ("camera", "illustration", "known", "held_out")},
        "settings": {"max_native_pixels": MAX_NATIVE_PIXELS, "screenshot_crop": list(SCREENSHOT_CROP),
                     "never_trained": list(NEVER_TRAINED), "generated": {"scale": GENERATE_SCALE, "crop": GENERATE_CROP},
                     "accused": "verdict generated (named as a known generator)",
                     "upper95": "Clopper-Pearson 95%, two-sided"},
        **report(rows),
        "answers": {"from_cache": sum(r["from_cache"] for rs in rows.values() for r in rs),
                    "measured_now": sum(not r["from_cache"] for rs in rows.values() for r in rs)},
        "platform": platform.platform(),
        "seconds": round(time.time() - started, 1),
    }
    write_result(args.output, result)
    args.output.with_suffix(".md").write_text(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
