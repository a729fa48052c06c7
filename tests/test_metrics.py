"""Benchmark statistics: intervals that resample photos, and FDR three ways."""
from __future__ import annotations

import numpy as np

from export.metrics import (accuracy_interval, bootstrap_interval, pairwise_fisher, separation, trace_ratio)


def test_the_interval_resamples_whole_photos():
    photos = [f"p{i}" for i in range(10) for _ in range(20)]
    truth = np.zeros(200, dtype=int)
    clustered = truth.copy()
    clustered[:40] = 1  # two photos entirely wrong: 0.8
    spread = truth.copy()
    spread[::5] = 1  # the same 0.8, one tile in five of every photo
    wide = accuracy_interval(clustered, truth, photos, samples=500)
    narrow = accuracy_interval(spread, truth, photos, samples=500)
    assert wide["value"] == narrow["value"] == 0.8
    assert wide["low"] < 0.7 and wide["high"] >= 0.95  # resampling photos moves it in steps of a photo
    assert narrow["low"] == narrow["high"] == 0.8  # every photo is alike: nothing to resample
    assert wide["photos"] == 10 and wide == accuracy_interval(clustered, truth, photos, samples=500)  # seeded


def test_a_perfect_method_has_a_point_interval():
    photos = ["a", "a", "b", "c"]
    result = bootstrap_interval(lambda rows: 1.0, photos, samples=50)
    assert (result["value"], result["low"], result["high"]) == (1.0, 1.0, 1.0)


def test_pairwise_fisher_has_its_closed_form():
    rng = np.random.default_rng(0)
    first, second = rng.normal(0, 1, 4000), rng.normal(2, 1, 4000)
    features = np.r_[first, second][:, None]
    labels = np.repeat([0, 1], 4000)
    assert abs(pairwise_fisher(features, labels) - 2.0) < 0.1  # (2 - 0)^2 / (1 + 1)


def test_tight_classes_separate_more_on_every_measure():
    labels = np.repeat([0, 1, 2], 40)
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], dtype=float)[labels]
    tight, loose = centres + rng.normal(size=(120, 3)) * 0.1, centres + rng.normal(size=(120, 3)) * 3
    assert trace_ratio(tight, labels) > 100 * trace_ratio(loose, labels)
    assert pairwise_fisher(tight, labels) > 100 * pairwise_fisher(loose, labels)


def test_the_lda_measure_ignores_a_linear_change_of_coordinates():
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1, 2, 3], 30)
    features = rng.normal(size=(120, 5)) + labels[:, None] * np.array([1.0, 0.5, 0, 0, 0])
    mixed = features @ rng.normal(size=(5, 5)) * np.array([100, 1, 1, 0.01, 1])
    photos = [f"p{i % 30}" for i in range(120)]
    before, after = separation(features, labels, photos), separation(mixed, labels, photos)
    assert abs(before["tiles"]["pairwise_fisher_lda"] - after["tiles"]["pairwise_fisher_lda"]) \
        < 1e-6 * before["tiles"]["pairwise_fisher_lda"]
    assert abs(before["tiles"]["pairwise_fisher"] - after["tiles"]["pairwise_fisher"]) > 0.01
    assert before["images"]["count"] == 120 and before["tiles"]["count"] == 120
    assert set(before["formulas"]) == {"trace_ratio", "pairwise_fisher", "pairwise_fisher_lda"}
