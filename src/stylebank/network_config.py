"""The network's shape (``NetworkConfig``) and size rules, apart from the network itself: what a model file's
metadata, the command line and the training configuration read, without PyTorch."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

# The encoder halves the size twice, so inputs are padded to a multiple of this and cropped back.
SIZE_MULTIPLE = 4
# Below this the 9x9 reflection padding and the 3x3 convs of a 2x2 feature map no longer fit.
MIN_SIZE = 8
EXPOSURE_LAYOUTS = ("paper", "no_first_norm", "carry")


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of the network. The defaults are the paper's."""

    bank_depth: int = 1  # number of 3x3 convs per style bank (ReLU between them when > 1)
    bank_kernel_size: int = 3  # larger kernels give larger-scale texture (paper, section 4)
    channels: tuple[int, int, int] = (32, 64, 128)
    # how the input's exposure reaches D, one of EXPOSURE_LAYOUTS (see stylebank.model's notes): "carry" by default,
    # which reconstructed and stylized better than the paper's layout in the parameter study (docs/study.md)
    exposure: str = "carry"

    def __post_init__(self):
        if self.exposure not in EXPOSURE_LAYOUTS:
            raise ValueError(f"exposure must be one of {', '.join(EXPOSURE_LAYOUTS)}, got {self.exposure!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "NetworkConfig":
        data = dict(data)
        if "channels" in data:
            data["channels"] = tuple(data["channels"])
        data.setdefault("exposure", "paper")  # files written before the choice existed
        return cls(**data)


def expected_shapes(config: NetworkConfig, styles: int) -> dict[str, list[int]]:
    """The name and shape of every weight of a network of this shape with ``styles`` banks: what a model file
    must hold (stylebank.model builds the same modules; a test holds the two together)."""
    c1, c2, c3 = config.channels
    shapes: dict[str, list[int]] = {}

    def layer(name: str, weight: list[int]) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = weight, [weight[0]]

    layer("encoder.0.0.1", [c1, 3, 9, 9])
    if config.exposure != "no_first_norm":
        layer("encoder.0.1", [c1])
    for index, (inputs, outputs) in enumerate(((c1, c2), (c2, c3)), start=1):
        layer(f"encoder.{index}.0.1", [outputs, inputs, 3, 3])
        layer(f"encoder.{index}.1", [outputs])
    for index, (inputs, outputs) in enumerate(((c3, c2), (c2, c1))):  # (up-sampling, conv layer, norm, ReLU)
        layer(f"decoder.{index}.1.1", [outputs, inputs, 3, 3])
        layer(f"decoder.{index}.2", [outputs])
    layer("decoder.2.1", [3, c1, 9, 9])
    if config.exposure == "carry":
        layer("decoder.exposure", [2 * c1, 6])
    kernel = config.bank_kernel_size
    for style in range(styles):
        for depth in range(config.bank_depth):  # (pad, conv), then (ReLU, pad, conv) for each further one
            layer(f"bank.{style}.{3 * depth + 1}", [c3, c3, kernel, kernel])
    return shapes


def parameter_counts(shapes: Mapping[str, Sequence[int]], config: NetworkConfig) -> dict[str, int]:
    """Every parameter of a network, grouped (encoder, decoder, per style, the conv/norm split), from its state
    dict's names and shapes: a model file's header says as much without loading PyTorch. A layer's kind shows
    in its weight: 4-D a conv, 2-D the exposure layer (linear), 1-D a norm."""
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    kinds = {name.rsplit(".", 1)[0]: {4: "conv", 2: "exposure", 1: "norm"}[len(shape)]
             for name, shape in shapes.items() if name.endswith(".weight")}

    def count(prefix: str, kind: str | None = None) -> int:
        return sum(size for name, size in sizes.items() if name.startswith(prefix)
                   and (kind is None or kinds.get(name.rsplit(".", 1)[0]) == kind))

    channels, kernel = config.channels[-1], config.bank_kernel_size
    styles = len({name.split(".")[1] for name in sizes if name.startswith("bank.")})
    return {
        "encoder": count("encoder."),
        "decoder": count("decoder."),
        "per_style": count("bank.0.") if styles else config.bank_depth * (channels * channels * kernel ** 2 + channels),
        "styles": styles,
        "total": count(""),
        "encoder_conv": count("encoder.", "conv"),
        "encoder_norm": count("encoder.", "norm"),
        "decoder_conv": count("decoder.", "conv"),
        "decoder_norm": count("decoder.", "norm"),
        "decoder_exposure": count("decoder.", "exposure"),
    }
