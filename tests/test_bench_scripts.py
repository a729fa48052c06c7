"""Every bench/ and bench/experiments/ script starts the way it is run, `python bench/NAME.py` or
`python bench/experiments/NAME.py`, from any folder,
with nothing on PYTHONPATH (the script finds the project itself)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import load_bench

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.relative_to(ROOT / "bench").as_posix() for p in [*(ROOT / "bench").glob("*.py"),
                 *(ROOT / "bench" / "experiments").glob("*.py")] if "__main__" in p.read_text())


def test_every_bench_script_is_listed_and_the_product_benchmarks_stay_few():
    assert "extra_photos.py" in SCRIPTS and "report.py" not in SCRIPTS  # report.py is their shared module
    assert "experiments/anonymize_val.py" in SCRIPTS
    assert len(list((ROOT / "bench").glob("*.py"))) <= 10  # experiments live under bench/experiments/


def test_every_bench_records_its_command_line_the_same_way(monkeypatch):
    report = load_bench("report")
    assert report.command_line("load.py", ["--users", "20"]) == "python bench/load.py --users 20"
    assert report.command_line("load.py", []) == "python bench/load.py"
    monkeypatch.setattr(sys, "argv", ["bench/load.py", "--seconds", "5"])
    assert report.command_line("load.py", None) == "python bench/load.py --seconds 5"
    assert not [name for name in SCRIPTS if "sys.argv[1:]" in (ROOT / "bench" / name).read_text()]


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_prints_its_usage_from_another_folder(script, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout


def test_latency_bench_times_other_reference_caps_side_by_side(tmp_path, capsys):
    from export.open_set import REFERENCE_TILES

    bench = load_bench("latency")
    output = tmp_path / "latency.json"
    assert bench.main(["--size", "192", "--repeats", "1", "--batch-tiles", "8", "--compare-reference-tiles", "2", "4",
                       "--large", "640", "480", "--large-repeats", "1", "--max-tiles", "20",
                       "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert result["tiles_per_image"] == 9 and result["reference_tiles"] == REFERENCE_TILES  # the manifest's
    large = result["large_photo"]
    assert large["tiles"] == {"every_tile": 80, "spread": 20} and large["coverage"]["every_tile"] == 1.0
    assert 0 < large["coverage"]["spread"] < 1 and large["seconds"]["spread"] > 0
    for cap in (2, 4):
        assert result["attribute_seconds"][f"onnxruntime_reference_{cap}"] > 0
    assert bench.main(["--compare-reference-tiles", "0", "--output", str(output)]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_the_tile_majority_rule_the_open_set_experiment_compared_with():
    # three images (photo, source): 3 of 4 tiles above the threshold, 2 of 4 (not more than half), 0 of 2
    rule = load_bench("open_set_reference").tile_majority_called_unknown
    scores = np.array([1.0, 2.0, 3.0, -1.0, 5.0, 5.0, -2.0, -3.0, -1.0, -1.0])
    photos = ["a"] * 8 + ["b"] * 2
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0])
    assert rule(scores, 0.5, photos, labels) == pytest.approx(1 / 3)
    assert rule(scores, -5.0, photos, labels) == 1.0 and rule(scores, 10.0, photos, labels) == 0.0
