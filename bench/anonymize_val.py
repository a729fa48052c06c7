"""Counterfactual checkpoints compared on the validation photos (where choices are made; the test
photos are for the final figures only), with the evaluation's own anonymization measurement.

    python bench/anonymize_val.py runs/causal/model.pt runs/other/model.pt [--dataset data/zoo]
                                  [--split val] [--output bench/results/anonymize_val.json]

Per checkpoint: its counterfactual settings (objective, PSNR floor, steps) and the metrics of
`export.evaluate.anonymization` on the split's generated tiles (tile-aligned grid, neutral and
named targets, saved as 8-bit and re-attributed), judged by ours and by dct-linear fitted on the
clean train photos as in the evaluation, and, for a run whose counterfactual phase trained against a
dct-linear surrogate (its judge.pt beside model.pt), by that surrogate too (`dct-linear-surrogate`:
whether a change that fools the surrogate also fools the baseline).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from report import write_result  # noqa: E402  (bench/, beside this script)

COUNTERFACTUAL_SETTINGS = ("cf_objective", "cf_psnr_floor", "cf_steps", "cf_lr", "cf_batch", "w_judge", "init_from")


def surrogate_judges(checkpoint: Path, num_classes: int, tile: int) -> dict:
    """{"dct-linear-surrogate": judge} when the run of `checkpoint` left the surrogate it trained
    against (judge.pt), else {}. A judge maps a TileSet to class probabilities."""
    from export.baselines import DctLinearJudge

    path = checkpoint.parent / "judge.pt"
    if not path.is_file():
        return {}
    surrogate = DctLinearJudge.load(path, tile, num_classes)
    return {"dct-linear-surrogate": lambda tiles: surrogate.predict_proba(tiles.x)}


def main(argv=None) -> int:
    from export.baselines import DctLinear
    from export.evaluate import anonymization, baseline_train_tiles, generated_tiles
    from export.train import load_model_on

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", type=Path, nargs="+", help="model.pt files of `python -m export.train`")
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "zoo")
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "anonymize_val.json")
    args = parser.parse_args(argv)
    missing = [str(p) for p in [args.dataset / "build.json", *args.checkpoints] if not p.is_file()]
    if missing:
        print(f"error: not found: {', '.join(missing)} (build the dataset with python -m export.zoo build)",
              file=sys.stderr)
        return 2

    started = time.time()
    rows, judge, labels = [], None, None
    for path in args.checkpoints:
        model, state, config, reconstructor = load_model_on(path, args.dataset)
        if labels not in (None, state["labels"]):
            print(f"error: {path} knows other labels than {args.checkpoints[0]}", file=sys.stderr)
            return 2
        labels = state["labels"]
        if judge is None:
            baseline = DctLinear().fit(*baseline_train_tiles(args.dataset, labels, config.tile))
            judge = {baseline.name: lambda tiles: baseline.predict_proba(tiles.x)}
        tiles = generated_tiles(config, reconstructor, args.split, labels)
        judges = {**judge, **surrogate_judges(path, len(labels), config.tile)}
        metrics, _ = anonymization(model, state, reconstructor, tiles, judges, DctLinear.name)
        settings = {key: state["train_config"].get(key, "uniform" if key == "cf_objective" else None)
                    for key in COUNTERFACTUAL_SETTINGS}
        rows.append({"checkpoint": str(path), **settings, **metrics})
    command = "python bench/anonymize_val.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_result(args.output, {"command": command, "split": args.split, "platform": platform.platform(),
                               "checkpoints": rows, "seconds": time.time() - started})
    return 0


if __name__ == "__main__":
    sys.exit(main())
