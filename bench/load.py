"""Hostile load on the running app: 50 concurrent clients, 10% of requests bad files.

    python bench/load.py [--clients 50] [--requests 4] [--output bench/results/load.json]

Every good request must come back with its own image's attribution, every bad one with its
error; the app's memory (RSS) is read before and after; the app runs with its own temporary
folders, which are counted after the run and again once its temp-file age limit has passed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from report import command_line, write_result  # noqa: E402  (bench/, beside this script)

from conftest import free_port, start_app  # noqa: E402  (the tests' app launcher)

BAD = ROOT / "tests" / "data" / "bad"
SAMPLES = sorted((ROOT / "tests" / "data" / "samples").glob("*.png"))
REQUEST_TIMEOUT_S = 120
MAX_AGE_S = 60  # well above the p95 latency under this load, so no file expires mid-request


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def main(argv=None) -> int:
    from gradio_client import Client, handle_file

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "load.json")
    args = parser.parse_args(argv)
    expected_bad = {name: e for name, e in json.loads((BAD / "expected.json").read_text()).items()
                    if e["outcome"] == "error"}
    bad_names = sorted(expected_bad)

    sandbox = Path(tempfile.mkdtemp(prefix="load-bench-"))
    app_tmp, gradio_tmp, work = sandbox / "tmp", sandbox / "gradio", sandbox / "work"
    for folder in (app_tmp, gradio_tmp, work):
        folder.mkdir()
    os.environ.update(TMPDIR=str(app_tmp), GRADIO_TEMP_DIR=str(gradio_tmp), APP_TEMP_MAX_AGE_S=str(MAX_AGE_S))
    port = free_port()
    process = start_app(port, timeout=300)
    url = f"http://127.0.0.1:{port}/"
    try:
        Client(url, verbose=False, download_files=str(work / "warm")).predict(handle_file(SAMPLES[0]), api_name="/attribute")
        rss_before = rss_mb(process.pid)

        def client(index: int) -> list[dict]:
            rows = []
            try:  # 2 cores serving 50 clients answer slowly: allow 60 s, not httpx's default 5 s
                own = Client(url, verbose=False, download_files=str(work / f"c{index}"), httpx_kwargs={"timeout": 60})
            except Exception as error:  # noqa: BLE001 -- a client that cannot connect is a counted failure
                return [{"bad": False, "ok": False, "error": f"connect: {error!r}"[:200], "seconds": 0.0}]
            for request in range(args.requests):
                number = index * args.requests + request
                if number % 10 == 9:  # 10% bad files
                    name = bad_names[number // 10 % len(bad_names)]
                    path, want = BAD / name, expected_bad[name]["message"]
                else:
                    path, want = SAMPLES[number % len(SAMPLES)], None
                began = time.perf_counter()
                try:
                    # a bounded wait: a request that never comes back is counted, not waited on forever
                    result = own.submit(handle_file(path), api_name="/attribute").result(timeout=REQUEST_TIMEOUT_S)[-1]
                    width, height = Image.open(path).size
                    ok = want is None and result["image_size"] == [height, width]
                    rows.append({"bad": want is not None, "ok": ok, "error": None})
                except Exception as error:  # noqa: BLE001 -- the benchmark classifies every outcome
                    ok = want is not None and want in str(error)
                    rows.append({"bad": want is not None, "ok": ok, "error": str(error)[-200:]})
                rows[-1]["seconds"] = time.perf_counter() - began
            return rows

        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            rows = [row for rows in pool.map(client, range(args.clients)) for row in rows]
        wall = time.perf_counter() - started
        rss_after = rss_mb(process.pid)
        files_after_run = {"uploads_cache": count_files(gradio_tmp), "app_temp": count_files(app_tmp)}
        time.sleep(MAX_AGE_S * 2)
        # one more request: it runs the app's own sweep; gradio's cache timer runs by itself
        Client(url, verbose=False, download_files=str(work / "last")).predict(handle_file(SAMPLES[0]), api_name="/attribute")
        files_after_expiry = {"uploads_cache": count_files(gradio_tmp), "app_temp": count_files(app_tmp)}
    finally:
        process.terminate()
        process.wait(timeout=30)
    files_after_exit = {"uploads_cache": count_files(gradio_tmp), "app_temp": count_files(app_tmp)}
    good = [r for r in rows if not r["bad"]]
    bad = [r for r in rows if r["bad"]]
    result = {
        "command": command_line("load.py", argv),
        "cpu_count": os.cpu_count(),
        "clients": args.clients, "requests_per_client": args.requests, "requests": len(rows),
        "good_requests": len(good), "good_answered_correctly": sum(r["ok"] for r in good),
        "bad_requests": len(bad), "bad_answered_with_their_error": sum(r["ok"] for r in bad),
        "unexpected": [r["error"] for r in rows if not r["ok"]][:5],
        "wall_seconds": wall, "requests_per_second": len(rows) / wall,
        "rss_mb": {"before": rss_before, "after": rss_after, "growth": rss_after - rss_before},
        "temp_max_age_seconds": MAX_AGE_S,
        "temp_files": {"after_run": files_after_run, "after_expiry": files_after_expiry, "after_exit": files_after_exit},
    }
    shutil.rmtree(sandbox, ignore_errors=True)
    write_result(args.output, result)
    return 0 if not result["unexpected"] else 1


if __name__ == "__main__":
    sys.exit(main())
