#!/usr/bin/env bash
# Retrain the bundled model exactly as it was made: offline (HED VGG-16 from the package index), on the
# bundled training photos and dead-leaves images, with four builtin styles. CPU time is in the README.
set -euo pipefail
out=${1:-runs/default}
stylebank train --content builtin \
  --style builtin:mosaic builtin:strokes builtin:waves builtin:ihc \
  -o "$out/default.safetensors" --vgg hed --image-size 192 --style-size 256 \
  --iterations 7000 --precision bf16 --seed 0 --checkpoint-every 500 --sample-every 500
cp "$out/default.safetensors" src/stylebank/models/default.safetensors
