"""Command line: `python -m runtime attribute|fingerprint|anonymize ...` (see --help).

    python -m runtime attribute a.png b.jpg --json
    python -m runtime attribute --bundle BUNDLE a.png --json   # a bundle folder or Hub repo id (--revision R)
    python -m runtime fingerprint a.png --output pictures/
    python -m runtime anonymize a.png --output a-anonymized.png [--target neutral] [--psnr-floor DB] [--json]
    python -m runtime enroll --name NAME --images a.png b.png c.png --output NAME.json   # a new source
    python -m runtime attribute --enrolled NAME.json a.png --json

A file that cannot be used is reported (with `error`) and makes the exit code 1; never a traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from runtime.engine import NEUTRAL, Engine
from runtime.errors import BundleError, InputError
from runtime.intake import save_png
from runtime.provenance import read_file_provenance

SUMMARY_KEYS = ("verdict", "headline", "confidence", "label", "display_name", "family", "is_real", "unknown",
                "p_generated", "evidence", "probabilities", "open_set", "image_size", "padded", "bundle", "provider",
                "seconds")


def summary(result: dict) -> dict:
    """The attribution without the per-tile map (kept for --tiles)."""
    return {key: result[key] for key in SUMMARY_KEYS}


def cmd_attribute(engine: Engine, args) -> int:
    rows, failed = [], False
    for path in args.paths:
        try:
            result = engine.attribute(path)
            provenance = read_file_provenance(path)
            rows.append({"path": path, **(result if args.tiles else summary(result)), "provenance": provenance})
        except InputError as error:
            rows.append({"path": path, "error": str(error)})
            failed = True
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            if "error" in row:
                print(f"{row['path']}: error: {row['error']}")
            else:
                # an inconclusive answer states no source, so the probability a generator made it stands alone
                stated = (f"p(generated) {row['p_generated']:.3f}" if row["verdict"] == "inconclusive"
                          else f"confidence {row['confidence']:.3f}")
                print(f"{row['path']}: {row['headline']} ({row['verdict']}, {stated}); "
                      f"metadata: {row['provenance']['summary']}")
    return 1 if failed else 0


def cmd_fingerprint(engine: Engine, args) -> int:
    result = engine.fingerprint(args.path)
    stem = Path(args.path).stem
    written = {}
    for key in ("fingerprint", "residual", "spectrum"):
        written[key] = str(args.output / f"{stem}-{key}.png")
        save_png(result[key], Path(written[key]))
    print(json.dumps({"path": args.path, "files": written, "attribution": summary(result["attribution"])}, indent=1))
    return 0


def cmd_enroll(engine: Engine, args) -> int:
    made = engine.enroll(args.name, args.images, args.family, args.display_name)
    made.save(args.output)
    print(f"{args.output}: {made.display_name} enrolled from {made.images} images (radius {made.radius:.3f}) "
          f"on bundle {made.bundle_sha256[:12]}")
    return 0


def cmd_anonymize(engine: Engine, args) -> int:
    result = engine.anonymize(args.path, args.target, args.psnr_floor)
    save_png(result["image"], args.output)
    row = {"path": args.path, "output": str(args.output), "target": result["target"],
           "psnr_floor_db": result["psnr_floor_db"], "ssim": result["ssim"],
           "psnr": result["psnr"], "changed": result["changed"], "note": result["note"],
           "before": summary(result["before"]), "after": summary(result["after"])}
    if args.json:
        print(json.dumps(row, indent=1))
    elif not result["changed"]:
        print(f"{args.output}: {result['note']}")
    else:
        print(f"{args.output}: SSIM {row['ssim']:.4f}, PSNR {row['psnr'] or float('inf'):.2f} dB; "
              f"{row['before']['display_name']} -> {row['after']['display_name']}")
    return 0


def add_engine_options(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    """--bundle, --revision, --device: on the main parser with their defaults, and on each command
    without (so they may come before or after the command's name)."""
    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--bundle", default=default(None), help="bundle folder or Hub repo id (default: the shipped weights/)")
    parser.add_argument("--revision", default=default(None), help="Hub revision of --bundle")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=default("auto"))
    parser.add_argument("--enrolled", action="append", default=default([]), metavar="OVERLAY",
                        help="an enrollment overlay made on this bundle (python -m runtime enroll); repeatable")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m runtime", description="Causal-fingerprint attribution (ONNX Runtime).")
    add_engine_options(main)
    engine_options = argparse.ArgumentParser(add_help=False)
    add_engine_options(engine_options, defaults=False)
    commands = main.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, parents=[engine_options])

    attribute = command("attribute", "which source made each image")
    attribute.add_argument("paths", nargs="+")
    attribute.add_argument("--json", action="store_true", help="a JSON list, one object per path")
    attribute.add_argument("--tiles", action="store_true", help="include the per-tile map")
    fingerprint = command("fingerprint", "write the fingerprint, residual and spectrum pictures")
    fingerprint.add_argument("path")
    fingerprint.add_argument("--output", type=Path, required=True, help="folder for the PNGs")
    enroll = command("enroll", "teach the bundle a new source from a few of its images")
    enroll.add_argument("--name", required=True, help="the new source's name (lower-case letters, digits, . _ -)")
    enroll.add_argument("--images", nargs="+", required=True, help="at least 3 images the source made")
    enroll.add_argument("--output", type=Path, required=True, help="the overlay JSON to write")
    enroll.add_argument("--family", help="its family (default: its name)")
    enroll.add_argument("--display-name", help="how answers name it (default: its name)")
    anonymize = command("anonymize", "remove the source's fingerprint")
    anonymize.add_argument("path")
    anonymize.add_argument("--output", type=Path, required=True, help="the anonymized PNG")
    anonymize.add_argument("--target", default=NEUTRAL, help="neutral, or a known generator for a counterfactual")
    anonymize.add_argument("--psnr-floor", type=float, default=None, metavar="DB",
                           help="strength: each tile's change stays above this PSNR (lower: stronger; "
                                "default: the bundle's, what the model was trained at)")
    anonymize.add_argument("--json", action="store_true")
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    commands = {"attribute": cmd_attribute, "fingerprint": cmd_fingerprint, "anonymize": cmd_anonymize,
                "enroll": cmd_enroll}
    try:
        engine = Engine.load(args.bundle, args.revision, device=args.device, enrolled=args.enrolled)
        return commands[args.command](engine, args)
    except BundleError as error:
        print(f"error: bundle: {error}", file=sys.stderr)
        return 3
    except (InputError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
