"""Temporal error (Lai et al., *Learning Blind Video Temporal Consistency*, ECCV 2018, "warping error"): how much
each stylized frame differs from the previous stylized frame carried to it along the flow of the *input* frames,
outside the places the flow cannot be trusted (occlusions). Lower is steadier; 0 is a picture that moves exactly
with its content."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .flow import FlowEstimator, consistent, warp


def warping_errors(inputs: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor],
                   flow: FlowEstimator | None = None) -> list[float]:
    """For each frame after the first: the mean squared difference (pixels in [0, 1], averaged over colours)
    between output t and output t-1 warped by the input frames' flow, over the pixels where that flow passes
    the forward/backward check."""
    flow = flow or FlowEstimator("medium")
    errors = []
    for t in range(1, len(inputs)):
        backward = flow(inputs[t], inputs[t - 1])
        forward = flow(inputs[t - 1], inputs[t])
        trusted = consistent(backward, forward)
        difference = (warp(outputs[t - 1].float(), backward) - outputs[t].float()).square().mean(0)
        errors.append(float(difference[trusted].mean()) if trusted.any() else 0.0)
    return errors
