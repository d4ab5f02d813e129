"""Stylizing a sequence of frames without flicker (Chen, Liao, Yuan, Yu, Hua, *Coherent Online Video Style
Transfer*, ICCV 2017, on StyleBank's E/K/D split).

Each frame is stylized; where the optical flow from the previous frame can be trusted, the previous frame's result
is carried along the flow and blended in:
- ``output`` (the default): the previous stylized frame, warped at full resolution, blended with the current one
  (any backend);
- ``features`` (the paper's way): the previous frame's stylized features K(E(I)), warped at the feature map's
  resolution (H/4), blended with the current ones before the decoder paints them (PyTorch backend). Measured by
  benchmarks/video.py, it steadies the picture far less than ``output`` does with this network;
- ``none``: frame by frame.
Trust is the flow's forward/backward consistency (no occlusion) and the previous *input* frame, warped, matching the
current one. A frame where less than half is trusted is a scene cut: it starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..fusion import to_feature_grid
from ..backends.stylizer import StylizeOptions, Stylizer
from .flow import FlowEstimator, consistent, flow_to_feature_grid, warp
from .settings import Coherence

@dataclass
class Link:
    """How the current frame relates to the previous one: the flow to it and where that flow is trusted."""

    flow: torch.Tensor  # (2, H, W): for each pixel of the current frame, where it was in the previous one
    trust: torch.Tensor  # (1, H, W) in {0, 1}


class CoherentFrames:
    """Call with each frame in turn, (3, H, W) floats in [0, 1]; returns it stylized. ``scene_cuts`` counts the
    frames that started afresh (the first frame not included)."""

    def __init__(self, stylizer: Stylizer, options: StylizeOptions, coherence: Coherence = Coherence()):
        self.stylizer, self.options, self.coherence = stylizer, options, coherence
        self.flow = FlowEstimator(coherence.flow_preset) if coherence.mode != "none" else None
        self.previous: tuple[np.ndarray, torch.Tensor, torch.Tensor] | None = None  # grey, frame, carried
        self.scene_cuts = 0

    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        if self.flow is None:
            return self.stylizer.stylize_batch(frame.unsqueeze(0), self.options)[0]
        grey = self.flow.grey(frame)
        link = self.link(grey, frame)
        if link is not None and self.coherence.steady_input:
            frame = self.steadied(frame, link)
        if self.coherence.mode == "features":
            carried = None

            def carry(features: torch.Tensor) -> torch.Tensor:
                nonlocal carried
                stacked = features.flatten(0, 1)  # (R * C, h, w): each region's features (one region: R = 1)
                carried = stacked if link is None else self.blend(stacked, link, True)
                return carried.view_as(features)

            output = self.stylizer.stylize_batch(frame.unsqueeze(0), self.options, carry)[0]
        else:
            output = self.stylizer.stylize_batch(frame.unsqueeze(0), self.options)[0]
            if link is not None:
                output = self.blend(output, link, False).clamp(0, 1)
            carried = output
        self.previous = (grey, frame, carried)
        return output

    def link(self, grey: np.ndarray, frame: torch.Tensor) -> Link | None:
        """The flow back to the previous frame and where it is trusted; None for the first frame or a scene cut."""
        if self.previous is None:
            return None
        previous_grey, previous_frame, _ = self.previous
        backward = self.flow(grey, previous_grey)
        forward = self.flow(previous_grey, grey)
        trusted = consistent(backward, forward)
        difference = (warp(previous_frame.float(), backward) - frame.float()).abs().mean(0)
        trusted &= difference <= self.coherence.match
        if trusted.float().mean() < self.coherence.scene_cut:
            self.scene_cuts += 1
            return None
        return Link(backward, trusted.float().unsqueeze(0))

    def steadied(self, frame: torch.Tensor, link: Link) -> torch.Tensor:
        """``frame`` with the previous (steadied) input frame, warped, blended in where the flow is trusted."""
        weight = (self.coherence.steady_input * link.trust).to(frame)
        warped = warp(self.previous[1].float(), link.flow.float(), "bicubic").to(frame.dtype)
        return (frame * (1 - weight) + warped * weight).clamp(0, 1)

    def blend(self, current: torch.Tensor, link: Link, at_features: bool) -> torch.Tensor:
        """current·(1 − w) + warped previous·w, with w = carry × trust (area-averaged to the feature map)."""
        carried = self.previous[2]
        flow, trust = link.flow, link.trust
        if at_features:
            size = current.shape[-2:]
            flow = flow_to_feature_grid(flow, size)
            trust = to_feature_grid(trust, size)
        weight = (self.coherence.carry * trust).to(current)
        # bicubic: bilinear sampling blurs a little at every frame, and carried over frame after frame the blur
        # adds up and the style loss with it (in trials at 320x180). In fp32 whatever the features' dtype
        warped = warp(carried.float(), flow.float(), "bicubic").to(current.dtype)
        return current * (1 - weight) + warped * weight
