"""Quick add-style: a new style's bank learned in about a minute on a laptop's CPU.

In add-style only the new bank K learns; E and D are frozen. So the training crops are encoded once and their
features kept, their content targets and the style's Gram targets are computed once, and a step is the bank, D
and the loss network on a batch of kept features. The crops are small (128 px): a step costs about a fifth of one
at the model's 256 px, and the bank, a 3x3 convolution on E's features, paints texture of the same size in pixels
at any crop size. The learning rate is half the full path's (0.01 oscillated on these few steps) and the bank
starts at the identity, as in training: starting from the nearest existing bank (by style loss) was worse,
since it must first unlearn that style (benchmarks/quick_style.py measures both). Where the model was trained
with the shift term (texture that moves with the photo), each kept crop is also kept moved by 1-3 pixels (with
the model's shift noise) and the bank learns with the same term: without it a quick bank's texture re-rolled
when the photo moved (docs/quick-style.md).

``stylebank add-style --quality`` is the full path (stylebank.training.loop.add_styles): fresh crops every step at the
model's own size, for ADD_STYLE_ITERATIONS.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, fields, replace
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

from ..checkpoint import MODEL_FORMAT, ModelFile, load_model, read_info, recorded_style_pixels, save_model, to_pixels
from ..config import LossWeights, QuickStyleConfig, TrainConfig, base_content_found
from .data import ContentImages, load_style_images, style_name
from ..errors import StyleBankError
from ..formats import model_history, trained_style_size
from ..losses import StylizingLoss, blob_noise, shift_loss, shifted_pair
from ..lossnet import LossLayers, load_loss_network
from ..model import Encoded, StyleBankNet
from .schedule import noise_at, shift_at

ENCODE_CHUNK = 8  # crops encoded at a time: the features of all of them are kept, the activations are not


class KeptCrops(NamedTuple):
    """Training crops as the steps use them: E's features, what D needs besides them, the content targets; with a
    shift term, the same crops moved by ``shifts`` (down, right), encoded too."""

    features: torch.Tensor
    statistics: torch.Tensor | None
    content_features: torch.Tensor
    size: tuple[int, int]
    moved: tuple[torch.Tensor, torch.Tensor | None] | None = None  # the moved crops' features and statistics
    shifts: list[tuple[int, int]] | None = None

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, Encoded, torch.Tensor]:
        statistics = self.statistics[indices] if self.statistics is not None else None
        return self.features[indices], Encoded(self.size, statistics), self.content_features[indices]

    def moved_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, Encoded, list[tuple[int, int]]]:
        features, statistics = self.moved
        statistics = statistics[indices] if statistics is not None else None
        return features[indices], Encoded(self.size, statistics), [self.shifts[i] for i in indices.tolist()]


def encoded(net: StyleBankNet, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """E's features of ``crops`` and the statistics D needs besides them, a few crops at a time."""
    features, statistics = [], []
    with torch.no_grad():
        for chunk in crops.split(ENCODE_CHUNK):
            chunk_features, chunk_encoded = net.encode(chunk)
            features.append(chunk_features)
            statistics.append(chunk_encoded.statistics)
    return torch.cat(features), (torch.cat(statistics) if statistics[0] is not None else None)


def with_noise(pictures: torch.Tensor, level: float, seed: int) -> torch.Tensor:
    """Each picture with its own blob noise of RMS ``level`` (training's shift noise, drawn by noise_at of the seed
    and the picture's number)."""
    noisy = []
    for number, picture in enumerate(pictures):
        blob, noise_seed = noise_at(seed, number)
        noisy.append((picture + blob_noise(picture[None].shape, blob, level, noise_seed)[0]).clamp(0, 1))
    return torch.stack(noisy)


def keep_crops(net: StyleBankNet, criterion: StylizingLoss, crops: torch.Tensor, seed: int = 0,
               shift: bool = False, noise: float = 0.0) -> KeptCrops:
    """Encode ``crops`` and compute their content targets, once for the whole run. With ``shift``, each crop is
    also moved by its own 1-3 pixels (shift_at of the seed and the crop's number), with ``noise`` (RMS, of 1) in
    blobs added as training's shift noise does, and both are cropped to the size the shift leaves
    (losses.shifted_pair)."""
    shifts = moved = None
    if shift:
        shifts = [shift_at(seed, number) for number in range(len(crops))]
        pairs = [shifted_pair(crop, down, right) for crop, (down, right) in zip(crops, shifts)]
        crops = torch.stack([here for here, _ in pairs])
        moved_crops = torch.stack([there for _, there in pairs])
        moved = encoded(net, with_noise(moved_crops, noise, seed) if noise else moved_crops)
    features, statistics = encoded(net, crops)
    with torch.no_grad():
        targets = torch.cat([criterion.content_targets(chunk) for chunk in crops.split(ENCODE_CHUNK)])
    return KeptCrops(features, statistics, targets, tuple(crops.shape[-2:]), moved, shifts)


