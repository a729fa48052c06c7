"""Is the change budget what limits anonymization? A per-tile attack on the change itself (no
amortized decoder G) at the checkpoint's PSNR floor, judged as saved (8-bit).

    python bench/experiments/attack_budget.py [--model export/assets/causal-fingerprint.pt] [--dataset data/zoo]
                                  [--split val] [--tiles 64] [--steps 60]
                                  [--output bench/experiments/results/attack_budget.json]

For a seeded sample of the split's generated tiles, Adam optimizes each tile's change (scaled down
to the PSNR floor, as the counterfactual is) against the neutral objective of training
(export.phase2.neutral_loss, "away"), three ways: against the dct-linear surrogate only (fitted as
`--w-judge` fits it), against our heads only, and against both. Each result is re-attributed by
ours, by the surrogate and by the dct-linear baseline (fitted as in the evaluation, never attacked):
if they stop naming the true source at the floor, the budget suffices and G's reach is the limit.
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

TARGETS = {"surrogate": (True, False), "ours": (False, True), "both": (True, True)}


def attack(x, sources, losses, max_rms: float, steps: int, seed: int):
    """The saved image x + change (change RMS at most `max_rms` per tile) after `steps` Adam steps
    on the sum of `losses` (functions of the saved image)."""
    import torch

    from export.phase2 import as_saved, clip_change

    generator = torch.Generator().manual_seed(seed)
    change = (torch.randn(x.shape, generator=generator) * 1e-3).requires_grad_(True)
    optimizer = torch.optim.Adam([change], lr=2e-3)

    def saved():
        return as_saved((x + clip_change(change, max_rms)).clamp(-1, 1))

    for _ in range(steps):
        image = saved()
        loss = sum(loss_of(image) for loss_of in losses)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return saved()


def main(argv=None) -> int:
    import torch

    from export.baselines import DctLinear
    from export.evaluate import baseline_train_tiles, generated_tiles
    from export.tiles import to_pixels
    from export.checkpoints import load_model_on
    from export.config import PUBLISHED
    from export.judges import fit_judge
    from export.phase2 import neutral_loss, reencode
    from runtime.engine import max_change_rms

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=PUBLISHED)
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "zoo")
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--tiles", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "experiments" / "results" / "attack_budget.json")
    args = parser.parse_args(argv)
    missing = [str(p) for p in [args.dataset / "build.json", args.model] if not p.is_file()]
    if missing:
        print(f"error: not found: {', '.join(missing)}", file=sys.stderr)
        return 2

    started = time.time()
    model, state, config, reconstructor = load_model_on(args.model, args.dataset)
    labels = state["labels"]
    baseline = DctLinear().fit(*baseline_train_tiles(args.dataset, labels, config.tile))
    surrogate = fit_judge(config, labels)
    tiles = generated_tiles(config, reconstructor, args.split, labels)
    chosen = torch.from_numpy(np.random.default_rng(0).permutation(len(tiles))[: args.tiles])
    x, sources = tiles.batch(chosen)[0], tiles.labels[chosen]
    real = labels.index("real")
    generators = [k for k in range(len(labels)) if k != real]

    def away(logits):
        return neutral_loss(torch.log_softmax(logits, 1), sources, generators, real, "away")

    def ours_loss(image):
        seen = reencode(model, reconstructor, image)
        heads = [seen["logits"], *seen["space_logits"].values()]
        return sum(away(h) for h in heads) / len(heads)

    def judged(image) -> dict:
        with torch.no_grad():
            ours = reencode(model, reconstructor, image)["decision"].argmax(1)
            by_surrogate = surrogate(image).argmax(1)
        by_baseline = torch.from_numpy(baseline.predict_proba(to_pixels(image)).argmax(1))
        mse = (image - x).pow(2).mean(dim=(1, 2, 3))
        psnr = 10 * torch.log10(4.0 / mse) if bool((mse > 0).all()) else None  # None: some tile unchanged
        return {"psnr_mean": None if psnr is None else float(psnr.mean()),
                "psnr_min": None if psnr is None else float(psnr.min()),
                "true_source_rate_by": {name: float((said == sources).float().mean()) for name, said in
                                        (("causal-fingerprint", ours), ("dct-linear-surrogate", by_surrogate),
                                         (baseline.name, by_baseline))}}

    max_rms = max_change_rms(state["train_config"]["cf_psnr_floor"])
    rows = {"unchanged": judged(x)}
    for name, (use_surrogate, use_ours) in TARGETS.items():
        losses = ([lambda image: away(surrogate(image))] if use_surrogate else []) + ([ours_loss] if use_ours else [])
        rows[f"attack {name}"] = judged(attack(x, sources, losses, max_rms, args.steps, seed=1))
    command = command_line("experiments/attack_budget.py", argv)
    write_result(args.output, {"command": command, "model": str(args.model), "split": args.split,
                               "tiles": int(len(sources)), "steps": args.steps,
                               "psnr_floor_db": state["train_config"]["cf_psnr_floor"],
                               "chance": 1 / len(generators), "platform": platform.platform(), "results": rows,
                               "seconds": time.time() - started})
    return 0


if __name__ == "__main__":
    sys.exit(main())
