"""Optical flow between frames, and what is done with it: warping, the occlusions it reveals, resizing it to the
feature map. The flow is OpenCV's DIS (fast on a CPU; no flow network's weights can be had offline).

Conventions: frames are (3, H, W) float tensors in [0, 1]; a flow is a (2, H, W) tensor of pixel offsets (x, y).
``flow(a, b)`` gives, for each pixel of ``a``, where it is in ``b``; ``warp(b_thing, flow(a, b))`` brings what is
at those places in ``b`` to ``a``'s pixels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..tensors import to_uint8_array
from ..fusion import to_feature_grid
from ..network_config import SIZE_MULTIPLE

PRESETS = ("ultrafast", "fast", "medium")


class FlowEstimator:
    """DIS optical flow (OpenCV) between two frames, computed at ``scale`` times their size (``grey`` shrinks
    them; ``full_size`` brings a flow back)."""

    def __init__(self, preset: str = "fast", scale: float = 1.0):
        import cv2

        self.cv2, self.scale = cv2, scale
        self.dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))

    def grey(self, frame: torch.Tensor) -> np.ndarray:
        grey = self.cv2.cvtColor(to_uint8_array(frame), self.cv2.COLOR_RGB2GRAY)
        if self.scale == 1:
            return grey
        height, width = grey.shape
        size = (max(8, round(width * self.scale)), max(8, round(height * self.scale)))
        return self.cv2.resize(grey, size, interpolation=self.cv2.INTER_AREA)

    def __call__(self, source: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The flow from ``source`` to ``target`` (frames, or their grey uint8 arrays from ``grey``), at the
        grey arrays' size."""
        source = source if isinstance(source, np.ndarray) else self.grey(source)
        target = target if isinstance(target, np.ndarray) else self.grey(target)
        return torch.from_numpy(self.dis.calc(source, target, None)).permute(2, 0, 1)


def full_size(flow: torch.Tensor, trusted: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A flow (2, h, w) and where it is trusted (h, w) bool, computed on shrunk frames, brought to ``size``
    (height, width): the flow resized and its offsets scaled; trusted only where every shrunk pixel it draws on
    was (so an occlusion's edge does not creep in)."""
    if tuple(flow.shape[-2:]) == tuple(size):
        return flow, trusted
    height, width = size
    scale = torch.tensor([width / flow.shape[-1], height / flow.shape[-2]]).view(2, 1, 1)
    flow = F.interpolate(flow[None], size, mode="bilinear", align_corners=False)[0] * scale
    trusted = F.interpolate(trusted[None, None].float(), size, mode="bilinear", align_corners=False)[0, 0] > 0.999
    return flow, trusted


@lru_cache(maxsize=4)
def pixel_grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, cols), each (H, W) float32: every pixel's own position; made once per frame size (a video has one),
    not at every warp."""
    return torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                          indexing="ij")


def warp(tensor: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``tensor`` (C, H, W) sampled at each pixel's position plus ``flow`` (2, H, W): bilinear (or ``mode``),
    borders clamped."""
    height, width = tensor.shape[-2:]
    rows, cols = pixel_grid(height, width)
    grid = torch.stack(((cols + flow[0]) * (2 / max(width - 1, 1)) - 1,
                        (rows + flow[1]) * (2 / max(height - 1, 1)) - 1), dim=-1)
    grid = grid.unsqueeze(0).to(tensor.device, tensor.dtype)
    return F.grid_sample(tensor.unsqueeze(0), grid, mode=mode, padding_mode="border", align_corners=True)[0]


def consistent(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """Where the flow can be trusted, (H, W) bool: following ``forward`` (a -> b) and then ``backward`` (b -> a)
    returns close to the start (Sundaram et al. 2010); elsewhere the pixel is occluded or the flow is wrong. The
    places where the flow leaves the frame are untrusted too."""
    returned = warp(backward, forward)
    error = (forward + returned).square().sum(0)
    scale = forward.square().sum(0) + returned.square().sum(0)
    height, width = forward.shape[-2:]
    rows, cols = pixel_grid(height, width)
    inside = ((cols + forward[0]).clamp(-1, width) == cols + forward[0]) & \
             ((rows + forward[1]).clamp(-1, height) == rows + forward[1])
    return (error <= 0.01 * scale + 0.5) & inside


def flow_to_feature_grid(flow: torch.Tensor, feature_size: tuple[int, int]) -> torch.Tensor:
    """A flow at image size -> at the feature map's size, its offsets in feature pixels (SIZE_MULTIPLE image
    pixels each)."""
    return to_feature_grid(flow, feature_size) / SIZE_MULTIPLE
