"""Training data: content images from folders, globs, files or ``builtin``; random resized crops; style images."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import StylePixels, to_pixels
from .errors import StyleBankError
from .images import (BUILTIN_PREFIX, ImageNote, expand_sources, image_size, is_found, load_image,
                     resize_longer_side, resize_shorter_side, to_tensor)

MIN_CROP_FRACTION = 0.35  # smallest crop side, as a fraction of the image's shorter side
MIN_CONTENT_SIZE = 16


def readable_images(files: list[str], max_pixels: int | None = None) -> list[str]:
    """The files whose header says they are images of at least MIN_CONTENT_SIZE pixels a side (and at most
    ``max_pixels``, see load_image); the others are named in one ImageNote warning. A StyleBankError if none is
    left."""
    kept, skipped = [], []
    for file in files:
        try:
            if file.startswith(BUILTIN_PREFIX) or min(image_size(file, max_pixels)) >= MIN_CONTENT_SIZE:
                kept.append(file)
            else:
                skipped.append(f"{file}: smaller than {MIN_CONTENT_SIZE}x{MIN_CONTENT_SIZE}")
        except StyleBankError as error:
            skipped.append(str(error))
    if skipped:
        shown = "; ".join(skipped[:5]) + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        warnings.warn(f"skipping {len(skipped)} of {len(files)} content images: {shown}", ImageNote, stacklevel=2)
    if not kept:
        raise StyleBankError(f"none of the {len(files)} content images can be used: {skipped[0]}")
    return kept


class ContentImages:
    """Content images sampled as random square crops resized to ``image_size`` (with random horizontal flips).

    Crops of 35-100% of the shorter side make whole photos resized to the working size look like training data.
    Decoded images are kept in memory (at most 3x the crop size) for the next time they are drawn.
    """

    def __init__(self, sources: list[str], image_size: int, cache_size: int = 512, max_pixels: int | None = None,
                 color_jitter: float = 0.0):
        self.files = readable_images(expand_sources(sources), max_pixels)
        self.image_size = image_size
        self.color_jitter = color_jitter
        self.max_pixels = max_pixels
        self.load = functools.lru_cache(maxsize=cache_size)(self._load)
        self.unreadable: set[int] = set()  # files whose header was fine but whose pixels were not

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int) -> torch.Tensor:
        image = to_tensor(load_image(self.files[index], self.max_pixels))
        return resize_shorter_side(image, 3 * self.image_size) if min(image.shape[-2:]) > 3 * self.image_size else image

    def load_readable(self, index: int) -> torch.Tensor:
        """The image at ``index``, or (if it turns out to be corrupt) the next readable one: a bad photo in a
        folder of thousands should not stop a training run hours in."""
        for candidate in [*range(index, len(self.files)), *range(index)]:
            if candidate in self.unreadable:
                continue
            try:
                return self.load(candidate)
            except StyleBankError as error:
                self.unreadable.add(candidate)
                warnings.warn(f"skipping content image {error}", ImageNote, stacklevel=2)
        raise StyleBankError("none of the content images could be read")

    def random_crop(self, image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        height, width = image.shape[-2:]
        fraction = MIN_CROP_FRACTION + (1 - MIN_CROP_FRACTION) * torch.rand((), generator=generator).item()
        side = max(8, round(min(height, width) * fraction))
        top = int(torch.randint(0, height - side + 1, (), generator=generator))
        left = int(torch.randint(0, width - side + 1, (), generator=generator))
        crop = image[:, top:top + side, left:left + side].unsqueeze(0)
        crop = F.interpolate(crop, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                             align_corners=False)[0].clamp(0, 1)
        crop = crop.flip(-1) if torch.rand((), generator=generator).item() < 0.5 else crop
        # no draws without jitter: a seed gives the same crops as in versions before the option
        return jittered(crop, self.color_jitter, generator) if self.color_jitter else crop

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        indices = torch.randint(0, len(self.files), (batch_size,), generator=generator).tolist()
        return torch.stack([self.random_crop(self.load_readable(i), generator) for i in indices])


def jittered(image: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """``image`` (3xHxW in [0, 1]) with its saturation, contrast (about its mean) and brightness each scaled by a
    random factor within 1 +- ``strength``: photos come at many exposures, and the model should keep each one's."""
    saturation, contrast, gain = (1 + strength * (2 * torch.rand(3, generator=generator) - 1)).tolist()
    grey = image.mean(0, keepdim=True)
    image = grey + (image - grey) * saturation
    mean = image.mean()
    return ((mean + (image - mean) * contrast) * gain).clamp(0, 1)


class StyleSampler:
    """Style indices for each batch, visiting all styles evenly: shuffled rounds of 0..N-1."""

    def __init__(self, num_styles: int, queue: list[int] | None = None):
        self.num_styles = num_styles
        self.queue = list(queue or [])

    def next(self, count: int, generator: torch.Generator) -> torch.Tensor:
        while len(self.queue) < count:
            self.queue += torch.randperm(self.num_styles, generator=generator).tolist()
        chosen, self.queue = self.queue[:count], self.queue[count:]
        return torch.tensor(chosen, dtype=torch.long)


def style_name(source: str) -> str:
    """A style's name: the file's stem, or the builtin image's name."""
    return source[len(BUILTIN_PREFIX):] if source.startswith(BUILTIN_PREFIX) else Path(source).stem


def load_style_images(sources: list[str], style_size: int, max_pixels: int | None = None) -> list[torch.Tensor]:
    """Style images resized so that the longer side is ``style_size`` (enlarged if smaller)."""
    return [resize_longer_side(to_tensor(load_image(source, max_pixels)), style_size) for source in sources]


def recorded_style_pixels(pixels: StylePixels, sources: list[str | None], style_size: int) -> StylePixels:
    """Each style's stored pixels; for a model file of an earlier version, which stores none, the image at the path
    recorded at training where it is found from here (relative paths are relative to where it was trained)."""
    return [stored if stored is not None or not is_found(source)
            else to_pixels(load_style_images([source], style_size)[0]) for stored, source in zip(pixels, sources)]
