"""Training perturbations: every family does what its name says, and a photo's draws cover them."""
import io

import numpy as np
import pytest
from PIL import Image

from export.augment import ARRIVAL_FAMILIES, AUGMENT_FAMILIES, ROBUSTNESS, arrival, augmentation


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(48, 40, 3), dtype=np.uint8)


def test_each_family_perturbs_as_named(image):
    rng = np.random.default_rng(1)
    name, perturb = augmentation("clean", rng)
    assert name == "clean" and np.array_equal(perturb(image), image)
    for family in ("jpeg", "blur"):
        name, perturb = augmentation(family, rng)
        out = perturb(image)
        assert name.startswith(family) and out.shape == image.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - image).mean() > 1, f"{name} left the image as it was"
    name, perturb = augmentation("crop", rng)
    out = perturb(image)
    assert 41 <= out.shape[0] <= 47 and 33 <= out.shape[1] <= 39
    top, left = (int(v) for v in name.removeprefix("crop").split(","))
    assert np.array_equal(out, image[top:, left:])
    name, perturb = augmentation("resize", rng)
    factor = float(name.removeprefix("resize"))
    assert perturb(image).shape[:2] == (round(48 * factor), round(40 * factor))


def test_strength_is_drawn_from_the_generator():
    first = [augmentation("jpeg", np.random.default_rng(7))[0] for _ in range(2)]
    assert first[0] == first[1], "same seed, same perturbation"
    names = {augmentation("jpeg", np.random.default_rng(seed))[0] for seed in range(20)}
    assert len(names) > 5 and all(50 <= int(n.removeprefix("jpeg")) <= 95 for n in names)


def test_six_draws_cover_every_family_and_unknown_is_refused():
    assert set(AUGMENT_FAMILIES[:6]) == {"clean", "jpeg", "crop", "resize", "blur"}
    assert AUGMENT_FAMILIES[0] == "clean", "a single draw trains on clean tiles"
    with pytest.raises(ValueError, match="unknown augmentation family 'sharpen'"):
        augmentation("sharpen", np.random.default_rng(0))


def test_robustness_suite_keeps_its_names(image):
    assert list(ROBUSTNESS) == ["jpeg95", "jpeg75", "jpeg50", "resize0.5", "resize1.5", "blur1", "crop"]
    assert ROBUSTNESS["resize0.5"](image).shape == (24, 20, 3)


def camera_tables() -> list[dict]:
    """A 'camera's' saving: its own quantization tables (quality 93, 4:4:4)."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG", quality=93, subsampling=0)
    saved = Image.open(io.BytesIO(buffer.getvalue()))
    return [{"qtables": [list(saved.quantization[k]) for k in sorted(saved.quantization)], "subsampling": 0}]


def test_each_arrival_family_does_what_its_name_says():
    rng = np.random.default_rng(3)
    photo = np.asarray(Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 80, 3), dtype=np.uint8))
                       .resize((160, 192), Image.Resampling.BICUBIC))
    name, perturb = arrival("png", rng)
    assert name == "png" and np.array_equal(perturb(photo), photo)
    for family in ("jpeg", "sharpen", "denoise"):
        name, perturb = arrival(family, rng)
        out = perturb(photo)
        assert name.startswith(family) and out.shape == photo.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - photo).mean() > 1, f"{name} left the photo as it was"
    name, perturb = arrival("downscale", rng)
    factor = float(name.removeprefix("down").split("-")[0])
    height, width = perturb(photo).shape[:2]  # the name's factor is rounded to 2 decimals
    assert 0.25 <= factor <= 0.9 and abs(height - 192 * factor) <= 1.5 and abs(width - 160 * factor) <= 1.5


def test_a_camera_jpeg_arrival_saves_with_the_cameras_tables():
    tables = camera_tables()
    name, perturb = arrival("camera_jpeg", np.random.default_rng(0), tables)
    photo = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    expected = io.BytesIO()
    Image.fromarray(photo).save(expected, "JPEG", quality=93, subsampling=0)
    assert name == "camera-jpeg"
    assert np.array_equal(perturb(photo), np.asarray(Image.open(io.BytesIO(expected.getvalue()))))
    # without a camera's tables it is a library save
    assert arrival("camera_jpeg", np.random.default_rng(0))[0].startswith("jpeg")


def test_arrival_draws_cover_qualities_chroma_and_resamplers_but_never_the_test_only_conditions():
    names = [arrival(family, np.random.default_rng(seed))[0]
             for seed in range(40) for family in ARRIVAL_FAMILIES]
    qualities = {int(n.split("jpeg")[1].split("-")[0]) for n in names if "jpeg" in n and "camera" not in n}
    assert min(qualities) >= 70 and max(qualities) >= 97 and min(qualities) <= 75
    assert any(n.endswith("-420") for n in names) and any(n.endswith("-444") for n in names)
    assert {"lanczos", "bicubic", "bilinear", "box", "hamming"} <= {n.split("-")[1] for n in names if n.startswith("down")}
    assert not any("webp" in n or "screenshot" in n for n in names)
    with pytest.raises(ValueError, match="unknown arrival family 'webp'"):
        arrival("webp", np.random.default_rng(0))
