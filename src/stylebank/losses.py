"""Losses of the two branches.

Normalisation (our choice, documented in the README): every perceptual term is a *relative* squared error,
  content  L_c = ||phi(O) - phi(I)||^2 / ||phi(I)||^2                         at the content layer,
  style    L_s = sum_l ||G(phi_l(O)) - G(phi_l(S))||^2 / ||G(phi_l(S))||^2     over the style layers,
the layers being the loss network's (stylebank.lossnet.LossLayers: relu4_2 and relu1_1-relu5_1 for VGG-19),
with the Gram matrix G per sample, divided by C*H*W. Relative errors make every layer and every style count
about equally (a high-contrast style no longer drowns the others) and make the weights alpha, beta, gamma
independent of the loss network's scale, so the same defaults serve the imagenet, hed and random sources.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import LossWeights  # noqa: F401 (the weights of these losses)
from .lossnet import VGGFeatures


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Per-sample Gram matrix (B, C, C) of features (B, C, H, W), divided by C*H*W."""
    batch, channels, height, width = features.shape
    with torch.autocast(features.device.type, enabled=False):  # Gram sums are too long for bf16
        # (B, HW, C): a view of channels-last features, which is how the loss network produces them
        flat = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels).float()
        return flat.transpose(1, 2) @ flat / (channels * height * width)


def relative_squared_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||output - target||^2 / ||target||^2 for each sample of the batch."""
    dims = tuple(range(1, output.dim()))
    error = (output.float() - target.float()).pow(2).sum(dims)
    return error / target.float().pow(2).sum(dims).clamp_min(1e-12)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Anisotropic L1 total variation: mean absolute difference of horizontal and vertical neighbours."""
    return (images[..., 1:, :] - images[..., :-1, :]).abs().mean() + (images[..., 1:] - images[..., :-1]).abs().mean()


def channels_last(images: torch.Tensor) -> torch.Tensor:
    return images.contiguous(memory_format=torch.channels_last)


class StylizingLoss(nn.Module):
    """L_K of the stylizing branch, with the style Gram targets computed once per style."""

    def __init__(self, loss_network: VGGFeatures, style_images: list[torch.Tensor], weights: LossWeights):
        super().__init__()
        self.content_layer, self.style_layers = loss_network.layers.content, loss_network.layers.style
        # channels-last convolutions are ~15% faster for VGG on CPUs (fp32 and bf16); the values are the same
        self.loss_network = loss_network.to(memory_format=torch.channels_last)
        self.weights = weights
        with torch.no_grad():
            grams = [self.style_grams(image.unsqueeze(0)) for image in style_images]
        for layer in self.style_layers:  # one (num_styles, C, C) buffer per layer
            self.register_buffer(f"target_{layer}", torch.cat([g[layer] for g in grams]), persistent=False)

    def style_grams(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {layer: gram_matrix(f) for layer, f in self.loss_network(images, self.style_layers).items()}

    def content_targets(self, content: torch.Tensor) -> torch.Tensor:
        """The content layer's features of ``content``: what the content loss compares an output's with."""
        with torch.no_grad():
            return self.loss_network(channels_last(content), (self.content_layer,))[self.content_layer]

    def forward(self, output: torch.Tensor, content: torch.Tensor, styles: torch.Tensor,
                content_features: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Each sample b of ``output`` is judged against ``content[b]`` and the style ``styles[b]``;
        ``content_features``: content_targets(content), where the caller has them already."""
        if content_features is None:
            content_features = self.content_targets(content)
        features = self.loss_network(channels_last(output), (self.content_layer, *self.style_layers))
        content_loss = relative_squared_error(features[self.content_layer], content_features).mean()
        style_loss = sum(
            relative_squared_error(gram_matrix(features[layer]), getattr(self, f"target_{layer}")[styles]).mean()
            for layer in self.style_layers
        )
        tv_loss = total_variation(output)
        total = self.weights.content * content_loss + self.weights.style * style_loss + self.weights.tv * tv_loss
        return {"total": total, "content": content_loss, "style": style_loss, "tv": tv_loss}


SHIFT_MARGIN = 16  # pixels at the crops' borders that the shift term leaves out: padding differs there


def shifted_pair(images: torch.Tensor, down: int, right: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two crops the shift term compares: ``images``' top-left part and the part ``down`` and ``right`` pixels
    further, both at the largest multiple of E's stride (4) that leaves room for a shift of up to 3 pixels."""
    height, width = ((side - 3) // 4 * 4 for side in images.shape[-2:])
    return images[..., :height, :width], images[..., down:down + height, right:right + width]


def blob_noise(shape: torch.Size, blob: int, level: float, seed: int) -> torch.Tensor:
    """Noise of RMS ``level`` (of 1) that varies over blobs of about ``blob`` pixels, as a camera's next frame
    differs from this one in a flat region (compression, sensor): normal values on a grid ``blob`` times coarser,
    spread bilinearly; (B, C, H, W) ``shape``, on the CPU, the same for the same seed."""
    batch, channels, height, width = shape
    coarse = torch.randn(batch, channels, height // blob + 2, width // blob + 2,
                         generator=torch.Generator().manual_seed(seed))
    fine = F.interpolate(coarse, scale_factor=blob, mode="bilinear", align_corners=False)[..., :height, :width]
    return fine * (level / fine.std().clamp_min(1e-12))


def shift_loss(output: torch.Tensor, moved: torch.Tensor, down: int, right: int,
               margin: int | None = None) -> torch.Tensor:
    """How much a stylized picture changes, beyond moving, when its photo moves: ``output`` is S(crop), ``moved``
    S(the crop ``down`` and ``right`` pixels further), the same size; the mean squared difference of the two where
    they show the same scene, ``margin`` pixels from every border left out (default SHIFT_MARGIN, at most an eighth
    of the crop)."""
    height, width = output.shape[-2:]
    margin = min(SHIFT_MARGIN, height // 8) if margin is None else margin
    here = output[..., down + margin:height - margin, right + margin:width - margin]
    there = moved[..., margin:height - down - margin, margin:width - right - margin]
    return F.mse_loss(here.float(), there.float())


def identity_loss(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Plain MSE of the auto-encoder branch."""
    return F.mse_loss(reconstruction, images)
