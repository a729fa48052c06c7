"""Anonymization without seams: overlapping tiles whose changes cross-fade, and the measure that
says whether a change jumps where tiles meet."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from export.metrics import seam_ratio, tile_lines
from runtime.tiling import blend, blend_window, covering_grid, pad_to_tile


@pytest.mark.parametrize("size, stride", [(64, 48), (64, 32), (32, 16)])
def test_shifted_windows_sum_to_one_inside_the_image(size, stride):
    window = blend_window(size, stride)
    side = size + 6 * stride
    total = np.zeros((side, side))
    for top in range(0, side - size + 1, stride):
        for left in range(0, side - size + 1, stride):
            total[top : top + size, left : left + size] += window
    inner = total[size - stride : side - size + stride, size - stride : side - size + stride]
    assert np.allclose(inner, 1.0) and window.min() > 0


def test_blending_keeps_a_constant_and_plain_blend_is_the_mean():
    positions = covering_grid(100, 130, 64, 48)
    constant = np.full((len(positions), 64, 64, 1), 3.0)
    assert np.allclose(blend(constant, positions, 100, 130, blend_window(64, 48)), 3.0)
    ramps = np.stack([np.full((64, 64, 1), float(i)) for i in range(len(positions))])
    plain = blend(ramps, positions, 100, 130)
    assert positions[:3] == [(0, 0), (0, 48), (0, 66)]
    assert plain[0, 47, 0] == 0.0 and plain[0, 48, 0] == 0.5 and plain[0, 120, 0] == 2.0  # tiles 0; 0 and 1; 2


def test_the_seam_measure_sees_tiles_changed_on_their_own():
    rng = np.random.default_rng(0)
    texture = rng.normal(0, 1, (192, 256))
    positions = covering_grid(192, 256, 64, 64)
    offsets = np.kron(rng.normal(0, 2, (3, 4)), np.ones((64, 64)))  # each tile shifted on its own
    columns, rows = tile_lines(positions, 64, 192, 256)
    assert columns == {64, 128, 192} and rows == {64, 128}
    assert seam_ratio(texture, columns, rows) == pytest.approx(1.0, abs=0.1)
    assert seam_ratio(texture + offsets, columns, rows) > 1.5
    assert seam_ratio(0.3 * texture + offsets, columns, rows, sigma=1) > 3


@pytest.fixture(scope="module")
def rocket():
    """A package photo with a wide, smooth sky: where a tile-by-tile change shows its grid."""
    from export.photos import package_photos
    from runtime.intake import read_image

    return read_image(next(p.path for p in package_photos() if p.name == "rocket"))


def test_one_click_anonymization_leaves_no_grid_on_a_photo(rocket):
    from runtime.engine import Engine

    engine = Engine.load()
    padded, _ = pad_to_tile(rocket, engine.bundle.tile)
    ratios = {}
    for stride in (engine.bundle.tile, 48):
        manifest = copy.deepcopy(engine.bundle.manifest)
        manifest["anonymize"]["stride"] = stride
        changed = Engine(dataclasses.replace(engine.bundle, manifest=manifest), engine.graphs).anonymize(rocket)
        change = changed["image"].astype(float) - changed["input"].astype(float)
        lines = tile_lines(covering_grid(*padded.shape[:2], engine.bundle.tile, stride), engine.bundle.tile,
                           *rocket.shape[:2])
        ratios[stride] = (seam_ratio(change, *lines), seam_ratio(change, *lines, sigma=1))
    assert min(ratios[engine.bundle.tile]) > 2.0  # tiles changed on their own: a grid over the sky
    assert max(ratios[48]) <= 1.3  # cross-faded: no line stands out


def test_a_camera_photo_is_left_as_it_is_and_the_answer_says_why(tiny_bundle, rocket):
    """With a rule that calls everything real, neutral anonymization changes no pixel; "as if made
    by X" still changes it."""
    from runtime.bundle import load_bundle
    from runtime.engine import CAMERA_PHOTO_NOTE, Engine

    engine = Engine.load(str(tiny_bundle))

    def with_rule(real_below: float) -> Engine:
        manifest = copy.deepcopy(engine.bundle.manifest)
        manifest["verdict"] = {**manifest["verdict"], "calibration": {"test": True}, "accuse_above": 1e9,
                               "real_below": real_below}
        return Engine(dataclasses.replace(load_bundle(str(tiny_bundle)), manifest=manifest), engine.graphs)

    lenient = with_rule(1e9)
    crop = rocket[:96, :128]
    kept = lenient.anonymize(crop)
    assert kept["before"]["verdict"] == "real" and kept["changed"] is False and kept["note"] == CAMERA_PHOTO_NOTE
    assert np.array_equal(kept["image"], crop) and kept["psnr"] is None and kept["ssim"] == 1.0
    named = lenient.anonymize(crop, target=engine.generators[0])
    assert named["changed"] is True and not np.array_equal(named["image"], crop)
    assert with_rule(-1e9).anonymize(crop)["changed"] is True  # inconclusive: there may be a trace to hide
