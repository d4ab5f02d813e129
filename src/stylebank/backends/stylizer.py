"""The stylizing contract that every backend implements: the PyTorch model (``pytorch.StyleBankModel``), ONNX
Runtime (``onnx_runtime.OnnxModel``), and whatever calls them (the command line, video, a server).

A backend names its ``styles`` and renders a batch: ``render(batch, options)`` on tensors, or
``render_array(batch, options)`` on numpy arrays, or both; each defaults to the other, so a backend writes the one
it computes in. ``Stylizer`` gives it the rest: ``stylize()`` for PIL images, arrays and tensors, the size checks,
and preserve-colour. PIL images and arrays go through numpy only, so a backend that renders arrays (ONNX Runtime)
stylizes them without importing PyTorch.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import StyleBankError
from ..fusion import MaskLike, StyleLike, keep_content_colors, parse_regions, resolve_style
from ..images import fitted_size, resize_array, to_float_array, to_uint8
from ..network_config import MIN_SIZE
from ..runtime import PRECISIONS

if TYPE_CHECKING:
    import torch

ImageLike = Any  # a PIL image, an HxWx3 uint8 array, or a float tensor (3, H, W) / (B, 3, H, W)
Carry = Callable[["torch.Tensor"], "torch.Tensor"]  # stylized features (B, C, h, w) -> what the decoder paints
# Above this many pixels stylize() tiles automatically (an untiled 2048x2048 pass peaks near 2 GB in fp32).
TILE_PIXELS = 2048 * 2048
DEFAULT_TILE = 1024


@dataclass(frozen=True, eq=False)
class StylizeOptions:
    """How to stylize, as every backend takes it; checked when made. See ``Stylizer.stylize`` for each field.
    ``mixes``: the style parsed against a model's style names (each region's blend with a mask, else one), made
    once by ``resolved``; backends paint these."""

    style: StyleLike | list[StyleLike] = 0
    mask: MaskLike | None = None
    strength: float = 1.0
    preserve_color: bool = False
    precision: str = "auto"
    tile: int | None = None
    mixes: tuple[dict[int, float], ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.mask, str):
            parse_regions(self.mask)
        if not 0 <= self.strength <= 1:
            raise StyleBankError(f"strength must be between 0 and 1, got {self.strength}")
        if self.tile is not None and self.tile < 0:
            raise StyleBankError(f"tile must be a positive number of pixels (0: never tile), got {self.tile}")
        if self.precision not in PRECISIONS:
            raise StyleBankError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def resolved(self, names: list[str]) -> StylizeOptions:
        """These options with ``mixes`` parsed from ``style`` against ``names``; options already resolved as they
        are (a style choice is parsed once, where it is first known which model paints it)."""
        if self.mixes is not None:
            return self
        return replace(self, mixes=tuple(resolve_style(self.style, names, regions=self.mask is not None)))


def is_tensor(image: object) -> bool:
    """Whether ``image`` is a torch tensor, without importing torch (a tensor means torch is imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(image, torch.Tensor)


def checked_size(height: int, width: int, max_size: int | None) -> tuple[int, int]:
    """The size to stylize an image at: shrunk to ``max_size``, with the size error in the user's terms (the
    image's own size, and what max_size did)."""
    if min(height, width) < MIN_SIZE:
        raise StyleBankError(f"image is {width}x{height}; StyleBank needs at least {MIN_SIZE}x{MIN_SIZE} pixels")
    size = fitted_size(height, width, max_size)
    if min(size) < MIN_SIZE:
        raise StyleBankError(f"image is {width}x{height}; shrunk to max size {max_size} it would be "
                             f"{size[1]}x{size[0]}, below the {MIN_SIZE}x{MIN_SIZE} StyleBank "
                             "needs: raise --max-size (0 keeps the size) or crop the image")
    return size


def shrink_to_fit(batch: np.ndarray | torch.Tensor, max_size: int | None) -> np.ndarray | torch.Tensor:
    """(..., 3, H, W) shrunk so that its longer side fits ``max_size`` (see checked_size); arrays or tensors."""
    size = checked_size(*batch.shape[-2:], max_size)
    if isinstance(batch, np.ndarray):
        return resize_array(batch, size)
    from ..tensors import resize_to_fit

    return resize_to_fit(batch, max_size)


class Stylizer(ABC):
    """What every backend shares: ``stylize()`` for PIL images, arrays and tensors on top of the backend's
    ``styles`` and its ``render()`` or ``render_array()``. A backend may also say where it came from (``path``),
    what it cannot do (``refusal``), show the styles' images (``keeps_style_images``, ``style_picture``) and how
    many calls it takes at once (``concurrent_calls``, ``calls_at_once``)."""

    path: Path | None = None  # the file the backend was loaded from (None: made in memory)
    keeps_style_images = False  # whether style_picture shows the styles' images (a model file keeps them)
    # How many stylize calls the backend was set up to take at once, from as many threads, each on its share of
    # the cores (video stylizes that many frames side by side); 1: one call uses every core.
    concurrent_calls = 1

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.render is Stylizer.render and cls.render_array is Stylizer.render_array:
            raise TypeError(f"{cls.__name__} must implement render() or render_array()")

    @property
    @abstractmethod
    def styles(self) -> list[str]:
        """Style names, in bank order."""

    def refusal(self, options: StylizeOptions, size: tuple[int, int]) -> str | None:
        """Why this backend cannot stylize an image of ``size`` (height, width) with ``options``, or None where it
        can (the auto backend hands what one refuses to another)."""
        return None

    def calls_at_once(self, options: StylizeOptions, size: tuple[int, int], carry: bool = False) -> int:
        """How many calls with ``options`` on images of ``size`` (height, width) to make at once (see
        concurrent_calls); ``carry``: with features carried from call to call (video's feature coherence), which
        go one at a time."""
        return 1 if carry else max(1, self.concurrent_calls)

    def style_picture(self, style: int | str) -> Image.Image:
        """The image ``style`` was trained on, where the backend keeps it (``keeps_style_images``)."""
        raise StyleBankError(f"{type(self).__name__} keeps no style images")

    def render(self, batch: torch.Tensor, options: StylizeOptions, carry: Carry | None = None) -> torch.Tensor:
        """The backend's own work on tensors: (B, 3, H, W) floats in [0, 1] -> the stylized batch, same size and
        device, clamped to [0, 1], before preserve-colour. ``carry``, where the backend has the network's stages:
        applied to the stylized features before they are decoded (video's coherence). Refuses (StyleBankError)
        the options it cannot honour. By default: render_array on the batch's values."""
        if carry is not None:
            raise StyleBankError(f"{type(self).__name__} has no features to carry between frames; use "
                                 "--coherence output or the PyTorch backend")
        import torch

        output = self.render_array(batch.detach().float().cpu().numpy(), options)
        return torch.from_numpy(output).to(batch.device)

    def render_array(self, batch: np.ndarray, options: StylizeOptions) -> np.ndarray:
        """render() on numpy arrays: (B, 3, H, W) float32 in [0, 1] -> the stylized batch. By default: render on
        the array as a tensor."""
        import torch

        return self.render(torch.from_numpy(batch), options).float().cpu().numpy()

    def stylize_batch(self, batch: torch.Tensor, options: StylizeOptions = StylizeOptions(),
                      carry: Carry | None = None) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] -> the stylized batch of the same size, on the same device."""
        output = self.render(batch, options.resolved(self.styles), carry)
        return keep_content_colors(output, batch.to(output)) if options.preserve_color else output

    def stylize_arrays(self, batch: np.ndarray, options: StylizeOptions = StylizeOptions()) -> np.ndarray:
        """stylize_batch on numpy arrays: (B, 3, H, W) float32 in [0, 1] -> the stylized batch."""
        output = self.render_array(batch, options.resolved(self.styles))
        return keep_content_colors(output, batch) if options.preserve_color else output

    def stylize(self, image: ImageLike, style: StyleLike | list[StyleLike] = 0, max_size: int | None = None,
                mask: MaskLike | None = None, strength: float = 1.0, preserve_color: bool = False,
                precision: str = "auto", tile: int | None = None) -> ImageLike:
        """Stylize a PIL image, an HxWx3 uint8 array, or a float tensor (3, H, W) / (B, 3, H, W) in [0, 1].

        Returns the same kind of object.
        - ``style``: an index, a name, or a blend ``{0: 0.5, "waves": 0.5}`` / ``"0:0.5,2:0.5"`` (normalised).
        - ``mask``: regions, as a label image (each distinct grey value or colour, in ascending order, is a region)
          or ``"kmeans:K"`` (K-means on colour, darkest region first); ``style`` then lists one style or blend
          per region (``[3, 0, 1]`` or ``"3,0,1"``).
        - ``strength``: 0 gives the reconstruction D(E(I)) with its colours matched to the photo's (no colour cast),
          1 the full style; in between the two pictures are mixed.
        - ``preserve_color``: keep the content's colours, take the stylized luminance.
        - ``max_size``: first shrink the image so that its longer side fits.
        - ``precision``: "fp32", "bf16" (autocast), or "auto": bf16 where the device runs it natively and the
          output stays within 35 dB PSNR of fp32's (checked once on a probe photo), else fp32.
        - ``tile``: stylize in overlapping tiles of this size (bounded memory, no seams; see stylebank.backends.tiling);
          None tiles automatically above TILE_PIXELS (2048x2048), 0 never tiles.
        """
        options = StylizeOptions(style, mask, strength, preserve_color, precision, tile)
        return self.stylize_with(image, options, max_size)

    def stylize_with(self, image: ImageLike, options: StylizeOptions, max_size: int | None = None) -> ImageLike:
        """``stylize`` with its settings made once (a front end's StylizeOptions, best resolved already)."""
        options = options.resolved(self.styles)
        if is_tensor(image):
            if image.dim() not in (3, 4) or image.shape[-3] != 3:
                raise StyleBankError(f"expected a tensor of shape (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}")
            batch = shrink_to_fit(image if image.dim() == 4 else image.unsqueeze(0), max_size)
            output = self.stylize_batch(batch, options)
            return output if image.dim() == 4 else output[0]
        if not isinstance(image, (Image.Image, np.ndarray)):
            raise StyleBankError(f"cannot stylize a {type(image).__name__}: give a PIL image, array or tensor")
        batch = shrink_to_fit(to_float_array(image)[None], max_size)
        output = to_uint8(self.stylize_arrays(batch, options)[0])
        return Image.fromarray(output) if isinstance(image, Image.Image) else output
