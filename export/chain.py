"""The counterfactual chain: phase-2 stages run one after another, each continuing the last
(`export.train --init-from`), from a phase-1 checkpoint to a model ready to export.

    python -m export.chain --dataset data/zoo --init-from runs/causal/model.pt --output runs/chain

The stages are those the shipped model went through (CHAIN): the trace branch first learns to
fool our own heads alone, then, in steps of growing weight, dct-linear surrogates too, the last
stage against four of them. Every stage runs in the chain's folder, so they share its train tile
cache and fitted surrogates (a `tilepack unpack` or earlier fits can put them there first); stage
i's model is saved as stage-i.pt, and a stopped chain goes on after the last stage it finished, so
a chain can be carried across machines or sessions by copying that one stage-i.pt into the folder.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    cf_steps: int
    w_judge: float
    judges: int = 1


CHAIN = (Stage(4000, 0.0), Stage(2000, 0.2), Stage(1000, 0.5), Stage(2000, 0.5), Stage(300, 1.0, judges=4))


def stage_path(output: Path, number: int) -> Path:
    return output / f"stage-{number}.pt"


def last_finished(output: Path, count: int) -> int:
    """The number of the last of `count` stages with a checkpoint in `output` (0 when none)."""
    return max((n for n in range(1, count + 1) if stage_path(output, n).is_file()), default=0)


def run_chain(config, stages=CHAIN) -> Path:
    """Run the `stages` from `config.init_from` in `config.output` (the rest of `config`, a
    TrainConfig, applies to every stage); returns the last stage's checkpoint, also copied to
    model.pt in the folder."""
    from export.train import run

    output = Path(config.output)
    finished = last_finished(output, len(stages))
    previous = stage_path(output, finished) if finished else config.init_from
    for number, stage in enumerate(stages[finished:], start=finished + 1):
        logger.info("stage %d of %d: %d steps, w_judge %g, %d judge(s), from %s", number, len(stages),
                    stage.cf_steps, stage.w_judge, stage.judges, previous)
        final = run(replace(config, init_from=str(previous), cf_steps=stage.cf_steps, w_judge=stage.w_judge,
                            judges=stage.judges))
        # The next stage must not resume this one's phase-2 checkpoint as its own.
        (output / "phase2.pt").unlink(missing_ok=True)
        previous = stage_path(output, number)
        final.replace(previous)
    shutil.copyfile(previous, output / "model.pt")
    return output / "model.pt"


def main(argv: list[str] | None = None) -> int:
    from export.config import TrainConfig

    parser = argparse.ArgumentParser(prog="python -m export.chain", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="a dataset built by `export.zoo build` (its build.json at least)")
    parser.add_argument("--init-from", required=True, type=Path, help="the phase-1 checkpoint the chain starts from")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every stage's steps (quick trials)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from runtime.errors import exit_code

    if args.steps_scale <= 0:
        parser.error(f"--steps-scale must be positive, got {args.steps_scale}")
    stages = tuple(replace(s, cf_steps=max(1, round(s.cf_steps * args.steps_scale))) for s in CHAIN)
    config = TrainConfig(dataset=args.dataset, output=str(args.output), init_from=str(args.init_from),
                         device=args.device, threads=args.threads)
    return exit_code(lambda: print(run_chain(config, stages)))


if __name__ == "__main__":
    sys.exit(main())
