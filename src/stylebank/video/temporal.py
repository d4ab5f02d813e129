"""Temporal error (Lai et al., *Learning Blind Video Temporal Consistency*, ECCV 2018, "warping error"): how much
each stylized frame differs from the previous stylized frame carried to it along the flow of the *input* frames,
outside the places the flow cannot be trusted (occlusions). Lower is steadier; 0 is a picture that moves exactly
with its content."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .flow import FlowEstimator, consistent, warp


def input_motion(inputs: Sequence[torch.Tensor],
                 flow: FlowEstimator | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For each input frame after the first: the flow back to the previous one, and where that flow passes the
    forward/backward check (H, W) bool. What warping_errors measures every output of the same clip against."""
    flow = flow or FlowEstimator("medium")
    motion = []
    for t in range(1, len(inputs)):
        backward = flow(inputs[t], inputs[t - 1])
        motion.append((backward, consistent(backward, flow(inputs[t - 1], inputs[t]))))
    return motion


def warping_errors(inputs: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor],
                   flow: FlowEstimator | None = None, flat_only: bool = False,
                   motion: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> list[float]:
    """For each frame after the first: the mean squared difference (pixels in [0, 1], averaged over colours)
    between output t and output t-1 warped by the input frames' flow, over the pixels where that flow passes
    the forward/backward check; ``flat_only``: over those of them in flat regions of the input (see flat_pixels),
    where texture that is re-rolled each frame shows most (0 where a frame has none). ``motion``: the inputs'
    input_motion, made once for several outputs of the same clip."""
    errors = []
    for t, (backward, trusted) in enumerate(motion or input_motion(inputs, flow), start=1):
        if flat_only:
            trusted = trusted & flat_pixels(inputs[t])
        difference = (warp(outputs[t - 1].float(), backward) - outputs[t].float()).square().mean(0)
        errors.append(float(difference[trusted].mean()) if trusted.any() else 0.0)
    return errors


def flat_pixels(frame: torch.Tensor, window: int = 9, spread: float = 0.02) -> torch.Tensor:
    """(H, W) bool: where ``frame``'s luminance varies little around the pixel (its standard deviation over a
    ``window``-pixel square below ``spread``, about 5 of 255 levels: a sky, a wall, a blurred background),
    sensor noise included."""
    luma = (torch.tensor([0.299, 0.587, 0.114])[:, None, None] * frame.float()).sum(0)[None, None]
    mean = F.avg_pool2d(luma, window, 1, window // 2, count_include_pad=False)
    square = F.avg_pool2d(luma.square(), window, 1, window // 2, count_include_pad=False)
    return ((square - mean.square()).clamp(min=0).sqrt() < spread)[0, 0]
