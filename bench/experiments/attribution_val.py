"""Checkpoints compared on the attribution targets, on the validation photos (where choices are made;
the test photos are for the final figures only), with the evaluation's own measurements.

    python bench/experiments/attribution_val.py runs/causal/model.pt runs/other/model.pt [--dataset data/zoo]
                                    [--split val] [--output bench/experiments/results/attribution_val.json]

Per checkpoint: its phase-1 settings that differ between the checkpoints compared, and on the
split's grid tiles: the decision's tile accuracy and whole-image accuracy, the f head's, the FDR
of f, the open-set AUROC of the runtime's energy score (held-out zoo members vs known sources,
tiles and images), the share of held-out and of known images the runtime calls unknown and of
held-out ones it puts in their own family, and the accuracy after jpeg75 and with every class
re-saved as JPEG q90 (the format shortcut). Anonymization is bench/experiments/anonymize_val.py's.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import checkpoints_parser, refuse_missing, write_comparison  # noqa: E402  (bench/)

PERTURBED = {"jpeg75": 75, "jpeg90_all_classes": 90}


def measure(model, state: dict, config, reconstructor, split: str) -> dict:
    """The attribution metrics of one checkpoint (as export.checkpoints.load_model_on gives it) on one split."""
    from export.augment import jpeg
    from export.evaluate import method_metrics, open_set, ours_predict
    from export.metrics import trace_ratio
    from export.train import fingerprints
    from export.trainset import build_eval_tiles

    labels = state["labels"]
    tiles = build_eval_tiles(config, reconstructor, split, labels)
    y = tiles.labels.numpy()
    outputs = fingerprints(model, tiles)
    ours = method_metrics(outputs["decision"].exp().numpy(), y, tiles.photos, labels, config.dataset)
    row = {"accuracy": ours["accuracy"], "image_accuracy": ours["image_accuracy"],
           "f_head_accuracy": float((outputs["logits"].argmax(1).numpy() == y).mean()),
           "decision_spaces": list(model.config.decision_spaces),
           "fdr": trace_ratio(outputs["mu"].numpy(), y)}
    held = open_set(model, state, config, reconstructor, tiles, outputs["mu"], outputs["logits"], state["held_out"],
                    split)
    if held["auroc"] is not None:
        row["open_set_auroc"] = held["auroc"]
        row["open_set_image_auroc"] = held["scores"]["energy"]["image_auroc"]
        row["open_set_relative_image_auroc"] = held["scores"]["relative"]["image_auroc"]
        row["images_called_unknown"] = held["images_called_unknown"]
        row["held_out_named_in_own_family"] = held["held_out_named_in_own_family"]
    for name, quality in PERTURBED.items():
        perturbed = build_eval_tiles(config, reconstructor, split, labels, perturb=lambda im, q=quality: jpeg(im, q))
        row[f"{name}_accuracy"] = float((ours_predict(model, perturbed)[0].argmax(1) == perturbed.labels.numpy()).mean())
    return row


def differing_settings(states: list[dict]) -> list[str]:
    """The train_config keys whose values are not the same in every checkpoint."""
    keys = sorted(set().union(*(state["train_config"] for state in states)))
    return [key for key in keys if len({repr(state["train_config"].get(key)) for state in states}) > 1]


def main(argv=None) -> int:
    from export.checkpoints import load_model_on

    args = checkpoints_parser(__doc__.split("\n")[0], ROOT, "attribution_val.json").parse_args(argv)
    if refuse_missing([args.dataset / "build.json", *args.checkpoints]):
        return 2

    started = time.time()
    loaded = [load_model_on(path, args.dataset) for path in args.checkpoints]
    states = [state for _, state, _, _ in loaded]
    if any(state["labels"] != states[0]["labels"] for state in states):
        print("error: the checkpoints know different labels; compare models of one dataset", file=sys.stderr)
        return 2
    settings = differing_settings(states)
    rows = [{"checkpoint": str(path), **{key: checkpoint[1]["train_config"].get(key) for key in settings},
             **measure(*checkpoint, args.split)} for path, checkpoint in zip(args.checkpoints, loaded)]
    write_comparison("attribution_val.py", args, argv, rows, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
