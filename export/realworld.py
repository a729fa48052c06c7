"""The real-world harness: pool images and generated images as visitors' files, through the runtime.

Items are a fetched pool's camera photos and non-photos (`export.pools`) and a folder of generated
images (FOLDER/SOURCE/NAME.png); `measure` sends each one, under each condition of
`export.conditions`, to `Engine.attribute` as the bytes of a file and keeps one row per image and
condition (cached, so a stopped run goes on). The benchmark (bench/real_world.py) and the verdict's
calibration (export.verdict) read the same rows. numpy, Pillow and the runtime: no torch.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from export.conditions import camera_template, centre_crop, condition_bytes, native_bytes
from runtime.errors import InputError

GENERATE_SCALE = 0.5           # the zoo's preparation before it regenerates (export.photos.DEFAULT_SCALE)
GENERATE_CROP = 384            # generated images: a centre crop of at most this side, after preparation


@dataclass(frozen=True)
class Item:
    """One benchmark image: its group (camera, illustration, known, held_out), its true source
    (None for camera photos and non-photos) and its file."""

    name: str
    group: str
    source: str | None
    path: Path


def outcome(result: dict) -> str:
    """The answer's verdict: its `verdict` field, or for a runtime that has none, derived from
    `unknown` and `is_real` (such a runtime never says inconclusive)."""
    if "verdict" in result:
        return result["verdict"]
    if result["unknown"]:
        return "unknown"
    return "real" if result["is_real"] else "generated"


def answer_row(result: dict) -> dict:
    """What a row keeps of an answer: the outcome, the closest source, the evidence."""
    return {"outcome": outcome(result), "label": result["label"], "confidence": round(result["confidence"], 4),
            "log_odds": round(result["evidence"]["log_odds_generated"], 4),
            "open_set_flag": result["open_set"]["score"] > result["open_set"]["threshold"],
            "p_generated": result.get("p_generated"),
            "seconds": result["seconds"], "pixels": result["image_size"]}


# ---------------------------------------------------------------- the images
def pool_items(pools: Path, pool: str) -> list[Item]:
    """A pool's camera photos and non-photos (a fetched `export.pools` folder)."""
    from export.pools import read_index

    rows = [row for row in read_index(pools) if row["pool"] == pool]
    if not rows:
        raise InputError(f"{pools}: no {pool}-pool images; fetch them with python -m export.pools fetch --pool {pool}")
    return [Item(row["name"], "camera" if row["kind"] == "camera" else "illustration", None, row["path"])
            for row in rows]


def generated_items(folder: Path, known: set[str]) -> list[Item]:
    """FOLDER/SOURCE/*.png: a subfolder per source; one the bundle knows is `known`, any other is
    held out (never "real": camera photos come from the pools)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; make it with python bench/real_world.py generate")
    items = []
    for source in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if source.name == "real":
            raise InputError(f"{source}: camera photos come from the pools, not from the generated folder")
        group = "known" if source.name in known else "held_out"
        items += [Item(f"{source.name}/{p.stem}", group, source.name, p)
                  for p in sorted(source.glob("*.png"))]
    if not items:
        raise InputError(f"{folder}: no generated images (FOLDER/SOURCE/NAME.png)")
    return items


def prepared_crop(path: Path, side: int = GENERATE_CROP):
    """A camera photo as the zoo regenerates it for the benchmarks: prepared (GENERATE_SCALE) and
    centre-cropped to at most `side` on the 16-pixel grid; (H, W, 3) uint8."""
    import numpy as np

    from export.photos import prepare
    from runtime.intake import read_image

    photo = prepare(read_image(path), GENERATE_SCALE)
    return np.asarray(centre_crop(Image.fromarray(photo), side, side, multiple=16))


def camera_templates(items: list[Item]) -> list[dict]:
    """The quantization tables, subsampling and EXIF of the camera JPEGs that carry a camera's EXIF."""
    templates = []
    for item in items:
        if item.group != "camera":
            continue
        with Image.open(item.path) as image:
            make = image.getexif().get(0x010F) if image.format == "JPEG" else None
        if make:
            templates.append(camera_template(item.path.read_bytes()))
    return templates


def load_cache(path: Path | None, bundle_sha256: str) -> dict[str, dict]:
    if path is None or not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {row["key"]: row for row in rows if row["bundle_sha256"] == bundle_sha256}


def measure(engine, items: list[Item], conditions: list[str], cache_path: Path | None, log=print) -> dict:
    """Every item under every condition through `engine.attribute`: per-image rows by condition."""
    cache = load_cache(cache_path, engine.bundle.sha256)
    by_input = {row["input_sha256"]: row for row in cache.values()}  # the same file twice is run once
    templates = camera_templates(items)
    rows: dict[str, list[dict]] = {condition: [] for condition in conditions}
    started = time.time()
    for index, item in enumerate(items):
        native = native_bytes(item.path)
        for condition in conditions:
            key = f"{condition}|{item.group}|{item.name}"
            fresh = key not in cache
            if fresh:
                template = templates[index % len(templates)] if condition == "camera_saved" and templates else None
                data = condition_bytes(native, condition, item.group == "camera", template)
                digest = hashlib.sha256(data).hexdigest()
                if digest not in by_input:
                    by_input[digest] = {"input_sha256": digest, **answer_row(engine.attribute(data))}
                cache[key] = {**by_input[digest], "key": key, "bundle_sha256": engine.bundle.sha256}
                if cache_path is not None:
                    cache_path.parent.mkdir(parents=True, exist_ok=True)
                    with open(cache_path, "a") as handle:
                        handle.write(json.dumps(cache[key]) + "\n")
            rows[condition].append({**cache[key], "name": item.name, "group": item.group, "source": item.source,
                                    "from_cache": not fresh})
        log(f"[{index + 1}/{len(items)}] {item.group} {item.name} ({time.time() - started:.0f} s)")
    return rows
