"""Every bench/ script starts the way the README runs it: `python bench/NAME.py`, from any folder,
with nothing on PYTHONPATH (the script finds the project itself)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if "__main__" in p.read_text())


def test_every_bench_script_is_listed():
    assert "extra_photos.py" in SCRIPTS and "report.py" not in SCRIPTS  # report.py is their shared module


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_prints_its_usage_from_another_folder(script, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
