"""The reconstruction's colours matched to the photo's: the least-squares affine colour map.

The decoder is shared with the styles, and it reconstructs a photo with its colours pulled toward the paintings'
palette (v3 at step 5,647, 8 held-out photos: a cast of up to 0.106 of full scale in a channel). Much of the
reconstruction's error is that global colour change: with the colour map below fitted per photo, its PSNR goes
from 21.0 to 24.6 dB (benchmarks/strength.py, docs/pictures.md). Strength 0 is this matched reconstruction, so it
has no cast, and the strength slider starts from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .fusion import array_namespace, as_numpy

if TYPE_CHECKING:
    import torch

# Ridge toward the identity map, per pixel: keeps the fit stable where the picture has (almost) no spread in a
# channel (a flat image); small beside a photo's colour variance (about 0.05).
RIDGE = 1e-3
# The fit reads at most about this many pixels (an even subsample): enough for 12 numbers, cheap at any size.
FIT_PIXELS = 1 << 18


def colour_map(picture: np.ndarray | torch.Tensor, photo: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """(B, 3, 4) float32, of the inputs' kind (numpy, or tensors on their device): per image, the matrix A and
    offset b (its last column) minimising |A picture + b - photo|^2 + RIDGE * pixels * |A - I|^2 over pixels;
    ``picture`` and ``photo`` (B, 3, H, W) of the same size."""
    step = max(1, round((picture.shape[-2] * picture.shape[-1] / FIT_PIXELS) ** 0.5))
    x, y = (as_numpy(a[..., ::step, ::step]).astype(np.float64).reshape(len(a), 3, -1) for a in (picture, photo))
    x = np.concatenate([x, np.ones_like(x[:, :1])], axis=1)  # (B, 4, N): the offset's row
    penalty = RIDGE * x.shape[-1] * np.diag([1.0, 1.0, 1.0, 0.0])
    gram = x @ x.transpose(0, 2, 1) + penalty
    target = y @ x.transpose(0, 2, 1) + np.eye(3, 4) @ penalty
    mapping = np.linalg.solve(gram, target.transpose(0, 2, 1)).transpose(0, 2, 1).astype(np.float32)
    if isinstance(picture, np.ndarray):
        return mapping
    return array_namespace(picture).from_numpy(mapping).to(picture.device)


def apply_colour_map(picture: np.ndarray | torch.Tensor,
                     mapping: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``picture`` (B, 3, H, W) with each image's colours mapped by ``mapping`` (B, 3, 4), in its own dtype (and, a
    tensor, its memory layout: the CPU network's is channels-last)."""
    xp = array_namespace(picture)
    values = picture if xp is np else picture.float()
    mapped = xp.einsum("bij,bjhw->bihw", mapping[:, :, :3], values) + mapping[:, :, 3, None, None]
    return mapped.astype(picture.dtype) if xp is np else xp.empty_like(picture).copy_(mapped)


def match_colours(picture: np.ndarray | torch.Tensor, photo: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``picture`` with its colours mapped to ``photo``'s (colour_map), both (B, 3, H, W)."""
    return apply_colour_map(picture, colour_map(picture, photo))
