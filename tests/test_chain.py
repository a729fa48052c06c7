"""Training away from the dataset: tile packs, the counterfactual chain, and the device setting."""
from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from export.chain import Stage, run_chain, stage_path
from export.tilepack import from_mosaic, pack, read_pack, to_mosaic, unpack
from export.checkpoints import load_model
from export.config import TrainConfig, torch_device
from export.judges import load_or_fit_judges
from export.trainset import known_labels, train_tile_arrays
from runtime.errors import InputError
from tests.conftest import run_module, tiny_config


def test_a_mosaic_holds_every_tile_exactly_and_pads_the_last_row():
    tiles = np.random.default_rng(0).integers(0, 256, (70, 8, 8, 3), dtype=np.uint8)
    mosaic = to_mosaic(tiles, columns=16)
    assert mosaic.shape == (5 * 8, 16 * 8, 3)
    assert np.array_equal(mosaic[8:16, 24:32], tiles[16 + 3])
    assert not mosaic[32:, 6 * 8 :].any()
    assert np.array_equal(from_mosaic(mosaic, 70, 8), tiles)


@pytest.fixture(scope="module")
def packed(tiny_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack")
    config = tiny_config(tiny_dataset, folder)
    index = pack(tiny_dataset, folder, 40, generated_only=True, max_bytes=None, config=config)
    return folder, index, config


def test_a_pack_is_a_sample_of_the_train_tiles_a_run_would_cut_lossless(tiny_dataset, packed):
    folder, index, config = packed
    labels, _ = known_labels(tiny_dataset)
    xs, ys, contents, photos = train_tile_arrays(config, labels)
    tiles, read_index = read_pack(folder)
    assert read_index == index and index["cut_from"] == len(ys) and len(tiles) == 40
    assert index["names"] == labels and "real" not in {labels[k] for k in index["labels"]}
    # each packed tile is, pixel for pixel, the cut tile of its content and label
    for tile, label, content in zip(tiles, index["labels"], index["content"]):
        matches = np.flatnonzero((ys == label) & (contents == content))
        assert len(matches) == 1 and np.array_equal(xs[matches[0]], tile)


def test_max_bytes_shrinks_the_sample_until_the_png_fits(tiny_dataset, packed, tmp_path):
    folder, index, config = packed
    limit = (folder / "tiles.png").stat().st_size // 2
    smaller = pack(tiny_dataset, tmp_path, 40, generated_only=True, max_bytes=limit, config=config)
    assert 0 < len(smaller["labels"]) < 40 and (tmp_path / "tiles.png").stat().st_size <= limit


def test_unpack_reconstructs_the_pack_into_a_tile_cache_and_a_dataset_stub(packed, tmp_path):
    from export.data import reconstruct
    from export.reconstructor import load_reconstructor

    folder, index, _ = packed
    tileset = unpack(folder, tmp_path / "run" / "tiles-train.pt", "cpu", dataset=tmp_path / "stub")
    tiles, _ = read_pack(folder)
    assert torch.equal(tileset.x, torch.from_numpy(tiles).permute(0, 3, 1, 2))
    assert tileset.labels.tolist() == index["labels"] and tileset.names == index["names"]
    x_hat = reconstruct(load_reconstructor(), tiles[:3])[1]
    assert torch.equal(tileset.x_hat[:3], x_hat)
    assert torch.load(tmp_path / "run" / "tiles-train.pt", weights_only=False).photos == index["photos"]
    assert known_labels(tmp_path / "stub") == (index["names"], known_labels(folder)[1])


def test_a_folder_that_is_not_a_pack_gets_one_clear_line(tmp_path):
    result = run_module("export.tilepack", "unpack", "--pack", str(tmp_path), "--output", str(tmp_path / "t.pt"))
    assert result.returncode == 2 and "not a tile pack (missing tiles.png, tiles.json, build.json)" in result.stderr


def test_the_chain_runs_its_stages_away_from_the_dataset_and_goes_on_where_it_stopped(
        tiny_dataset, tiny_checkpoint, packed, tmp_path):
    """With a pack's tile cache, the pack's build.json as the dataset and surrogates fitted
    beforehand, each stage continues the last (its own steps, not the last stage's checkpoint)."""
    folder, _, _ = packed
    chain = tmp_path / "chain"
    unpack(folder, chain / "tiles-train.pt", "cpu", dataset=tmp_path / "stub")
    labels, _ = known_labels(tiny_dataset)
    load_or_fit_judges(TrainConfig(dataset=str(tiny_dataset), output=str(chain), tile=32, judges=2,
                                   tiles_per_megapixel=400), labels)
    config = TrainConfig(dataset=str(tmp_path / "stub"), output=str(chain), init_from=str(tiny_checkpoint),
                         threads=2, device="cpu")
    stages = (Stage(3, 0.0), Stage(2, 0.5, judges=2))
    final = run_chain(config, stages)
    source_model, _ = load_model(tiny_checkpoint)
    traces = []
    for number, stage in enumerate(stages, start=1):
        model, state = load_model(stage_path(chain, number))
        assert state["train_config"]["cf_steps"] == stage.cf_steps and state["train_config"]["judges"] == stage.judges
        expected = str(tiny_checkpoint) if number == 1 else str(stage_path(chain, number - 1))
        assert state["continued_from"][0]["checkpoint"] == expected
        traces.append({k: v for k, v in model.state_dict().items() if k.startswith("decoder.trace.")})
    previous = {k: v for k, v in source_model.state_dict().items() if k.startswith("decoder.trace.")}
    for trace in traces:
        assert any(not torch.equal(trace[k], previous[k]) for k in trace), "every stage trains"
        previous = trace
    assert torch.equal(torch.load(final)["model"]["decoder.trace.out.weight"], traces[-1]["decoder.trace.out.weight"])
    assert not (chain / "phase2.pt").exists()
    stamp = stage_path(chain, 2).stat().st_mtime_ns
    stage_path(chain, 1).unlink()
    run_chain(replace(config, device="auto"), stages)  # the last stage is there: nothing runs again
    assert stage_path(chain, 2).stat().st_mtime_ns == stamp and not stage_path(chain, 1).exists()


def test_a_chain_goes_on_from_a_stage_carried_in_from_elsewhere(tiny_dataset, tiny_checkpoint, packed, tmp_path):
    """Only stage 2's checkpoint in a fresh folder: stages 1 and 2 stay as they are, stage 3 runs
    from stage 2 (so a chain can be split across sessions by carrying one file)."""
    folder, _, _ = packed
    chain = tmp_path / "chain"
    unpack(folder, chain / "tiles-train.pt", "cpu", dataset=tmp_path / "stub")
    shutil.copyfile(tiny_checkpoint, stage_path(chain, 2))
    config = TrainConfig(dataset=str(tmp_path / "stub"), output=str(chain), init_from=str(tmp_path / "unused.pt"),
                         threads=2, device="cpu")
    final = run_chain(config, (Stage(3, 0.0), Stage(3, 0.0), Stage(2, 0.0)))
    assert not stage_path(chain, 1).exists()
    _, state = load_model(stage_path(chain, 3))
    assert state["continued_from"][0]["checkpoint"] == str(stage_path(chain, 2))
    assert state["train_config"]["cf_steps"] == 2
    assert torch.equal(torch.load(final)["model"]["decoder.trace.out.weight"],
                       torch.load(stage_path(chain, 3))["model"]["decoder.trace.out.weight"])


def test_the_chain_cli_refuses_a_missing_start_and_a_bad_scale(tmp_path):
    result = run_module("export.chain", "--dataset", str(tmp_path), "--init-from", str(tmp_path / "no.pt"),
                        "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "no.pt: no such checkpoint (--init-from)" in result.stderr
    result = run_module("export.chain", "--dataset", str(tmp_path), "--init-from", str(tmp_path / "no.pt"),
                        "--output", str(tmp_path / "out"), "--steps-scale", "0")
    assert result.returncode == 2 and "--steps-scale must be positive" in result.stderr


def test_the_device_setting_names_what_is_missing():
    assert torch_device("cpu") == torch.device("cpu")
    assert torch_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="--device 'gpu0'"):
        torch_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="this torch sees no CUDA GPU"):
            torch_device("cuda")


