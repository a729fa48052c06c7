"""How many validation photos the unknown-source threshold needs: the threshold set on k of them,
drawn at random many times, and the share of known and of held-out test images it calls unknown.

    python bench/experiments/open_set_calibration.py [--model export/assets/causal-fingerprint.pt] [--dataset data/zoo]
                                         [--sizes 3 6 12 24] [--draws 1000]
                                         [--output bench/experiments/results/open_set_calibration.json]

A photo moves every source's relative score (export.open_set) together: a textured photo scores
low whatever made it, a smooth or grey one high. So the `open_set_quantile` of a few photos' known
images is a draw of photos more than of sources, and the share of new photos' known images above
it can land far from 1 - quantile. Per size k (at most the split's validation photos): the mean,
5th and 95th percentile over the draws of the threshold and of the shares called unknown; the same
for the committed validation photos (export/splits.json) and for every validation photo. The
held-out zoo members are never used to set a threshold.
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


def image_scores(model, config, reconstructor, split: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the photo of each image, each image's relative score) of the `names` sources on `split`."""
    from export.open_set import image_keys, relative_scores
    from export.trainset import build_eval_tiles

    tiles = build_eval_tiles(config, reconstructor, split, names)
    photos = np.array([photo for photo, _ in image_keys(tiles.photos, tiles.labels.numpy())])
    return photos, relative_scores(model, reconstructor, tiles)["image_relative"]


def rates(threshold: float, test: dict[str, np.ndarray]) -> dict[str, float]:
    from export.open_set import called_unknown

    return {kind: called_unknown(scores, threshold) for kind, scores in test.items()}


def calibrated_on(chosen, val_photos: np.ndarray, val_scores: np.ndarray, quantile: float, test: dict) -> dict:
    threshold = float(np.quantile(val_scores[np.isin(val_photos, list(chosen))], quantile))
    return {"threshold": threshold, **rates(threshold, test)}


def spread(rows: list[dict]) -> dict:
    """Mean, 5th and 95th percentile of each figure over the draws."""
    return {key: {"mean": float(np.mean(values)), "p05": float(np.quantile(values, 0.05)),
                  "p95": float(np.quantile(values, 0.95))}
            for key, values in ((key, [row[key] for row in rows]) for key in rows[0])}


def main(argv=None) -> int:
    from export.photos import load_splits

    parser = open_set_parser(__doc__.split("\n")[0], ROOT, "open_set_calibration.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 6, 12, 24], help="validation photos per draw")
    parser.add_argument("--draws", type=int, default=1000, help="random draws of photos per size")
    args = parser.parse_args(argv)
    if min(args.sizes) < 1 or args.draws < 1:
        parser.error("--sizes and --draws must be at least 1")
    started = time.time()
    loaded = load_held_out_model(args.model, args.dataset)
    if loaded is None:
        return 2
    model, state, config, reconstructor = loaded
    val_photos, val_scores = image_scores(model, config, reconstructor, "val", state["labels"])
    photos = sorted(set(val_photos))
    if max(args.sizes) > len(photos):
        print(f"error: --sizes {max(args.sizes)} is more than the {len(photos)} validation photos of {args.dataset}",
              file=sys.stderr)
        return 2
    test = {kind: image_scores(model, config, reconstructor, "test", names)[1]
            for kind, names in (("known", state["labels"]), ("unknown", state["held_out"]))}
    quantile = config.open_set_quantile
    rng = np.random.default_rng(0)
    committed = [photo for photo in load_splits()["val"] if photo in photos]
    command = command_line("experiments/open_set_calibration.py", argv)
    result = {"command": command, "model": os.path.relpath(args.model, ROOT), "held_out": state["held_out"],
              "quantile": quantile, "validation_photos": len(photos), "validation_images": len(val_scores),
              "test_images": {kind: len(scores) for kind, scores in test.items()},
              "committed_validation_photos": {"photos": committed,
                                              **calibrated_on(committed, val_photos, val_scores, quantile, test)}
              if committed else None,
              "every_validation_photo": calibrated_on(photos, val_photos, val_scores, quantile, test),
              "draws": args.draws,
              "by_size": {str(k): spread([calibrated_on(rng.choice(photos, k, replace=False), val_photos, val_scores,
                                                        quantile, test) for _ in range(args.draws)])
                          for k in args.sizes},
              "seconds": time.time() - started}
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
