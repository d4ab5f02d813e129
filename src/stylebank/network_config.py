"""The network's shape (``NetworkConfig``) and size rules, apart from the network itself: what a model file's
metadata, the command line and the training configuration read, without PyTorch."""

from __future__ import annotations

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
