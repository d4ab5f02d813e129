"""The Gatys et al. baseline: optimise the pixels of one image for the same objective the network is trained on.

Adam on the pixels (lr 0.02 by default), starting from the content image, clamped to [0, 1] after each step.
Slow (hundreds of VGG passes per image) but the quality reference a feed-forward network is measured against.
"""

from __future__ import annotations

import torch
from PIL import Image
from tqdm import tqdm

from .config import GATYS_STEPS, TrainConfig
from .tensors import resize_longer_side, resize_to_fit, to_pil, to_tensor
from .losses import LossWeights, StylizingLoss
from .lossnet import load_loss_network
from .runtime import resolve_device

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


def stylize_by_optimization(content: Image.Image, style: Image.Image, steps: int = GATYS_STEPS,
                            max_size: int | None = 512, style_size: int = TrainConfig.style_size,
                            vgg: str = "vgg19", weights: LossWeights = LossWeights(), lr: float = GATYS_LR,
                            device: str | torch.device = "auto", progress: bool = False
                            ) -> tuple[Image.Image, list[float]]:
    """``content`` in the style of ``style`` by the Gatys optimisation: no trained model, any style, slow.

    The photo is first shrunk so that its longer side is at most ``max_size`` (None keeps its size), the style
    image resized so that its longer side is ``style_size``; then ``steps`` Adam steps on the pixels lower
    the objective of ``weights`` measured by the loss network ``vgg`` (see stylebank.lossnet.load_loss_network).
    Returns the picture and the objective at every step.
    """
    target = resolve_device(device)
    photo = resize_to_fit(to_tensor(content), max_size).unsqueeze(0).to(target)
    style_image = resize_longer_side(to_tensor(style), style_size).to(target)
    criterion = StylizingLoss(load_loss_network(vgg, target), [style_image], weights)
    image, history = gatys_optimize(criterion, photo, 0, steps, lr, progress)
    return to_pil(image[0]), history
