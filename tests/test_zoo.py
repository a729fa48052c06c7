"""The generator zoo and its command line: listing, regeneration, dataset build, bad input."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from export.dataset import Regenerators, build, read_index
from export.generators import REAL, ZOO, ZOO_DIR, check_name, listing, load_generator
from export.photos import load_prepared, load_splits, package_photos, photos_by_split
from runtime.tiling import inside_grid
from export.zoo import main as zoo_main
from runtime.errors import InputError
from runtime.intake import read_image
from tests.conftest import run_module

GENERATORS = [spec.name for spec in ZOO]


def test_list_json_names_families_and_held_out():
    result = run_module("export.zoo", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows == listing()
    assert {"name", "family", "held_out"} <= set(rows[0])
    assert rows[0] == {**rows[0], "name": "real", "family": "real", "held_out": False}
    known = [r for r in rows if not r["held_out"] and r["name"] != "real"]
    assert len(known) >= 8
    assert len({r["family"] for r in known}) >= 5
    assert sum(r["held_out"] for r in rows) >= 2
    assert len({r["name"] for r in rows}) == len(rows)


def test_zoo_has_a_same_architecture_pair_that_differs_only_in_seed():
    specs = {spec.name: spec for spec in ZOO}
    a, b = specs["gan-transposed"], specs["gan-transposed-b"]
    assert (a.kind, a.config, a.steps) == (b.kind, b.config, b.steps) and a.seed != b.seed


def test_committed_weights_are_small_and_rebuild_from_their_own_spec():
    files = sorted(ZOO_DIR.glob("*.safetensors"))
    assert {f.stem for f in files} == set(GENERATORS)
    assert sum(f.stat().st_size for f in files) <= 30 * 1024 * 1024
    for spec in ZOO:
        assert load_generator(spec.name).spec == spec


def _test_photos() -> list[np.ndarray]:
    return [load_prepared(p) for p in photos_by_split(package_photos(), load_splits())["test"]]


def _test_crops(size: int = 96) -> list[np.ndarray]:
    crops = []
    for image in _test_photos()[:3]:
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        crops.append(image[top : top + size, left : left + size])
    return crops


@pytest.mark.parametrize("name", GENERATORS)
def test_each_generator_changes_every_test_tile_but_keeps_22_db(name):
    # The bar, measured as the PSNR table measures it: mean over the 64x64 tiles of
    # the test photos, none left identical.
    regenerate = Regenerators()
    psnr = []
    for image in _test_photos():
        out = regenerate(name, image)
        assert out.shape == image.shape and out.dtype == np.uint8
        for top, left in inside_grid(*image.shape[:2], 64, 64):
            a, b = image[top : top + 64, left : left + 64], out[top : top + 64, left : left + 64]
            assert not np.array_equal(a, b), f"{name} leaves a tile unchanged"
            psnr.append(peak_signal_noise_ratio(a, b, data_range=255))
    assert np.mean(psnr) >= 22.0, np.mean(psnr)


def test_committed_psnr_table_covers_every_member():
    table = json.loads((Path(__file__).resolve().parents[1] / "bench" / "results" / "zoo.json").read_text())
    rows = {row["name"]: row for row in table["generators"]}
    assert set(rows) == set(GENERATORS)
    for row in rows.values():
        assert row["identical_tiles"] == 0 and row["psnr_mean"] >= 22.0, row
    assert table["reconstructor"]["class"] == "AutoencoderKL" and table["reconstructor"]["psnr_mean"] > 15


def test_generators_leave_distinct_traces():
    crop = _test_crops()[0]
    regenerate = Regenerators()
    outputs = {name: regenerate(name, crop) for name in ("gan-transposed", "gan-transposed-b", "gan-nearest")}
    assert not np.array_equal(outputs["gan-transposed"], outputs["gan-transposed-b"])
    assert not np.array_equal(outputs["gan-transposed"], outputs["gan-nearest"])


def test_regeneration_is_deterministic_including_diffusion():
    crop = _test_crops()[1]
    assert np.array_equal(Regenerators()("ddpm", crop), Regenerators()("ddpm", crop))
    assert not np.array_equal(Regenerators()("ddpm", crop, seed=0), Regenerators()("ddpm", crop, seed=1))


@pytest.mark.parametrize("name", [REAL] + GENERATORS)
def test_regenerate_cli_keeps_the_size_of_odd_images(name, odd_images, tmp_path):
    out = tmp_path / "out"
    assert zoo_main(["regenerate", "--generator", name, "--input", str(odd_images), "--output", str(out)]) == 0
    for source in sorted(odd_images.iterdir()):
        result = out / f"{source.stem}.png"
        with Image.open(result) as regenerated:
            assert regenerated.format == "PNG" and regenerated.mode == "RGB"
            assert regenerated.size == Image.open(source).size
            assert not regenerated.info.get("exif") and not regenerated.text
    if name == REAL:
        assert np.array_equal(read_image(out / "rgb_97x131.png"), read_image(odd_images / "rgb_97x131.png"))


def test_regenerate_real_applies_exactly_the_photo_preparation(tmp_path):
    photo = {p.name: p for p in package_photos()}["chelsea"]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "chelsea.png").write_bytes(photo.path.read_bytes())
    assert zoo_main(["regenerate", "--generator", "real", "--scale", "0.5", "--input", str(folder),
                     "--output", str(tmp_path / "out")]) == 0
    assert np.array_equal(read_image(tmp_path / "out" / "chelsea.png"), load_prepared(photo))


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_is_deterministic_content_matched_and_by_photo(tmp_path):
    args = dict(generators=["real", "gan-nearest", "ddpm"], limit_photos=1, tile=64, stride=64, seed=0)
    index = build(tmp_path / "a", **args)
    build(tmp_path / "b", **args)
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    rows = read_index(tmp_path / "a")
    assert len(rows) == len(index) > 0
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    photos_of = {s: {r["photo"] for r in rows if r["split"] == s} for s in ("train", "val", "test")}
    assert photos_of["train"].isdisjoint(photos_of["test"]) and photos_of["val"].isdisjoint(photos_of["test"])
    # content-matched: every tile position of every photo exists once per class
    positions = {}
    for r in rows:
        positions.setdefault((r["photo"], r["top"], r["left"]), set()).add(r["label"])
    assert all(labels == {"real", "gan-nearest", "ddpm"} for labels in positions.values())
    for r in rows[:20]:
        with Image.open(tmp_path / "a" / r["path"]) as tile:
            assert tile.format == "PNG" and tile.size == (64, 64) and not tile.text
    settings = json.loads((tmp_path / "a" / "build.json").read_text())
    assert settings["tile"] == 64 and settings["labels"] == ["real", "gan-nearest", "ddpm"]
    assert build(tmp_path / "c", **{**args, "seed": 1})
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "c"), "the seed must matter (diffusion noise)"


def test_train_scales_add_train_photos_and_leave_val_and_test_alone(tmp_path):
    args = dict(generators=["real", "gan-nearest"], limit_photos=1, tile=64, stride=64)
    build(tmp_path / "plain", **args)
    build(tmp_path / "multi", **args, train_scales=(0.35,))
    plain, multi = read_index(tmp_path / "plain"), read_index(tmp_path / "multi")
    for split in ("val", "test"):
        assert [r for r in multi if r["split"] == split] == [r for r in plain if r["split"] == split]
        assert (_tree_digest(tmp_path / "multi" / "images" / split)
                == _tree_digest(tmp_path / "plain" / "images" / split))
    [train_photo] = {r["photo"] for r in plain if r["split"] == "train"}
    assert {r["photo"] for r in multi if r["split"] == "train"} == {train_photo, f"{train_photo}-x0.35"}
    original = read_image(next(p for p in package_photos() if p.name == train_photo).path)
    smaller = read_image(tmp_path / "multi" / "images" / "train" / "real" / f"{train_photo}-x0.35.png")
    assert smaller.shape[:2] == tuple(round(0.35 * n) for n in original.shape[:2])
    assert json.loads((tmp_path / "multi" / "build.json").read_text())["train_scales"] == [0.35]


def test_native_crop_adds_each_train_photo_at_full_resolution_and_keeps_its_cameras_tables(tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    rng = np.random.default_rng(0)
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    for k in range(9):
        pixels = rng.integers(0, 255, (150, 190, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"p{k}.jpg", "JPEG", quality=88, subsampling=2, exif=exif)
    args = dict(photos_dir=folder, generators=["real", "gan-nearest"], tile=32, stride=32)
    build(tmp_path / "plain", **args)
    build(tmp_path / "native", **args, native_crop=96)
    plain, native = read_index(tmp_path / "plain"), read_index(tmp_path / "native")
    for split in ("val", "test"):
        assert [r for r in native if r["split"] == split] == [r for r in plain if r["split"] == split]
    train = sorted({r["photo"] for r in plain if r["split"] == "train"})
    assert sorted({r["photo"] for r in native if r["split"] == "train"}) == sorted(train + [f"{p}-native" for p in train])
    crop = read_image(tmp_path / "native" / "images" / "train" / "real" / f"{train[0]}-native.png")
    original = read_image(folder / f"{train[0]}.jpg")
    assert crop.shape == (96, 96, 3)  # (150 - 96) // 2 = 27 and (190 - 96) // 2 = 47, on the 16 grid: 16, 32
    assert np.array_equal(crop, original[16:112, 32:128])
    settings = json.loads((tmp_path / "native" / "build.json").read_text())
    assert settings["native_crop"] == 96 and len(settings["camera_tables"]) == 1
    assert settings["camera_tables"][0]["subsampling"] == 2 and len(settings["camera_tables"][0]["qtables"]) == 2
    assert json.loads((tmp_path / "plain" / "build.json").read_text())["native_crop"] == 0
    with pytest.raises(InputError, match="at least a tile"):
        build(tmp_path / "bad", **args, native_crop=16)


def test_build_from_a_users_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for photo in package_photos()[:9]:
        (folder / f"{photo.name}{photo.path.suffix}").write_bytes(photo.path.read_bytes())
    build(tmp_path / "out", photos_dir=folder, generators=["real", "gan-bilinear"], tile=64, stride=64)
    settings = json.loads((tmp_path / "out" / "build.json").read_text())
    assert sum(len(v) for v in settings["splits"].values()) == 9
    assert {r["split"] for r in read_index(tmp_path / "out")} >= {"train", "test"}


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["regenerate", "--generator", "gan-nearest", "--input", "{missing}", "--output", "{out}"], "no such folder"),
        (["regenerate", "--generator", "gan-nearest", "--input", "{mixed}", "--output", "{out}"], "not image files: notes.txt"),
        (["regenerate", "--generator", "gan-nearest", "--input", "{fake}", "--output", "{out}"], "not an image file"),
        (["regenerate", "--generator", "stylegan9", "--input", "{good}", "--output", "{out}"], "unknown generator 'stylegan9'"),
        (["build", "--generators", "stylegan9", "--output", "{out}"], "unknown generator 'stylegan9'"),
        (["build", "--photos", "{missing}", "--output", "{out}"], "no such folder"),
        (["build", "--train-scales", "1.5", "--output", "{out}"], "each train scale must be in (0, 1]"),
    ],
)
def test_bad_input_gives_one_clear_line_and_writes_nothing(arguments, message, tmp_path, odd_images):
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.png").write_bytes((odd_images / "rgb_97x131.png").read_bytes())
    (tmp_path / "mixed" / "notes.txt").write_text("not an image")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "a.png").write_bytes((odd_images / "rgb_97x131.png").read_bytes())
    (tmp_path / "fake" / "b.png").write_text("this is text, not a PNG")
    names = {"missing": tmp_path / "missing", "out": tmp_path / "out", "mixed": tmp_path / "mixed",
             "fake": tmp_path / "fake", "good": odd_images}
    result = run_module("export.zoo", *[a.format(**names) for a in arguments])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "staging folder left behind"


def test_failure_midway_leaves_an_existing_output_untouched(tmp_path, odd_images, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.png").write_bytes(b"old")
    import export.dataset as dataset

    calls = []

    def failing_save(image, path):
        calls.append(path)
        if len(calls) == 2:
            raise InputError("disk full (simulated)")
        Image.fromarray(image).save(path)

    monkeypatch.setattr(dataset, "save_png", failing_save)
    with pytest.raises(InputError, match="simulated"):
        dataset.regenerate_folder("gan-nearest", odd_images, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd", "out"]
    assert sorted(p.name for p in out.iterdir()) == ["keep.png"]


def test_check_name():
    assert check_name("real") == "real"
    with pytest.raises(InputError, match="known: real, gan-transposed"):
        check_name("nope")
