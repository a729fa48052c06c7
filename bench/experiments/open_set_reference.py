"""The runtime's rule for "unknown source" (export.open_set: each image's energy relative to its own
reconstruction's) measured against the tile-majority rule it replaced, on the validation and the test photos.

    python bench/experiments/open_set_reference.py [--model export/assets/causal-fingerprint.pt] [--dataset data/zoo]
                                       [--output bench/experiments/results/open_set_reference.json]

The energy -logsumexp(f-head logits) of a tile depends on the photo as much as on the source: the
validation photos score higher (less sure) than the test photos whatever made them, so a threshold
calibrated on them flags almost nothing on new photos. The reference is the image's own
reconstruction R(x), saved as 8-bit and attributed like any image: same content, the trace mostly
the reconstructor's. `relative` = mean tile energy of x minus mean tile energy of R(x), per image.
Both rules are calibrated on the known validation images only (the `relative` threshold: their
open_set_quantile, as export.to_onnx sets it); the held-out zoo members are never used to set anything. Per split: the tile
and image AUROC of each score (held-out members vs known sources) and the share of known and of
held-out images each rule calls unknown.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import command_line, load_held_out_model, open_set_parser, write_result  # noqa: E402  (bench/)


# The tile-majority rule this experiment compared the relative rule with (the runtime's before
# manifest format 4): "unknown source" when more than this share of an image's tiles have an
# energy above the tiles' threshold.
UNKNOWN_IF_FRACTION_ABOVE = 0.5


def tile_majority_called_unknown(scores, threshold: float, photos: list[str], labels) -> float:
    """The share of images (photo, source) the tile-majority rule calls "unknown source"."""
    import numpy as np

    from export.open_set import image_means

    shares = image_means((scores > threshold).astype(np.float64), photos, labels)
    return float((shares > UNKNOWN_IF_FRACTION_ABOVE).mean())


def split_scores(model, state, config, reconstructor, split: str) -> dict:
    """Per kind (known, unknown): tile and image energies and relative scores, and the share of
    images the tile-majority rule calls unknown."""
    from export.open_set import relative_scores
    from export.trainset import build_eval_tiles

    scores = {}
    for kind, names in (("known", state["labels"]), ("unknown", state["held_out"])):
        tiles = build_eval_tiles(config, reconstructor, split, names)
        scores[kind] = relative_scores(model, reconstructor, tiles)
        scores[kind]["tile_majority_rule"] = tile_majority_called_unknown(
            scores[kind]["tile_energy"], state["open_set_threshold"], tiles.photos, tiles.labels.numpy())
    return scores


def main(argv=None) -> int:
    from export.evaluate import auroc
    from export.open_set import called_unknown, manifest_entry

    args = open_set_parser(__doc__.split("\n")[0], ROOT, "open_set_reference.json").parse_args(argv)
    started = time.time()
    loaded = load_held_out_model(args.model, args.dataset)
    if loaded is None:
        return 2
    model, state, config, reconstructor = loaded
    scores = {split: split_scores(model, state, config, reconstructor, split) for split in ("val", "test")}
    quantile = config.open_set_quantile
    threshold = manifest_entry(scores["val"]["known"]["image_relative"], quantile)["threshold"]
    command = command_line("experiments/open_set_reference.py", argv)
    result = {"command": command, "model": os.path.relpath(args.model, ROOT), "held_out": state["held_out"],
              "relative_threshold": threshold, "calibration_quantile": quantile,
              "tile_threshold": state["open_set_threshold"]}
    for split, by_kind in scores.items():
        known, unknown = by_kind["known"], by_kind["unknown"]
        result[split] = {
            "auroc": {name: {"tile": auroc(known[f"tile_{name}"], unknown[f"tile_{name}"]),
                             "image": auroc(known[f"image_{name}"], unknown[f"image_{name}"])}
                      for name in ("energy", "relative")},
            "images_called_unknown": {
                "tile_majority_rule": {kind: by_kind[kind]["tile_majority_rule"] for kind in by_kind},
                "relative_rule": {kind: called_unknown(by_kind[kind]["image_relative"], threshold)
                                  for kind in by_kind}},
            "images": {"known": len(known["image_energy"]), "unknown": len(unknown["image_energy"])}}
    result["seconds"] = time.time() - started
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