def test_the_pack_cli_also_fits_the_surrogates_a_run_with_its_settings_would_fit(tiny_dataset, tmp_path):
    result = run_module("export.tilepack", "pack", "--dataset", str(tiny_dataset), "--output", str(tmp_path / "p"),
                        "--tiles", "12", "--generated-only", "--tiles-per-megapixel", "400", "--judges", "1")
    assert result.returncode == 0, result.stderr
    assert "12 of " in result.stdout and "1 dct-linear surrogate(s)" in result.stdout
    tiles, index = read_pack(tmp_path / "p")
    assert tiles.shape == (12, 64, 64, 3) and index["settings"]["tiles_per_megapixel"] == 400
    labels, _ = known_labels(tiny_dataset)
    load_or_fit_judges(TrainConfig(dataset=str(tiny_dataset), output=str(tmp_path / "run"), tiles_per_megapixel=400),
                       labels)
    packed, fitted = (torch.load(folder / "judge.pt") for folder in (tmp_path / "p", tmp_path / "run"))
    assert all(torch.equal(packed[key], fitted[key]) for key in fitted)
    result = run_module("export.tilepack", "pack", "--dataset", str(tiny_dataset), "--output", str(tmp_path / "q"),
                        "--tiles", "0")
    assert result.returncode == 2 and "--tiles must be at least 1" in result.stderr
    result = run_module("export.tilepack", "pack", "--dataset", str(tmp_path), "--output", str(tmp_path / "q"),
                        "--tiles", "5")
    assert result.returncode == 2 and "not a dataset (no build.json" in result.stderr
    assert not (tmp_path / "q").exists()
