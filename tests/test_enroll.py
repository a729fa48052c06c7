"""Few-shot enrollment: the rule on controlled embeddings, and the runtime, overlay and CLI on the
tiny bundle."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import run_module
from runtime.engine import Engine
from runtime.enroll import Enrolled, enroll, load_overlay
from runtime.errors import InputError


class FakeEngine:
    """Just what enrollment reads of an engine: labels, prototypes, the manifest, embeddings."""

    def __init__(self, embeddings: dict[str, list[float]], guard: list[list[float]]):
        self.labels = [SimpleNamespace(name=n) for n in ("real", "gan-a", "gan-b")]
        self.prototypes = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
        self.spread = np.ones(2, dtype=np.float32)
        self.bundle = SimpleNamespace(sha256="f" * 64, manifest={
            "enrollment_guard": {"camera_embeddings": guard}})
        self.embeddings = embeddings

    def embedding(self, image):
        if image not in self.embeddings:
            raise InputError(f"{image}: not an image file")
        return np.asarray(self.embeddings[image], dtype=np.float32)


TIGHT = {f"new{i}.png": [20.0 + 0.3 * i, 20.0 - 0.2 * i] for i in range(5)}
FAR_FROM_CAMERAS = [[0.0, 0.5], [0.5, 0.0], [-0.5, 0.0]]


def test_a_tight_group_of_images_is_enrolled_with_a_radius_and_the_bundle_it_belongs_to():
    engine = FakeEngine(TIGHT, FAR_FROM_CAMERAS)
    made = enroll(engine, "my-gan", list(TIGHT), family="gan", display_name="My GAN")
    assert made.images == 5 and made.bundle_sha256 == "f" * 64 and 0 < made.radius < 5
    assert np.allclose(made.prototype, np.mean(list(TIGHT.values()), 0), atol=1e-5)
    assert (made.name, made.display_name, made.family) == ("my-gan", "My GAN", "gan")


@pytest.mark.parametrize("embeddings, images, name, message", [
    (TIGHT, list(TIGHT), "gan-a", "already has a source of that name"),
    (TIGHT, list(TIGHT), "My GAN", "lower-case"),
    (TIGHT, ["new0.png", "new1.png", "broken.png"], "my-gan", r"2 usable image\(s\).*broken.png: not an image"),
    ({**TIGHT, "odd.png": [20.0, 34.0]}, [*TIGHT, "odd.png"], "my-gan", "image 6 .* more than one source"),
])
def test_bad_enrollments_are_refused_with_the_reason(embeddings, images, name, message):
    with pytest.raises(InputError, match=message):
        enroll(FakeEngine(embeddings, FAR_FROM_CAMERAS), name, images)


def test_images_that_cover_camera_photos_are_refused():
    photos = {f"cam{i}.png": [0.2 * i, -0.1 * i] for i in range(4)}
    with pytest.raises(InputError, match=r"\d+% of this bundle.s validation camera photos would be named midjourney"):
        enroll(FakeEngine(photos, FAR_FROM_CAMERAS), "midjourney", list(photos))
    bare = FakeEngine(TIGHT, FAR_FROM_CAMERAS)
    del bare.bundle.manifest["enrollment_guard"]
    with pytest.raises(InputError, match="ships no camera-photo guard"):
        enroll(bare, "my-gan", list(TIGHT))


@pytest.fixture(scope="module")
def engine(tiny_bundle) -> Engine:
    return Engine.load(tiny_bundle, device="cpu")


@pytest.fixture(scope="module")
def held_out_images(tiny_dataset) -> list[str]:
    """The tiny zoo's held-out member's images: a source the tiny bundle was never trained on."""
    return sorted(str(p) for p in (tiny_dataset / "images").glob("*/gan-bicubic/*.png"))


def test_an_image_at_an_enrolled_prototype_is_named_by_it_and_others_are_not(engine, held_out_images):
    image = held_out_images[0]
    here = Enrolled(name="bicubic", display_name="Bicubic GAN", family="gan", prototype=engine.embedding(image).tolist(),
                    radius=1e-3, images=3, bundle_sha256=engine.bundle.sha256)
    answer = engine.with_enrolled([here]).attribute(image)
    assert answer["verdict"] == "generated" and answer["label"] == "bicubic" and answer["enrolled"]["distance"] < 1e-3
    assert answer["headline"] == "Made by Bicubic GAN, a source taught from 3 images"
    other = engine.with_enrolled([here]).attribute(held_out_images[-1])
    assert other["label"] != "bicubic" and "enrolled" not in other
    assert engine.attribute(image)["label"] != "bicubic"  # the engine itself is unchanged


def test_an_overlay_round_trips_and_is_refused_on_another_bundle(engine, held_out_images, tmp_path):
    made = Enrolled(name="bicubic", display_name="Bicubic GAN", family="gan", prototype=[0.0] * 4, radius=1.0,
                    images=4, bundle_sha256=engine.bundle.sha256)
    made.save(tmp_path / "overlay.json")
    assert load_overlay(tmp_path / "overlay.json", engine.bundle.sha256) == made
    with pytest.raises(InputError, match="made on bundle .* not on the loaded bundle"):
        load_overlay(tmp_path / "overlay.json", "0" * 64)
    (tmp_path / "junk.json").write_text("{oops")
    with pytest.raises(InputError, match="not an enrollment overlay"):
        load_overlay(tmp_path / "junk.json", engine.bundle.sha256)


def test_enroll_and_attribute_from_the_command_line(tiny_bundle, tiny_dataset, held_out_images, tmp_path):
    import shutil

    # a copy of the tiny bundle whose camera guard lies far away: this enrollment is accepted
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    guard = manifest["enrollment_guard"]["camera_embeddings"]
    manifest["enrollment_guard"]["camera_embeddings"] = [[v + 1000 for v in row] for row in guard]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    overlay = tmp_path / "bicubic.json"
    image = held_out_images[0]
    made = run_module("runtime", "enroll", "--bundle", str(bundle), "--name", "bicubic", "--display-name", "Bicubic GAN",
                      "--images", image, image, image, "--output", str(overlay))
    assert made.returncode == 0, made.stderr
    assert json.loads(overlay.read_text())["bundle_sha256"] == Engine.load(bundle).bundle.sha256
    answered = run_module("runtime", "attribute", "--bundle", str(bundle), "--enrolled", str(overlay), image, "--json")
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)[0]["label"] == "bicubic"
    elsewhere = run_module("runtime", "attribute", "--bundle", str(tiny_bundle), "--enrolled", str(overlay), image)
    assert elsewhere.returncode == 2 and "not on the loaded bundle" in elsewhere.stderr.splitlines()[-1]

    # on the bundle's own guard, its validation camera photos cannot be enrolled as a generator
    camera = sorted(str(p) for p in (tiny_dataset / "images").glob("val/real/*.png"))
    refused = run_module("runtime", "enroll", "--bundle", str(tiny_bundle), "--name", "my-camera", "--images",
                         *camera, *camera, "--output", str(tmp_path / "camera.json"))
    assert refused.returncode == 2 and not (tmp_path / "camera.json").exists()
    assert refused.stderr.splitlines()[-1].startswith("error: ")
