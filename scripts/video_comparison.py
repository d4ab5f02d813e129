"""The README's animation: a test clip stylized frame by frame (left) and with coherence (right), side by side.

    python scripts/video_comparison.py [--output docs/images/video_comparison.gif] [--kind zoom] [--style mosaic]
                                       [--photo astronaut] [--noise 2] [--frames 24] [--size 256x144]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from stylebank.backends.pytorch import load
from stylebank.video.clips import CLIP_KINDS, make_frames
from stylebank.video.settings import Coherence
from stylebank.video.pipeline import stylize_frames


def labelled(frame: np.ndarray, text: str) -> Image.Image:
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 8 + 6 * len(text), 16), fill=(0, 0, 0))
    draw.text((4, 3), text, fill=(255, 255, 255))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/images/video_comparison.gif"))
    parser.add_argument("--kind", choices=CLIP_KINDS, default="zoom")
    parser.add_argument("--style", default="mosaic")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", default="256x144")
    parser.add_argument("--photo", default="astronaut", help="the clip's photo: a bundled name or a file")
    parser.add_argument("--noise", type=float, default=2.0, help="sensor noise, in levels of 255")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.size.split("x"))
    frames = make_frames(args.kind, args.frames, size, args.photo, args.noise)
    model = load(device="cpu")
    plain = stylize_frames(model, frames, style=args.style, coherence=Coherence("none"))
    steady = stylize_frames(model, frames, style=args.style)
    pictures = []
    for left, right in zip(plain, steady):
        pair = Image.new("RGB", (2 * size[0] + 4, size[1]), "white")
        pair.paste(labelled(left, "frame by frame"), (0, 0))
        pair.paste(labelled(right, "coherent (default)"), (size[0] + 4, 0))
        pictures.append(pair)
    pictures[0].save(args.output, save_all=True, append_images=pictures[1:], duration=83, loop=0, optimize=True)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
