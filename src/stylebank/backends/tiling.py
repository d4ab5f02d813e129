"""Tiled inference for large images: bounded memory and no seams.

Instance normalisation makes every output pixel depend on statistics of the whole image, so tiles stylized on
their own would each get their own colours. Instead the whole image, shrunk to at most STATS_PIXELS, is
stylized once while every InstanceNorm layer records its mean and variance; then overlapping tiles are stylized
with those statistics frozen. Tiles start on multiples of the encoder's stride and overlap by more than the
network's receptive field, so the centre of each tile is what a whole-image pass with the same statistics
computes; the centres are stitched. When the image is no larger than STATS_PIXELS the statistics are exact and
the result matches the untiled one up to rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..model import SIZE_MULTIPLE, ColourMatch, ImageStatistics, StyleBankNet, modulate
from .stylizer import DEFAULT_TILE
from ..tensors import antialiased_resize

# The normalisation statistics come from the image shrunk to at most this many pixels.
STATS_PIXELS = 2048 * 2048


def receptive_radius(net: StyleBankNet) -> int:
    """How far (in input pixels) an output pixel sees: the 9x9 convs at full resolution, the 3x3 convs at 1/2
    and 1/4, and the bank's convs at 1/4."""
    bank = net.config.bank_depth * (net.config.bank_kernel_size // 2) * 4
    return 4 + 1 + 2 + bank + 2 + 1 + 4


def margin(net: StyleBankNet) -> int:
    """The overlap on each side of a tile: the receptive radius plus the reflection border it would see,
    rounded up to the encoder's stride."""
    needed = receptive_radius(net) + SIZE_MULTIPLE
    return -(-needed // SIZE_MULTIPLE) * SIZE_MULTIPLE


@contextmanager
def whole_image_statistics(net: StyleBankNet, frozen: dict[int, object] | None = None
                             ) -> Iterator[dict[int, object]]:
    """Within the block, the modules that see whole-image statistics either record them into the yielded list
    (``frozen`` None) or use ``frozen`` instead of their input's own: each InstanceNorm layer its (mean, variance)
    per sample and channel, the "carry" layout's ImageStatistics and the ColourMatch of strengths below 1 their
    outputs (keyed by the module's place)."""
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    probes = [m for m in net.modules() if isinstance(m, (ImageStatistics, ColourMatch))]
    recorded: dict[int, object] = {}

    def norm_hook(index: int) -> Callable:
        def hook(module: nn.InstanceNorm2d, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
            x, modulation = inputs[0], (inputs[1] if len(inputs) > 1 else None)
            if frozen is None:
                variance, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, correction=0)
                recorded[index] = (mean, variance)
                return None
            mean, variance = frozen[index]
            normalised = (x.float() - mean) * torch.rsqrt(variance + module.eps)
            if module.affine:
                normalised = normalised * module.weight.view(1, -1, 1, 1) + module.bias.view(1, -1, 1, 1)
            if modulation is not None:
                normalised = modulate(normalised, modulation)
            return normalised.to(output.dtype)
        return hook

    def probe_hook(index: int) -> Callable:
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
            if frozen is None:
                recorded[index] = output
                return None
            return frozen[index]
        return hook

    handles = [norm.register_forward_hook(norm_hook(i)) for i, norm in enumerate(norms)]
    handles += [probe.register_forward_hook(probe_hook(len(norms) + i)) for i, probe in enumerate(probes)]
    try:
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


def stylize_tiled(net: StyleBankNet, images: torch.Tensor, run: Callable[[torch.Tensor, slice, slice], torch.Tensor],
                  tile: int = DEFAULT_TILE) -> torch.Tensor:
    """``run(images_part, rows, cols)`` stylizes a part of the batch (``rows``/``cols`` say which part, for masks);
    here it is called once on the shrunk whole image to record statistics, then once per tile."""
    height, width = images.shape[-2:]
    core = max(SIZE_MULTIPLE, tile // SIZE_MULTIPLE * SIZE_MULTIPLE)
    pad = margin(net)
    scale = min(1.0, (STATS_PIXELS / (height * width)) ** 0.5)
    small = images if scale == 1 else antialiased_resize(images, scale_factor=scale)
    with whole_image_statistics(net) as statistics:
        run(small, slice(None), slice(None))  # the output is not needed, only the statistics
    output = torch.empty_like(images)
    with whole_image_statistics(net, statistics):
        for top in range(0, height, core):  # core starts: multiples of core, itself a multiple of the stride
            for left in range(0, width, core):
                rows = slice(max(0, top - pad), min(height, top + core + pad))
                cols = slice(max(0, left - pad), min(width, left + core + pad))
                stylized = run(images[..., rows, cols], rows, cols)
                inner_top, inner_left = top - rows.start, left - cols.start
                bottom, right = min(height, top + core), min(width, left + core)
                output[..., top:bottom, left:right] = stylized[..., inner_top:inner_top + bottom - top,
                                                               inner_left:inner_left + right - left]
    return output
