"""Training perturbations: every family does what its name says, and a photo's draws cover them."""
import numpy as np
import pytest

from export.augment import AUGMENT_FAMILIES, ROBUSTNESS, augmentation


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
