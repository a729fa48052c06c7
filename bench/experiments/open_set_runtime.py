"""What the app says of JPEG files: the shipped bundle, through the runtime API, on the zoo's images
saved as PNG and as JPEG at several qualities.

    python bench/experiments/open_set_runtime.py [--bundle weights] [--dataset data/zoo] [--qualities 95 90 75 50]
                                     [--webp-qualities 90 75] [--output bench/experiments/results/open_set_runtime.json]

Each image of the val and test splits (every known source, and the held-out members) goes to
`Engine.analyze` in several forms: `png` (its pixels), `jpegQ` (the JPEG file's bytes, so the
reference R(x) is re-saved with the file's own tables, as the app does), `jpegQ_as_png` (the same
JPEG's decoded pixels, as a JPEG converted to PNG reaches the app: the runtime reads the JPEG
history from them), `jpegQ_8bit_reference` (those pixels with the history not read, so the
reference is saved as 8-bit only: the runtime before it read JPEG tables), `jpegQ_cropped_as_png`
(those pixels cropped by 3 rows and 5 columns, off the JPEG's 8-pixel grid, as a cropped
screenshot would be: the runtime finds the blocks' grid first) with its
`jpegQ_cropped_8bit_reference` (the runtime before it looked off the image's own grid), `webpQ` (a lossy
WebP file: the reference re-saved as WebP at the quality estimated from its pixels) and
`webpQ_8bit_reference` (its decoded pixels, an 8-bit reference). Per form, on the test images:
the share called "unknown source" by the manifest's threshold and by `jpeg_val` (the same
quantile of the known val images' scores, the jpegQ forms pooled), the accuracy on known
sources, the AUROC of held-out vs known scores, and how the reference was saved.
"""
from __future__ import annotations

import io
import os
from collections import Counter
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import command_line, refuse_missing, write_result  # noqa: E402  (bench/)


def encoded(image: np.ndarray, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt, quality=quality)
    return buffer.getvalue()


def forms(image: np.ndarray, qualities: list[int], webp_qualities: list[int]) -> dict:
    """The inputs for one image, by form name: (input, whether the engine reads JPEG history)."""
    inputs = {"png": (image, True)}
    for quality in qualities:
        inputs[f"jpeg{quality}"] = (encoded(image, "JPEG", quality), True)
        decoded = np.asarray(Image.open(io.BytesIO(inputs[f"jpeg{quality}"][0])).convert("RGB"))
        inputs[f"jpeg{quality}_as_png"] = (decoded, True)
        inputs[f"jpeg{quality}_8bit_reference"] = (decoded, False)
        inputs[f"jpeg{quality}_cropped_as_png"] = (decoded[3:, 5:], True)
        inputs[f"jpeg{quality}_cropped_8bit_reference"] = (decoded[3:, 5:], False)
    for quality in webp_qualities:
        inputs[f"webp{quality}"] = (encoded(image, "WEBP", quality), True)
        decoded = np.asarray(Image.open(io.BytesIO(inputs[f"webp{quality}"][0])).convert("RGB"))
        inputs[f"webp{quality}_8bit_reference"] = (decoded, False)
    return inputs


def verdicts(engine, dataset: Path, split: str, qualities: list[int], webp_qualities: list[int]) -> list[dict]:
    """One row per (image, form): its split, kind, true label, form, verdict label, score."""
    from export.data import load_split_images
    from runtime import Engine

    engines = {True: engine, False: Engine(engine.bundle, engine.graphs, read_jpeg_history=False)}
    known = [label.name for label in engine.labels]
    held_out = [entry["name"] for entry in engine.bundle.manifest["held_out"]]
    rows = []
    for kind, names in (("known", known), ("unknown", held_out)):
        for photo, by_label in load_split_images(dataset, split, names).items():
            for name, image in by_label.items():
                for form, (source, reads_history) in forms(image, qualities, webp_qualities).items():
                    verdict = engines[reads_history].attribute(source)
                    rows.append({"split": split, "kind": kind, "truth": name, "form": form,
                                 "label": verdict["label"], "score": verdict["open_set"]["score"],
                                 "reference_saved_as": verdict["open_set"]["reference_saved_as"]})
    return rows


def pick(rows, **where) -> list[dict]:
    return [row for row in rows if all(row[key] == value for key, value in where.items())]


def summary(rows: list[dict], forms_: list[str], thresholds: dict[str, float]) -> dict:
    """Per form, on the test rows: called unknown (per threshold and kind), known accuracy, AUROC."""
    from export.evaluate import auroc

    result = {}
    for form in forms_:
        scores = {kind: np.array([r["score"] for r in pick(rows, split="test", kind=kind, form=form)])
                  for kind in ("known", "unknown")}
        known = pick(rows, split="test", kind="known", form=form)
        result[form] = {
            "called_unknown": {name: {kind: float((s > threshold).mean()) for kind, s in scores.items()}
                               for name, threshold in thresholds.items()},
            "known_accuracy": float(np.mean([r["label"] == r["truth"] for r in known])),
            "auroc": auroc(scores["known"], scores["unknown"]),
            "mean_score": {kind: float(s.mean()) for kind, s in scores.items()},
            "reference_saved_as": dict(Counter(r["reference_saved_as"] for r in pick(rows, split="test", form=form))),
        }
    return result


def main(argv=None) -> int:
    import argparse
    import platform

    from runtime import Engine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "weights")
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "zoo")
    parser.add_argument("--qualities", type=int, nargs="+", default=[95, 90, 75, 50])
    parser.add_argument("--webp-qualities", type=int, nargs="*", default=[90, 75])
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "experiments" / "results" / "open_set_runtime.json")
    args = parser.parse_args(argv)
    if not all(1 <= q <= 95 for q in args.qualities + args.webp_qualities):
        print(f"error: qualities must be from 1 to 95, got {args.qualities} and {args.webp_qualities}", file=sys.stderr)
        return 2
    if refuse_missing([args.dataset / "build.json", args.bundle / "manifest.json"]):
        return 2
    started = time.time()
    engine = Engine.load(str(args.bundle))
    rows = [row for split in ("val", "test")
            for row in verdicts(engine, args.dataset, split, args.qualities, args.webp_qualities)]
    jpeg_forms = [f"jpeg{q}" for q in args.qualities]
    calibration = engine.bundle.manifest["open_set"]["calibration"]
    val_jpeg = [r["score"] for r in rows if r["split"] == "val" and r["kind"] == "known" and r["form"] in jpeg_forms]
    thresholds = {"manifest": engine.threshold, "jpeg_val": float(np.quantile(val_jpeg, calibration["quantile"]))}
    all_forms = ["png", *jpeg_forms, *(f"{form}_as_png" for form in jpeg_forms),
                 *(f"{form}_8bit_reference" for form in jpeg_forms),
                 *(f"{form}_cropped{suffix}" for form in jpeg_forms for suffix in ("_as_png", "_8bit_reference")),
                 *(f"webp{q}{suffix}" for q in args.webp_qualities for suffix in ("", "_8bit_reference"))]
    command = command_line("experiments/open_set_runtime.py", argv)
    write_result(args.output, {
        "command": command, "bundle": os.path.relpath(args.bundle, ROOT), "provider": engine.provider,
        "platform": platform.platform(), "thresholds": thresholds,
        "test_images": {kind: len(pick(rows, split="test", kind=kind, form="png")) for kind in ("known", "unknown")},
        "val_images_for_jpeg_val": len(val_jpeg),
        "test": summary(rows, all_forms, thresholds), "seconds": time.time() - started})
    return 0


if __name__ == "__main__":
    sys.exit(main())
