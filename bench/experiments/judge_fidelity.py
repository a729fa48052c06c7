"""How faithfully a dct-linear surrogate (export.baselines.DctLinearJudge) stands in for the
dct-linear baseline it is meant to imitate, on a checkpoint's anonymized tiles: a surrogate that
training fools is only worth fooling if the baseline agrees with it on those tiles.

    python bench/experiments/judge_fidelity.py [--model export/assets/causal-fingerprint.pt] [--dataset data/zoo]
                                   [--split val] [--eps 1e-6 1e-4 1e-3] [--augmented-tiles runs/x/tiles-train.pt]
                                   [--output bench/experiments/results/judge_fidelity.json]

The baseline is fitted as in the evaluation (aligned grid tiles of the clean train photos). Each
surrogate is fitted independently: on random-phase tiles of the clean train photos (what
`python -m export.train --w-judge` fits it on) with each `--eps`, and, with `--augmented-tiles`, on
a run's augmented train tiles (what training used before). Per surrogate: accuracy on the split's
clean generated tiles, the share of neutral-anonymized tiles still naming their true source, and
its agreement with the baseline on the clean and on the anonymized tiles.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import command_line, write_result  # noqa: E402  (bench/)


def surrogates(config, labels, eps_values, augmented: Path | None) -> dict:
    """name -> fitted DctLinearJudge."""
    import torch

    from export.baselines import DctLinearJudge
    from export.judges import judge_train_tiles

    clean = judge_train_tiles(config, labels)
    fitted = {f"clean random-phase, eps {eps:g}": DctLinearJudge.fit(*clean, len(labels), eps=eps) for eps in eps_values}
    if augmented is not None:
        tiles = torch.load(augmented, weights_only=False)
        for eps in eps_values:
            fitted[f"augmented train tiles, eps {eps:g}"] = DctLinearJudge.fit(tiles.x, tiles.labels.numpy(), len(labels),
                                                                               eps=eps)
    return fitted


def main(argv=None) -> int:
    import torch

    from export.baselines import DctLinear
    from export.evaluate import anonymization, baseline_train_tiles, generated_tiles
    from export.checkpoints import load_model_on
    from export.config import PUBLISHED

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=PUBLISHED)
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "zoo")
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--eps", type=float, nargs="+", default=[1e-6, 1e-4, 1e-3])
    parser.add_argument("--augmented-tiles", type=Path, help="a run's tiles-train.pt (optional)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "experiments" / "results" / "judge_fidelity.json")
    args = parser.parse_args(argv)
    missing = [str(p) for p in [args.dataset / "build.json", args.model, args.augmented_tiles] if p and not p.is_file()]
    if missing:
        print(f"error: not found: {', '.join(missing)}", file=sys.stderr)
        return 2

    started = time.time()
    model, state, config, reconstructor = load_model_on(args.model, args.dataset)
    labels = state["labels"]
    baseline = DctLinear().fit(*baseline_train_tiles(args.dataset, labels, config.tile))
    # every judge here reads the uint8 tiles alone (no reconstruction)
    readers = {name: surrogate.predict_proba
               for name, surrogate in surrogates(config, labels, args.eps, args.augmented_tiles).items()}
    readers[baseline.name] = baseline.predict_proba
    tiles = generated_tiles(config, reconstructor, args.split, labels)
    judges = {name: lambda tiles, read=read: read(tiles.x) for name, read in readers.items()}
    metrics, examples = anonymization(model, state, reconstructor, tiles, judges, baseline.name)
    y = tiles.labels.numpy()
    anonymized = torch.from_numpy(examples["anonymized"]).permute(0, 3, 1, 2)
    said = {name: {"clean": read(tiles.x).argmax(1), "anonymized": read(anonymized).argmax(1)}
            for name, read in readers.items()}
    rows = {name: {"clean_accuracy": float(np.mean(s["clean"] == y)),
                   "anonymized_true_source_rate": metrics["true_source_rate_by"][name],
                   "agreement_with_baseline_clean": float(np.mean(s["clean"] == said[baseline.name]["clean"])),
                   "agreement_with_baseline_anonymized": float(np.mean(s["anonymized"] == said[baseline.name]["anonymized"]))}
            for name, s in said.items()}
    command = command_line("experiments/judge_fidelity.py", argv)
    write_result(args.output, {"command": command, "model": str(args.model), "split": args.split, "tiles": len(y),
                               "platform": platform.platform(), "judges": rows, "seconds": time.time() - started})
    return 0


if __name__ == "__main__":
    sys.exit(main())
