"""The Gatys et al. baseline: optimise the pixels of one image for the same objective the network is trained on.

Adam on the pixels (lr 0.02 by default), starting from the content image, clamped to [0, 1] after each step.
Slow (hundreds of VGG passes per image) but the quality reference a feed-forward network is measured against.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from .losses import StylizingLoss

GATYS_STEPS = 300
GATYS_LR = 0.02


def gatys_optimize(criterion: StylizingLoss, content: torch.Tensor, style: int, steps: int = GATYS_STEPS,
                   lr: float = GATYS_LR, progress: bool = False) -> tuple[torch.Tensor, list[float]]:
    """Optimise (1, 3, H, W) ``content`` towards style ``style`` of ``criterion``; returns the image and the
    objective at every step."""
    image = content.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=lr)
    styles = torch.full((content.shape[0],), style, dtype=torch.long, device=content.device)
    history = []
    for _ in tqdm(range(steps), disable=not progress, desc="gatys", unit="step", leave=False):
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(image, content, styles)["total"]
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        history.append(loss.item())
    return image.detach(), history
