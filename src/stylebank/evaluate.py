"""Measuring a model: reconstruction quality of the auto-encoder branch, and the losses of the stylizing branch
on held-out photos, optionally against the Gatys baseline."""

from __future__ import annotations

import time

import numpy as np
import torch
from skimage.metrics import structural_similarity

from .gatys import gatys_optimize
from .colour import match_colours
from .errors import StyleBankError
from .images import expand_sources, load_image
from .tensors import resize_shorter_side, to_tensor
from .losses import LossWeights, StylizingLoss
from .metrics import image_psnr
from .lossnet import LossLayers, load_loss_network
from .config import TrainConfig
from .backends.stylizer import StylizeOptions


def image_ssim(output: torch.Tensor, target: torch.Tensor) -> float:
    """SSIM (scikit-image, Gaussian-free 7x7 window, per channel) of two (3, H, W) images in [0, 1]."""
    a = output.detach().float().permute(1, 2, 0).cpu().numpy().astype(np.float64)
    b = target.detach().float().permute(1, 2, 0).cpu().numpy().astype(np.float64)
    return float(structural_similarity(a, b, channel_axis=2, data_range=1.0))


def centre_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to ``size`` and crop the centre square: every photo measured at size x size."""
    image = resize_shorter_side(image, size)
    height, width = image.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return image[:, top:top + size, left:left + size]


def mean(values: list[float]) -> float:
    return float(sum(values) / len(values))


def evaluate(model, contents: list[str], vgg: str | None = None, image_size: int = 256,
             baseline_steps: int | None = None, progress: bool = True, max_pixels: int | None = None) -> dict:
    """Reconstruction PSNR/SSIM and per-style content/style losses of ``model`` on ``contents`` (files, folders,
    glob patterns, ``builtin:NAME``; see stylebank.images.expand_sources).

    With ``baseline_steps``, the Gatys optimisation of the same objective runs for comparison. ``max_pixels``: the
    largest image read (see stylebank.images.load_image).
    """
    criterion = evaluation_loss(model, vgg)
    photos = {name: centre_square(to_tensor(load_image(name, max_pixels)), image_size).to(model.device)
              for name in expand_sources(contents)}
    with torch.no_grad():
        reconstructions = {n: model.net.reconstruct(p.unsqueeze(0)).clamp(0, 1)[0] for n, p in photos.items()}
    # what strength 0 gives: the same reconstruction with its colours matched to the photo's (stylebank.colour)
    at_zero = {n: match_colours(reconstructions[n][None], p[None]).clamp(0, 1)[0] for n, p in photos.items()}
    per_image = {name: {"psnr": image_psnr(reconstructions[name], photo),
                        "ssim": image_ssim(reconstructions[name], photo),
                        "psnr_strength_0": image_psnr(at_zero[name], photo)} for name, photo in photos.items()}
    # losses are measured on fp32 outputs, the same on every machine; the timing is of that fp32 path too
    model.stylize_batch(next(iter(photos.values())).unsqueeze(0), StylizeOptions(0, precision="fp32"))  # warm-up first
    styles = {style: style_scores(model, criterion, index, photos, reconstructions, baseline_steps, progress)
              for index, style in enumerate(model.styles)}
    return {"model": str(model.path), "loss_network": criterion.loss_network.source, "image_size": image_size,
            "images": list(photos),
            "reconstruction": {**{key: mean([v[key] for v in per_image.values()])
                                  for key in ("psnr", "ssim", "psnr_strength_0")}, "per_image": per_image},
            "styles": styles}


def evaluation_loss(model, vgg: str | None) -> StylizingLoss:
    """The objective ``model`` was trained for (its loss weights and style images), measured by ``vgg`` (default:
    the loss network it was trained with)."""
    training = TrainConfig.from_dict(model.info.get("training") or {})
    trained_with = model.info.get("loss_network") or training.vgg
    # the layers the model was trained for, where it is measured by the network it was trained with
    layers = LossLayers(training.content_layer, training.style_layers) if vgg in (None, trained_with) else None
    loss_network = load_loss_network(vgg or trained_with, model.device, layers)
    weights = LossWeights(training.content_weight, training.style_weight, training.tv_weight)
    style_images = []
    for index, name in enumerate(model.styles):
        try:
            style_images.append(model.style_image(index).to(model.device))
        except StyleBankError as error:
            raise StyleBankError(f"{error}; without it the style loss of {name!r} can't be measured (or remove the "
                                 "style from a copy of the model to evaluate the rest)") from None
    return StylizingLoss(loss_network, style_images, weights)


def style_scores(model, criterion: StylizingLoss, index: int, photos: dict[str, torch.Tensor],
                 reconstructions: dict[str, torch.Tensor], baseline_steps: int | None, progress: bool) -> dict:
    """The losses and time of style ``index`` on ``photos`` (and of the Gatys baseline, with ``baseline_steps``)."""
    ours, plain, gatys, ours_seconds, gatys_seconds = [], [], [], [], []
    target = torch.tensor([index], device=model.device)
    for name, photo in photos.items():
        batch = photo.unsqueeze(0)
        started = time.perf_counter()
        output = model.stylize_batch(batch, StylizeOptions(index, precision="fp32"))
        ours_seconds.append(time.perf_counter() - started)
        with torch.no_grad():
            ours.append({k: v.item() for k, v in criterion(output, batch, target).items()})
            plain.append(criterion(reconstructions[name].unsqueeze(0), batch, target)["style"].item())
        if baseline_steps:
            started = time.perf_counter()
            optimised, _ = gatys_optimize(criterion, batch, index, baseline_steps, progress=progress)
            gatys_seconds.append(time.perf_counter() - started)
            with torch.no_grad():
                gatys.append({k: v.item() for k, v in criterion(optimised, batch, target).items()})
    entry = {"content_loss": mean([o["content"] for o in ours]), "style_loss": mean([o["style"] for o in ours]),
             "reconstruction_style_loss": mean(plain), "seconds_per_image": mean(ours_seconds)}
    if baseline_steps:
        entry["gatys"] = {"content_loss": mean([g["content"] for g in gatys]),
                          "style_loss": mean([g["style"] for g in gatys]),
                          "steps": baseline_steps, "seconds_per_image": mean(gatys_seconds)}
        entry["ratios"] = {"content": entry["content_loss"] / max(entry["gatys"]["content_loss"], 1e-12),
                           "style": entry["style_loss"] / max(entry["gatys"]["style_loss"], 1e-12)}
    return entry


def markdown_report(result: dict) -> str:
    """The evaluation as markdown tables."""
    rec = result["reconstruction"]
    lines = [f"Model `{result['model']}`, loss network `{result['loss_network']}`, {len(result['images'])} images "
             f"at {result['image_size']}²: {', '.join(result['images'])}", "",
             (f"Reconstruction D(E(I)): PSNR {rec['psnr']:.2f} dB, SSIM {rec['ssim']:.3f}; at strength 0 (its colours "
              f"matched to the photo's): PSNR {rec['psnr_strength_0']:.2f} dB"), ""]
    has_gatys = any("gatys" in s for s in result["styles"].values())
    header = "| style | content loss | style loss | unstylized style loss | ms/image |"
    rule = "|---|---|---|---|---|"
    if has_gatys:
        header += " Gatys content | Gatys style | content ratio | style ratio | Gatys s/image |"
        rule += "---|---|---|---|---|"
    lines += [header, rule]
    for name, s in result["styles"].items():
        row = (f"| {name} | {s['content_loss']:.3f} | {s['style_loss']:.3f} | {s['reconstruction_style_loss']:.3f} "
               f"| {1000 * s['seconds_per_image']:.0f} |")
        if has_gatys:
            g, r = s["gatys"], s["ratios"]
            row += (f" {g['content_loss']:.3f} | {g['style_loss']:.3f} | {r['content']:.2f} | {r['style']:.2f} "
                    f"| {g['seconds_per_image']:.1f} |")
        lines.append(row)
    return "\n".join(lines)

