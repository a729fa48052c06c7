"""Benchmark statistics: confidence intervals by bootstrap over photos, and fingerprint separation
(FDR) three ways, each with the formula it computes.

A photo is the unit of the test set: its tiles, and its images through every source, are not
independent draws, so intervals resample whole photos.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

TRACE_RATIO = ("tr(S_B) / tr(S_W), S_B = sum_k n_k (m_k - m)(m_k - m)^T / N, "
               "S_W = sum_k sum_{i in k} (f_i - m_k)(f_i - m_k)^T / N (m_k: class mean, m: overall mean)")
PAIRWISE_FISHER = ("sum over class pairs (j, k) and dimensions d of (m_jd - m_kd)^2 / (s_jd^2 + s_kd^2) "
                   "(m: class means, s^2: class variances)")


def bootstrap_interval(statistic: Callable[[np.ndarray], float], photos: list[str], samples: int = 1000,
                       level: float = 0.95, seed: int = 0) -> dict:
    """`statistic(rows)` (rows: indices into `photos`, one entry per tile or image) on all rows, and
    its `level` percentile interval over `samples` resamplings of whole photos with replacement."""
    photos = np.asarray(photos)
    names, inverse = np.unique(photos, return_inverse=True)
    rows_of = [np.flatnonzero(inverse == k) for k in range(len(names))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        drawn = rng.integers(0, len(names), size=len(names))
        values.append(statistic(np.concatenate([rows_of[k] for k in drawn])))
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return {"value": float(statistic(np.arange(len(photos)))), "low": float(low), "high": float(high),
            "level": level, "photos": int(len(names)), "resamples": samples}


def accuracy_interval(predicted: np.ndarray, truth: np.ndarray, photos: list[str], **options) -> dict:
    """Accuracy of `predicted` against `truth` with its bootstrap interval over photos."""
    hits = (np.asarray(predicted) == np.asarray(truth)).astype(float)
    return bootstrap_interval(lambda rows: float(hits[rows].mean()), photos, **options)


def trace_ratio(features: np.ndarray, labels: np.ndarray) -> float:
    """FDR as TRACE_RATIO: between-class over within-class scatter, traces."""
    mean = features.mean(0)
    between = within = 0.0
    for k in np.unique(labels):
        group = features[labels == k]
        centre = group.mean(0)
        between += len(group) * float(((centre - mean) ** 2).sum())
        within += float(((group - centre) ** 2).sum())
    return between / max(within, 1e-12)


def pairwise_fisher(features: np.ndarray, labels: np.ndarray) -> float:
    """FDR as PAIRWISE_FISHER: the classic multi-class Fisher ratio, summed over dimensions."""
    classes = np.unique(labels)
    means = np.stack([features[labels == k].mean(0) for k in classes])
    variances = np.stack([features[labels == k].var(0) for k in classes])
    total = 0.0
    for j in range(len(classes)):
        for k in range(j + 1, len(classes)):
            total += float(((means[j] - means[k]) ** 2 / np.maximum(variances[j] + variances[k], 1e-12)).sum())
    return total


def lda_projection(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`features` on their linear discriminants (at most classes - 1 of them)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    return LinearDiscriminantAnalysis().fit_transform(features, labels)


def separation(features: np.ndarray, labels: np.ndarray, photos: list[str]) -> dict:
    """FDR three ways on tiles (trace ratio; pairwise Fisher on f; pairwise Fisher on f's LDA
    projection), and the same on images: the mean f of each (photo, source)."""
    keys = list(zip(photos, labels.tolist()))
    groups: dict[tuple, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    image_features = np.stack([features[rows].mean(0) for rows in groups.values()])
    image_labels = np.array([label for _, label in groups])

    def three(x, y):
        return {"trace_ratio": trace_ratio(x, y), "pairwise_fisher": pairwise_fisher(x, y),
                "pairwise_fisher_lda": pairwise_fisher(lda_projection(x, y), y), "count": int(len(y))}

    return {"tiles": three(features, labels), "images": three(image_features, image_labels),
            "formulas": {"trace_ratio": TRACE_RATIO, "pairwise_fisher": PAIRWISE_FISHER,
                         "pairwise_fisher_lda": PAIRWISE_FISHER + ", on the LDA projection of f"}}


def tile_lines(positions: list[tuple[int, int]], size: int, height: int, width: int) -> tuple[set[int], set[int]]:
    """The lines where tiles at `positions` start or end, inside an image: (columns, rows). A line
    x lies between pixel columns x - 1 and x."""
    columns = {x for _, left in positions for x in (left, left + size) if 0 < x < width}
    rows = {y for top, _ in positions for y in (top, top + size) if 0 < y < height}
    return columns, rows


def seam_ratio(change: np.ndarray, columns: set[int], rows: set[int], sigma: float = 0.0) -> float:
    """How much a change (H, W) or (H, W, C) jumps where tiles meet: the mean absolute difference
    between neighbouring pixels across the `columns` and `rows` lines, over that between every
    other pair of neighbours. 1: no seam; a change made tile by tile, each on its own, is higher.
    `sigma` > 0 first blurs the change (Gaussian, in pixels): a tile's offset in colour or
    brightness, the seam people see, then stands out from the change's fine texture."""
    from scipy.ndimage import gaussian_filter

    change = np.asarray(change, dtype=np.float64)
    if change.ndim == 2:
        change = change[:, :, None]
    if sigma > 0:
        change = gaussian_filter(change, sigma=(sigma, sigma, 0))
    across_x = np.abs(np.diff(change, axis=1))  # column j: between pixel columns j and j + 1
    across_y = np.abs(np.diff(change, axis=0))
    on_x = np.zeros(across_x.shape[1], dtype=bool)
    on_x[[x - 1 for x in columns]] = True
    on_y = np.zeros(across_y.shape[0], dtype=bool)
    on_y[[y - 1 for y in rows]] = True
    on = np.concatenate([across_x[:, on_x].ravel(), across_y[on_y].ravel()])
    off = np.concatenate([across_x[:, ~on_x].ravel(), across_y[~on_y].ravel()])
    return float(on.mean() / max(off.mean(), 1e-12))
