"""Images that need no download: public-domain paintings shipped in the package (``paintings/``, sources in
docs/paintings.md), scikit-image's bundled photos and procedurally generated styles and content.

``builtin:NAME`` works wherever a file path does. The photos are split once, for every command:
TRAINING_PHOTOS are what ``--content builtin`` trains on, HELD_OUT_PHOTOS are never trained on and serve
previews, examples and evaluation.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .errors import StyleBankError

TRAINING_PHOTOS = ("chelsea", "rocket", "motorcycle_left", "motorcycle_right", "retina", "camera", "coins", "moon")
HELD_OUT_PHOTOS = ("astronaut", "coffee")
TEXTURE_PHOTOS = ("ihc", "hubble_deep_field", "brick", "grass", "gravel")
GENERATED_STYLES = ("mosaic", "strokes", "waves")
# public-domain paintings (docs/paintings.md): the bundled model's styles
PAINTINGS = ("starry_night", "the_scream", "wave", "composition_vii", "udnie", "shipwreck", "woman_with_hat")
DEAD_LEAVES_COUNT = 12  # procedural content with natural-image statistics, added to the training photos
STYLE_SIZE = 384


def painting(name: str) -> Image.Image:
    with Image.open(Path(__file__).parent / "paintings" / f"{name}.jpg") as image:
        return image.convert("RGB")


def skimage_photo(name: str) -> Image.Image:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    plain = name.replace("_", "").isalnum()  # a bare file name: nothing like ../ reaches outside the folder
    matches = sorted(folder.glob(f"{name}.*")) if plain else []
    if not matches:
        raise StyleBankError(f"builtin:{name}: no such image; try one of {', '.join(builtin_names())}")
    with Image.open(matches[0]) as image:
        return image.convert("RGB")


def mosaic(size: int = STYLE_SIZE, seed: int = 1) -> Image.Image:
    """Stained glass: Voronoi cells of vivid colours separated by dark lead lines."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, (140, 2))
    palette = np.array([[214, 40, 40], [247, 127, 0], [252, 191, 73], [234, 226, 183], [0, 48, 73],
                        [42, 157, 143], [106, 76, 147], [25, 130, 196]], dtype=np.float32)
    colours = palette[rng.integers(0, len(palette), len(points))] * rng.uniform(0.75, 1.1, (len(points), 1))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    distances = np.sqrt((xx[..., None] - points[:, 0]) ** 2 + (yy[..., None] - points[:, 1]) ** 2)
    nearest = np.sort(distances, axis=-1)[..., :2]
    image = colours[distances.argmin(-1)]
    image[nearest[..., 1] - nearest[..., 0] < 2.5] = (20, 18, 22)
    return Image.fromarray(image.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))


def strokes(size: int = STYLE_SIZE, seed: int = 2) -> Image.Image:
    """Short thick brush strokes following a swirling flow field, in night blues and yellows."""
    rng = np.random.default_rng(seed)
    palette = [(18, 38, 92), (33, 70, 150), (62, 110, 190), (120, 160, 210), (240, 210, 90), (250, 235, 160),
               (20, 25, 50), (200, 150, 40)]
    image = Image.new("RGB", (size, size), (28, 50, 110))
    draw = ImageDraw.Draw(image)
    for _ in range(2600):
        x, y = rng.uniform(0, size, 2)
        angle = np.sin(x / 37.0) * 2.2 + np.cos(y / 29.0) * 1.7
        length = rng.uniform(6, 18)
        dx, dy = np.cos(angle) * length, np.sin(angle) * length
        colour = palette[rng.integers(0, len(palette))]
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=colour, width=int(rng.integers(3, 7)))
    return image


def waves(size: int = STYLE_SIZE, seed: int = 3) -> Image.Image:
    """Marbled paper: warped sine bands mapped through a warm-to-teal palette."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    warp = sum(rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * (f * xx * rng.uniform(0.5, 1.5) + f * yy + rng.uniform(0, 1)))
               for f in (1, 2, 3))
    value = 0.5 + 0.5 * np.sin(2 * np.pi * (3 * yy + 1.5 * warp))
    stops = np.array([[120, 20, 30], [220, 90, 40], [245, 200, 120], [40, 140, 140], [10, 50, 70]], dtype=np.float32)
    position = value * (len(stops) - 1)
    low = np.floor(position).astype(int).clip(0, len(stops) - 2)
    t = (position - low)[..., None]
    image = stops[low] * (1 - t) + stops[low + 1] * t
    return Image.fromarray(image.astype(np.uint8))


def dead_leaves(index: int, size: int = 320) -> Image.Image:
    """The 'dead leaves' model: overlapping discs with power-law radii, a content image with natural statistics."""
    rng = np.random.default_rng(1000 + index)
    image = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    radii = np.clip((rng.pareto(2.0, 900) + 1) * 4, 3, size / 3)
    for radius in radii:
        x, y = rng.uniform(-radius, size + radius, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    return image.filter(ImageFilter.GaussianBlur(0.8))


@functools.cache
def _builtin_image(name: str) -> Image.Image:
    if name in GENERATED_STYLES:
        return globals()[name]()
    if name in PAINTINGS:
        return painting(name)
    if name.startswith("deadleaves-") and name[11:].isdigit():
        return dead_leaves(int(name[11:]))
    return skimage_photo(name)


def builtin_image(name: str) -> Image.Image:
    """A copy of the bundled or generated image ``name`` (see ``builtin_names``)."""
    return _builtin_image(name).copy()


def builtin_names() -> list[str]:
    return [*HELD_OUT_PHOTOS, *TRAINING_PHOTOS, *PAINTINGS, *TEXTURE_PHOTOS, *GENERATED_STYLES,
            *(f"deadleaves-{i}" for i in range(DEAD_LEAVES_COUNT))]


def builtin_training_content() -> list[str]:
    """What ``--content builtin`` means: the training photos plus the dead-leaves images."""
    return [f"builtin:{name}" for name in TRAINING_PHOTOS] + [f"builtin:deadleaves-{i}" for i in range(DEAD_LEAVES_COUNT)]
