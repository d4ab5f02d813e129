"""Optical flow between frames, and what is done with it: warping, the occlusions it reveals, resizing it to the
feature map. The flow is OpenCV's DIS (fast on a CPU; no flow network's weights can be had offline).

Conventions: frames are (3, H, W) float tensors in [0, 1]; a flow is a (2, H, W) tensor of pixel offsets (x, y).
``flow(a, b)`` gives, for each pixel of ``a``, where it is in ``b``; ``warp(b_thing, flow(a, b))`` brings what is
at those places in ``b`` to ``a``'s pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..tensors import to_uint8_array
from ..fusion import to_feature_grid
from ..network_config import SIZE_MULTIPLE

PRESETS = ("ultrafast", "fast", "medium")


class FlowEstimator:
    """DIS optical flow (OpenCV) between two frames."""

    def __init__(self, preset: str = "fast"):
        import cv2

        self.cv2 = cv2
        self.dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))

    def grey(self, frame: torch.Tensor) -> np.ndarray:
        return self.cv2.cvtColor(to_uint8_array(frame), self.cv2.COLOR_RGB2GRAY)

    def __call__(self, source: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The flow from ``source`` to ``target`` (frames, or their grey uint8 arrays from ``grey``)."""
        source = source if isinstance(source, np.ndarray) else self.grey(source)
        target = target if isinstance(target, np.ndarray) else self.grey(target)
        return torch.from_numpy(self.dis.calc(source, target, None)).permute(2, 0, 1)


def warp(tensor: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``tensor`` (C, H, W) sampled at each pixel's position plus ``flow`` (2, H, W): bilinear, borders clamped."""
    height, width = tensor.shape[-2:]
    rows, cols = torch.meshgrid(torch.arange(height, dtype=flow.dtype), torch.arange(width, dtype=flow.dtype),
                                indexing="ij")
    x = (cols + flow[0]) * (2 / max(width - 1, 1)) - 1
    y = (rows + flow[1]) * (2 / max(height - 1, 1)) - 1
    grid = torch.stack((x, y), dim=-1).unsqueeze(0).to(tensor.device, tensor.dtype)
    return F.grid_sample(tensor.unsqueeze(0), grid, mode=mode, padding_mode="border", align_corners=True)[0]


def consistent(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Where the flow can be trusted, (H, W) bool: following ``forward`` (a -> b) and then ``backward`` (b -> a)
    returns close to the start (Sundaram et al. 2010); elsewhere the pixel is occluded or the flow is wrong. The
    places where the flow leaves the frame are untrusted too."""
    returned = warp(backward, forward)
    error = (forward + returned).square().sum(0)
    scale = forward.square().sum(0) + returned.square().sum(0)
    height, width = forward.shape[-2:]
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    inside = ((cols + forward[0]).clamp(-1, width) == cols + forward[0]) & \
             ((rows + forward[1]).clamp(-1, height) == rows + forward[1])
    return (error <= 0.01 * scale + 0.5) & inside


def flow_to_feature_grid(flow: torch.Tensor, feature_size: tuple[int, int]) -> torch.Tensor:
    """A flow at image size -> at the feature map's size, its offsets in feature pixels (SIZE_MULTIPLE image
    pixels each)."""
    return to_feature_grid(flow, feature_size) / SIZE_MULTIPLE
