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
current one. A frame of which less than half matches the previous one, warped, is a scene cut: it starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..fusion import to_feature_grid
from ..backends.stylizer import StylizeOptions, Stylizer
from .flow import FlowEstimator, consistent, flow_to_feature_grid, full_size, warp
from .settings import Coherence
from .timing import StageClock

@dataclass
class Link:
    """How the current frame relates to the previous one: the flow to it and where that flow is trusted."""

    flow: torch.Tensor  # (2, H, W): for each pixel of the current frame, where it was in the previous one
    trust: torch.Tensor  # (1, H, W) in {0, 1}


@dataclass
class Prepared:
    """A frame made ready for the network: what the network is given (the input, steadied) and its link to the
    previous frame (None: the first frame or a scene cut)."""

    frame: torch.Tensor
    link: Link | None


class CoherentFrames:
    """Call with each frame in turn, (3, H, W) floats in [0, 1]; returns it stylized. ``scene_cuts`` counts the
    frames that started afresh (the first frame not included).

    A call is three steps, which a pipeline may overlap: ``prepare`` (the flow and the steadied input, in frame
    order), ``render`` (the network; several frames' at once on other threads, except in mode features, where each
    frame's features come from the previous one's) and ``finish`` (the carried-over result blended in, in frame
    order). ``clock`` sums each step's seconds."""

    def __init__(self, stylizer: Stylizer, options: StylizeOptions, coherence: Coherence = Coherence(),
                 clock: StageClock | None = None):
        self.stylizer, self.options, self.coherence = stylizer, options, coherence
        self.clock = clock or StageClock()
        self.flow = FlowEstimator(coherence.flow_preset, coherence.flow_scale) if coherence.mode != "none" else None
        self.seen: tuple[np.ndarray, torch.Tensor] | None = None  # the previous input: grey, steadied
        self.carried: torch.Tensor | None = None  # the previous result: a picture, or features (mode features)
        self.scene_cuts = 0

    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        prepared = self.prepare(frame)
        return self.finish(prepared, self.render(prepared))

    def prepare(self, frame: torch.Tensor) -> Prepared:
        """The flow back to the previous frame, and the frame steadied along it."""
        if self.flow is None:
            return Prepared(frame, None)
        with self.clock("flow"):
            grey = self.flow.grey(frame)
            link, warped = self.link(grey, frame)
        if link is not None and self.coherence.steady_input:
            with self.clock("steady input"):
                weight = (self.coherence.steady_input * link.trust).to(frame)
                frame = (frame * (1 - weight) + warped.to(frame.dtype) * weight).clamp(0, 1)
        self.seen = (grey, frame)
        return Prepared(frame, link)

    def render(self, prepared: Prepared) -> torch.Tensor:
        """The network's picture of the prepared frame; in mode features, with the previous features carried in."""
        with self.clock("stylize"):
            if self.coherence.mode != "features":
                return self.stylizer.stylize_batch(prepared.frame.unsqueeze(0), self.options)[0]

            def carry(features: torch.Tensor) -> torch.Tensor:
                stacked = features.flatten(0, 1)  # (R * C, h, w): each region's features (one region: R = 1)
                self.carried = stacked if prepared.link is None else self.blend(stacked, prepared.link, True)
                return self.carried.view_as(features)

            return self.stylizer.stylize_batch(prepared.frame.unsqueeze(0), self.options, carry)[0]

    def finish(self, prepared: Prepared, output: torch.Tensor) -> torch.Tensor:
        """The rendered frame with the previous result carried along the flow and blended in (mode output)."""
        if self.coherence.mode != "output":
            return output
        with self.clock("blend"):
            if prepared.link is not None:
                output = self.blend(output, prepared.link, False).clamp(0, 1)
            self.carried = output
        return output

    def link(self, grey: np.ndarray, frame: torch.Tensor) -> tuple[Link | None, torch.Tensor | None]:
        """The flow back to the previous frame and where it is trusted, and the previous (steadied) input carried
        along it; (None, None) for the first frame or a scene cut."""
        if self.seen is None:
            return None, None
        previous_grey, previous_frame = self.seen
        backward = self.flow(grey, previous_grey)
        trusted = consistent(backward, self.flow(previous_grey, grey))
        backward, trusted = full_size(backward, trusted, frame.shape[-2:])
        # bicubic: what steadies the input is this same warp (bilinear blurs a little, and carried over frame
        # after frame the blur adds up)
        warped = warp(previous_frame.float(), backward, "bicubic")
        matches = (warped - frame.float()).abs().mean(0) <= self.coherence.match
        # A cut is told by the colours alone: fast motion fails the flow's there-and-back check on half a frame
        # and more, but what the flow carries still matches (on a real clip: a cut matched 9-38% of pixels, fast
        # motion 76-91%; docs/video.md)
        if matches.float().mean() < self.coherence.scene_cut:
            self.scene_cuts += 1
            return None, None
        return Link(backward, (trusted & matches).float().unsqueeze(0)), warped

    def blend(self, current: torch.Tensor, link: Link, at_features: bool) -> torch.Tensor:
        """current·(1 − w) + warped previous·w, with w = carry × trust (area-averaged to the feature map)."""
        flow, trust = link.flow, link.trust
        if at_features:
            size = current.shape[-2:]
            flow = flow_to_feature_grid(flow, size)
            trust = to_feature_grid(trust, size)
        weight = (self.coherence.carry * trust).to(current)
        # bicubic: bilinear sampling blurs a little at every frame, and carried over frame after frame the blur
        # adds up and the style loss with it (in trials at 320x180). In fp32 whatever the features' dtype
        warped = warp(self.carried.float(), flow.float(), "bicubic").to(current.dtype)
        return current * (1 - weight) + warped * weight
