"""bench/real_world.py: the conditions, the figures, a whole run on a tiny bundle, and the committed
result belongs to the shipped bundle."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import load_bench
from export import conditions, realworld

ROOT = Path(__file__).resolve().parents[1]
bench = load_bench("real_world")


def photo(width: int = 120, height: int = 90, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    smooth = np.stack([x * 2 + y, y * 3, (x * y) % 200], axis=-1) % 256
    return np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)


def camera_jpeg(pixels: np.ndarray, make: str | None = "Canon", quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
        exif[0x0110] = "EOS 400D"
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality, exif=exif, subsampling=2)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_each_condition_makes_the_file_it_names():
    native = camera_jpeg(photo(1500, 1000))
    image = opened(native)
    assert conditions.condition_bytes(native, "native", True, None) == native
    assert conditions.condition_bytes(native, "camera_saved", True, None) == native  # camera photos as they are
    half = opened(conditions.condition_bytes(native, "half", False, None))
    assert half.format == "PNG" and half.size == (750, 500)
    jpeg = opened(conditions.condition_bytes(native, "jpeg75", True, None))
    assert jpeg.format == "JPEG" and jpeg.quantization != image.quantization
    web = opened(conditions.condition_bytes(native, "web1080", True, None))
    assert web.format == "JPEG" and web.size == (1080, 720)
    small = opened(conditions.condition_bytes(native, "webp_small", True, None))
    assert small.format == "WEBP" and small.size == (555, 370)
    shot = opened(conditions.condition_bytes(native, "screenshot125", True, None))
    assert shot.format == "PNG" and shot.size == (1000, 750)


def test_camera_saved_copies_a_cameras_tables_and_exif_into_a_generated_image():
    template = conditions.camera_template(camera_jpeg(photo(seed=1), quality=87))
    png = io.BytesIO()
    Image.fromarray(photo(seed=2)).save(png, "PNG")
    saved = opened(conditions.condition_bytes(png.getvalue(), "camera_saved", False, template))
    assert saved.format == "JPEG" and saved.quantization == template["qtables"]
    assert saved.getexif()[0x010F] == "Canon"
    with pytest.raises(bench.InputError, match="camera JPEG"):
        conditions.condition_bytes(png.getvalue(), "camera_saved", False, None)


def test_a_native_photo_over_4_megapixels_is_cropped_on_its_block_grid_with_its_own_tables(tmp_path):
    path = tmp_path / "big.jpg"
    path.write_bytes(camera_jpeg(photo(2600, 1800), quality=91))
    cropped = opened(conditions.native_bytes(path))
    assert cropped.width * cropped.height <= conditions.MAX_NATIVE_PIXELS
    assert cropped.width % 16 == 0 and cropped.height % 16 == 0 and cropped.width > cropped.height
    assert cropped.quantization == opened(path.read_bytes()).quantization
    assert cropped.getexif()[0x010F] == "Canon"
    small = tmp_path / "small.jpg"
    small.write_bytes(camera_jpeg(photo()))
    assert conditions.native_bytes(small) == small.read_bytes()


def test_rates_and_clopper_pearson_bounds():
    assert bench.upper95(0, 100) == pytest.approx(0.0362, abs=1e-4)
    assert bench.upper95(1, 100) == pytest.approx(0.0545, abs=1e-4)
    rows = [{"outcome": o, "label": l, "source": "a"} for o, l in
            [("generated", "a"), ("generated", "b"), ("real", "real"), ("unknown", "a")]]
    known = bench.summarize(rows, "known")
    assert known == {"images": 4, "named_real": 0.25, "unknown": 0.25, "inconclusive": 0.0,
                     "accuracy": 0.25, "wrong_source": 0.25}
    assert bench.summarize(rows, "held_out")["wrong_source"] == 0.5
    camera = bench.summarize(rows, "camera")
    assert camera["accused"] == 0.5 and camera["accused_count"] == 2 and camera["photos"] == 4
    assert realworld.outcome({"unknown": True, "is_real": True}) == "unknown"
    assert realworld.outcome({"unknown": False, "is_real": False}) == "generated"
    assert realworld.outcome({"verdict": "inconclusive", "unknown": False, "is_real": False}) == "inconclusive"


def tiny_benchmark(tmp_path: Path) -> tuple[Path, Path]:
    """A fetched-pool folder (3 camera photos, one non-photo) and a generated folder (a known source
    of the tiny bundle and a held-out one)."""
    from export.pools import write_index

    from test_pools import image

    pools_dir, generated = tmp_path / "pools", tmp_path / "generated"
    listed = []
    for k, make in enumerate(["Canon", None, "NIKON"]):
        entry = image(f"cam{k}", pool="test", package="held")
        path = pools_dir / "test" / "camera" / f"cam{k}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(camera_jpeg(photo(96, 80, seed=k), make))
        listed.append(entry)
    drawing = image("drawing", pool="test", kind="illustration", package="held", member="data/drawing.png")
    (pools_dir / "test" / "illustration").mkdir(parents=True)
    Image.fromarray(photo(70, 70, seed=9) // 64 * 64).save(pools_dir / "test" / "illustration" / "drawing.png")
    write_index(listed + [drawing], pools_dir)
    for source in ("gan-nearest", "gan-bicubic"):
        (generated / source).mkdir(parents=True)
        for k in range(2):
            Image.fromarray(photo(64, 72, seed=20 + k)).save(generated / source / f"p{k}.png")
    return pools_dir, generated


def test_a_whole_run_on_a_tiny_bundle_writes_every_figure_and_resumes_from_its_cache(tiny_bundle, tmp_path, monkeypatch):
    pools_dir, generated = tiny_benchmark(tmp_path)
    output, cache = tmp_path / "real_world.json", tmp_path / "cache.jsonl"
    args = ["--pools", str(pools_dir), "--generated", str(generated), "--bundle", str(tiny_bundle),
            "--output", str(output), "--cache", str(cache), "--threads", "1"]
    assert bench.main(args) == 0
    result = json.loads(output.read_text())
    from runtime.bundle import load_bundle

    assert result["bundle"]["sha256"] == load_bundle(tiny_bundle).sha256
    assert result["runtime"]["tile"] == 32 and result["runtime"]["stride"] == 16
    assert result["images"] == {"camera": 3, "illustration": 1, "known": 2, "held_out": 2}
    assert set(result["conditions"]) == set(bench.CONDITIONS)
    for figures in result["conditions"].values():
        camera = figures["camera"]
        assert camera["photos"] == 3
        assert camera["named_real"] + camera["unknown"] + camera["inconclusive"] + camera["accused"] == pytest.approx(1)
        assert camera["accused_upper95"] >= camera["accused"]
        assert len(figures["camera_accused"]) == camera["accused_count"]
        known = figures["generated_known"]
        assert known["images"] == 2
        assert known["accuracy"] + known["wrong_source"] + known["named_real"] + known["unknown"] + known["inconclusive"] == pytest.approx(1)
        assert figures["generated_held_out"]["images"] == 2
        assert 0 <= figures["ece_p_generated"] <= 1
    assert result["illustrations"]["images"] == 1
    page = output.with_suffix(".md").read_text()
    assert result["bundle"]["sha256"][:12] in page and all(f"| {c} |" in page for c in bench.CONDITIONS)
    cached = cache.read_text().splitlines()
    assert len(cached) == 8 * len(bench.CONDITIONS)

    calls = []
    from runtime.engine import Engine

    original = Engine.attribute
    monkeypatch.setattr(Engine, "attribute", lambda self, image: calls.append(1) or original(self, image))
    assert bench.main(args) == 0
    assert calls == [] and json.loads(output.read_text())["conditions"] == result["conditions"]


def test_bad_inputs_are_one_error_line(tiny_bundle, tmp_path, capsys):
    pools_dir, generated = tiny_benchmark(tmp_path)
    (generated / "real").mkdir()
    base = ["--bundle", str(tiny_bundle), "--output", str(tmp_path / "r.json"), "--cache", str(tmp_path / "c")]
    assert bench.main(["--pools", str(pools_dir), "--generated", str(generated), *base]) == 2
    assert "come from the pools" in capsys.readouterr().err
    assert bench.main(["--pools", str(tmp_path / "none"), "--generated", str(generated), *base]) == 2
    assert "fetch the pools" in capsys.readouterr().err


def test_the_committed_result_was_measured_on_the_shipped_bundle():
    """Fails when weights/ changes and bench/real_world.py was not run again on it."""
    from runtime.bundle import load_bundle

    result = json.loads((ROOT / "bench" / "results" / "real_world.json").read_text())
    assert result["bundle"]["sha256"] == load_bundle(None).sha256, \
        "weights/ changed: re-run python bench/real_world.py and commit bench/results/real_world.json"
    assert set(result["conditions"]) == set(bench.CONDITIONS)
    assert result["conditions"]["native"]["camera"]["photos"] >= 100
