"""One process against two (torchrun, gloo) on this CPU: the same model, and how long each takes (issue 14).

Trains the same short run twice from the bundled photos and styles, in the same run of this script: once in one
process, once with ``torchrun --nproc_per_node=2`` (``--batch-size`` is the global batch, so both runs take the
same steps). Reports each run's wall time and the largest difference between the two models' pictures. On a 2-core CPU two processes are a correctness check, not a speed-up: each process
already uses the cores for its convolutions.

    python benchmarks/processes.py [--iterations 20] [--image-size 128] [--json RESULT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from stylebank.backends.pytorch import load
from stylebank.samples import HELD_OUT_PHOTOS, builtin_image


def train_command(output: Path, args: argparse.Namespace) -> list[str]:
    return ["-m", "stylebank", "train", "--content", "builtin", "--style", "builtin:mosaic", "builtin:waves",
            "-o", str(output), "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
            "--iterations", str(args.iterations), "--warmup", "0", "--workers", "0", "--precision", "fp32", "--quiet",
            "--checkpoint-every", "100000", "--vgg", args.vgg]


def timed_run(prefix: list[str], command: list[str], threads: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *prefix, *command], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    return time.perf_counter() - started


def largest_difference(first: Path, second: Path) -> float:
    """The largest pixel difference (0-255) between the two models' pictures of the held-out photos, every style.
    Pictures, not weights: a bias before an instance norm changes nothing, so its gradient is rounding noise
    that Adam scales up to full steps, and its weights differ between any two runs that add in another order."""
    one, two = load(first), load(second)
    def picture(model, photo, style) -> np.ndarray:
        return np.asarray(model.stylize(photo, style, max_size=256), dtype=int)

    return max(float(np.abs(picture(one, photo, style) - picture(two, photo, style)).max())
               for photo in (builtin_image(name) for name in HELD_OUT_PHOTOS) for style in one.styles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--vgg", default="hed", help="the loss network's weights, as for train (default hed: offline)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        one_model, two_model = Path(folder, "one.safetensors"), Path(folder, "two.safetensors")
        one_s = timed_run([], train_command(one_model, args), cores)
        two_s = timed_run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
                          train_command(two_model, args), max(1, cores // 2))
        difference = largest_difference(one_model, two_model)
    result = {"iterations": args.iterations, "image_size": args.image_size, "batch_size": args.batch_size,
              "vgg": args.vgg, "cores": cores, "one_process_s": round(one_s, 1), "two_processes_s": round(two_s, 1),
              "largest_pixel_difference": difference, "torch": torch.__version__}
    print(f"{args.iterations} iterations at {args.image_size}², global batch {args.batch_size}, {cores} cores: "
          f"one process {one_s:.1f} s, two processes {two_s:.1f} s; their pictures of the held-out photos differ "
          f"by at most {difference:.0f} of 255")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
