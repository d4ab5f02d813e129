"""How long the studio's preview takes: the round trip of the requests the page sends, to a real ``stylebank
serve`` on 127.0.0.1 (issue 15).

For each held-out photo at the page's preview size (longer side 512, sent as PNG, as the page sends it), times
``--repeats`` requests of each kind the page makes, after one warm-up:
- one style (an unpainted photo), and a blend of two;
- two painted regions on a base style (three regions: the mask the brush makes);
- a thumbnail (the small previews of every style, 160 px).
Reports the median, fastest and slowest round trip, and the model's own time for the first kind in this process
(the server idle meanwhile).

    python benchmarks/studio.py [--repeats 10] [--json RESULT.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from stylebank.backends.pytorch import load
from stylebank.images import load_image, png_bytes
from stylebank.samples import HELD_OUT_PHOTOS

# tests/studio_server.py: the tests' way of starting the server and posting to it (a helper module of the tests,
# never a test file). Appended, so that this folder's own modules (helpers.py) still come first.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from studio_server import post, running_studio  # noqa: E402

PREVIEW_SIZE = 512


def preview_photo(name: str) -> Image.Image:
    photo = load_image(f"builtin:{name}")
    photo.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE), Image.Resampling.LANCZOS)
    return photo


def brush_mask(size: tuple[int, int]) -> bytes:
    """Two painted bands, as the brush makes them: label 1 down the left quarter, 2 down the right."""
    width, height = size
    labels = np.zeros((height, width), np.uint8)
    labels[:, width // 8: width // 4] = 1
    labels[:, 3 * width // 4: 7 * width // 8] = 2
    return png_bytes(Image.fromarray(labels))


def round_trips(url: str, fields: dict, files: dict, repeats: int) -> list[float]:
    status, _, body = post(url, fields, files)  # warm-up
    assert status == 200, body[:300]
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        status, _, _ = post(url, fields, files)
        seconds.append(time.perf_counter() - started)
        assert status == 200
    return seconds


def model_seconds(model, photo: Image.Image, repeats: int) -> list[float]:
    """The model's own stylize() in this process (the server idle meanwhile), after one warm-up."""
    model.stylize(photo, 0)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.stylize(photo, 0)
        seconds.append(time.perf_counter() - started)
    return seconds


def summary(seconds: list[float]) -> dict:
    return {"median_s": round(statistics.median(seconds), 3), "min_s": round(min(seconds), 3),
            "max_s": round(max(seconds), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    model = load(device="cpu")
    result = {}
    with tempfile.TemporaryDirectory() as folder, running_studio(Path(folder)) as studio:
        for name in HELD_OUT_PHOTOS:
            photo = preview_photo(name)
            image = {"image": png_bytes(photo)}
            kinds = {
                "one style": ({"style": "0", "max_size": str(PREVIEW_SIZE)}, image),
                "blend of two": ({"style": "0:1,2:1", "max_size": str(PREVIEW_SIZE)}, image),
                "two painted regions": ({"region_styles": "0;1;2", "max_size": str(PREVIEW_SIZE)},
                                        {**image, "mask": brush_mask(photo.size)}),
                "thumbnail": ({"style": "1", "max_size": "160"}, image),
            }
            timings = {kind: summary(round_trips(studio.url, fields, files, args.repeats))
                       for kind, (fields, files) in kinds.items()}
            timings["model alone, one style"] = summary(model_seconds(model, photo, args.repeats))
            result[f"{name} {photo.width}x{photo.height}"] = timings
            for kind, numbers in timings.items():
                print(f"{name} {photo.width}x{photo.height}, {kind}: {numbers}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
