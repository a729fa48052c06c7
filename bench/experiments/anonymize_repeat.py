"""Neutral anonymization applied again to its own output, within the same change budget: does a
second pass of the amortized counterfactual fool the attributors better than one?

    python bench/experiments/anonymize_repeat.py export/assets/causal-fingerprint.pt [--dataset data/zoo-xv]
                                     [--split val] [--repeats 2] [--output bench/experiments/results/anonymize_repeat.json]

Pass k re-reads the previous pass's 8-bit result (its fingerprint, content code and residual),
adds G(neutral) - G(f) clipped to the budget to the change so far, and clips the total change to
the budget again, so every pass stays at the checkpoint's PSNR floor. Each pass is judged as saved
(8-bit) by ours and by dct-linear fitted on the clean train photos as in the evaluation, on the
split's generated tiles (tile-aligned grid); pass 1 is what `export.evaluate.anonymization`
measures.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # report.py

from report import checkpoints_parser, refuse_missing, write_comparison  # noqa: E402  (bench/)


def neutral_change(model, tiles, neutral, max_rms: float, batch: int = 128):
    """Each tile's G(neutral, c, r) - G(f, c, r), clipped to `max_rms` (as `export.phase2.counterfactual`)."""
    import torch

    from export.phase2 import counterfactual

    changes = []
    with torch.no_grad():
        for start in range(0, len(tiles), batch):
            x, x_hat, z, z_hat = tiles.batch(slice(start, start + batch))
            out = model.encode(x, x_hat, z, z_hat)
            _, change = counterfactual(model, x, x_hat, out["mu"], out["content"],
                                       neutral.expand(len(out["mu"]), -1), max_rms)
            changes.append(change)
    return torch.cat(changes)


def repeated(model, state, reconstructor, tiles, judges: dict, repeats: int) -> list[dict]:
    """One row per pass: the share of tiles each judge (and ours) still names the true source of,
    and the mean PSNR of the saved result to the input."""
    import numpy as np
    import torch

    from export.evaluate import ours_predict, resaved, tile_psnrs
    from export.tiles import to_pixels, to_unit
    from export.phase2 import clip_change
    from runtime.engine import max_change_rms

    max_rms = max_change_rms(state["train_config"]["cf_psnr_floor"])
    y = tiles.labels.numpy()
    original = to_unit(tiles.x)
    total, current, rows = torch.zeros_like(original), tiles, []
    for index in range(1, repeats + 1):
        total = clip_change(total + neutral_change(model, current, state["neutral"], max_rms), max_rms)
        pixels = to_pixels((original + total).clamp(-1, 1))
        current = resaved(reconstructor, tiles, pixels)
        named = {"ours": ours_predict(model, current)[0].argmax(1),
                 **{name: judge(current).argmax(1) for name, judge in judges.items()}}
        rows.append({"pass": index, "psnr_mean": float(np.mean(tile_psnrs(tiles.x.numpy(), pixels.numpy()))),
                     "true_source_rate_by": {name: float(np.mean(hits == y)) for name, hits in named.items()}})
    return rows


def main(argv=None) -> int:
    from export.baselines import DctLinear
    from export.evaluate import baseline_train_tiles, generated_tiles
    from export.checkpoints import load_model_on

    parser = checkpoints_parser(__doc__.split("\n")[0], ROOT, "anonymize_repeat.json")
    parser.add_argument("--repeats", type=int, default=2, help="passes of the counterfactual (1: the plain one)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if refuse_missing([args.dataset / "build.json", *args.checkpoints]):
        return 2

    started, rows = time.time(), []
    for path in args.checkpoints:
        model, state, config, reconstructor = load_model_on(path, args.dataset)
        train_x, ys = baseline_train_tiles(args.dataset, state["labels"], config.tile)
        dct = DctLinear().fit(train_x, ys)
        tiles = generated_tiles(config, reconstructor, args.split, state["labels"])
        passes = repeated(model, state, reconstructor, tiles, {dct.name: lambda t: dct.predict_proba(t.x)},
                          args.repeats)
        rows.append({"checkpoint": str(path), "cf_psnr_floor": state["train_config"]["cf_psnr_floor"],
                     "tiles": len(tiles), "passes": passes})
    write_comparison("anonymize_repeat.py", args, argv, rows, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
