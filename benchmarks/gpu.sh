#!/usr/bin/env bash
# The GPU half of the benchmarks (`make bench-gpu`): the same scripts as `make bench`, on the first
# visible GPU, at real batch sizes. Prints ratios measured in one run; see benchmarks/RESULTS.md.
set -euo pipefail
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
echo "== GPU parity (tiny CLIP, tiny world): gradients, metrics and the search's choice, CPU vs GPU"
$PY benchmarks/gpu_parity.py
echo "== gradient pass, ViT-B-32 (random weights), batch 128 x 4"
$PY benchmarks/grad_pass.py --device cuda --batch 128 --batches 4 --repeats 3 --threads 8
echo "== search iteration / full evaluation, ViT-B-32 (random weights), demo-sized evaluation set"
$PY benchmarks/search_eval.py --device cuda --arch ViT-B-32-quickgelu --images 1800 --objects 2500 --repeats 3 --threads 8
echo "== search iteration / full evaluation, the demo CLIP architecture"
$PY benchmarks/search_eval.py --device cuda --repeats 3 --threads 8
