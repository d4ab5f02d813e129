"""Tiled against untiled stylization: PSNR of the tiled result against the whole-image one.

    python benchmarks/tiles.py [--json FILE]

At 1024² the tiles share exact instance-norm statistics (the image is below STATS_PIXELS); at 3072² the
statistics come from a 2048² copy, so the result differs by a global tone, not by seams.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


import stylebank
from stylebank.images import load_image
from stylebank.tensors import to_tensor
from stylebank.metrics import image_psnr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    model = stylebank.load(device="cpu")
    rows = []
    for size, tile in ((1024, 256), (3072, 1024)):
        photo = to_tensor(load_image("builtin:astronaut").resize((size, size)))
        whole = model.stylize(photo, style="0:0.5,2:0.5", precision="fp32", tile=0)
        tiled = model.stylize(photo, style="0:0.5,2:0.5", precision="fp32", tile=tile)
        rows.append({"size": size, "tile": tile, "psnr_db": image_psnr(tiled, whole),
                     "max_abs_difference": float((tiled - whole).abs().max())})
        print(f"{size}² in {tile}-pixel tiles: PSNR {rows[-1]['psnr_db']:.1f} dB against the untiled result, "
              f"max difference {rows[-1]['max_abs_difference']:.2g}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
