"""Which head's energy makes the best relative open-set score: the f head (the runtime's rule) or
a space head, or their sum.

    python bench/experiments/open_set_heads.py [--model export/assets/causal-fingerprint.pt] [--dataset data/zoo]
                                   [--output bench/experiments/results/open_set_heads.json]

The runtime's relative score (export.open_set) is an image's mean tile energy -logsumexp(logits)
of the f head minus that of its own 8-bit reconstruction R(x). Every space head (pixel residual,
spectrum, latent drift, filter bank, DCT) has logits over the same sources, so each gives such a
score too. Per score, on the validation and the test photos: the image AUROC of held-out zoo
members (positives) against known sources, and the shares of images called unknown at the 0.95
quantile of the known validation images (as export.to_onnx calibrates; held-out members are never
used to set it). `sum` adds the f head's and every space head's relative scores, each divided by
the spread of its known validation images' scores so that no head dominates by scale.
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


def head_scores(model, reconstructor, tiles) -> dict[str, np.ndarray]:
    """Per head ("f" and each space): each image's relative score (own minus reference energy)."""
    from export.open_set import image_means, saved_reconstructions
    from export.train import fingerprints, open_set_score

    own, reference = fingerprints(model, tiles), fingerprints(model, saved_reconstructions(reconstructor, tiles))
    labels = tiles.labels.numpy()
    relative = {"f": open_set_score(own["logits"]) - open_set_score(reference["logits"])}
    for index, space in enumerate(model.config.spaces):
        relative[space] = (open_set_score(own["space_logits"][:, index])
                           - open_set_score(reference["space_logits"][:, index]))
    return {head: image_means(score.numpy(), tiles.photos, labels) for head, score in relative.items()}


def with_sum(scores: dict, spreads: dict[str, float]) -> dict:
    """`scores` (per head) plus `sum`: every head's score over its spread, added."""
    return {**scores, "sum": sum(scores[head] / spreads[head] for head in spreads)}


def main(argv=None) -> int:
    from export.evaluate import auroc
    from export.open_set import called_unknown
    from export.trainset import build_eval_tiles

    args = open_set_parser(__doc__.split("\n")[0], ROOT, "open_set_heads.json").parse_args(argv)
    started = time.time()
    loaded = load_held_out_model(args.model, args.dataset)
    if loaded is None:
        return 2
    model, state, config, reconstructor = loaded
    scores = {(split, kind): head_scores(model, reconstructor, build_eval_tiles(config, reconstructor, split, names))
              for split in ("val", "test")
              for kind, names in (("known", state["labels"]), ("unknown", state["held_out"]))}
    spreads = {head: float(np.std(values)) or 1.0 for head, values in scores["val", "known"].items()}
    scores = {key: with_sum(value, spreads) for key, value in scores.items()}
    thresholds = {head: float(np.quantile(values, config.open_set_quantile))
                  for head, values in scores["val", "known"].items()}
    result = {split: {head: {"image_auroc": auroc(scores[split, "known"][head], scores[split, "unknown"][head]),
                             "called_unknown": {kind: called_unknown(scores[split, kind][head], thresholds[head])
                                                for kind in ("known", "unknown")}}
                      for head in thresholds}
              for split in ("val", "test")}
    command = command_line("experiments/open_set_heads.py", argv)
    write_result(args.output, {
        "command": command, "model": os.path.relpath(args.model, ROOT),
        "images": {f"{split}_{kind}": len(next(iter(value.values()))) for (split, kind), value in scores.items()},
        "quantile": config.open_set_quantile, "thresholds": thresholds, "spreads": spreads,
        **result, "seconds": time.time() - started})
    return 0


if __name__ == "__main__":
    sys.exit(main())
