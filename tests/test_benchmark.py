"""The fair attribution benchmark on tiny data: the same tiles and budget for every method, the
runtime's grid, intervals over photos."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_ZOO
from export import benchmark
from runtime.errors import InputError


@pytest.fixture(scope="module")
def test_folders(tmp_path_factory):
    """Three 'camera' JPEGs and their regenerations by the tiny zoo's members (one held out)."""
    from export.dataset import Regenerators
    from export.photos import package_photos
    from export.realworld import prepared_crop
    from runtime.intake import read_image, save_png

    root = tmp_path_factory.mktemp("bench")
    cameras, generated = root / "cameras", root / "generated"
    cameras.mkdir()
    regenerate = Regenerators()
    for photo in package_photos()[-3:]:
        Image.fromarray(read_image(photo.path)).save(cameras / f"{photo.name}.jpg", quality=92)
        crop = prepared_crop(cameras / f"{photo.name}.jpg")
        for member in TINY_ZOO[1:]:
            save_png(regenerate(member, crop), generated / member / f"{photo.name}.png")
    return cameras, generated


def run(checkpoint, folders, output, *extra):
    cameras, generated = folders
    return benchmark.main(["--model", str(checkpoint), "--train-tiles", str(checkpoint.parent / "tiles-train.pt"),
                           "--cameras", str(cameras), "--generated", str(generated), "--conditions", "native", "half",
                           "--output", str(output), *extra])


def test_every_method_is_measured_on_the_same_images_with_intervals(tiny_checkpoint, test_folders, tmp_path):
    assert run(tiny_checkpoint, test_folders, tmp_path / "a.json", "--ablation", str(tiny_checkpoint)) == 0
    result = json.loads((tmp_path / "a.json").read_text())
    assert result["images"] == {"known": 3 * 4, "held_out": 3}  # real + 3 known members; gan-bicubic held out
    methods = {"causal-fingerprint", "residual-cnn", "dct-linear", "noise-correlation", "pixel-cnn"}
    for condition in ("native", "half"):
        entry = result["conditions"][condition]
        assert set(entry["methods"]) == methods and entry["images"] == 12
        for metrics in entry["methods"].values():
            for key in ("tile_accuracy", "image_accuracy"):
                interval = metrics[key]
                assert 0 <= interval["low"] <= interval["value"] <= interval["high"] <= 1 and interval["photos"] == 3
    assert result["conditions"]["half"]["tiles"] < result["conditions"]["native"]["tiles"]
    ours = result["budgets"]["causal-fingerprint"]
    assert result["budgets"]["pixel-cnn"]["steps"] == ours["steps"] and ours["train_tiles"] > 0
    assert all(result["budgets"][m]["train_tiles"] == ours["train_tiles"] for m in methods)
    assert set(result["fdr"]) == {"tiles", "images", "formulas"} and result["fdr"]["images"]["count"] == 12
    assert "| half | pixel-cnn |" in (tmp_path / "a.md").read_text()


def test_an_ablation_trained_on_another_budget_is_refused(tiny_checkpoint, test_folders, tmp_path):
    state = torch.load(tiny_checkpoint, weights_only=False)
    state["train_config"]["steps"] += 1
    other = tmp_path / "other.pt"
    torch.save(state, other)
    with pytest.raises(InputError, match=r"another budget.*steps"):
        benchmark.run(benchmark_args(tiny_checkpoint, test_folders, other))


def benchmark_args(checkpoint, folders, ablation):
    from types import SimpleNamespace

    return SimpleNamespace(model=checkpoint, ablation=ablation, train_tiles=checkpoint.parent / "tiles-train.pt",
                           cameras=folders[0], generated=folders[1], photos=None, conditions=["native"], argv=[])


def test_the_image_vote_averages_log_probabilities():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.01, 0.99], [0.2, 0.8]])
    assert benchmark.image_votes(probs, np.array([0, 0, 0, 1])).tolist() == [1, 1]  # one confident tile outweighs two