def quick_lr(config: QuickStyleConfig, done: float) -> float:
    """The learning rate when the fraction ``done`` of the budget is spent: cosine-annealed to zero where
    ``config.anneal``."""
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(done, 1.0))) if config.anneal else config.lr


def learn_bank(net: StyleBankNet, criterion: StylizingLoss, crops: KeptCrops, config: QuickStyleConfig,
               name: str, progress: bool, report: Callable[[float], None] | None = None,
               shift_weight: float = 0.0) -> tuple[torch.nn.Module, dict]:
    """A new bank for the criterion's (only) style, trained on ``crops`` within the budget; with a record of the
    steps, seconds and the last step's losses. ``report`` is told the fraction of the budget spent, each step.
    With ``shift_weight`` (and moved crops kept), the shift term as in training (losses.shift_loss)."""
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # the new bank's small random start
    bank = net.new_bank()
    optimizer = torch.optim.Adam(bank.parameters(), lr=config.lr)
    style = torch.zeros(config.batch_size, dtype=torch.long)
    by_time = config.steps is None
    bar = tqdm(total=config.seconds if by_time else config.steps, disable=not progress, desc=name,
               unit="s" if by_time else "step", bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} "
               "[{elapsed}<{remaining}{postfix}]" if by_time else None)
    started, step, losses = time.perf_counter(), 0, {}
    while (time.perf_counter() - started < config.seconds) if by_time else step < config.steps:
        done = (time.perf_counter() - started) / config.seconds if by_time else step / config.steps
        for group in optimizer.param_groups:
            group["lr"] = quick_lr(config, done)
        indices = torch.randint(0, len(crops.features), (config.batch_size,), generator=generator)
        features, encoded_crops, content_features = crops.batch(indices)
        optimizer.zero_grad(set_to_none=True)
        output = net.decode(bank(features), encoded_crops)
        losses = criterion(output, torch.empty(0), style[:len(indices)], content_features)
        if shift_weight and crops.moved is not None:
            losses["shift"] = moved_difference(net, bank, crops, indices, output)
            losses["total"] = losses["total"] + shift_weight * losses["shift"]
        losses["total"].backward()
        optimizer.step()
        step += 1
        bar.update(min(time.perf_counter() - started, config.seconds) - bar.n if by_time else 1)
        bar.set_postfix(step=step, style=f"{losses['style'].item():.3g}", refresh=False)
        if report is not None:
            report(min((time.perf_counter() - started) / config.seconds, 1.0) if by_time else step / config.steps)
    bar.close()
    record = {"steps": step, "seconds": round(time.perf_counter() - started, 1),
              **{f"last_{k}": round(v.item(), 4) for k, v in losses.items()}}
    return bank.requires_grad_(False), record


def moved_difference(net: StyleBankNet, bank: torch.nn.Module, crops: KeptCrops, indices: torch.Tensor,
                     output: torch.Tensor) -> torch.Tensor:
    """The shift term of a step: each crop's picture (``output``) against its moved crop's, the mean over the
    batch of losses.shift_loss (each crop has its own shift)."""
    features, encoded_moved, shifts = crops.moved_batch(indices)
    moved = net.decode(bank(features), encoded_moved)
    return torch.stack([shift_loss(here, there, down, right)
                        for here, there, (down, right) in zip(output, moved, shifts)]).mean()


