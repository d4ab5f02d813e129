"""Peer networks for the speed benchmark, written here from their papers (never imported into stylebank).

TransformerNet: Johnson, Alahi and Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution" (ECCV 2016), supplementary material, with instance normalisation (Ulyanov et al. 2016) and
nearest-neighbour up-sampling followed by a convolution, as in the fast_neural_style example: 9x9 conv, two
stride-2 3x3 convs, five residual blocks of two 3x3 convs, two x2 up-sampling 3x3 convs, 9x9 conv;
1,679,235 parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(kernel_size // 2), nn.Conv2d(in_channels, out_channels, kernel_size, stride))


def conv_norm_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(conv(in_channels, out_channels, kernel_size, stride),
                         nn.InstanceNorm2d(out_channels, affine=True), nn.ReLU())


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_norm_relu(channels, channels, 3), conv(channels, channels, 3),
                                  nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsample(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")


class TransformerNet(nn.Sequential):
    def __init__(self):
        super().__init__(
            conv_norm_relu(3, 32, 9), conv_norm_relu(32, 64, 3, 2), conv_norm_relu(64, 128, 3, 2),
            *(ResidualBlock(128) for _ in range(5)),
            Upsample(), conv_norm_relu(128, 64, 3), Upsample(), conv_norm_relu(64, 32, 3),
            conv(32, 3, 9),
        )


def main() -> None:
    """``python benchmarks/peers.py IN OUT``: what fast_neural_style's ``neural_style.py eval`` does with one photo
    (a whole process, for benchmarks/end_to_end.py): import PyTorch, build the network, read the photo, run it,
    write a PNG. Seeded random weights stand in for a trained file (the same work)."""
    import sys

    import numpy as np
    from PIL import Image

    source, target = sys.argv[1:3]
    torch.manual_seed(0)
    model = TransformerNet().eval()
    pixels = torch.from_numpy(np.asarray(Image.open(source).convert("RGB"), dtype=np.float32))
    with torch.inference_mode():
        output = model(pixels.permute(2, 0, 1).unsqueeze(0))[0].clamp(0, 255)
    Image.fromarray(output.permute(1, 2, 0).to(torch.uint8).numpy()).save(target)


if __name__ == "__main__":
    main()
