"""Calibrate a bundle's verdict on validation images, the way visitors' files arrive.

The validation pool's camera photos and the zoo's regenerations of validation photos go through
the runtime under every calibration condition (`export.conditions.CALIBRATION_CONDITIONS`; never
the conditions kept for testing). From their evidence s (the log-odds that a generator made the
image, `runtime.verdict`):

- `accuse_above`: the lowest threshold at which, under every condition, at most `--target` of the
  camera images would be accused;
- `real_below`: the highest threshold (at most `accuse_above`) at which, under every condition, at
  most `--real-miss` of the known sources' images would be named real; between the two the answer
  is "inconclusive";
- a logistic map from s to the probability that a generator made the image (camera images
  against generated ones, each condition weighted alike), and its calibration error (ECE, 10
  bins) per condition.

The result is written into the bundle's manifest.json (its `verdict` section), with the validation
camera photos' embeddings as its `enrollment_guard` (runtime.enroll); the ONNX files are untouched.

    python bench/real_world.py generate --pool val --pools data/pools --generated data/val-zoo --photos 40
    python -m export.verdict --bundle weights --pools data/pools --generated data/val-zoo
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from export.conditions import CALIBRATION_CONDITIONS
from runtime.errors import InputError, exit_code

logger = logging.getLogger(__name__)

TARGET_ACCUSED = 0.01
REAL_MISS = 0.10
ECE_BINS = 10


def highest_allowed(scores: np.ndarray, share: float, above: bool) -> float:
    """The threshold t nearest the scores' bulk such that at most `share` of them lie beyond it:
    beyond means s > t when `above`, else s < t."""
    ordered = np.sort(scores)
    allowed = int(np.floor(share * len(ordered)))
    if above:
        return float(ordered[len(ordered) - 1 - allowed]) if allowed < len(ordered) else float(ordered[0])
    return float(ordered[allowed]) if allowed < len(ordered) else float(ordered[-1])


def expected_calibration_error(p: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the mean |accuracy - confidence| over equal-width bins of p, weighted by bin size."""
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            total += chosen.sum() * abs(truth[chosen].mean() - p[chosen].mean())
    return float(total / len(p))


