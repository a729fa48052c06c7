"""Would per-class offsets on the decision, fitted on the validation photos for each way an image
is saved (lossless, JPEG at a quality), make attribution more accurate on new photos?

    python bench/experiments/format_prior.py [--model export/assets/causal-fingerprint.pt] [--dataset data/zoo-xv]
                                 [--qualities 95 90 75 50] [--strengths 0 0.003 0.01 0.03 0.1 0.3 1]
                                 [--folds 4] [--output bench/experiments/results/format_prior.json]

Every class is saved alike in each condition, so offsets conditioned on it cannot tell classes
apart by their format; they only move each class's bias (the real/ddpm boundary above all). For
each L2 strength on the offsets: the gain in tile accuracy when they are fitted on the other
folds of the validation photos and applied to the held fold (`val_cv_gain`, what one can expect
on unseen photos), and when fitted on all validation photos and applied to the test photos
(`test_gain`). `lossless_offsets_everywhere`: the test gain of one offset vector fitted on clean
validation tiles and applied under every condition, as a prior that ignores the format would be.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import command_line, refuse_missing, write_result  # noqa: E402


def fit_offsets(log_probs, labels, strength: float):
    """(K,) offsets b, mean zero, minimizing the cross-entropy of log_probs + b plus strength * mean(b^2)."""
    import torch

    offsets = torch.zeros(log_probs.shape[1], requires_grad=True)
    optimizer = torch.optim.LBFGS([offsets], max_iter=500, line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(log_probs + offsets, labels) + strength * offsets.pow(2).mean()
        value.backward()
        return value

    optimizer.step(loss)
    return (offsets - offsets.mean()).detach()


def accuracy(log_probs, labels, offsets=0.0) -> float:
    return float(((log_probs + offsets).argmax(1) == labels).float().mean())


def gain(offsets, log_probs, labels) -> float:
    """Accuracy with `offsets` minus accuracy without."""
    return accuracy(log_probs, labels, offsets) - accuracy(log_probs, labels)


def cross_validated_gain(log_probs, labels, photos: list[str], strength: float, folds: int) -> float:
    """The tile-weighted mean gain over `folds` groups of whole photos, each held out in turn."""
    import numpy as np

    names = sorted(set(photos))
    fold_of = {name: index % folds for index, name in enumerate(names)}
    fold = np.array([fold_of[p] for p in photos])
    total = 0.0
    for k in range(folds):
        held = fold == k
        offsets = fit_offsets(log_probs[~held], labels[~held], strength)
        total += gain(offsets, log_probs[held], labels[held]) * held.mean()
    return float(total)


def decisions(model, config, reconstructor, labels, split: str, quality: int | None) -> dict:
    """The decision log-probabilities, labels and photos of a split's tiles, saved as JPEG at `quality`."""
    from export.augment import jpeg
    from export.train import fingerprints
    from export.trainset import build_eval_tiles

    perturb = None if quality is None else (lambda image: jpeg(image, quality))
    tiles = build_eval_tiles(config, reconstructor, split, labels, perturb=perturb)
    return {"log_probs": fingerprints(model, tiles)["decision"], "labels": tiles.labels, "photos": tiles.photos}


def condition_name(quality: int | None) -> str:
    return "lossless" if quality is None else f"jpeg{quality}"


def main(argv=None) -> int:
    from export.data import split_photos
    from export.checkpoints import load_model_on

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "export" / "assets" / "causal-fingerprint.pt")
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "zoo")
    parser.add_argument("--qualities", type=int, nargs="+", default=[95, 90, 75, 50], help="JPEG conditions")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0, 0.003, 0.01, 0.03, 0.1, 0.3, 1],
                        help="L2 strengths on the offsets")
    parser.add_argument("--folds", type=int, default=4, help="photo folds of the validation split")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "experiments" / "results" / "format_prior.json")
    args = parser.parse_args(argv)
    if any(not 1 <= q <= 100 for q in args.qualities) or any(s < 0 for s in args.strengths) or args.folds < 2:
        parser.error("--qualities must be 1..100, --strengths at least 0 and --folds at least 2")
    if refuse_missing([args.dataset / "build.json", args.model]):
        return 2

    started = time.time()
    model, state, config, reconstructor = load_model_on(args.model, args.dataset)
    labels = state["labels"]
    val_photos = len(split_photos(args.dataset, "val", labels))
    if val_photos < args.folds:
        parser.error(f"--folds {args.folds}: the validation split has {val_photos} photos, fewer")
    conditions = {condition_name(q): q for q in [None, *args.qualities]}
    data = {split: {name: decisions(model, config, reconstructor, labels, split, q) for name, q in conditions.items()}
            for split in ("val", "test")}

    def pair(split, name):
        return data[split][name]["log_probs"], data[split][name]["labels"]

    rows = []
    for strength in args.strengths:
        offsets = {name: fit_offsets(*pair("val", name), strength) for name in conditions}
        rows.append({
            "strength": strength,
            "val_cv_gain": {name: cross_validated_gain(*pair("val", name), data["val"][name]["photos"], strength,
                                                       args.folds) for name in conditions},
            "test_gain": {name: gain(offsets[name], *pair("test", name)) for name in conditions},
            "lossless_offsets_everywhere": {name: gain(offsets["lossless"], *pair("test", name)) for name in conditions},
            "max_abs_lossless_offset": float(offsets["lossless"].abs().max()),
        })
    chosen = max(rows, key=lambda row: sum(row["val_cv_gain"].values()))
    write_result(args.output, {
        "command": command_line("experiments/format_prior.py", argv), "model": str(args.model), "labels": labels,
        "tiles": {split: len(data[split]["lossless"]["labels"]) for split in data},
        "accuracy_without_offsets": {split: {name: accuracy(*pair(split, name)) for name in conditions}
                                     for split in data},
        "strengths": rows,
        "chosen_by_val_cv": {"strength": chosen["strength"],
                             "mean_val_cv_gain": sum(chosen["val_cv_gain"].values()) / len(conditions),
                             "mean_test_gain": sum(chosen["test_gain"].values()) / len(conditions)},
        "seconds": time.time() - started})
    return 0


if __name__ == "__main__":
    sys.exit(main())
