#!/usr/bin/env bash
# Retrain the bundled model as it was made: offline (HED VGG-16 from the package index), on the bundled training
# photos and dead-leaves images, with four builtin styles. CPU times are in the README ("The bundled model").
# Stage 1: 7,000 iterations at 192² at a constant learning rate (made before --lr-anneal existed, hence 0).
# Stage 2: 6,000 more, resumed, the learning rate on a cosine from 1e-3 to zero (the model of version 0.1.0).
# Stage 3: a new run started from stage 2's weights (--init-from) in the carry exposure layout, at 256², with
#          one more photo (hubble_deep_field), the learning rate on a cosine from 5e-4 over the whole run (no
#          --color-jitter: in docs/study.md it cost more than it gave). Ctrl-C or a stopped session keeps the
#          checkpoint: rerun this script and stage 3 resumes (stages 1 and 2 are skipped once their model exists).
set -euo pipefail
out=${1:-runs/default}
styles=(builtin:mosaic builtin:strokes builtin:waves builtin:ihc)
if [ ! -e "$out/default.safetensors" ]; then
  stylebank train --content builtin --style "${styles[@]}" \
    -o "$out/default.safetensors" --vgg hed --image-size 192 --style-size 256 \
    --iterations 7000 --lr-anneal 0 --precision bf16 --seed 0 --checkpoint-every 500 --sample-every 500
  stylebank train -o "$out/default.safetensors" --resume --iterations 13000 --lr-anneal 6000
fi
stage3_iterations=${STAGE3_ITERATIONS:-1500}
stylebank train --content builtin builtin:hubble_deep_field --style "${styles[@]}" \
  -o "$out/v2.safetensors" --init-from "$out/default.safetensors" --exposure carry \
  --vgg hed --image-size 256 --style-size 256 --iterations "$stage3_iterations" --lr 5e-4 \
  --lr-anneal "$stage3_iterations" --warmup 0 --seed 1 --checkpoint-every 100 --sample-every 500 --resume
cp "$out/v2.safetensors" src/stylebank/models/default.safetensors
