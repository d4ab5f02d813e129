"""Picture quality measures shared by stylizing (the bf16 probe), training (the log) and evaluation."""

from __future__ import annotations

import math

import torch


def image_psnr(output: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of two (3, H, W) images in [0, 1]; inf when identical."""
    return psnr(torch.mean((output.float() - target.float()) ** 2).item())


def psnr(mse: float) -> float:
    """PSNR in dB of images in [0, 1] from their mean squared error."""
    return math.inf if mse <= 0 else -10 * math.log10(mse)
