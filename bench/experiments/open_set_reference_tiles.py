"""How many reconstructions the open-set rule needs: the relative score with the reference energy
taken from K evenly spread tiles of each image instead of all of them.

    python bench/experiments/open_set_reference_tiles.py [--model export/assets/causal-fingerprint.pt]
                                             [--dataset data/zoo] [--counts 4 8 16 32 64]
                                             [--output bench/experiments/results/open_set_reference_tiles.json]

The runtime attributes the reconstructions of at most the manifest's `reference_tiles` tiles of an
image (export.open_set.REFERENCE_TILES), spread evenly in raster order, to bound the cost of the
rule's second pass; calibration uses every tile. Here each image is cut as the evaluation cuts it
(stride 32: 28 to 77 tiles per test image), its own energy is the mean over all its tiles, and its
reference energy the mean over K of them picked as the runtime picks; `paired_K` takes its own
energy over the same K tiles too (the same content on both sides). Per K, with the threshold
calibrated on every tile of the known validation images (as export.to_onnx does), on the test
images and on the validation images themselves: the image AUROC (held-out vs known), the share
of images called unknown per kind, and how far the scores move from the every-tile score (mean
and largest absolute change).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import command_line, load_held_out_model, open_set_parser, write_result  # noqa: E402  (bench/)


def spread_picks(count: int, cap: int) -> np.ndarray:
    """The runtime's pick (runtime.engine.Engine.reference_picks) of at most `cap` of `count` tiles."""
    return np.unique(np.linspace(0, count - 1, min(count, cap)).round().astype(int))


def per_image(tiles, scores: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """(own energies, reference energies) of each image's tiles, in cutting order."""
    keys = list(zip(tiles.photos, tiles.labels.numpy().tolist()))
    reference = scores["tile_energy"] - scores["tile_relative"]
    rows = []
    for key in dict.fromkeys(keys):
        index = [i for i, k in enumerate(keys) if k == key]
        rows.append((scores["tile_energy"][index], reference[index]))
    return rows


def capped_scores(images, cap: int | None, paired: bool = False) -> np.ndarray:
    """Each image's relative score, its reference mean over at most `cap` spread tiles (None: all);
    `paired`: its own mean over the same tiles too, else over all of them."""
    scores = []
    for own, reference in images:
        picks = np.arange(len(own)) if cap is None else spread_picks(len(own), cap)
        scores.append((own[picks] if paired else own).mean() - reference[picks].mean())
    return np.array(scores)


def by_cap(images: dict, split: str, caps: list, threshold: float) -> dict:
    """Per cap (None: every tile), unpaired and paired, on the images of `split`: the image AUROC,
    the share of each kind called unknown at `threshold`, and how far scores move from every tile's."""
    from export.evaluate import auroc
    from export.open_set import called_unknown

    every = {kind: capped_scores(images[split, kind], None) for kind in ("known", "unknown")}
    rows = {}
    for paired in (False, True):
        for cap in caps:
            scores = {kind: capped_scores(images[split, kind], cap, paired) for kind in ("known", "unknown")}
            change = np.abs(np.concatenate([scores[k] - every[k] for k in scores]))
            name = ("paired_" if paired else "") + ("all" if cap is None else str(cap))
            rows[name] = {"image_auroc": auroc(scores["known"], scores["unknown"]),
                          "called_unknown": {kind: called_unknown(s, threshold) for kind, s in scores.items()},
                          "score_change_from_all": {"mean": float(change.mean()), "max": float(change.max())}}
    return rows


def main(argv=None) -> int:
    from export.open_set import manifest_entry, relative_scores
    from export.trainset import build_eval_tiles

    parser = open_set_parser(__doc__.split("\n")[0], ROOT, "open_set_reference_tiles.json")
    parser.add_argument("--counts", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    args = parser.parse_args(argv)
    if not all(c >= 1 for c in args.counts):
        print(f"error: --counts must be positive tile counts, got {args.counts}", file=sys.stderr)
        return 2
    started = time.time()
    loaded = load_held_out_model(args.model, args.dataset)
    if loaded is None:
        return 2
    model, state, config, reconstructor = loaded
    images = {}
    for split in ("val", "test"):
        for kind, names in (("known", state["labels"]), ("unknown", state["held_out"])):
            tiles = build_eval_tiles(config, reconstructor, split, names)
            images[split, kind] = per_image(tiles, relative_scores(model, reconstructor, tiles))
    threshold = manifest_entry(capped_scores(images["val", "known"], None), config.open_set_quantile)["threshold"]
    rows = {split: by_cap(images, split, [None, *args.counts], threshold) for split in ("val", "test")}
    tile_counts = [len(own) for kind in ("known", "unknown") for own, _ in images["test", kind]]
    command = command_line("experiments/open_set_reference_tiles.py", argv)
    write_result(args.output, {
        "command": command, "model": os.path.relpath(args.model, ROOT), "threshold": threshold,
        "test_images": {kind: len(images["test", kind]) for kind in ("known", "unknown")},
        "test_tiles_per_image": {"min": min(tile_counts), "max": max(tile_counts)},
        "val_images": {kind: len(images["val", kind]) for kind in ("known", "unknown")},
        **rows, "seconds": time.time() - started})
    return 0


if __name__ == "__main__":
    sys.exit(main())
