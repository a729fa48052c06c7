"""The Space: started in a subprocess on a free port, called through gradio_client like a user's script."""
import html
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from conftest import ROOT
from runtime.bundle import load_bundle

SAMPLES = ROOT / "tests" / "data" / "samples"


@pytest.fixture(scope="module")
def client(app_url, tmp_path_factory) -> Client:
    return Client(app_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return [row["name"] for row in load_bundle().manifest["labels"]]


def test_page_and_named_endpoints(app_url, client):
    config = httpx.get(f"{app_url}config", timeout=5).json()
    assert "Causal fingerprint" in json.dumps(config)
    # the About tab states what anonymization does not hide, with the bundle's own figure
    anonymization = load_bundle().manifest["benchmark"]["anonymization"]
    strongest = f"{anonymization['true_source_rate_strongest_baseline']:.1%} by the strongest baseline"
    assert strongest in json.dumps(config) and "guarantee against every detector" in json.dumps(config)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/attribute", "/fingerprint", "/anonymize", "/batch"} <= set(endpoints)
    # the examples come from examples/, never from the tests' data
    examples = sorted(p.name for p in (ROOT / "examples").glob("*.png"))
    assert len(examples) >= 6 and all(name in json.dumps(config) for name in examples)
    assert "tests/data" not in json.dumps(config)


def test_attribute_endpoint(client, labels):
    verdict, provenance, _plot, tiles, result = client.predict(handle_file(SAMPLES / "gan-nearest--coffee.png"),
                                                   api_name="/attribute")
    assert result["label"] in labels and result["image_size"] == [180, 256]
    assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert verdict.startswith(f"### {result['headline']}") and result["bundle"] == load_bundle().sha256
    assert "neutral evidence" in provenance and result["provenance"]["items"] == []
    # the tile map: the image, and one half-opaque mask per source named on its tiles
    assert Image.open(tiles["image"]).size == (256, 180)
    names = {row["name"]: row["display_name"] for row in load_bundle().manifest["labels"]}
    assert sorted(mask["label"] for mask in tiles["annotations"]) == sorted({names[k] for k in result["tiles"]["labels"]})
    import app
    from runtime.engine import Engine

    colours = app.source_colours(Engine.load())
    for mask in tiles["annotations"]:
        pixels = np.asarray(Image.open(mask["image"]))
        alpha = pixels[..., 3]
        assert alpha.shape == (180, 256) and set(np.unique(alpha)) <= {0, 127} and alpha.max() == 127
        assert "#%02x%02x%02x" % tuple(pixels[alpha > 0][0, :3]) == colours[mask["label"]]  # the source's own colour
    bars = _plot["value"] if isinstance(_plot, dict) else _plot
    assert all(f">{html.escape(name)}<" in bars for name in names.values())  # every source, its full name


def test_the_camera_photo_sample_is_never_accused_and_an_inconclusive_answer_names_no_source(client):
    verdict, _provenance, _plot, _tiles, result = client.predict(
        handle_file(SAMPLES / "real--chelsea.png"), api_name="/attribute")
    # measured (tests/data/golden.json): inconclusive, leaning camera photo, under the calibrated rule
    assert result["verdict"] == "inconclusive" and result["label"] == "real"
    assert verdict.startswith(f"### {result['headline']}") and "No source is named" in verdict
    assert f"Probability that a generator made it **{result['p_generated']:.1%}**" in verdict
    assert "Confidence" not in verdict and "Camera / real photo" not in verdict


def test_an_image_from_a_held_out_generator_is_shown_as_an_unknown_source(client):
    verdict, _provenance, _plot, _tiles, result = client.predict(
        handle_file(SAMPLES / "ldm-kl-wide--chelsea.png"), api_name="/attribute")
    assert result["verdict"] == "unknown" and verdict.startswith(f"### {result['headline']}")
    assert "not of any source this bundle knows" in result["headline"]
    assert f"score {result['open_set']['score']:.2f}, threshold {result['open_set']['threshold']:.2f}" in verdict


def test_a_jpeg_upload_is_compared_with_its_reconstruction_saved_the_same_way(client, tmp_path):
    path = tmp_path / "photo.jpg"
    Image.open(SAMPLES / "gan-nearest--coffee.png").convert("RGB").save(path, "JPEG", quality=90)
    verdict, _provenance, _plot, _tiles, result = client.predict(handle_file(path), api_name="/attribute")
    assert result["open_set"]["reference_saved_as"] == "JPEG quality 90"
    assert "JPEG quality 90: its reconstruction is saved the same way" in verdict
    png = client.predict(handle_file(SAMPLES / "gan-nearest--coffee.png"), api_name="/attribute")[-1]
    assert png["open_set"]["reference_saved_as"] == "8-bit"


@pytest.mark.parametrize("fmt, suffix", [("HEIF", ".heic"), ("AVIF", ".avif")])
def test_a_phone_photo_in_heic_or_avif_is_answered(client, tmp_path, fmt, suffix):
    path = tmp_path / f"phone{suffix}"
    Image.open(SAMPLES / "real--coffee.png").convert("RGB").save(path, fmt, quality=90)
    *_, result = client.predict(handle_file(path), api_name="/attribute")
    assert result["verdict"] in ("real", "generated", "unknown", "inconclusive") and result["image_size"] == [180, 256]


def test_fingerprint_endpoint(client):
    fingerprint, residual, spectrum, _space, plain = client.predict(handle_file(SAMPLES / "real--chelsea.png"),
                                                                    api_name="/fingerprint")
    assert Image.open(residual).size == (226, 150) and Image.open(spectrum).size == (226, 150)
    assert Image.open(fingerprint).size[0] == Image.open(fingerprint).size[1]
    assert len(plain["embedding"]["image"]) == 2 and isinstance(plain["spectrum_peaks"], list)


def test_anonymize_endpoint_returns_a_close_clean_png(client, labels):
    source = SAMPLES / "ldm-kl--coffee.png"
    slider, metrics, _table, download, plain = client.predict(handle_file(source), None, api_name="/anonymize")
    assert "SSIM" in metrics and 0.8 <= plain["ssim"] <= 1
    assert ("After: **unknown source**" in metrics) is plain["after"]["unknown"]
    assert plain["before"]["label"] in labels
    # an inconclusive answer names no source (summary_row), any other names a known one
    for row in (plain["before"], plain["after"]):
        assert row["label"] == "" if row["verdict"] == "inconclusive" else row["label"] in labels
    with Image.open(download) as image:
        assert image.format == "PNG" and image.size == (256, 180)
        assert not image.info and not image.getexif()
        anonymized = np.asarray(image.convert("RGB"), dtype=float)
    original = np.asarray(Image.open(source).convert("RGB"), dtype=float)
    assert 0 < np.abs(anonymized - original).mean() < 5


def test_anonymize_endpoint_takes_a_strength_and_refuses_one_out_of_range(client):
    source = handle_file(SAMPLES / "gan-nearest--chelsea.png")
    _slider, metrics, _table, _download, plain = client.predict(source, None, 31.5, api_name="/anonymize")
    # within its bound (how much stronger a lower floor makes the change: test_shipped_bundle)
    assert plain["psnr_floor_db"] == 31.5 and "floor 31.5 dB" in metrics and 30.5 <= plain["psnr"] < 45
    with pytest.raises(Exception, match="greater than maximum value 45"):  # gradio's own check
        client.predict(source, None, 50, api_name="/anonymize")


def test_batch_endpoint_reports_good_and_bad_files(client, tmp_path, labels):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    table, csv_path, json_path, rows = client.predict(
        [handle_file(SAMPLES / "vq--chelsea.png"), handle_file(bad), handle_file(SAMPLES / "real--coffee.png")],
        api_name="/batch")
    assert rows[0]["label"] in labels and rows[0]["error"] == "" and rows[0]["verdict"] == "generated"
    assert list(rows[0])[:5] == ["file", "verdict", "source", "confidence", "unknown"]  # the answer first
    # the camera photo sample is inconclusive (tests/data/golden.json): its row names no source
    assert rows[2]["verdict"] == "inconclusive" and rows[2]["source"] == rows[2]["label"] == rows[2]["confidence"] == ""
    assert 0 <= rows[2]["p_generated"] <= 1
    assert rows[1]["file"] == "broken.png"
    assert "damaged" in rows[1]["error"] or "not an image" in rows[1]["error"]
    assert Path(csv_path).read_text().splitlines()[0].startswith("file,")
    assert json.loads(Path(json_path).read_text()) == rows


def test_bad_upload_is_a_readable_error_not_a_stack_trace(client, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    with pytest.raises(Exception) as caught:
        client.predict(handle_file(bad), api_name="/attribute")
    assert "not an image" in str(caught.value) and "Traceback" not in str(caught.value)


def test_every_picture_reaches_gradio_as_a_file_we_wrote(monkeypatch, tmp_path):
    """gradio writes an array's PNG in place at a path named by its content, so two answers with
    the same picture at once could serve one of them a half-written file (seen under
    bench/load.py). Every picture the app shows must come to gradio as a file we wrote."""
    import gradio.processing_utils

    from runtime import Engine

    def written_in_place(*args, **kwargs):
        raise AssertionError("gradio wrote a picture in place")

    monkeypatch.setattr(gradio.processing_utils, "save_pil_to_cache", written_in_place)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # importing app sets it only where unset
    import app

    demo = app.build_demo(Engine.load())
    sample = str(SAMPLES / "gan-nearest--coffee.png")
    shown = set()
    for function in demo.fns.values():
        if function.api_name in ("attribute", "fingerprint", "anonymize"):
            for component, value in zip(function.outputs, function.fn(sample)):
                component.postprocess(value)
                shown.add(type(component).__name__)
    assert {"TileMap", "Image", "ImageSlider"} <= shown


def test_a_camera_exif_on_a_generated_image_is_called_out_beside_the_verdict(client, tmp_path):
    """The same pixels as the sample (so the same verdict), with a camera's EXIF copied in."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 400D DIGITAL"
    path = tmp_path / "copied-exif.png"
    Image.open(SAMPLES / "gan-nearest--coffee.png").save(path, exif=exif)
    _verdict, provenance, _plot, _tiles, result = client.predict(handle_file(path), api_name="/attribute")
    assert result["verdict"] == "generated"
    assert provenance.startswith("**Metadata and pixels disagree.** The metadata claims a camera capture")
