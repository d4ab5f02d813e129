"""Does the DataLoader keep up with training? Content crops per second for 0, 1 and 2 workers against what a
training step consumes, at 256² and 512² crops, from JPEG photos (issue 14).

Makes (once, then reuses) a folder of ``--photos`` 640x480 JPEGs, then for each crop size, in this process:
- loading: the crops per second that ``step_batches`` delivers with 0, 1 and 2 workers, over ``--steps`` steps of
  batch 4 (the workers' start-up included; every photo is new to the run, so each is decoded);
- training: the crops per second that stylizing steps of batch 4 consume (fp32, the random loss network, which
  costs what the real one does), the median of ``--train-steps`` steps after one warm-up step.

    python benchmarks/data_loading.py [--json RESULT.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from PIL import Image

from stylebank.training.batches import StepBatches, step_batches
from stylebank.config import TrainConfig
from stylebank.training.data import ContentImages
from stylebank.training.loop import Trainer
from timing import make_folder, median_seconds

BATCH = 4


def loading_rate(folder: Path, size: int, workers: int, steps: int) -> float:
    """Crops per second that the DataLoader delivers (a fresh ContentImages: nothing cached)."""
    batches = StepBatches(ContentImages([str(folder)], size), seed=0, batch_size=BATCH, num_styles=4)
    started = time.perf_counter()
    for _ in step_batches(batches, 0, steps, workers):
        pass
    return steps * BATCH / (time.perf_counter() - started)


def training_rate(folder: Path, size: int, steps: int) -> float:
    """Crops per second that stylizing steps consume (median step time, batches made beforehand)."""
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(content=[str(folder)], styles=["builtin:mosaic"], image_size=size, style_size=size,
                             batch_size=BATCH, vgg="random", warmup=0, device="cpu", precision="fp32",
                             output=str(Path(out) / "m.safetensors"), workers=0, style_steps=10_000)
        trainer = Trainer(config)
        batches = iter([trainer.batches[step] for step in range(steps + 1)])
        return BATCH / median_seconds(lambda: trainer.train_step(next(batches)), steps, warmup=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/stylebank-photos"))
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--steps", type=int, default=40, help="loader steps per measurement")
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    make_folder(args.folder, args.photos, size=(640, 480), grid=(16, 12), seed=1,
                resample=Image.Resampling.BICUBIC, quality=90)
    result = {}
    for size in (256, 512):
        rates = {f"workers_{w}": round(loading_rate(args.folder, size, w, args.steps), 1) for w in (0, 1, 2)}
        rates["training_step"] = round(training_rate(args.folder, size, args.train_steps), 2)
        result[f"{size}px"] = rates
        print(f"{size}²: crops/s loaded with 0/1/2 workers {rates['workers_0']} / {rates['workers_1']} / "
              f"{rates['workers_2']}; consumed by training steps {rates['training_step']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
