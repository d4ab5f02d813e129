"""Training data: content images from folders, globs, lists, files or ``builtin``, cut into random resized crops;
style images. Which crops each training step takes is stylebank.training.batches' business."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import NamedTuple

import torch

from ..errors import StyleBankError
from ..images import BUILTIN_PREFIX, ImageNote, expand_sources, image_size, load_image
from ..tensors import antialiased_resize, resize_longer_side, resize_shorter_side, to_tensor

MIN_CROP_FRACTION = 0.35  # smallest crop side, as a fraction of the image's shorter side
MIN_CONTENT_SIZE = 16
CACHE_SIZE = 64  # decoded images kept per process: every image of a small set, few of a large one


class CropDraw(NamedTuple):
    """The random numbers of one training crop, drawn before its image is read (see draw_crops)."""

    image: int  # index into the content files
    fraction: float  # the crop's side as a fraction of the image's shorter side, 0-1 mapped to 35-100%
    top: float  # where the crop starts, as a fraction of the room there is (0 to 1)
    left: float
    flip: bool
    jitter: tuple[float, float, float] | None  # saturation, contrast and brightness factors (see jittered)


def draw_crops(count: int, num_files: int, generator: torch.Generator, color_jitter: float = 0.0) -> list[CropDraw]:
    """``count`` crops' random numbers: which image, how large, where, flipped or not, which colour factors."""
    indices = torch.randint(0, num_files, (count,), generator=generator).tolist()
    draws = []
    for index in indices:
        fraction, top, left, flip = torch.rand(4, generator=generator).tolist()
        # no draws without jitter: it changes nothing else about a seed's crops
        jitter = tuple((1 + color_jitter * (2 * torch.rand(3, generator=generator) - 1)).tolist()) \
            if color_jitter else None
        draws.append(CropDraw(index, fraction, top, left, flip < 0.5, jitter))
    return draws


