"""`pip install .` installs the runtime and the shipped bundle, and nothing of the lab."""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_the_runtime_and_its_bundle_and_answers_like_the_checkout(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("runtime", "weights"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "-w", str(tmp_path / "wheel"), str(source)], check=True, timeout=600)
    [wheel] = (tmp_path / "wheel").glob("causal_fingerprint-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "runtime/engine.py" in names and "runtime/weights/manifest.json" in names
    assert sum(name.startswith("runtime/weights/") and name.endswith(".onnx") for name in names) == 4
    assert not any(name.startswith(("export/", "tests/", "bench/", "app")) for name in names)

    installed = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "--target", str(installed), str(wheel)], check=True, timeout=600)
    sample = ROOT / "examples" / "real--grace_hopper.png"
    # run from elsewhere, so the installed package, not this checkout, is what answers
    done = subprocess.run([sys.executable, "-m", "runtime", "attribute", str(sample), "--json"], cwd=tmp_path,
                          env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    [answer] = json.loads(done.stdout)
    from runtime.bundle import load_bundle

    assert answer["bundle"] == load_bundle().sha256 and answer["verdict"] and answer["headline"]
