"""The stylizing contract that every backend implements: the PyTorch model (``stylebank.api.StyleBankModel``),
ONNX Runtime (``stylebank.onnx_backend.OnnxModel``), and whatever calls them (the command line, video, a server).

A backend names its ``styles`` and implements ``render(batch, options)``; ``Stylizer`` gives it the rest:
``stylize()`` for PIL images, arrays and tensors, the size checks, and preserve-colour.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .errors import StyleBankError
from .fusion import StyleLike, keep_content_colors
from .images import resize_to_fit, to_pil, to_tensor, to_uint8_array
from .model import MIN_SIZE
from .runtime import PRECISIONS

ImageLike = Image.Image | np.ndarray | torch.Tensor
MaskLike = Image.Image | np.ndarray | torch.Tensor | str
Carry = Callable[[torch.Tensor], torch.Tensor]  # stylized features (B, C, h, w) -> what the decoder paints


@dataclass(frozen=True, eq=False)
class StylizeOptions:
    """How to stylize, as every backend takes it; checked when made. See ``Stylizer.stylize`` for each field."""

    style: StyleLike | list[StyleLike] = 0
    mask: MaskLike | None = None
    strength: float = 1.0
    preserve_color: bool = False
    precision: str = "auto"
    tile: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.strength <= 1:
            raise StyleBankError(f"strength must be between 0 and 1, got {self.strength}")
        if self.tile is not None and self.tile < 0:
            raise StyleBankError(f"tile must be a positive number of pixels (0: never tile), got {self.tile}")
        if self.precision not in PRECISIONS:
            raise StyleBankError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


def shrink_to_fit(batch: torch.Tensor, max_size: int | None) -> torch.Tensor:
    """resize_to_fit, with the size error in the user's terms (the image's own size, and what max_size did)."""
    height, width = batch.shape[-2:]
    if min(height, width) < MIN_SIZE:
        raise StyleBankError(f"image is {width}x{height}; StyleBank needs at least {MIN_SIZE}x{MIN_SIZE} pixels")
    resized = resize_to_fit(batch, max_size)
    if min(resized.shape[-2:]) < MIN_SIZE:
        raise StyleBankError(f"image is {width}x{height}; shrunk to max size {max_size} it would be "
                             f"{resized.shape[-1]}x{resized.shape[-2]}, below the {MIN_SIZE}x{MIN_SIZE} StyleBank "
                             "needs: raise --max-size (0 keeps the size) or crop the image")
    return resized


class Stylizer(ABC):
    """What every backend shares: ``stylize()`` for PIL images, arrays and tensors on top of the backend's
    ``render()`` and ``styles``."""

    @property
    @abstractmethod
    def styles(self) -> list[str]:
        """Style names, in bank order."""

    @abstractmethod
    def render(self, batch: torch.Tensor, options: StylizeOptions, carry: Carry | None = None) -> torch.Tensor:
        """The backend's own work: (B, 3, H, W) floats in [0, 1] -> the stylized batch, same size and device,
        clamped to [0, 1], before preserve-colour. ``carry``, where the backend has the network's stages: applied
        to the stylized features before they are decoded (video's coherence). Refuses (StyleBankError) the options
        it cannot honour."""

    def stylize_batch(self, batch: torch.Tensor, options: StylizeOptions = StylizeOptions(),
                      carry: Carry | None = None) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] -> the stylized batch of the same size, on the same device."""
        # a backend written before carry existed takes two arguments: it is only asked for carry when one is given
        output = self.render(batch, options) if carry is None else self.render(batch, options, carry)
        return keep_content_colors(output, batch.to(output)) if options.preserve_color else output

    def stylize(self, image: ImageLike, style: StyleLike | list[StyleLike] = 0, max_size: int | None = None,
                mask: MaskLike | None = None, strength: float = 1.0, preserve_color: bool = False,
                precision: str = "auto", tile: int | None = None) -> ImageLike:
        """Stylize a PIL image, an HxWx3 uint8 array, or a float tensor (3, H, W) / (B, 3, H, W) in [0, 1].

        Returns the same kind of object.
        - ``style``: an index, a name, or a blend ``{0: 0.5, "waves": 0.5}`` / ``"0:0.5,2:0.5"`` (normalised).
        - ``mask``: regions, as a label image (each distinct grey value or colour, in ascending order, is a region)
          or ``"kmeans:K"`` (K-means on colour, darkest region first); ``style`` then lists one style or blend
          per region (``[3, 0, 1]`` or ``"3,0,1"``).
        - ``strength``: 0 gives the plain reconstruction D(E(I)), 1 the full style.
        - ``preserve_color``: keep the content's colours, take the stylized luminance.
        - ``max_size``: first shrink the image so that its longer side fits.
        - ``precision``: "fp32", "bf16" (autocast), or "auto": bf16 where the device runs it natively and the
          output stays within 35 dB PSNR of fp32's (checked once on a probe photo), else fp32.
        - ``tile``: stylize in overlapping tiles of this size (bounded memory, no seams; see stylebank.tiling);
          None tiles automatically above TILE_PIXELS (2048x2048), 0 never tiles.
        """
        options = StylizeOptions(style, mask, strength, preserve_color, precision, tile)
        if isinstance(image, torch.Tensor):
            if image.dim() not in (3, 4) or image.shape[-3] != 3:
                raise StyleBankError(f"expected a tensor of shape (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}")
            batch = shrink_to_fit(image if image.dim() == 4 else image.unsqueeze(0), max_size)
            output = self.stylize_batch(batch, options)
            return output if image.dim() == 4 else output[0]
        if not isinstance(image, (Image.Image, np.ndarray)):
            raise StyleBankError(f"cannot stylize a {type(image).__name__}: give a PIL image, array or tensor")
        output = self.stylize_batch(shrink_to_fit(to_tensor(image).unsqueeze(0), max_size), options)[0]
        return to_pil(output) if isinstance(image, Image.Image) else to_uint8_array(output)
