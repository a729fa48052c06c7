"""What every benchmark does with its result: write it as JSON (the committed record) and print it."""
from __future__ import annotations

import json
from pathlib import Path


def write_result(path: Path, result: dict) -> None:
    """Write `result` to `path` (folders made as needed) as indented JSON, and print the same."""
    text = json.dumps(result, indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    print(text)


def command_line(script: str, argv: list[str] | None) -> str:
    """How a bench was run, for its result: `python bench/SCRIPT` and its arguments (`argv`, or
    the process's own when None)."""
    import sys

    return " ".join([f"python bench/{script}", *(argv if argv is not None else sys.argv[1:])])


def checkpoints_parser(description: str, root: Path, output_name: str):
    """The command line of a bench that compares training checkpoints on one split of a dataset."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoints", type=Path, nargs="+", help="model.pt files of `python -m export.train`")
    parser.add_argument("--dataset", type=Path, default=root / "data" / "zoo")
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--output", type=Path, default=root / "bench" / "experiments" / "results" / output_name)
    return parser


def refuse_missing(paths: list[Path]) -> bool:
    """Print one error line naming the files of `paths` that do not exist; True if any is missing."""
    import sys

    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"error: not found: {', '.join(missing)} (build the dataset with python -m export.zoo build)",
              file=sys.stderr)
    return bool(missing)


def write_comparison(script: str, args, argv: list[str] | None, rows: list[dict], started: float) -> None:
    """Write the result of a checkpoints_parser bench: its command, split, platform, one row per
    checkpoint and the seconds since `started`."""
    import platform
    import time

    write_result(args.output, {"command": command_line(script, argv), "split": args.split, "platform": platform.platform(),
                               "checkpoints": rows, "seconds": time.time() - started})


def open_set_parser(description: str, root: Path, output_name: str):
    """The arguments of an open-set bench: --model, --dataset, --output (bench/experiments/results/output_name)."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", type=Path, default=root / "export" / "assets" / "causal-fingerprint.pt")
    parser.add_argument("--dataset", type=Path, default=root / "data" / "zoo")
    parser.add_argument("--output", type=Path, default=root / "bench" / "experiments" / "results" / output_name)
    return parser


def load_held_out_model(model: Path, dataset: Path):
    """export.checkpoints.load_model_on(model, dataset), or None after one error line when a file is
    missing or the dataset holds no member out to measure the open set on."""
    import sys

    from export.checkpoints import load_model_on

    if refuse_missing([dataset / "build.json", model]):
        return None
    loaded = load_model_on(model, dataset)
    if not loaded[1]["held_out"]:
        print("error: the dataset has no held-out members to measure the open set on", file=sys.stderr)
        return None
    return loaded
