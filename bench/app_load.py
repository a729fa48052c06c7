"""The Space under load: cold start to first answer, then concurrent gradio_client users.

    python bench/app_load.py [--users 20] [--requests 5] [--output bench/results/app.json]

Each user sends its own image (a sample cut to a size no other user has), so an answer that
came back to the wrong user is caught: every answer's image size must be its own input's.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from report import command_line, write_result  # noqa: E402  (bench/, beside this script)

from conftest import free_port, start_app  # noqa: E402  (the tests' app launcher)

SAMPLES = sorted((ROOT / "tests" / "data" / "samples").glob("*.png"))


def user_images(users: int, folder: Path) -> list[Path]:
    """One PNG per user, each with a distinct size."""
    paths = []
    for user in range(users):
        image = Image.open(SAMPLES[user % len(SAMPLES)]).convert("RGB")
        width, height = image.size
        cut = image.crop((0, 0, width - user, height - 2 * user))
        path = folder / f"user{user:02d}.png"
        cut.save(path)
        paths.append(path)
    return paths


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main(argv=None) -> int:
    from gradio_client import Client, handle_file

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "app.json")
    args = parser.parse_args(argv)

    port = free_port()
    started = time.perf_counter()
    process = start_app(port, timeout=300)
    url = f"http://127.0.0.1:{port}/"
    folder = Path(tempfile.mkdtemp(prefix="app-load-"))
    try:
        images = user_images(args.users, folder)
        client = Client(url, verbose=False, download_files=str(folder / "downloads"))
        client.predict(handle_file(images[0]), api_name="/attribute")
        cold_start = time.perf_counter() - started

        def user(index: int) -> list[dict]:
            own = Client(url, verbose=False, download_files=str(folder / f"downloads{index}"))
            width, height = Image.open(images[index]).size
            rows = []
            for _ in range(args.requests):
                began = time.perf_counter()
                try:
                    result = own.predict(handle_file(images[index]), api_name="/attribute")[-1]
                    matches = result["image_size"] == [height, width]
                    rows.append({"seconds": time.perf_counter() - began, "error": None, "matches": matches})
                except Exception as error:  # noqa: BLE001 -- a benchmark counts every failure kind
                    rows.append({"seconds": time.perf_counter() - began, "error": repr(error), "matches": False})
            return rows

        load_started = time.perf_counter()
        with ThreadPoolExecutor(args.users) as pool:
            rows = [row for rows in pool.map(user, range(args.users)) for row in rows]
        wall = time.perf_counter() - load_started
    finally:
        process.terminate()
        process.wait(timeout=30)
    seconds = [row["seconds"] for row in rows]
    result = {
        "command": command_line("app_load.py", argv),
        "device": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "cold_start_to_first_answer_seconds": cold_start,
        "cold_start_target_seconds": 10,
        "users": args.users, "requests_per_user": args.requests, "requests": len(rows),
        "errors": sum(row["error"] is not None for row in rows),
        "error_examples": sorted({row["error"] for row in rows if row["error"]})[:5],
        "answers_matching_their_input": sum(row["matches"] for row in rows),
        "latency_seconds": {"p50": percentile(seconds, 50), "p95": percentile(seconds, 95),
                            "max": max(seconds), "mean": statistics.mean(seconds)},
        "throughput_requests_per_second": len(rows) / wall,
    }
    write_result(args.output, result)
    return 0 if result["errors"] == 0 and result["answers_matching_their_input"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
