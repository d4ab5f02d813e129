"""What each iteration of a run does, computed from the step alone (so that a resumed run needs nothing else):
which branch it trains, its learning rate, and the shift and noise of its shift term."""

from __future__ import annotations

import math
import random

from ..config import TrainConfig

STYLE, IDENTITY = "style", "identity"


def branch_at(step: int, warmup: int, style_steps: int) -> str:
    """Which branch iteration ``step`` trains: warm-up, then T stylizing steps and one auto-encoder step."""
    if step < warmup:
        return IDENTITY
    return IDENTITY if (step - warmup) % (style_steps + 1) == style_steps else STYLE


def lr_factor(config: TrainConfig, warmup: int, step: int) -> float:
    """The learning rate of iteration ``step``, as a fraction of ``config.lr``: x lr_decay every lr_decay_every
    iterations; a linear ramp when the stylizing branch starts; a cosine to zero over the last
    ``anneal_iterations``.

    The ramp matters: Adam's moments were estimated on the small auto-encoder gradients, and its first
    full-size steps on the much larger stylizing gradients would wreck the freshly warmed-up E and D.
    The anneal lets the last iterations settle instead of ending on a noisy full-size step.
    """
    factor = config.lr_decay ** (step // config.lr_decay_every)
    if step >= warmup and config.lr_ramp:
        factor *= min(1.0, (step - warmup + 1) / config.lr_ramp)
    anneal_start = config.iterations - config.anneal_iterations
    if config.anneal_iterations and step >= anneal_start:
        factor *= 0.5 * (1 + math.cos(math.pi * (step - anneal_start) / config.anneal_iterations))
    return factor


def shift_at(seed: int, step: int) -> tuple[int, int]:
    """The shift, (down, right) by 0-3 pixels each and not (0, 0), of iteration ``step``'s shift term: drawn from
    the seed and the step alone. Up to 3 pixels: E's stride is 4, and a shift by 4 moves the texture with the
    feature grid already."""
    return divmod(random.Random(seed * 1_000_003 + step).randrange(1, 16), 4)


def noise_at(seed: int, step: int) -> tuple[int, int]:
    """The shift noise of iteration ``step`` (losses.blob_noise): its blob size, 2, 4 or 8 pixels (E's stride and
    the scales around it, where the network turned faint noise into the most texture), and the seed of its values;
    drawn from the seed and the step alone."""
    draw = random.Random(seed * 1_000_003 + step + 0x5EED)
    return draw.choice((2, 4, 8)), draw.getrandbits(62)
