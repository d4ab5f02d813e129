"""File formats: the model file and the training checkpoint, both safetensors + JSON metadata, never pickle.

Model file: tensors ``encoder.*``, ``decoder.*``, ``bank.<i>.*`` and ``style_image.<i>`` (style i's image as
(3, H, W) uint8 pixels at the training style size, so that a model file stands on its own; files of earlier
versions have none); metadata key ``stylebank`` holds JSON ``{"format": "stylebank-model", "format_version": 1,
"network": {...}, "styles": [...], "style_images": [where each style image came from, or null], "loss_network":
str, "training": {...}}``.
Style file: one bank's tensors ``bank.*`` and its ``style_image``; JSON with the style's name, the bank's shape and
a fingerprint of the encoder/decoder it was trained with (a bank only makes sense with those).
Checkpoint: the same model tensors under ``model.``, the style images, Adam's state under
``optimizer.<param>.<name>``, RNG states under ``rng.``, and JSON with the step, the optimizer's hyper-parameters
and the training configuration (the learning rate follows from the step; checkpoints of earlier versions also
hold a scheduler state, now unused).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors.torch import save

from .atomic import atomic_write
from .errors import StyleBankError
from .formats import (CHECKPOINT_FORMAT, FORMAT_VERSION, METADATA_KEY, MODEL_FORMAT, STYLE_FORMAT,  # noqa: F401
                      STYLE_IMAGE_PREFIX, check_weights, read_arrays, read_info)
from .images import is_found, load_image
from .tensors import resize_longer_side, to_tensor, to_uint8_array
from .model import NetworkConfig, StyleBankNet


# Style images in memory and in files: (3, H, W) uint8 pixels, or None where a file of an earlier version has none.
StylePixels = list[torch.Tensor | None]


class ModelFile(NamedTuple):
    """What a model file holds: the network (in eval mode), its metadata and its style images."""

    net: StyleBankNet
    info: dict
    style_pixels: StylePixels


class Checkpoint(NamedTuple):
    """What a checkpoint holds, on the CPU."""

    net: StyleBankNet
    optimizer_state: dict
    rng: dict[str, torch.Tensor]
    info: dict
    style_pixels: StylePixels


def to_pixels(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8 from a (3, H, W) float image in [0, 1]: how style images are stored."""
    return torch.from_numpy(to_uint8_array(image)).permute(2, 0, 1).contiguous()


def from_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """(3, H, W) float in [0, 1] from stored uint8 pixels."""
    return to_tensor(pixels.permute(1, 2, 0).numpy())


def recorded_style_pixels(pixels: StylePixels, sources: list[str | None], style_size: int) -> StylePixels:
    """Each style's stored pixels; for a model file of an earlier version, which stores none, the image at the path
    recorded at training where it is found from here (relative paths are relative to where it was trained)."""
    return [stored if stored is not None or not is_found(source)
            else to_pixels(resize_longer_side(to_tensor(load_image(source)), style_size))
            for stored, source in zip(pixels, sources)]


def style_image_tensors(style_pixels: StylePixels) -> dict[str, torch.Tensor]:
    """The ``style_image.<i>`` tensors of a file (none for a style without pixels)."""
    return {f"{STYLE_IMAGE_PREFIX}{i}": pixels for i, pixels in enumerate(style_pixels) if pixels is not None}


def stored_style_pixels(tensors: dict[str, torch.Tensor], count: int) -> StylePixels:
    """Each style's stored pixels, None where the file has none."""
    return [tensors.get(f"{STYLE_IMAGE_PREFIX}{i}") for i in range(count)]


def write_safetensors(path: str | Path, tensors: dict[str, torch.Tensor], info: dict) -> Path:
    """Atomically write tensors + JSON: a temporary file, flushed and fsynced, then renamed over ``path``."""
    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata={METADATA_KEY: json.dumps(info)})
    return atomic_write(path, lambda file: file.write(data))


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The file's tensors (see formats.read_arrays: non-finite weights are refused)."""
    return {name: torch.from_numpy(array.copy()) for name, array in read_arrays(path).items()}


def build_network(info: dict, tensors: dict[str, torch.Tensor], path: str | Path, prefix: str = "") -> StyleBankNet:
    """A StyleBankNet from a file's metadata and tensors, with a clear error on any mismatch."""
    state = {k[len(prefix):]: v for k, v in tensors.items()
             if k.startswith(prefix) and not k.startswith(STYLE_IMAGE_PREFIX)}
    config = check_weights(info, {name: list(tensor.shape) for name, tensor in state.items()}, path)
    net = StyleBankNet(len(info["styles"]), config)
    net.load_state_dict(state)
    return net


def save_model(path: str | Path, net: StyleBankNet, styles: list[str], loss_network: str, training: dict,
               style_sources: list[str | None] | None = None, style_pixels: StylePixels | None = None) -> Path:
    """Write a model file holding every weight of ``net`` and what made it.

    ``style_sources`` records where each style's image came from (None where unknown, e.g. imported);
    ``style_pixels`` are the images themselves (see to_pixels), what eval measures each style against."""
    style_sources = list(style_sources) if style_sources is not None else [None] * len(styles)
    style_pixels = list(style_pixels) if style_pixels is not None else [None] * len(styles)
    if not len(styles) == len(style_sources) == len(style_pixels) == net.num_styles:
        raise ValueError(f"{len(styles)} style names, {len(style_sources)} style sources and {len(style_pixels)} "
                         f"style images for {net.num_styles} banks")
    info = {"format": MODEL_FORMAT, "format_version": FORMAT_VERSION, "network": net.config.to_dict(),
            "styles": list(styles), "style_images": style_sources, "loss_network": loss_network, "training": training}
    return write_safetensors(path, {**net.state_dict(), **style_image_tensors(style_pixels)}, info)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> ModelFile:
    """The network in eval mode, the file's metadata and its style images (on the CPU)."""
    info = read_info(path, MODEL_FORMAT)
    tensors = read_tensors(path)
    net = build_network(info, tensors, path)
    return ModelFile(net.to(device).eval(), info, stored_style_pixels(tensors, net.num_styles))