class ContentImages:
    """Content images, cut into square crops resized to ``image_size`` (see draw_crops and crop).

    Crops of 35-100% of the shorter side make whole photos resized to the working size look like training data.
    Nothing is opened up front but the files' headers up to the first usable one (a folder of 100,000 photos
    starts at once); an image that turns out to be unusable (corrupt, missing, too small, too large) is replaced
    by the next usable one and named in ``notes``. Decoded images are kept in memory (at most 3x the crop size)
    for the next time they are drawn.
    """

    def __init__(self, sources: list[str], image_size: int, cache_size: int = CACHE_SIZE,
                 max_pixels: int | None = None, color_jitter: float = 0.0):
        self.files = expand_sources(sources)
        self.image_size = image_size
        self.color_jitter = color_jitter
        self.max_pixels = max_pixels
        self.cache_size = cache_size
        self.load = functools.lru_cache(maxsize=cache_size)(self._load)
        self.unreadable: set[int] = set()
        self.notes: list[str] = []  # the unusable files found since take_notes, each with its reason
        self.check_first_usable()

    def __len__(self) -> int:
        return len(self.files)

    def __getstate__(self) -> dict:  # DataLoader workers that are spawned get a copy: without the cache
        return {key: value for key, value in self.__dict__.items() if key != "load"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.load = functools.lru_cache(maxsize=self.cache_size)(self._load)

    def check_first_usable(self) -> None:
        """A StyleBankError now, not hours later, where no file is usable; reads headers until one is."""
        problems = []
        for file in self.files:
            problem = header_problem(file, self.max_pixels)
            if problem is None:
                return
            problems.append(problem)
        raise StyleBankError(f"none of the {len(self.files)} content images can be used: {problems[0]}")

    def _load(self, index: int) -> torch.Tensor:
        file = self.files[index]
        image = load_image(file, self.max_pixels)  # refuses what is not an image, or too large, from the header
        problem = size_problem(file, *image.size)
        if problem:
            raise StyleBankError(problem)
        image = to_tensor(image)
        return resize_shorter_side(image, 3 * self.image_size) if min(image.shape[-2:]) > 3 * self.image_size else image

    def load_usable(self, index: int) -> torch.Tensor:
        """The image at ``index``, or (if it is unusable) the next usable one: a bad photo in a folder of thousands
        should not stop a training run hours in. Which image replaces it depends only on the files."""
        for candidate in [*range(index, len(self.files)), *range(index)]:
            if candidate in self.unreadable:
                continue
            try:
                return self.load(candidate)
            except StyleBankError as error:
                self.unreadable.add(candidate)
                self.notes.append(str(error))
        raise StyleBankError("none of the content images could be read")

    def take_notes(self) -> list[str]:
        """The unusable files found since the last call."""
        notes, self.notes = self.notes, []
        return notes

    def crop(self, draw: CropDraw) -> torch.Tensor:
        """The crop that ``draw`` describes, from its image (or the one that replaces it)."""
        image = self.load_usable(draw.image)
        height, width = image.shape[-2:]
        fraction = MIN_CROP_FRACTION + (1 - MIN_CROP_FRACTION) * draw.fraction
        side = max(8, round(min(height, width) * fraction))
        top = min(int(draw.top * (height - side + 1)), height - side)
        left = min(int(draw.left * (width - side + 1)), width - side)
        crop = image[:, top:top + side, left:left + side].unsqueeze(0)
        crop = antialiased_resize(crop, (self.image_size, self.image_size))[0].clamp(0, 1)
        crop = crop.flip(-1) if draw.flip else crop
        return jittered(crop, draw.jitter) if draw.jitter else crop

    def crops(self, draws: list[CropDraw]) -> torch.Tensor:
        """The crops of ``draws`` as one batch."""
        return torch.stack([self.crop(draw) for draw in draws])

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """A batch of random crops, drawn from ``generator``; unusable files met are named in an ImageNote."""
        crops = self.crops(draw_crops(batch_size, len(self), generator, self.color_jitter))
        for note in self.take_notes():
            warnings.warn(f"skipping content image {note}", ImageNote, stacklevel=2)
        return crops


def header_problem(file: str, max_pixels: int | None) -> str | None:
    """Why ``file``'s header says it cannot be trained on (not an image, too small, too large), or None."""
    if file.startswith(BUILTIN_PREFIX):
        return None
    try:
        return size_problem(file, *image_size(file, max_pixels))
    except StyleBankError as error:
        return str(error)


def size_problem(file: str, width: int, height: int) -> str | None:
    """Why an image of ``width`` x ``height`` is too small to train on, or None."""
    return None if min(width, height) >= MIN_CONTENT_SIZE else \
        f"{file}: smaller than {MIN_CONTENT_SIZE}x{MIN_CONTENT_SIZE}"


def jittered(image: torch.Tensor, factors: tuple[float, float, float]) -> torch.Tensor:
    """``image`` (3xHxW in [0, 1]) with its saturation, contrast (about its mean) and brightness scaled by
    ``factors`` (drawn within 1 +- --color-jitter): photos come at many exposures, and the model should keep each
    one's."""
    saturation, contrast, gain = factors
    grey = image.mean(0, keepdim=True)
    image = grey + (image - grey) * saturation
    mean = image.mean()
    return ((mean + (image - mean) * contrast) * gain).clamp(0, 1)


def style_name(source: str) -> str:
    """A style's name: the file's stem, or the builtin image's name."""
    return source[len(BUILTIN_PREFIX):] if source.startswith(BUILTIN_PREFIX) else Path(source).stem


def load_style_images(sources: list[str], style_size: int, max_pixels: int | None = None) -> list[torch.Tensor]:
    """Style images resized so that the longer side is ``style_size`` (enlarged if smaller)."""
    return [resize_longer_side(to_tensor(load_image(source, max_pixels)), style_size) for source in sources]
