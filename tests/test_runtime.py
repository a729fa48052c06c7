"""The torch-free runtime on a tiny exported bundle: API, any image size, providers, bundle checks, CLI."""
import io
import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from conftest import ROOT, offline_hub_cache, run_module
from runtime import sessions
from runtime.bundle import MANIFEST_NAME, load_bundle
from runtime.engine import Engine
from runtime.errors import BundleError, InputError


@pytest.fixture(scope="module")
def engine(tiny_bundle) -> Engine:
    return Engine.load(tiny_bundle, device="cpu")


@pytest.fixture(scope="module")
def sample(tiny_dataset) -> np.ndarray:
    return np.asarray(Image.open(tiny_dataset / "images" / "test" / "gan-nearest" / "camera.png").convert("RGB"))


@pytest.fixture(scope="module")
def traced_sample(engine, tiny_dataset) -> np.ndarray:
    """A generated test image the tiny model does not call a camera photo (anonymization leaves
    one it calls real as it is)."""
    for path in sorted((tiny_dataset / "images" / "test").glob("*/*.png")):
        image = np.asarray(Image.open(path).convert("RGB"))
        if path.parent.name != "real" and engine.attribute(image)["verdict"] != "real":
            return image
    raise AssertionError("the tiny model calls every generated test image real")


