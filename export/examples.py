"""The Space's captioned examples: each a different scene, each with what made it, so a visitor can
check the answer.

    python -m export.examples [--output examples]

One image per known zoo member, one by a held-out member, a camera photo, and a composite of two
sources (left half, right half), each a package photo (scikit-image, BSD-3-Clause) from the zoo's
validation or test split, prepared as the benchmark prepares photos and regenerated.
`examples/examples.json` lists file, caption and truth; the app shows the captions.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Scenes for the generated examples, in the order of the zoo's known members (validation and test
# photos of export/splits.json: never in the attributor's training).
SCENES = ("coffee", "chelsea", "motorcycle", "rocket", "grace_hopper", "camera", "flower", "clock_motion", "gravel")
HELD_OUT_SCENE = "motorcycle"
CAMERA_SCENE = "grace_hopper"
COMPOSITE_SCENE = "coffee"
MAX_SIDE = 320  # a centre crop after preparation: small files, several tiles each


def scene(name: str) -> np.ndarray:
    """A package photo prepared as the benchmark prepares photos, centre-cropped to MAX_SIDE."""
    from export.photos import package_photos
    from export.realworld import prepared_crop

    return prepared_crop(next(p.path for p in package_photos() if p.name == name), MAX_SIDE)


def make(output: Path) -> list[dict]:
    from export.dataset import Regenerators
    from export.generators import REAL, listing
    from runtime.intake import save_png

    rows = listing()
    known = [row for row in rows if row["name"] != REAL and not row["held_out"]]
    held_out = next(row for row in rows if row["held_out"])
    regenerate = Regenerators()
    output.mkdir(parents=True, exist_ok=True)
    entries = []

    def add(image: np.ndarray, file: str, caption: str, truth: list[str]) -> None:
        save_png(image, output / file)
        entries.append({"file": file, "caption": caption, "truth": truth})

    for member, photo in zip(known, SCENES):
        add(regenerate(member["name"], scene(photo)), f"{member['name']}--{photo}.png",
            f"Made by {member['display_name']}", [member["name"]])
    add(regenerate(held_out["name"], scene(HELD_OUT_SCENE)), f"{held_out['name']}--{HELD_OUT_SCENE}.png",
        f"Made by {held_out['display_name']}: held out, a source it does not know", [held_out["name"]])
    add(scene(CAMERA_SCENE), f"real--{CAMERA_SCENE}.png", "A camera photo", [REAL])
    left, right = known[0], known[6]
    base = scene(COMPOSITE_SCENE)
    half = base.shape[1] // 2 // 64 * 64
    composite = np.concatenate([regenerate(left["name"], base)[:, :half], regenerate(right["name"], base)[:, half:]], 1)
    add(composite, f"composite--{left['name']}--{right['name']}--{COMPOSITE_SCENE}.png",
        f"Composite: left {left['display_name']}, right {right['display_name']}", [left["name"], right["name"]])
    (output / "examples.json").write_text(json.dumps(entries, indent=1) + "\n")
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.examples", description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "examples")
    args = parser.parse_args(argv)
    for entry in make(args.output):
        print(f"{entry['file']}: {entry['caption']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
