"""One verdict with four outcomes, from an image's source probabilities and its open-set score.

    real          no trace of any generator the bundle knows
    generated     made by `label`, a generator the bundle knows
    unknown       a generator's trace, but of no source the bundle knows
    inconclusive  not enough evidence either way (a weak trace, or one resized or compressed away)

The evidence is the log-odds that a generator made the image, s = log sum_g p_g - log p_real.
A calibrated bundle's manifest `verdict` section holds the two thresholds (s above `accuse_above`: a generator's
trace, calibrated so that at most a target share of validation camera images are accused; s
below `real_below`: a camera photo) and a logistic map from s to the probability that a
generator made the image. numpy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

OUTCOMES = ("real", "generated", "unknown", "inconclusive")
# A bundle exported without calibration answers as bundles always have: the open-set flag first,
# then the most probable label (real or a generator); never inconclusive.
UNCALIBRATED = {"accuse_above": 0.0, "real_below": 0.0, "logistic": {"slope": 1.0, "intercept": 0.0},
                "calibration": None}


@dataclass(frozen=True)
class Verdict:
    outcome: str
    label: str           # the closest known source (calibrated: a generator for generated / unknown)
    confidence: float    # the probability of what `outcome` states
    p_generated: float   # the probability that a generator (known or not) made the image
    log_odds: float      # s, the evidence


def log_odds_generated(probabilities: np.ndarray, real_index: int) -> float:
    """s = log sum of the generators' probabilities - log p_real (clipped to stay finite)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-300, None)
    generators = np.delete(p, real_index)
    return float(np.log(generators.sum()) - np.log(p[real_index]))


def p_generated(log_odds: float, rule: dict) -> float:
    """The calibrated probability that a generator made the image."""
    z = rule["logistic"]["slope"] * log_odds + rule["logistic"]["intercept"]
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def decide(probabilities: np.ndarray, labels: list[str], real_index: int, unknown: bool, rule: dict) -> Verdict:
    """The verdict for an image's source probabilities (labels' order) and the open-set flag."""
    s = log_odds_generated(probabilities, real_index)
    p_gen = p_generated(s, rule)
    generators = [k for k in range(len(labels)) if k != real_index]
    closest = max(generators, key=lambda k: probabilities[k])
    if rule.get("calibration") is None:
        best = int(np.argmax(probabilities))
        if unknown:
            return Verdict("unknown", labels[best], p_gen, p_gen, s)
        outcome = "real" if best == real_index else "generated"
        return Verdict(outcome, labels[best], float(probabilities[best]), p_gen, s)
    if s > rule["accuse_above"]:
        if unknown:
            return Verdict("unknown", labels[closest], p_gen, p_gen, s)
        share = float(probabilities[closest] / max(sum(probabilities[k] for k in generators), 1e-300))
        return Verdict("generated", labels[closest], p_gen * share, p_gen, s)
    if s < rule["real_below"]:
        return Verdict("real", labels[real_index], 1.0 - p_gen, p_gen, s)
    lean = labels[closest] if p_gen >= 0.5 else labels[real_index]
    return Verdict("inconclusive", lean, max(p_gen, 1.0 - p_gen), p_gen, s)


def headline(verdict: Verdict, display_name: str, generators: int) -> str:
    """The plain sentence shown to people for a verdict."""
    if verdict.outcome == "real":
        return "Looks like a camera photo: no trace of any generator this bundle knows"
    if verdict.outcome == "generated":
        return f"Made by {display_name}, one of the {generators} generators this bundle knows"
    if verdict.outcome == "unknown":
        return "A generator's trace, but not of any source this bundle knows"
    # Said of untouched camera photos as well as of heavily resized generated images: no cause named.
    return "Inconclusive: not enough evidence to tell a camera photo from a generated image"
