"""What JPEG does to "unknown source": the open-set rule on images re-saved as JPEG, every class alike.

    python bench/experiments/open_set_jpeg.py [--model export/assets/causal-fingerprint.pt] [--dataset data/zoo]
                                  [--qualities 90 75] [--output bench/experiments/results/open_set_jpeg.json]

Per split (val, test), kind (known sources, held-out members) and format (clean PNG, JPEG at each
quality with the reference R(x) saved as PNG as the runtime does, and JPEG with the reference
re-saved at the same quality): the relative scores of whole images (export.open_set). Two
thresholds, each the open_set_quantile of known validation images: `clean` (the one
export.to_onnx ships) and `clean_and_jpeg` (clean and re-saved validation images pooled, PNG
references). For each, the share of test images called unknown, per kind and format, and per
format the AUROC of held-out vs known test images. No held-out member sets anything.
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


def image_scores(model, state, config, reconstructor, qualities: list[int]) -> dict:
    """(split, kind, format) -> relative score of each image; format "clean", "jpegQ" (reference
    saved as PNG, as the runtime does) or "jpegQ_jpeg_reference" (reference re-saved at quality Q)."""
    from export.augment import jpeg
    from export.open_set import relative_scores
    from export.trainset import build_eval_tiles

    formats = {"clean": None, **{f"jpeg{q}": (lambda image, q=q: jpeg(image, q)) for q in qualities}}
    scores = {}
    for split in ("val", "test"):
        for kind, names in (("known", state["labels"]), ("unknown", state["held_out"])):
            for name, perturb in formats.items():
                tiles = build_eval_tiles(config, reconstructor, split, names, perturb=perturb)
                scores[split, kind, name] = relative_scores(model, reconstructor, tiles)["image_relative"]
                if perturb is not None:
                    scores[split, kind, f"{name}_jpeg_reference"] = relative_scores(
                        model, reconstructor, tiles, save=perturb)["image_relative"]
    return scores


def main(argv=None) -> int:
    import numpy as np

    from export.evaluate import auroc
    from export.open_set import called_unknown, manifest_entry

    parser = open_set_parser(__doc__.split("\n")[0], ROOT, "open_set_jpeg.json")
    parser.add_argument("--qualities", type=int, nargs="+", default=[90, 75])
    args = parser.parse_args(argv)
    if not all(1 <= q <= 95 for q in args.qualities):
        print(f"error: --qualities must be JPEG qualities from 1 to 95, got {args.qualities}", file=sys.stderr)
        return 2
    started = time.time()
    loaded = load_held_out_model(args.model, args.dataset)
    if loaded is None:
        return 2
    model, state, config, reconstructor = loaded
    scores = image_scores(model, state, config, reconstructor, args.qualities)
    saved_as_png = ["clean", *(f"jpeg{q}" for q in args.qualities)]
    formats = saved_as_png + [f"jpeg{q}_jpeg_reference" for q in args.qualities]
    quantile = config.open_set_quantile
    thresholds = {"clean": manifest_entry(scores["val", "known", "clean"], quantile)["threshold"],
                  "clean_and_jpeg": manifest_entry(np.concatenate([scores["val", "known", f] for f in saved_as_png]),
                                                   quantile)["threshold"]}
    command = command_line("experiments/open_set_jpeg.py", argv)
    result = {"command": command, "model": os.path.relpath(args.model, ROOT), "held_out": state["held_out"],
              "calibration_quantile": quantile, "thresholds": thresholds,
              "test_images_called_unknown": {
                  name: {kind: {f: called_unknown(scores["test", kind, f], threshold) for f in formats}
                         for kind in ("known", "unknown")}
                  for name, threshold in thresholds.items()},
              "test_mean_score": {kind: {f: float(scores["test", kind, f].mean()) for f in formats}
                                  for kind in ("known", "unknown")},
              "test_image_auroc": {f: auroc(scores["test", "known", f], scores["test", "unknown", f]) for f in formats},
              "test_images": {kind: len(scores["test", kind, "clean"]) for kind in ("known", "unknown")},
              "seconds": time.time() - started}
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
