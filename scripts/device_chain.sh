#!/usr/bin/env bash
# The counterfactual chain (python -m export.chain) on a rented GPU machine that has torch but
# neither the dataset nor diffusers, reached through a small upload. Carried beside the repo:
#   .whl/  diffusers without its pipelines (diffusers-lite.zip) and the importlib_metadata wheel,
#          imported straight from the archives (pure Python). Made here with
#          pip download --no-deps diffusers==0.42.1 importlib_metadata -d .whl, then the diffusers
#          wheel unzipped, diffusers/{pipelines,modular_pipelines,commands} removed (6.4 MB -> 2.1 MB)
#          and the rest zipped again as .whl/diffusers-lite.zip;
#   .pack/ a tile pack (python -m export.tilepack pack --generated-only) and the dct-linear
#          surrogates fitted beforehand (judge*.pt, as `export.train` saves them).
# Usage: scripts/device_chain.sh INIT_CHECKPOINT DATASET_NAME [OUT]
#   (DEVICE=cpu STEPS_SCALE=0.001 for a dry run of the whole script on a CPU.)
# Copies each finished stage's checkpoint (and the running stage's phase2.pt) to OUT as it lands,
# so a run stopped at a time limit still returns what it finished.
set -euo pipefail
init=$1
dataset=data/$2
out=${3:-${OUT:-runs/device}}
run=/tmp/chain
export PYTHONPATH="$PWD:$PWD/.whl/diffusers-lite.zip:$(ls "$PWD"/.whl/importlib_metadata-*.whl)"
export PYTHONUNBUFFERED=1
mkdir -p "$run" "$out"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
  python3 -c "import torch, diffusers; print('torch', torch.__version__, 'diffusers', diffusers.__version__)"
} | tee "$out/chain.log"
cp .pack/judge*.pt "$run/"
python3 -m export.tilepack unpack --pack .pack --output "$run/tiles-train.pt" --device "${DEVICE:-cuda}" --dataset "$dataset" \
  2>&1 | tee -a "$out/chain.log"
(while sleep 10; do cp "$run"/stage-*.pt "$run"/phase2.pt "$out/" 2>/dev/null || true; done) &
copier=$!
SECONDS=0
python3 -m export.chain --dataset "$dataset" --init-from "$init" --output "$run" \
  --device "${DEVICE:-cuda}" --steps-scale "${STEPS_SCALE:-1}" 2>&1 \
  | stdbuf -o0 tr '\r' '\n' | awk '(NR % 50 == 1 || !/it\/s/) {print; fflush()}' | tee -a "$out/chain.log"
echo "chain: ${SECONDS} s" | tee -a "$out/chain.log"
kill "$copier"
rm -f "$out/phase2.pt"
cp "$run"/stage-*.pt "$out/"