def save_checkpoint(path: str | Path, net: StyleBankNet, optimizer: torch.optim.Optimizer,
                    rng_states: dict[str, torch.Tensor], info: dict, style_pixels: StylePixels) -> Path:
    """The whole training state: weights, style images, Adam's moments, RNG states, and ``info`` (step, config,
    style queue…)."""
    optimizer_state = optimizer.state_dict()
    tensors = {f"model.{k}": v for k, v in net.state_dict().items()}
    tensors.update(style_image_tensors(style_pixels))
    for param, state in optimizer_state["state"].items():
        tensors.update({f"optimizer.{param}.{name}": value for name, value in state.items()})
    tensors.update({f"rng.{name}": state for name, state in rng_states.items()})
    info = {**info, "format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, "network": net.config.to_dict(),
            "optimizer_param_groups": optimizer_state["param_groups"]}
    return write_safetensors(path, tensors, info)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """The network, optimizer state dict, RNG states, info and style images of a checkpoint, on the CPU."""
    info = read_info(path, CHECKPOINT_FORMAT)
    tensors = read_tensors(path)
    net = build_network(info, tensors, path, prefix="model.")
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, param, name = key.split(".", 2)
            state.setdefault(int(param), {})[name] = value
    rng = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")}
    optimizer_state = {"state": state, "param_groups": info["optimizer_param_groups"]}
    return Checkpoint(net, optimizer_state, rng, info, stored_style_pixels(tensors, net.num_styles))


def save_checkpoint_model(checkpoint_path: str | Path, path: str | Path) -> tuple[Path, int]:
    """Write the weights of a run's checkpoint as a model file (to stylize or measure a run in progress); returns
    the file and the checkpoint's step."""
    saved = load_checkpoint(checkpoint_path)
    step = saved.info["step"]
    written = save_model(path, saved.net, saved.info["styles"], saved.info["loss_network"],
                         {**saved.info["config"], "steps_done": step}, saved.info.get("style_images"),
                         saved.style_pixels)
    return written, step


def weights_digest(*modules: torch.nn.Module, digest: "hashlib._Hash | None" = None) -> "hashlib._Hash":
    """SHA-256 over the modules' weights (names and values), added to ``digest`` when given."""
    digest = digest or hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest


def encoder_decoder_fingerprint(net: StyleBankNet) -> str:
    """SHA-256 of the encoder's and decoder's weights: which E/D a style bank belongs to."""
    return weights_digest(net.encoder, net.decoder).hexdigest()


def save_style_file(path: str | Path, net: StyleBankNet, index: int, name: str, loss_network: str,
                    style_image: str | None = None, style_pixels: torch.Tensor | None = None) -> Path:
    """One style as a file of its own: its bank, its name, its image and the fingerprint of the E/D it needs."""
    info = {"format": STYLE_FORMAT, "format_version": FORMAT_VERSION, "name": name, "network": net.config.to_dict(),
            "fingerprint": encoder_decoder_fingerprint(net), "loss_network": loss_network, "style_image": style_image}
    tensors = {f"bank.{k}": v for k, v in net.bank[index].state_dict().items()}
    if style_pixels is not None:
        tensors["style_image"] = style_pixels
    return write_safetensors(path, tensors, info)


def load_style_file(path: str | Path, net: StyleBankNet) -> tuple[torch.nn.Module, dict, torch.Tensor | None]:
    """A style file's bank (checked against ``net``: same bank shape and the very E/D it was trained with), its
    metadata and its style image's pixels (None in files of earlier versions)."""
    info = read_info(path, STYLE_FORMAT)
    try:
        same_shape = NetworkConfig.from_dict(info["network"]) == net.config
    except (KeyError, TypeError, ValueError):
        same_shape = False
    if not same_shape:
        raise StyleBankError(f"{path}: its bank has the shape {info.get('network')}, the model's banks "
                             f"{net.config.to_dict()}")
    if info.get("fingerprint") != encoder_decoder_fingerprint(net):
        raise StyleBankError(f"{path}: this style was trained with another encoder/decoder than this model's; "
                             "a style bank only works with the E/D it was trained with (use add-style to train "
                             "the style for this model)")
    bank = net.new_bank()
    tensors = read_tensors(path)
    state = {k[len("bank."):]: v for k, v in tensors.items() if k.startswith("bank.")}
    try:
        bank.load_state_dict(state)
    except RuntimeError as error:
        raise StyleBankError(f"{path}: its tensors don't fit a style bank ({str(error).splitlines()[0]})") from None
    if not isinstance(info.get("name"), str) or not info["name"]:
        raise StyleBankError(f"{path}: the style file has no name")
    return bank, info, tensors.get("style_image")
