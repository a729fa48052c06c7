"""Counterfactual checkpoints compared on the validation photos (where choices are made; the test
photos are for the final figures only), with the evaluation's own anonymization measurement.

    python bench/experiments/anonymize_val.py runs/causal/model.pt runs/other/model.pt [--dataset data/zoo]
                                  [--split val] [--output bench/experiments/results/anonymize_val.json]
                                  [--cnn [--ablation export/assets/residual-cnn.pt] [--pixel-cnn-steps 1500]]
                                  [--psnr-floors 35.2 34 33]

Per checkpoint: its counterfactual settings (objective, PSNR floor, steps) and the metrics of
`export.evaluate.anonymization` on the split's generated tiles (tile-aligned grid, neutral and
named targets, saved as 8-bit and re-attributed), judged by ours and by dct-linear fitted on the
clean train photos as in the evaluation, and, for a run whose counterfactual phase trained against a
dct-linear surrogate (its judge.pt beside model.pt), by that surrogate too (`dct-linear-surrogate`:
whether a change that fools the surrogate also fools the baseline). With `--cnn`, also by the two
CNN judges of the evaluation: pixel-cnn fitted as there, and the residual-only ablation checkpoint.
`--psnr-floors` measures each checkpoint at each of these floors instead of its own (the runtime's
floor is a setting: this is where its default is chosen). `--judge-by` adds other checkpoints'
attributors as judges ("attributor:PATH"), so that counterfactuals of models with attributors of
different strength are compared under the same one.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import checkpoints_parser, refuse_missing, write_comparison  # noqa: E402  (bench/)

COUNTERFACTUAL_SETTINGS = ("cf_objective", "cf_psnr_floor", "cf_steps", "cf_lr", "cf_batch", "w_judge", "judges",
                           "cnn_judges", "init_from")


def surrogate_judges(checkpoint: Path, num_classes: int, tile: int, residual_scale: float = 1.0) -> dict:
    """The surrogates the run of `checkpoint` trained against and left beside it: its first
    dct-linear one (judge.pt) as "dct-linear-surrogate", its first CNN ones as "pixel-cnn-surrogate"
    and "residual-cnn-surrogate"; {} when none. A judge maps a TileSet to class probabilities."""
    from export.baselines import DctLinearJudge
    from export.judges import CNN_FAMILIES, cnn_judge_path, load_cnn_judge

    judges = {}
    path = checkpoint.parent / "judge.pt"
    if path.is_file():
        surrogate = DctLinearJudge.load(path, tile, num_classes)
        judges["dct-linear-surrogate"] = lambda tiles: surrogate.predict_proba(tiles.x)
    for family in CNN_FAMILIES:
        path = cnn_judge_path(checkpoint.parent, family, 0)
        if path.is_file():
            cnn = load_cnn_judge(path, family, num_classes)
            judges[f"{family}-surrogate"] = lambda tiles, cnn=cnn: cnn.predict_proba(tiles, residual_scale)
    return judges


def baseline_judges(args, labels: list[str], tile: int) -> dict:
    """name -> judge (a TileSet to class probabilities) of the baselines, fitted as in the evaluation,
    and of the `--judge-by` attributors; None (after one error line) when one knows other labels."""
    from export.baselines import DctLinear, PixelCNN
    from export.evaluate import baseline_train_tiles, ours_predict
    from export.checkpoints import load_model

    attributors = {}
    for path in args.judge_by:
        attributor, state = load_model(path)
        if state["labels"] != labels:
            print(f"error: {path} (--judge-by) knows other labels than the checkpoints it judges", file=sys.stderr)
            return None
        attributors[f"attributor:{path}"] = lambda tiles, attributor=attributor: ours_predict(attributor, tiles)[0]
    train_x, ys = baseline_train_tiles(args.dataset, labels, tile)
    dct = DctLinear().fit(train_x, ys)
    judges = {dct.name: lambda tiles: dct.predict_proba(tiles.x)}
    if args.cnn:
        pixel = PixelCNN(len(labels)).fit(train_x, ys, steps=args.pixel_cnn_steps)
        ablation, _ = load_model(args.ablation)
        judges[pixel.name] = lambda tiles: pixel.predict_proba(tiles.x)
        judges["residual-cnn"] = lambda tiles: ours_predict(ablation, tiles)[0]
    return {**judges, **attributors}


def main(argv=None) -> int:
    from export.baselines import DctLinear
    from export.evaluate import anonymization, generated_tiles
    from export.checkpoints import load_model_on

    parser = checkpoints_parser(__doc__.split("\n")[0], ROOT, "anonymize_val.json")
    parser.add_argument("--cnn", action="store_true", help="also judge by pixel-cnn and the residual-cnn ablation")
    parser.add_argument("--ablation", type=Path, default=ROOT / "export" / "assets" / "residual-cnn.pt",
                        help="the residual-cnn checkpoint (with --cnn)")
    parser.add_argument("--pixel-cnn-steps", type=int, default=1500, help="pixel-cnn fit steps (the evaluation's: 1500)")
    parser.add_argument("--psnr-floors", type=float, nargs="+", metavar="DB",
                        help="measure at these PSNR floors (dB) instead of each checkpoint's own")
    parser.add_argument("--judge-by", type=Path, nargs="+", default=[], metavar="CHECKPOINT",
                        help="also judge by these checkpoints' attributors")
    args = parser.parse_args(argv)
    if any(floor <= 0 for floor in args.psnr_floors or ()):
        parser.error(f"--psnr-floors must be positive, got {args.psnr_floors}")
    if refuse_missing([args.dataset / "build.json", *args.checkpoints, *([args.ablation] if args.cnn else []),
                       *args.judge_by]):
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
            judge = baseline_judges(args, labels, config.tile)
            if judge is None:
                return 2
        tiles = generated_tiles(config, reconstructor, args.split, labels)
        judges = {**judge, **surrogate_judges(path, len(labels), config.tile,
                                                    model.config.residual_scale)}
        for floor in args.psnr_floors or [state["train_config"]["cf_psnr_floor"]]:
            at_floor = {**state, "train_config": {**state["train_config"], "cf_psnr_floor": floor}}
            metrics, _ = anonymization(model, at_floor, reconstructor, tiles, judges, DctLinear.name)
            settings = {key: at_floor["train_config"].get(key, "uniform" if key == "cf_objective" else None)
                        for key in COUNTERFACTUAL_SETTINGS}
            rows.append({"checkpoint": str(path), **settings, **metrics})
    write_comparison("anonymize_val.py", args, argv, rows, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
