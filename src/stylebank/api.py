"""The Python API: ``model = stylebank.load(); model.stylize(image, style=0)``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import load_model
from .errors import StyleBankError
from .images import resize_to_fit, to_pil, to_tensor, to_uint8_array
from .model import parameter_counts
from .runtime import resolve_device

DEFAULT_MODEL_NAME = "default.safetensors"


def default_model_path() -> Path:
    """The model bundled with the package (trained offline on the bundled photos; see the README)."""
    return Path(str(resources.files("stylebank") / "models" / DEFAULT_MODEL_NAME))


ImageLike = Image.Image | np.ndarray | torch.Tensor


class StyleBankModel:
    """A trained StyleBank network with its style names, ready to stylize."""

    def __init__(self, net, info: dict, device: torch.device, path: Path | None = None):
        self.net = net
        self.info = info
        self.device = device
        self.path = path

    @property
    def styles(self) -> list[str]:
        """Style names, in bank order."""
        return list(self.info["styles"])

    @property
    def parameters(self) -> dict[str, int]:
        return parameter_counts(self.net)

    def style_index(self, style: int | str) -> int:
        """The bank index of ``style``, given as an index or a name."""
        if isinstance(style, str) and style.lstrip("-").isdigit():
            style = int(style)
        if isinstance(style, int):
            if not 0 <= style < len(self.styles):
                raise StyleBankError(f"style {style} out of range: this model has styles 0-{len(self.styles) - 1}")
            return style
        if style in self.styles:
            return self.styles.index(style)
        raise StyleBankError(f"unknown style {style!r}; this model has: {', '.join(self.styles)}")

    @torch.inference_mode()
    def stylize_tensor(self, images: torch.Tensor, style: int | str = 0) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] -> stylized batch of the same size, clamped to [0, 1]."""
        index = self.style_index(style)
        output = self.net(images.to(self.device, torch.float32), index)
        return output.clamp_(0, 1).to(images.device)

    def stylize(self, image: ImageLike, style: int | str = 0, max_size: int | None = None) -> ImageLike:
        """Stylize a PIL image, an HxWx3 uint8 array, or a float tensor (3, H, W) / (B, 3, H, W) in [0, 1].

        Returns the same kind of object. ``max_size`` first shrinks the image so its longer side fits.
        """
        if isinstance(image, torch.Tensor):
            if image.dim() not in (3, 4) or image.shape[-3] != 3:
                raise StyleBankError(f"expected a tensor of shape (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}")
            batch = resize_to_fit(image if image.dim() == 4 else image.unsqueeze(0), max_size)
            output = self.stylize_tensor(batch, style)
            return output if image.dim() == 4 else output[0]
        if not isinstance(image, (Image.Image, np.ndarray)):
            raise StyleBankError(f"cannot stylize a {type(image).__name__}: give a PIL image, array or tensor")
        tensor = resize_to_fit(to_tensor(image), max_size)
        output = self.stylize_tensor(tensor.unsqueeze(0), style)[0]
        return to_pil(output) if isinstance(image, Image.Image) else to_uint8_array(output)

    def __repr__(self) -> str:
        return f"StyleBankModel(styles={self.styles}, device={self.device})"


def load(path: str | Path | None = None, device: str | torch.device | None = None) -> StyleBankModel:
    """Load a model file (default: the bundled model) onto ``device`` (default: the best available)."""
    path = Path(path) if path else default_model_path()
    target = resolve_device(device)
    net, info = load_model(path, target)
    return StyleBankModel(net, info, target, path)
