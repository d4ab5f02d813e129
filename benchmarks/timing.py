"""What the benchmarks that time things share, without stylebank (the standard library, numpy and PIL only, so that
importing it loads nothing that a timed call would otherwise load): the median of warm repeats, and a folder of
made-up JPEG photos."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def make_folder(folder: Path, count: int, size: tuple[int, int] = (64, 64), grid: tuple[int, int] = (8, 8),
                seed: int = 0, resample: Image.Resampling = Image.Resampling.BILINEAR, quality: int = 85) -> None:
    """``count`` JPEGs of ``size`` (width, height) in ``folder``, 1,000 to a subfolder (kept between runs): random
    colours on a ``grid`` (width, height), resized smoothly."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        path = folder / f"{index // 1000:03d}" / f"{index:06d}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (grid[1], grid[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).resize(size, resample).save(path, quality=quality)