def quick_style_config(options: dict) -> QuickStyleConfig:
    """The QuickStyleConfig of keyword ``options``; a StyleBankError names any that quick mode does not take."""
    known = [field.name for field in fields(QuickStyleConfig)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise StyleBankError(f"{', '.join(unknown)}: not a setting of quick add-style ({', '.join(known)}); the full "
                             "training's settings need quality=True")
    return QuickStyleConfig(**options)


def base_parts(base_model: str | Path | ModelFile) -> tuple[ModelFile, str]:
    """The base model (a copy where it is in memory: it is never changed) and how to name it."""
    if isinstance(base_model, ModelFile):
        return ModelFile(copy.deepcopy(base_model.net), base_model.info, base_model.style_pixels), \
            "(a model in memory)"
    read_info(base_model, MODEL_FORMAT)  # a clear error for what is not a model file, before the photos
    return load_model(base_model), str(base_model)


def quick_add_styles(base_model: str | Path | ModelFile, styles: list[str], output: str | Path,
                     content: list[str] | None = None, config: QuickStyleConfig | None = None,
                     progress: bool = True, max_pixels: int | None = None) -> Path:
    """Add ``styles`` (image files or builtin:NAME) to ``base_model`` the quick way, each in about
    ``config.seconds``; E, D and the existing banks stay bit-identical. Writes and returns ``output``.

    The content photos, sizes, loss weights and loss network are the base model's own (``content`` overrides the
    photos).
    """
    config = config or QuickStyleConfig()
    config.validate()
    base, base_name = base_parts(base_model)
    training = TrainConfig.from_dict(base.info.get("training") or {})
    check_new_names(base, base_name, [style_name(s) for s in styles])
    if not content:
        base_content_found(training.content, base_name)
    style_images = load_style_images(styles, training.style_size, max_pixels)  # bad style images before the rest
    model = learn_new_styles(base, base_name, dict(zip(styles, style_images)), content, config,
                             progress=progress, max_pixels=max_pixels)
    return save_model_file(output, model)


def check_new_names(base: ModelFile, base_name: str, names: list[str]) -> None:
    """A StyleBankError where a new style's name is taken, or given twice."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise StyleBankError(f"more than one new style would be named {', '.join(repeated)}; give each image "
                             "another name")
    taken = sorted(set(base.info["styles"]) & set(names))
    if taken:
        raise StyleBankError(f"{base_name} already has a style named {', '.join(taken)}; rename the style image or "
                             "the existing style (stylebank styles --rename)")


def learn_new_styles(base: ModelFile, base_name: str, style_images: dict[str, torch.Tensor],
                     content: list[str] | None, config: QuickStyleConfig, progress: bool = False,
                     max_pixels: int | None = None, report: Callable[[float], None] | None = None) -> ModelFile:
    """``base`` (whose network this changes: give a copy) with a new bank for each of ``style_images``
    (source -> image at the model's style size; the bank is named after the source), learned on the model's own
    photos (or ``content``); ``report`` is told the fraction of the work done after each step."""
    base.net.float().train().requires_grad_(False)  # train(): the mode training used (no inference shortcuts)
    training = TrainConfig.from_dict(base.info.get("training") or {})
    photos = ContentImages(content or training.content, config.image_size, max_pixels=max_pixels)
    crops = photos.sample(config.crops, torch.Generator().manual_seed(config.seed))
    loss_source = base.info.get("loss_network") or training.vgg
    loss_network = load_loss_network(loss_source, "cpu", LossLayers(training.content_layer, training.style_layers))
    weights = LossWeights(training.content_weight, training.style_weight, training.tv_weight)
    # the shift term where the model was trained with one: a bank learned without it re-rolls its texture when
    # the photo moves by a pixel or two (benchmarks/shift.py)
    shift_weight = training.shift_weight if config.shift_weight is None else config.shift_weight
    config = replace(config, shift_weight=shift_weight)  # recorded in the model's history as used
    net, records, kept = base.net, [], None
    for number, (source, image) in enumerate(style_images.items()):
        criterion = StylizingLoss(loss_network, [image], weights)
        # the loss network and crops are the same for every style
        kept = kept or keep_crops(net, criterion, crops, config.seed, shift=shift_weight > 0,
                                  noise=training.shift_noise / 255)
        share = None if report is None else \
            (lambda done, number=number: report((number + done) / len(style_images)))
        bank, record = learn_bank(net, criterion, kept, config, style_name(source), progress, share, shift_weight)
        net.bank.append(bank)
        records.append({"style": style_name(source), **record})
    return with_new_styles(base, base_name, style_images, records, config)


def with_new_styles(base: ModelFile, base_name: str, style_images: dict[str, torch.Tensor], records: list[dict],
                    config: QuickStyleConfig) -> ModelFile:
    """The model whose network has the new banks appended, with its metadata: the base model's training settings
    (what later add-styles and eval read), its history and this run's, the new styles' sources and images."""
    info = base.info
    sources = list(info.get("style_images") or [None] * len(info["styles"]))
    base_pixels = recorded_style_pixels(base.style_pixels, sources, trained_style_size(info))
    run = {"command": "add-style", "mode": "quick", "styles": [r["style"] for r in records],
           "iterations": sum(r["steps"] for r in records), "seconds": sum(r["seconds"] for r in records),
           "image_size": config.image_size, "batch_size": config.batch_size, "lr": config.lr,
           "loss_network": info.get("loss_network"), "started_from": base_name, "quick": asdict(config),
           "per_style": records}
    new_info = {**info, "styles": info["styles"] + [r["style"] for r in records],
                "style_images": sources + list(style_images),
                "training": {**(info.get("training") or {}), "history": model_history(info) + [run]}}
    return ModelFile(base.net.eval(), new_info, base_pixels + [to_pixels(image) for image in style_images.values()])


def save_model_file(output: str | Path, model: ModelFile) -> Path:
    """Write ``model`` (a network with its file metadata and style images) as a model file."""
    info = model.info
    return save_model(output, model.net, info["styles"], info.get("loss_network"), info["training"],
                      info["style_images"], model.style_pixels)