def test_runtime_imports_and_runs_with_torch_unavailable(tiny_bundle, tiny_dataset):
    image = tiny_dataset / "images" / "test" / "real" / "camera.png"
    # torch made unimportable the way a Space without it is: `import torch` -> ModuleNotFoundError
    code = ("import importlib.abc, sys\n"
            "class NoTorch(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] == 'torch': raise ModuleNotFoundError(name)\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "import json, runtime\n"
            f"engine = runtime.Engine.load({str(tiny_bundle)!r}, device='cpu')\n"
            f"result = engine.attribute({str(image)!r})\n"
            f"engine.fingerprint({str(image)!r}); engine.anonymize({str(image)!r})\n"
            "assert not any(m.split('.')[0] == 'torch' for m in sys.modules)\n"
            "print(json.dumps(result['label']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) in ["real", "gan-nearest", "gan-pixelshuffle", "tiny-ae"]


def test_attribute_returns_plain_data_with_a_tile_map(engine, sample):
    result = engine.attribute(sample)
    names = [label.name for label in engine.labels]
    assert result["label"] in names and result["provider"] == "CPUExecutionProvider"
    assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert result["verdict"] in ("real", "generated", "unknown", "inconclusive") and result["headline"]
    assert result["is_real"] == (result["verdict"] == "real") and result["unknown"] == (result["verdict"] == "unknown")
    assert 0 <= result["confidence"] <= 1 and result["bundle"] == engine.bundle.sha256
    if result["verdict"] == "generated":  # named: the most probable generator
        assert result["label"] == max(engine.generators, key=result["probabilities"].get)
    tiles = result["tiles"]
    assert len(tiles["positions"]) == len(tiles["labels"]) == 15 * 15 and set(tiles["labels"]) <= set(names)
    assert result["image_size"] == [256, 256] and result["padded"] is False
    json.dumps(result)  # plain data
    assert engine.attribute_batch([sample, sample[:100, :70]])[0]["probabilities"] == result["probabilities"]


@pytest.mark.parametrize("shape", [(33, 200), (50, 31), (5, 3), (1, 1)])
def test_any_image_size_is_covered_and_small_ones_are_padded(engine, sample, shape):
    image = sample[: shape[0], : shape[1]]
    result = engine.attribute(image)
    assert result["image_size"] == list(shape)
    assert result["padded"] is (min(shape) < 32)
    covered = np.zeros((max(shape[0], 32), max(shape[1], 32)), bool)
    for top, left in result["tiles"]["positions"]:
        covered[top : top + 32, left : left + 32] = True
    assert covered.all()
    anonymized = engine.anonymize(image)
    assert anonymized["image"].shape == image.shape
    assert -1 <= anonymized["ssim"] <= 1


def test_fingerprint_pictures(engine, sample):
    result = engine.fingerprint(sample[:100, :140])
    assert result["fingerprint"].shape == (32, 32, 3) and result["fingerprint"].dtype == np.uint8
    assert result["residual"].shape == (100, 140, 3) and result["spectrum"].shape == (100, 140)
    assert result["fingerprint"].std() > 0 and result["residual"].std() > 0
    plane = result["embedding"]
    assert len(plane["image"]) == 2 and set(plane["prototypes"]) == {label.name for label in engine.labels}
    pictures = engine.source_fingerprints()
    assert len({p.tobytes() for p in pictures.values()}) == len(engine.labels)


def test_anonymize_changes_the_image_by_a_bounded_amount(engine, traced_sample):
    sample = traced_sample
    result = engine.anonymize(sample)
    assert result["image"].shape == sample.shape and result["image"].dtype == np.uint8
    assert np.array_equal(result["input"], sample) and result["changed"] is True
    difference = np.abs(result["image"].astype(int) - sample.astype(int))
    assert 0 < difference.mean() < 8
    # each tile's change is clipped to the manifest's PSNR floor (less a little for 8-bit rounding)
    floor = engine.bundle.manifest["anonymize"]["psnr_floor_db"]
    assert 0.5 < result["ssim"] <= 1 and result["psnr"] >= floor - 1
    assert result["before"]["label"] in result["before"]["probabilities"]
    named = engine.anonymize(sample, target="tiny-ae")
    assert named["target"] == "tiny-ae" and not np.array_equal(named["image"], result["image"])


@pytest.mark.parametrize("target, message", [("real", "never a target"), ("sdxl", "unknown source")])
def test_anonymize_refuses_bad_targets(engine, sample, target, message):
    with pytest.raises(InputError, match=message):
        engine.anonymize(sample, target=target)


@pytest.mark.parametrize("floor", [29.9, 45.1, float("nan"), "36", True])
def test_anonymize_refuses_a_psnr_floor_outside_the_manifest_range(engine, sample, floor):
    with pytest.raises(InputError, match="psnr_floor_db must be a number of dB from 30 to 45"):
        engine.anonymize(sample, psnr_floor_db=floor)


@pytest.mark.parametrize("bad, message", [(np.zeros((4, 4, 3), np.float32), "uint8"),
                                          (np.zeros((4, 4, 2), np.uint8), "shape"),
                                          (b"", "empty"), (b"GIF89a-not-really", "damaged|not an image"),
                                          (12, "expected an image")])
def test_bad_images_raise_input_error(engine, bad, message):
    with pytest.raises(InputError, match=message):
        engine.attribute(bad)


# ---------------------------------------------------------------- providers
def test_cuda_is_preferred_only_when_offered():
    cuda, cpu = sessions.CUDA, sessions.CPU
    assert sessions.preferred_providers([cuda, cpu]) == [cuda, cpu]
    assert sessions.preferred_providers([cpu]) == [cpu]
    assert sessions.preferred_providers([cuda, cpu], device="cpu") == [cpu]
    assert sessions.preferred_providers([cpu], device="cuda") == [cpu]


def test_a_failing_cuda_session_is_retried_on_cpu(tiny_bundle, monkeypatch, caplog):
    real_session = ort.InferenceSession
    tried = []

    def fake_session(path, sess_options=None, providers=None):
        tried.append(list(providers))
        assert sess_options.get_session_config_entry(sessions.SPINNING_ENTRY) == "0"
        if (sessions.CUDA, {"use_tf32": "0"}) in providers:
            raise ort.capi.onnxruntime_pybind11_state.Fail("CUDA failure 100: no CUDA-capable device")
        return real_session(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(sessions.ort, "InferenceSession", fake_session)
    with caplog.at_level(logging.INFO, logger="runtime.sessions"):
        engine = Engine.load(tiny_bundle, available_providers=[sessions.CUDA, sessions.CPU])
    assert engine.provider == sessions.CPU
    # CUDA is asked for in full fp32 (no TF32: the counterfactual decoder needs the precision)
    assert tried[:2] == [[(sessions.CUDA, {"use_tf32": "0"}), sessions.CPU], [sessions.CPU]]
    assert "retrying on CPU" in caplog.text and "providers in use: CPUExecutionProvider" in caplog.text


@pytest.mark.parametrize("spinning, entry", [(False, "0"), (True, "1")])
def test_idle_workers_spin_only_when_asked(tiny_bundle, spinning, entry):
    engine = Engine.load(tiny_bundle, spinning=spinning)
    assert {graph.session.get_session_options().get_session_config_entry(sessions.SPINNING_ENTRY)
            for graph in engine.graphs.values()} == {entry}


# ---------------------------------------------------------------- bundle integrity
@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, folder)
    return folder


def test_unknown_source_compares_the_image_with_its_own_reconstruction_as_torch_does(engine, sample, tiny_checkpoint,
                                                                                      tiny_dataset):
    from export.data import make_tileset
    from export.open_set import tile_energies
    from export.checkpoints import load_model_on

    model, _state, _config, reconstructor = load_model_on(tiny_checkpoint, tiny_dataset)
    analysis = engine.analyze(sample)
    uint8_tiles = np.round((analysis.x + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)
    count = len(uint8_tiles)
    tiles = make_tileset(reconstructor, uint8_tiles, np.zeros(count, dtype=np.int64), np.arange(count),
                         ["sample"] * count, [label.name for label in engine.labels])
    own, reference = tile_energies(model, reconstructor, tiles)
    reference = reference[engine.reference_picks(count)]  # 64 of the 225 tiles
    np.testing.assert_allclose(engine.open_set_scores(analysis.logits), own, atol=5e-3)
    np.testing.assert_allclose(engine.open_set_scores(analysis.reference_logits), reference, atol=5e-2)
    open_set = engine.verdict(analysis)["open_set"]
    assert open_set["rule"] == "relative" and open_set["threshold"] == engine.bundle.manifest["open_set"]["threshold"]
    assert open_set["score"] == pytest.approx(open_set["energy"] - open_set["reference_energy"])
    assert open_set["score"] == pytest.approx(own.mean() - reference.mean(), abs=5e-3)


def test_a_jpeg_input_is_compared_with_its_reconstruction_saved_with_the_same_tables(engine, sample, tiny_checkpoint,
                                                                                     tiny_dataset):
    from export.data import make_tileset
    from export.open_set import tile_energies
    from export.checkpoints import load_model_on
    from runtime.intake import decode

    buffer = io.BytesIO()
    Image.fromarray(sample).save(buffer, "JPEG", quality=80)
    decoded = decode(buffer.getvalue())
    as_file, as_pixels = engine.analyze(buffer.getvalue()), engine.analyze(decoded.pixels)
    eight_bit_engine = Engine(engine.bundle, engine.graphs, read_jpeg_history=False)
    as_8bit = eight_bit_engine.analyze(decoded.pixels)
    assert as_file.saving == decoded.saving and as_8bit.saving is None
    assert np.array_equal(as_file.logits, as_8bit.logits)  # the same pixels: only the reference differs
    assert engine.verdict(as_file)["open_set"]["reference_saved_as"] == "JPEG quality 80"
    assert eight_bit_engine.verdict(as_8bit)["open_set"]["reference_saved_as"] == "8-bit"
    # its pixels alone show the JPEG it was (libjpeg's tables, as PIL wrote them): the same reference
    assert engine.verdict(as_pixels)["open_set"]["reference_saved_as"] == "JPEG quality 80 (estimated from the pixels)"
    assert np.array_equal(as_pixels.reference_logits, as_file.reference_logits)
    with Image.open(io.BytesIO(buffer.getvalue())) as opened:  # an opened JPEG carries its tables too
        assert engine.analyze(opened).saving == decoded.saving

    model, _state, _config, reconstructor = load_model_on(tiny_checkpoint, tiny_dataset)
    uint8_tiles = np.round((as_file.x + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)
    count = len(uint8_tiles)
    tiles = make_tileset(reconstructor, uint8_tiles, np.zeros(count, dtype=np.int64), np.arange(count),
                         ["sample"] * count, [label.name for label in engine.labels])
    _own, reference = tile_energies(model, reconstructor, tiles, save=decoded.saving.save)
    reference = reference[engine.reference_picks(count)]
    runtime_reference = engine.open_set_scores(as_file.reference_logits)
    # A few 8-bit levels of x_hat round the other way between ONNX and torch; JPEG spreads each over its block.
    np.testing.assert_allclose(runtime_reference, reference, atol=0.1)
    assert abs(runtime_reference.mean() - reference.mean()) < 0.01  # what the score uses
    eight_bit = engine.open_set_scores(as_8bit.reference_logits)
    assert np.abs(eight_bit - reference).max() > 0.1  # the JPEG re-save changed the reference


def test_a_generators_trace_is_unknown_exactly_when_its_relative_score_is_above_the_threshold(bundle_copy, sample):
    score = Engine.load(bundle_copy, device="cpu").attribute(sample)["open_set"]["score"]
    manifest = json.loads((bundle_copy / MANIFEST_NAME).read_text())
    # past the accusation bar whatever the evidence: then the open-set rule alone decides "unknown"
    manifest["verdict"] = {"accuse_above": -1e9, "real_below": -1e9, "logistic": {"slope": 1.0, "intercept": 0.0},
                           "calibration": {"note": "every image past the bar"}}
    for threshold, unknown in ((score - 1e-3, True), (score + 1e-3, False)):
        manifest["open_set"]["threshold"] = threshold
        (bundle_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
        result = Engine.load(bundle_copy, device="cpu").attribute(sample)
        assert result["unknown"] is unknown and result["open_set"]["threshold"] == threshold


def test_a_large_image_estimates_its_reference_energy_from_spread_tiles(bundle_copy, sample):
    large = np.tile(sample, (2, 2, 1))  # 512x512: 31 x 31 tiles of 32 at stride 16
    from export.open_set import REFERENCE_TILES

    capped = Engine.load(bundle_copy, device="cpu")
    picks = capped.reference_picks(31 * 31)
    assert capped.reference_tiles == REFERENCE_TILES == len(picks) and picks[0] == 0 and picks[-1] == 31 * 31 - 1
    assert np.array_equal(capped.reference_picks(10), np.arange(10))
    manifest = json.loads((bundle_copy / MANIFEST_NAME).read_text())
    manifest["open_set"]["reference_tiles"] = 31 * 31
    (bundle_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    analyses = {"capped": capped.analyze(large), "every tile": Engine.load(bundle_copy, device="cpu").analyze(large)}
    assert [len(a.reference_logits) for a in analyses.values()] == [REFERENCE_TILES, 31 * 31]
    scores = [capped.verdict(a)["open_set"]["score"] for a in analyses.values()]
    spread = capped.open_set_scores(analyses["every tile"].reference_logits).std()
    assert abs(scores[0] - scores[1]) < 3 * spread / np.sqrt(REFERENCE_TILES)  # a mean of that many of them


@pytest.mark.parametrize("open_set", [{"threshold": 1.0, "reference_tiles": 64},
                                      {"rule": "tile-majority", "threshold": 1.0, "reference_tiles": 64},
                                      {"rule": "relative", "threshold": "high", "reference_tiles": 64},
                                      {"rule": "relative", "reference_tiles": 64}, {"rule": "relative", "threshold": 1.0},
                                      {"rule": "relative", "threshold": 1.0, "reference_tiles": 0},
                                      {"rule": "relative", "threshold": 1.0, "reference_tiles": 6.5}, 3.0])
def test_a_manifest_without_the_relative_open_set_rule_is_refused(bundle_copy, open_set):
    manifest = json.loads((bundle_copy / MANIFEST_NAME).read_text())
    (bundle_copy / MANIFEST_NAME).write_text(json.dumps({**manifest, "open_set": open_set}))
    with pytest.raises(BundleError, match="open_set must give rule 'relative', a numeric threshold and a whole number"):
        load_bundle(bundle_copy)


def test_checksum_mismatch_names_the_file(bundle_copy):
    path = bundle_copy / "fingerprint_decoder.onnx"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="fingerprint_decoder.onnx: sha256"):
        load_bundle(bundle_copy)


def test_missing_file_and_wrong_format_version_are_clear_errors(bundle_copy):
    (bundle_copy / "reconstructor_encoder.onnx").unlink()
    with pytest.raises(BundleError, match="reconstructor_encoder.onnx: missing"):
        load_bundle(bundle_copy)
    manifest = json.loads((bundle_copy / MANIFEST_NAME).read_text())
    (bundle_copy / MANIFEST_NAME).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(BundleError, match="format_version 99"):
        load_bundle(bundle_copy)
    (bundle_copy / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(bundle_copy)
    (bundle_copy / MANIFEST_NAME).unlink()
    with pytest.raises(BundleError, match="manifest.json: missing"):
        load_bundle(bundle_copy)
    with pytest.raises(BundleError, match="not a bundle folder"):
        load_bundle(bundle_copy / "nowhere")


def test_a_hub_repo_id_loads_through_huggingface_hub(tiny_bundle, tmp_path, monkeypatch):
    revision = offline_hub_cache(tmp_path, monkeypatch, "someone/fingerprint-bundle", tiny_bundle)
    bundle = load_bundle("someone/fingerprint-bundle", revision=revision)
    assert bundle.manifest == load_bundle(tiny_bundle).manifest
    assert bundle.describe() == f"someone/fingerprint-bundle@{revision}"


def test_an_unreachable_hub_repo_falls_back_to_the_shipped_bundle(tmp_path, monkeypatch, caplog):
    (tmp_path / "empty").mkdir()
    offline_hub_cache(tmp_path, monkeypatch, "someone/other", tmp_path / "empty")
    monkeypatch.setattr("runtime.bundle.SHIPPED_DIR", tmp_path / "shipped")
    with caplog.at_level(logging.WARNING, logger="runtime.bundle"), pytest.raises(BundleError, match="shipped"):
        load_bundle("someone/not-cached")
    assert "unavailable" in caplog.text and "using the shipped bundle" in caplog.text


# ---------------------------------------------------------------- the command line
def test_cli_attribute_json_reports_each_path_and_fails_on_a_bad_one(tiny_bundle, tiny_dataset, tmp_path):
    good = tiny_dataset / "images" / "test" / "tiny-ae" / "camera.png"
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = run_module("runtime", "--bundle", str(tiny_bundle), "--device", "cpu", "attribute", str(good),
                        str(bad), str(tmp_path / "missing.jpg"), "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    rows = json.loads(result.stdout)
    assert [row["path"] for row in rows] == [str(good), str(bad), str(tmp_path / "missing.jpg")]
    assert rows[0]["label"] in rows[0]["probabilities"] and "error" not in rows[0]
    assert "not an image" in rows[1]["error"] and "no such file" in rows[2]["error"]


def test_cli_text_states_the_probability_of_what_it_says(tmp_path):
    # the shipped bundle (tests/data/golden.json): the camera photo sample is inconclusive, vq's is generated
    samples = ROOT / "tests" / "data" / "samples"
    result = run_module("runtime", "--device", "cpu", "attribute", str(samples / "real--chelsea.png"),
                        str(samples / "vq--coffee.png"))
    assert result.returncode == 0, result.stderr
    inconclusive, generated = result.stdout.strip().splitlines()
    assert "Inconclusive: " in inconclusive and "(inconclusive, p(generated) 0." in inconclusive
    assert "confidence" not in inconclusive
    assert "Made by VQ autoencoder" in generated and "(generated, confidence 0.9" in generated


def test_cli_anonymize_and_fingerprint_write_clean_pngs(tiny_bundle, tiny_dataset, tmp_path):
    source = tmp_path / "tagged.png"
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a photo, Steps: 20, Sampler: Euler")
    Image.open(tiny_dataset / "images" / "test" / "tiny-ae" / "camera.png").save(source, pnginfo=info)
    output = tmp_path / "out" / "anonymized.png"
    result = run_module("runtime", "--bundle", str(tiny_bundle), "anonymize", str(source), "--output",
                        str(output), "--json", "--psnr-floor", "33")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["output"] == str(output) and 0 < row["ssim"] <= 1 and row["psnr_floor_db"] == 33.0
    refused = run_module("runtime", "--bundle", str(tiny_bundle), "anonymize", str(source), "--output",
                         str(tmp_path / "refused.png"), "--psnr-floor", "12")
    assert refused.returncode != 0 and "from 30 to 45" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "refused.png").exists()
    with Image.open(output) as image:
        assert image.format == "PNG" and image.size == (256, 256)
        assert not image.info and not image.getexif()
    result = run_module("runtime", "--bundle", str(tiny_bundle), "fingerprint", str(source), "--output",
                        str(tmp_path / "pictures"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == [
        "tagged-fingerprint.png", "tagged-residual.png", "tagged-spectrum.png"]
    result = run_module("runtime", "--bundle", str(tmp_path / "no-bundle"), "attribute", str(source))
    assert result.returncode == 3 and "not a bundle folder" in result.stderr and "Traceback" not in result.stderr


def test_spectral_peaks_find_a_periodic_trace_and_nothing_in_noise():
    from runtime.engine import spectral_peaks

    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (128, 160))
    grid = noise + 0.8 * np.cos(np.pi * np.arange(160) / 2)[None, :]  # a period of 4 pixels across
    spectrum = lambda r: np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(r))))  # noqa: E731
    assert spectral_peaks(spectrum(noise)) == []
    peaks = spectral_peaks(spectrum(grid))
    assert [64, 80 - 40] in peaks and [64, 80 + 40] in peaks  # a quarter of the width either side of the centre


def test_a_spread_grid_keeps_the_corners_and_stays_under_its_cap():
    from runtime.tiling import covering_grid, spread_grid

    full = covering_grid(3000, 4000, 64, 64)
    spread = spread_grid(3000, 4000, 64, 64, 512)
    assert len(full) == 47 * 63 and 400 < len(spread) <= 512 and set(spread) <= set(full)
    assert {(0, 0), (3000 - 64, 4000 - 64), (0, 4000 - 64), (3000 - 64, 0)} <= set(spread)
    tops = sorted({top for top, _ in spread})
    assert max(np.diff(tops)) <= 2 * min(np.diff(tops))  # evenly spread rows
    assert spread_grid(300, 200, 64, 64, 512) == covering_grid(300, 200, 64, 64)  # under the cap: every tile


def test_a_large_image_is_read_on_spread_tiles_and_says_how_much(engine, sample):
    import copy
    import dataclasses

    def with_cap(cap):
        manifest = copy.deepcopy(engine.bundle.manifest)
        manifest["tile"]["max_tiles"] = cap
        return Engine(dataclasses.replace(engine.bundle, manifest=manifest), engine.graphs)

    capped = with_cap(12)
    large = np.tile(sample, (3, 3, 1))
    answer = capped.attribute(large)
    assert len(answer["tiles"]["positions"]) <= 12 and 0 < answer["tiles"]["coverage"] < 1
    assert with_cap(None).attribute(large)["tiles"]["coverage"] == 1.0  # no cap: every pixel
    changed = capped.anonymize(large, target="tiny-ae")  # anonymization changes every pixel's tile
    assert changed["before"]["tiles"]["coverage"] == answer["tiles"]["coverage"]
    assert (np.abs(changed["image"].astype(int) - large.astype(int)).sum(2) > 0).mean() > 0.5
