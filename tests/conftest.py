"""Shared fixtures: small odd-sized images and a CLI runner."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m ...` from the project root, like a user would."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def load_bench(name: str):
    """A bench/ or bench/experiments/ script as a module (report.py beside it importable, as when run as a script)."""
    import importlib.util
    import sys

    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    path = ROOT / "bench" / f"{name}.py"
    if not path.is_file():  # an experiment's script
        path = ROOT / "bench" / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


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


def offline_hub_cache(root: Path, monkeypatch, repo_id: str, folder: Path,
                      revision: str = "0123456789abcdef0123456789abcdef01234567") -> str:
    """Lay `folder` out as huggingface_hub's cache holds repo `repo_id`, then go offline: a repo id
    goes through the real huggingface_hub code path without touching the network."""
    import shutil

    import huggingface_hub.constants as constants

    repo = root / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(folder, repo / "snapshots" / revision)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(root / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(root / "hub"))
    return revision


# ---------------------------------------------------------------- a tiny trained model, shared
TINY_ZOO = ["real", "gan-nearest", "gan-pixelshuffle", "tiny-ae", "gan-bicubic"]


def tiny_config(dataset: Path, output: Path):
    from export.config import PRESETS, TrainConfig

    return TrainConfig(dataset=str(dataset), output=str(output), **PRESETS["tiny"], threads=2)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """Four known classes and one held out, two photos per split, 32-pixel tiles."""
    from export.dataset import build

    folder = tmp_path_factory.mktemp("tiny") / "zoo"
    build(folder, generators=TINY_ZOO, limit_photos=2, tile=32, stride=32)
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    """A whole (tiny) training run: phase 1, prototypes, open-set threshold, phase 2."""
    from export.train import run

    return run(tiny_config(tiny_dataset, tmp_path_factory.mktemp("tiny-run")))


@pytest.fixture(scope="session")
def tiny_bundle(tiny_checkpoint, tiny_dataset, tmp_path_factory) -> Path:
    """The tiny model exported to an ONNX bundle by `export.to_onnx`."""
    from export.to_onnx import export_bundle

    folder = tmp_path_factory.mktemp("tiny-bundle") / "weights"
    export_bundle(tiny_checkpoint, tiny_dataset, folder, stride=16)
    return folder


# ---------------------------------------------------------------- the app in a subprocess
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, bundle: str | None = None, timeout: float = 120) -> subprocess.Popen:
    """`python app.py` on `port`; returns once it answers (or raises with its log)."""
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(ROOT))
    if bundle:
        env["BUNDLE_REPO"] = bundle
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited:\n{process.stdout.read()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise AssertionError(f"the app did not answer within {timeout} s")


@pytest.fixture(scope="session")
def app_url():
    """The Space on the shipped bundle, started once for the app and browser tests."""
    port = free_port()
    process = start_app(port)
    yield f"http://127.0.0.1:{port}/"
    process.terminate()
    process.wait(timeout=20)
