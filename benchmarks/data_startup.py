"""How long before training's first batch, on a folder of many photos? (issue 14)

Makes (once, then reuses) a folder of ``--count`` small JPEGs, then times in this process, in the same run:
- start-up now: from the folder's name to the first step's batch (``ContentImages``, which lists the files and
  reads headers only up to the first usable one, then the batch);
- the header of every file: the pass over all files that training made before its first batch, the baseline
  (before = now + this pass). Listing the files alone is timed too, for scale.
The files are in the OS's cache (just made or read): a cold disk is slower for both.

    python benchmarks/data_startup.py [--count 20000] [--folder /tmp/stylebank-20k] [--json RESULT.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from stylebank.training.batches import StepBatches
from stylebank.training.data import ContentImages, header_problem
from stylebank.images import expand_sources
from timing import make_folder


def seconds(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/stylebank-startup"))
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    made, _ = seconds(lambda: make_folder(args.folder, args.count))
    sources = [str(args.folder)]
    listing, files = seconds(lambda: expand_sources(sources))
    now, _ = seconds(lambda: StepBatches(ContentImages(sources, 64), 0, 4, 4)[0])
    every_header, _ = seconds(lambda: [header_problem(file, None) for file in files])
    result = {"files": len(files), "listing_s": round(listing, 3), "now_s": round(now, 3),
              "every_header_s": round(every_header, 3), "before_s": round(now + every_header, 3),
              "folder_made_s": round(made, 1)}
    print(f"{len(files)} files: from the folder's name to the first batch {now:.2f} s (listing them alone "
          f"{listing:.2f} s); the header pass made before it until now {every_header:.2f} s, so "
          f"{now + every_header:.2f} s before")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
