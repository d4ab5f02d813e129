"""Reading, converting and writing images. Tensors are float (3, H, W) or (B, 3, H, W) in [0, 1], RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_write
from .errors import StyleBankError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
BUILTIN_PREFIX = "builtin:"


def images_in_folder(folder: Path) -> list[str]:
    """Every image file below ``folder`` (recursively), sorted."""
    return sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def load_image(source: str | Path) -> Image.Image:
    """An RGB PIL image from a file (EXIF orientation applied) or ``builtin:NAME`` (see stylebank.samples)."""
    text = str(source)
    if text.startswith(BUILTIN_PREFIX):
        from .samples import builtin_image

        return builtin_image(text[len(BUILTIN_PREFIX):])
    try:
        with Image.open(source) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                # Composite transparency on white: what a viewer shows.
                rgba = image.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(background, rgba).convert("RGB")
            return image.convert("RGB")
    except FileNotFoundError:
        raise StyleBankError(f"{source}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise StyleBankError(f"{source}: cannot read image ({error})") from None


def to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """(3, H, W) float in [0, 1] from a PIL image or an HxWx3 uint8 array."""
    array = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise StyleBankError(f"expected an HxWx3 uint8 image, got shape {array.shape} and dtype {array.dtype}")
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255)


def to_uint8_array(tensor: torch.Tensor) -> np.ndarray:
    """HxWx3 uint8 array from a (3, H, W) float tensor, clamped to [0, 1] and rounded."""
    return tensor.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def to_pil(tensor: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_uint8_array(tensor))


def resize_to_fit(tensor: torch.Tensor, max_size: int | None) -> torch.Tensor:
    """Shrink (never enlarge) so that the longer side is at most ``max_size``, keeping the aspect ratio."""
    height, width = tensor.shape[-2:]
    if not max_size or max(height, width) <= max_size:
        return tensor
    scale = max_size / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    batched = tensor if tensor.dim() == 4 else tensor.unsqueeze(0)
    resized = F.interpolate(batched, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return resized if tensor.dim() == 4 else resized[0]


def resize_shorter_side(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (3, H, W) so that its shorter side is ``size``."""
    height, width = tensor.shape[-2:]
    scale = size / min(height, width)
    new = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(tensor.unsqueeze(0), size=new, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


def save_image(image: Image.Image | torch.Tensor, path: str | Path) -> Path:
    """Write by extension (PNG, JPEG, WebP) to a temporary name, then rename: no half-written files."""
    path = Path(path)
    image_format = SAVE_FORMATS.get(path.suffix.lower())
    if image_format is None:
        raise StyleBankError(f"{path}: unsupported output extension; use one of {', '.join(SAVE_FORMATS)}")
    if isinstance(image, torch.Tensor):
        image = to_pil(image)
    options = {"quality": 95} if image_format != "PNG" else {}
    return atomic_write(path, lambda file: image.save(file, format=image_format, **options))


def image_grid(tiles: list[torch.Tensor], columns: int, padding: int = 2) -> torch.Tensor:
    """Tiles of one size (3, H, W) laid out in rows on a white background."""
    height, width = tiles[0].shape[-2:]
    rows = -(-len(tiles) // columns)
    grid = torch.ones(3, rows * (height + padding) + padding, columns * (width + padding) + padding)
    for i, tile in enumerate(tiles):
        top, left = padding + (i // columns) * (height + padding), padding + (i % columns) * (width + padding)
        grid[:, top:top + height, left:left + width] = tile.clamp(0, 1)
    return grid
