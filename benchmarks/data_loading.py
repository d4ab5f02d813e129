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
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from stylebank.batches import StepBatches, step_batches
from stylebank.config import TrainConfig
from stylebank.data import ContentImages
from stylebank.train import Trainer

BATCH = 4


def make_photos(folder: Path, count: int) -> None:
    """``count`` smooth random 640x480 JPEGs (kept between runs)."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        path = folder / f"{index:04d}.jpg"
        if not path.exists():
            small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC).save(path, quality=90)


def loading_rate(folder: Path, size: int, workers: int, steps: int) -> float:
    """Crops per second that the DataLoader delivers (a fresh ContentImages: nothing cached)."""
    batches = StepBatches(ContentImages([str(folder)], size), seed=0, batch_size=BATCH, num_styles=4)
    started = time.perf_counter()
    for _ in step_batches(batches, 0, steps, workers):
        pass
    return steps * BATCH / (time.perf_counter() - started)


def training_rate(folder: Path, size: int, steps: int) -> float:
    """Crops per second that stylizing steps consume (median step time)."""
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(content=[str(folder)], styles=["builtin:mosaic"], image_size=size, style_size=size,
                             batch_size=BATCH, vgg="random", warmup=0, device="cpu", precision="fp32",
                             output=str(Path(out) / "m.safetensors"), workers=0, style_steps=10_000)
        trainer = Trainer(config)
        batches = [trainer.batches[step] for step in range(steps + 1)]
        times = []
        for batch in batches:
            started = time.perf_counter()
            trainer.train_step(batch)
            times.append(time.perf_counter() - started)
    return BATCH / statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/stylebank-photos"))
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--steps", type=int, default=40, help="loader steps per measurement")
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    make_photos(args.folder, args.photos)
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
