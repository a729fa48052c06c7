"""Shared fixtures: small odd-sized images and a CLI runner."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m ...` from the project root, like a user would."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def odd_images(tmp_path: Path) -> Path:
    """A folder with a 97x131 RGB PNG, a grayscale JPEG and an RGBA PNG of odd sizes."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "odd"
    folder.mkdir()
    y, x = np.mgrid[0:131, 0:97]
    smooth = (np.stack([x * 2, y, (x + y) % 255], axis=-1) % 256).astype(np.uint8)
    Image.fromarray(smooth).save(folder / "rgb_97x131.png")
    Image.fromarray(rng.integers(0, 255, (45, 70), dtype=np.uint8)).save(folder / "gray_70x45.jpg", quality=90)
    rgba = np.concatenate([smooth[:33, :51], rng.integers(0, 255, (33, 51, 1), dtype=np.uint8)], axis=-1)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba_51x33.png")
    return folder
