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
