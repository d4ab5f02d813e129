"""Images as PyTorch tensors: float (3, H, W) or (B, 3, H, W) in [0, 1], RGB (files are stylebank.images')."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .images import fitted_size, to_float_array, to_uint8


def to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """(3, H, W) float in [0, 1] from a PIL image or an HxWx3 uint8 array."""
    return torch.from_numpy(to_float_array(image))


def to_uint8_array(tensor: torch.Tensor) -> np.ndarray:
    """HxWx3 uint8 array from a (3, H, W) float tensor, clamped to [0, 1] and rounded."""
    return to_uint8(tensor.detach().float().cpu().numpy())


def to_pil(tensor: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_uint8_array(tensor))


def antialiased_resize(images: torch.Tensor, size: tuple[int, int] | None = None,
                       scale_factor: float | None = None) -> torch.Tensor:
    """Bilinear, antialiased resize of (N, C, H, W), in the input's dtype. PyTorch's antialiased kernel exists
    only for float32/float64 on CPUs (bf16 and fp16 raise NotImplementedError), so lower precisions go through
    float32."""
    working = images if images.dtype in (torch.float32, torch.float64) else images.float()
    resized = F.interpolate(working, size=size, scale_factor=scale_factor, mode="bilinear", antialias=True,
                            align_corners=False)
    return resized.to(images.dtype)


def resize_to_fit(tensor: torch.Tensor, max_size: int | None) -> torch.Tensor:
    """Shrink (never enlarge) so that the longer side is at most ``max_size``, keeping the aspect ratio."""
    size = fitted_size(*tensor.shape[-2:], max_size)
    if size == tuple(tensor.shape[-2:]):
        return tensor
    batched = tensor if tensor.dim() == 4 else tensor.unsqueeze(0)
    resized = antialiased_resize(batched, size).clamp(0, 1)
    return resized if tensor.dim() == 4 else resized[0]


def resize_shorter_side(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (3, H, W) so that its shorter side is ``size``."""
    height, width = tensor.shape[-2:]
    scale = size / min(height, width)
    new = (max(1, round(height * scale)), max(1, round(width * scale)))
    return antialiased_resize(tensor.unsqueeze(0), new)[0].clamp(0, 1)


def resize_longer_side(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (3, H, W) so that its longer side is ``size``: shrunk, or enlarged (as style images are)."""
    height, width = tensor.shape[-2:]
    if max(height, width) < size:
        tensor = resize_shorter_side(tensor, round(size * min(height, width) / max(height, width)))
    return resize_to_fit(tensor, size)


def image_grid(tiles: list[torch.Tensor], columns: int, padding: int = 2) -> torch.Tensor:
    """Tiles of one size (3, H, W) laid out in rows on a white background."""
    height, width = tiles[0].shape[-2:]
    rows = -(-len(tiles) // columns)
    grid = torch.ones(3, rows * (height + padding) + padding, columns * (width + padding) + padding)
    for i, tile in enumerate(tiles):
        top, left = padding + (i // columns) * (height + padding), padding + (i % columns) * (width + padding)
        grid[:, top:top + height, left:left + width] = tile.clamp(0, 1)
    return grid
