#!/usr/bin/env bash
# Retrain the bundled model as it was made: offline (HED VGG-16 from the package index), on the bundled training
# photos and dead-leaves images, with four builtin styles. CPU times are in the README ("The bundled model").
# Stage 1: 7,000 iterations at a constant learning rate (made before --lr-anneal existed, hence --lr-anneal 0).
# Stage 2: 6,000 more, resumed, the learning rate on a cosine from 1e-3 to zero.
set -euo pipefail
out=${1:-runs/default}
stylebank train --content builtin \
  --style builtin:mosaic builtin:strokes builtin:waves builtin:ihc \
  -o "$out/default.safetensors" --vgg hed --image-size 192 --style-size 256 \
  --iterations 7000 --lr-anneal 0 --precision bf16 --seed 0 --checkpoint-every 500 --sample-every 500
stylebank train -o "$out/default.safetensors" --resume --iterations 13000 --lr-anneal 6000
cp "$out/default.safetensors" src/stylebank/models/default.safetensors
