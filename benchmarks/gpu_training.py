"""Training speed on a GPU, prepared for a machine that has one (issue 14): iterations per second of
the paper's setting (512² crops, batch 4, bf16 autocast, one GPU) and the projected time of its 300,000 iterations;
optionally, a real run of the bundled model's configuration (256²) for at most ``--train-minutes`` (its iterations
are sized by the step time measured at ``--size``), whose model file comes back in ``--out``.

    python benchmarks/gpu_training.py [--device cuda] [--size 512] [--precision bf16] [--steps 30]
                                      [--compile] [--train-minutes 8 --out gpu_run] [--json RESULT.json]

``--device cpu --size 64 --steps 3`` checks the script itself on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from stylebank.config import TrainConfig
from stylebank.training.loop import Trainer, train
from timing import median_seconds

STYLES = ["builtin:mosaic", "builtin:strokes", "builtin:waves", "builtin:ihc"]
PAPER_ITERATIONS = 300_000


def step_seconds(config: TrainConfig, steps: int) -> float:
    """The median time of a training step (both branches, as they alternate; batches made beforehand), after
    three warm-up steps."""
    trainer = Trainer(config)
    batches = iter([trainer.batches[step] for step in range(steps + 3)])

    def step() -> None:
        trainer.train_step(next(batches))
        if trainer.device.type == "cuda":  # the GPU's work is done, not only queued
            torch.cuda.synchronize(trainer.device)
    return median_seconds(step, steps, warmup=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--vgg", default="hed")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--train-minutes", type=float, default=0, help="then train the bundled model's setting")
    parser.add_argument("--out", type=Path, default=Path("gpu_run"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(content=["builtin"], styles=STYLES, image_size=args.size, style_size=args.size,
                         batch_size=4, vgg=args.vgg, warmup=0, device=args.device, precision=args.precision,
                         compile=args.compile, output=str(args.out / "timing.safetensors"), workers=2)
    seconds = step_seconds(config, args.steps)
    result = {"device": torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device,
              "size": args.size, "precision": args.precision, "compile": args.compile,
              "seconds_per_iteration": round(seconds, 5), "iterations_per_second": round(1 / seconds, 2),
              "projected_paper_hours": round(PAPER_ITERATIONS * seconds / 3600, 1)}
    print(json.dumps(result))
    if args.train_minutes:
        iterations = max(1, int(args.train_minutes * 60 / seconds))
        started = time.perf_counter()
        path = train(TrainConfig(content=["builtin"], styles=STYLES, image_size=256, style_size=256, batch_size=4,
                                 vgg=args.vgg, device=args.device, precision=args.precision, iterations=iterations,
                                 warmup=min(TrainConfig.warmup, iterations // 10),
                                 output=str(args.out / "model.safetensors")), progress=False)
        result["run"] = {"model": str(path), "iterations": iterations,
                         "seconds": round(time.perf_counter() - started, 1)}
        print(json.dumps(result["run"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