def fit_logistic(scores: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> dict:
    """P(generated | s) = sigmoid(slope * s + intercept), fitted by weighted logistic regression."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e4).fit(scores[:, None], truth, sample_weight=weights)
    return {"slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}


def choose_rule(rows: list[dict], target: float = TARGET_ACCUSED, real_miss: float = REAL_MISS) -> dict:
    """The verdict section from calibration rows ({condition, group: camera|known|held_out, log_odds})."""
    from runtime.verdict import p_generated

    conditions = sorted({row["condition"] for row in rows}, key=list(CALIBRATION_CONDITIONS).index)
    by = {(c, g): np.array([r["log_odds"] for r in rows if r["condition"] == c and r["group"] == g])
          for c in conditions for g in ("camera", "known", "held_out")}
    if any(len(by[(c, "camera")]) == 0 or len(by[(c, "known")]) == 0 for c in conditions):
        raise InputError("calibration needs camera images and images of known sources under every condition")
    accuse_above = max(highest_allowed(by[(c, "camera")], target, above=True) for c in conditions)
    real_below = min(accuse_above, min(highest_allowed(by[(c, "known")], real_miss, above=False) for c in conditions))
    scores, truth, weights = [], [], []
    for c in conditions:
        for group, label in (("camera", 0), ("known", 1), ("held_out", 1)):
            values = by[(c, group)]
            if len(values):
                scores.append(values)
                truth.append(np.full(len(values), label))
                # every condition alike, and camera images as heavy as generated ones within it
                weights.append(np.full(len(values), 1.0 / len(values) / (1 if group == "camera" else 2)))
    scores, truth, weights = np.concatenate(scores), np.concatenate(truth), np.concatenate(weights)
    logistic = fit_logistic(scores, truth, weights / weights.mean())
    rule = {"accuse_above": accuse_above, "real_below": real_below, "logistic": logistic}
    per_condition = {}
    for c in conditions:
        camera, known = by[(c, "camera")], by[(c, "known")]
        both = np.concatenate([camera, known, by[(c, "held_out")]])
        labels = np.concatenate([np.zeros(len(camera)), np.ones(len(both) - len(camera))])
        p = np.array([p_generated(s, rule) for s in both])
        per_condition[c] = {"camera_images": len(camera), "camera_accused": float((camera > accuse_above).mean()),
                            "camera_named_real": float((camera < real_below).mean()),
                            "known_images": len(known), "known_named_real": float((known < real_below).mean()),
                            "known_past_accuse_threshold": float((known > accuse_above).mean()),
                            "ece": expected_calibration_error(p, labels)}
    rule["calibration"] = {"target_accused": target, "real_miss": real_miss, "conditions": per_condition,
                           "note": "thresholds on s = log sum_g p_g - log p_real, set on validation images "
                                   "(export.verdict); accused: s > accuse_above and no unknown-source flag"}
    return rule


def calibration_rows(engine, pools: Path, generated: Path, cache: Path | None) -> list[dict]:
    """The validation pool's camera photos and the generated validation images under every
    calibration condition, through `engine`: one row per image and condition."""
    from export.realworld import generated_items, measure, pool_items

    labels = {label.name for label in engine.labels}
    items = [i for i in pool_items(pools, "val") if i.group == "camera"] + generated_items(generated, labels)
    measured = measure(engine, items, list(CALIBRATION_CONDITIONS), cache, log=logger.info)
    return [{**row, "condition": condition} for condition, rows in measured.items() for row in rows]


def camera_guard(engine, pools: Path) -> dict:
    """The validation pool's camera photos' embeddings (as their files arrive, at native size): what
    an enrollment is checked against (runtime.enroll)."""
    from export.conditions import native_bytes
    from export.realworld import pool_items

    cameras = [item for item in pool_items(pools, "val") if item.group == "camera"]
    embeddings = [[round(float(v), 6) for v in engine.embedding(native_bytes(item.path))] for item in cameras]
    return {"camera_embeddings": embeddings, "source": f"{len(embeddings)} camera photos of the validation pool, "
                                                       "native (python -m export.verdict)"}


def write_rule(bundle: Path, rule: dict, guard: dict | None = None) -> None:
    """Put `rule` into the bundle folder's manifest.json as its `verdict` section (and `guard` as
    its `enrollment_guard`)."""
    path = Path(bundle) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["verdict"] = rule
    if guard is not None:
        manifest["enrollment_guard"] = guard
    path.write_text(json.dumps(manifest, indent=1) + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.verdict", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--bundle", type=Path, default=Path("weights"), help="a bundle folder (its manifest is updated)")
    parser.add_argument("--pools", type=Path, default=Path("data/pools"), help="a fetched export.pools folder (val)")
    parser.add_argument("--generated", type=Path, default=Path("data/val-zoo"), help="FOLDER/SOURCE/NAME.png")
    parser.add_argument("--target", type=float, default=TARGET_ACCUSED, help="most camera images accused, per condition")
    parser.add_argument("--real-miss", type=float, default=REAL_MISS, help="most known-source images named real")
    parser.add_argument("--cache", type=Path, default=Path("data/verdict_cache.jsonl"))
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--report", type=Path, help="also write the rule, the bundle it was fitted on and this "
                                                   "command to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return exit_code(lambda: _run(args))


def _run(args) -> None:
    from runtime.engine import Engine

    if not 0 < args.target < 1 or not 0 < args.real_miss < 1:
        raise InputError("--target and --real-miss are shares between 0 and 1")
    engine = Engine.load(args.bundle, threads=args.threads)
    rule = choose_rule(calibration_rows(engine, args.pools, args.generated, args.cache), args.target, args.real_miss)
    write_rule(args.bundle, rule, camera_guard(engine, args.pools))
    if args.report:
        command = " ".join(["python -m export.verdict", *(sys.argv[1:] if args.argv is None else args.argv)])
        report = {"command": command, "bundle_sha256_before": engine.bundle.sha256, "rule": rule}
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(rule, indent=1))


if __name__ == "__main__":
    sys.exit(main())
