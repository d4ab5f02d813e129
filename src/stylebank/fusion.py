"""What to paint where: style specs and blends, region masks (label images or K-means), colour preservation.
Without PyTorch: masks are numpy arrays; the helpers that both backends apply to their pictures (the feature grid,
colour preservation) take numpy arrays or tensors alike.

Spec grammar (command line and Python):
- a style: an index or a name, ``2`` or ``waves``;
- a blend: ``0:0.5,2:0.5`` or ``mosaic:1,waves:3`` (weights >= 0, normalised to sum 1);
- region styles: one spec per region, separated by commas (``3,0,1``) or, when a region is itself a blend,
  by semicolons (``0:0.5,2:0.5;1``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from .errors import StyleBankError
from .images import fitted_size, resize_array
from .network_config import SIZE_MULTIPLE

if TYPE_CHECKING:
    import torch

StyleLike = int | str | Mapping[int | str, float]
MaskLike = Any  # a label image (PIL, array or tensor) or "kmeans:K"


def style_index(style: int | str, names: Sequence[str]) -> int:
    """The bank index of ``style``, given as an index (int or digits) or a name."""
    if isinstance(style, str) and re.fullmatch(r"-?[0-9]+", style.strip()):
        style = int(style.strip())  # str.strip removes more than int() accepts (e.g. "\x1f")
    if isinstance(style, int) and not isinstance(style, bool):
        if not 0 <= style < len(names):
            raise StyleBankError(f"style {style} out of range: this model has styles 0-{len(names) - 1}")
        return style
    if isinstance(style, str) and style.strip() in names:
        return list(names).index(style.strip())
    raise StyleBankError(f"unknown style {style!r}; this model has: {', '.join(names)}")


def parse_weight(text: str, spec: str) -> float:
    try:
        weight = float(text)
    except ValueError:
        raise StyleBankError(f"bad weight {text!r} in style spec {spec!r}") from None
    if not math.isfinite(weight) or weight < 0:
        raise StyleBankError(f"style weights must be finite and >= 0, got {text} in {spec!r}")
    return weight


def normalise(weights: dict[int, float], spec: object) -> dict[int, float]:
    total = sum(weights.values())
    if total <= 0:
        raise StyleBankError(f"the style weights in {spec!r} sum to 0")
    return {index: weight / total for index, weight in weights.items()}


def parse_style(style: StyleLike, names: Sequence[str]) -> dict[int, float]:
    """A style or blend -> {bank index: weight}, weights summing to 1."""
    if isinstance(style, Mapping):
        weights: dict[int, float] = {}
        for key, value in style.items():
            index = style_index(key, names)
            weights[index] = weights.get(index, 0.0) + parse_weight(str(value), str(dict(style)))
        return normalise(weights, dict(style))
    if isinstance(style, str) and ("," in style or ":" in style):
        weights = {}
        for part in style.split(","):
            name, colon, weight = part.rpartition(":") if ":" in part else (part, "", "1")
            if not name.strip():
                raise StyleBankError(f"bad style spec {style!r}: expected STYLE:WEIGHT,STYLE:WEIGHT")
            index = style_index(name, names)
            weights[index] = weights.get(index, 0.0) + parse_weight(weight, style)
        return normalise(weights, style)
    return {style_index(style, names): 1.0}


def parse_region_styles(spec: str | Sequence[StyleLike], names: Sequence[str]) -> list[dict[int, float]]:
    """One style or blend per region: ``'3,0,1'``, ``'0:0.5,2:0.5;1'`` or a list."""
    if isinstance(spec, str):
        parts = spec.split(";") if ";" in spec else spec.split(",")
    else:
        parts = list(spec)
    if not parts or any(isinstance(p, str) and not p.strip() for p in parts):
        raise StyleBankError(f"bad region styles {spec!r}: give one style per region, e.g. 3,0,1")
    return [parse_style(part, names) for part in parts]


def resolve_style(style: StyleLike | Sequence[StyleLike], names: Sequence[str],
                  regions: bool = False) -> list[dict[int, float]]:
    """The one parse of a style choice against a model's style ``names``: each region's blend where the picture
    is painted in ``regions``, else the single style's or blend's (a list of one)."""
    return parse_region_styles(style, names) if regions else [parse_style(style, names)]


@dataclass(frozen=True)
class RegionFields:
    """What a front end calls its region-styles field and its mask fields, for the messages of ``painted_spec``."""

    region_styles: str
    masks: str


def painted_spec(style: StyleLike, region_styles: str | None, regions: bool, fields: RegionFields) -> StyleLike:
    """For a front end with a style field and a region-styles field: the spec it paints, the region styles where a
    mask or regions are given (needed then, and refused otherwise), else the style."""
    if regions:
        if not region_styles:
            raise StyleBankError(f"{fields.masks} need {fields.region_styles} (one style per region, e.g. 3,0,1)")
        return region_styles
    if region_styles:
        raise StyleBankError(f"{fields.region_styles} needs {fields.masks}")
    return style


def array_namespace(array: np.ndarray | torch.Tensor) -> Any:
    """numpy for an array, torch for a tensor (torch is only imported for a tensor, which it made)."""
    if isinstance(array, np.ndarray):
        return np
    import torch

    return torch


def as_numpy(array: np.ndarray | torch.Tensor) -> np.ndarray:
    """A tensor's values as a numpy array on the CPU; an array as it is."""
    return array if isinstance(array, np.ndarray) else array.detach().cpu().numpy()


def label_masks(labels: Image.Image | np.ndarray) -> np.ndarray:
    """A label image -> (R, H, W) float32 one-hot masks, one per distinct grey value or colour, in ascending order."""
    array = np.asarray(labels.convert("RGB") if isinstance(labels, Image.Image) and labels.mode not in ("L", "I", "1")
                       else labels)
    if array.ndim == 2:
        values, inverse = np.unique(array, return_inverse=True)
    elif array.ndim == 3:
        values, inverse = np.unique(array.reshape(-1, array.shape[-1]), axis=0, return_inverse=True)
    else:
        raise StyleBankError(f"a mask must be a 2-D label image, got shape {array.shape}")
    return one_hot(inverse.reshape(array.shape[:2]), len(values))


def one_hot(labels: np.ndarray, count: int) -> np.ndarray:
    """(H, W) labels 0..count-1 -> (count, H, W) float32 masks."""
    return (labels[None] == np.arange(count).reshape(-1, 1, 1)).astype(np.float32)


def region_masks(mask: MaskLike, image: np.ndarray | torch.Tensor) -> np.ndarray:
    """(R, H, W) masks at the size of ``image`` (3, H, W) from a label image or ``'kmeans:K'``; a label image
    drawn at another resolution is scaled to the image (nearest, so labels stay exact)."""
    if isinstance(mask, str):
        return kmeans_masks(image, parse_regions(mask))
    masks = label_masks(mask if isinstance(mask, (Image.Image, np.ndarray)) else as_numpy(mask))
    height, width = image.shape[-2:]
    if masks.shape[-2:] != (height, width):
        rows = np.arange(height) * masks.shape[-2] // height
        cols = np.arange(width) * masks.shape[-1] // width
        masks = masks[:, rows[:, None], cols[None, :]]
    return masks


# A region under this share of the pixels is "rare": a mask whose regions are mostly rare has blended edges.
RARE_REGION = 0.01


def check_region_count(masks: np.ndarray, styles: int) -> None:
    """A StyleBankError unless the (R, H, W) masks have one region per region style. Where most regions are rare,
    the label image has blended edge colours (JPEG and WebP compression blur labels into many near colours, as
    does anti-aliased drawing): say so, since a count like "the mask has 931 regions" alone does not explain it."""
    regions = masks.shape[0]
    if regions == styles:
        return
    message = f"the mask has {regions} regions but {styles} region styles were given"
    rare = int((masks.mean((1, 2)) < RARE_REGION).sum())
    if regions > styles and rare > regions / 2:
        raise StyleBankError(f"{message}: {rare} of its {regions} colours are rare (under {RARE_REGION:.0%} of the "
                             "pixels each), the blurred edges of a lossy JPEG or WebP file (compression blurs labels) "
                             "or of an anti-aliased drawing; save the mask as PNG, one exact colour per region")
    raise StyleBankError(f"{message}; give one style per region")


def kmeans_masks(image: np.ndarray | torch.Tensor, regions: int, seed: int = 0) -> np.ndarray:
    """Segment (3, H, W) by K-means on colour (the paper's Fig. 10): (K, H, W) masks, darkest region first."""
    return one_hot(kmeans_labels(image, regions, seed), regions)


def kmeans_labels(image: np.ndarray | torch.Tensor, regions: int, seed: int = 0) -> np.ndarray:
    """kmeans_masks as one (H, W) label per pixel, 0 (darkest) to K - 1. The centres are found on the image
    shrunk to 128 pixels; every pixel then takes its nearest centre."""
    from scipy.cluster.vq import kmeans2

    if regions < 1:
        raise StyleBankError(f"kmeans needs at least 1 region, got {regions}")
    image = as_numpy(image).astype(np.float32, copy=False)
    small = resize_array(image, fitted_size(*image.shape[-2:], 128))
    centres, _ = kmeans2(small.reshape(3, -1).T.astype(np.float64), regions, seed=seed, minit="++")
    centres = centres[np.argsort(centres @ np.array([0.299, 0.587, 0.114]))].astype(np.float32)  # dark to bright
    labels = np.zeros(image.shape[-2:], np.int64)
    nearest = np.full(image.shape[-2:], np.inf, np.float32)
    for index, centre in enumerate(centres):  # one distance map at a time: memory of one image plane per centre
        distance = ((image - centre.reshape(3, 1, 1)) ** 2).sum(0)
        closer = distance < nearest
        labels[closer], nearest[closer] = index, distance[closer]
    return labels


def parse_regions(spec: str) -> int:
    """``kmeans:K`` -> K."""
    kind, _, count = spec.partition(":")
    if kind != "kmeans" or not count.isdigit() or int(count) < 1:
        raise StyleBankError(f"bad --regions {spec!r}: use kmeans:K with K >= 1")
    return int(count)


def to_feature_grid(maps: np.ndarray | torch.Tensor, feature_size: tuple[int, int]) -> np.ndarray | torch.Tensor:
    """(C, H, W) maps at image size -> at the feature map's size: padded as the encoder pads the image (here
    replicated) to a multiple of SIZE_MULTIPLE, then averaged over each feature pixel's block."""
    height, width = maps.shape[-2:]
    pad_h, pad_w = -height % SIZE_MULTIPLE, -width % SIZE_MULTIPLE
    if isinstance(maps, np.ndarray):
        padded = np.pad(maps, [(0, 0)] * (maps.ndim - 2) + [(0, pad_h), (0, pad_w)], mode="edge")
    else:
        import torch.nn.functional as F

        padded = F.pad(maps.unsqueeze(0), (0, pad_w, 0, pad_h), mode="replicate")[0]
    rows, cols = feature_size
    blocks = padded.reshape(*padded.shape[:-2], rows, padded.shape[-2] // rows, cols, padded.shape[-1] // cols)
    return blocks.mean((-3, -1))


def masks_to_features(masks: np.ndarray | torch.Tensor, feature_size: tuple[int, int]) -> np.ndarray | torch.Tensor:
    """Region masks (R, H, W) at image size -> (R, 1, h, w) at the feature map's size, still summing to 1.

    Averaging keeps borders soft (a feature pixel covers 4x4 image pixels), so no seam shows.
    """
    resized = to_feature_grid(masks, feature_size)
    return (resized / resized.sum(0, keepdims=True).clip(1e-8, None))[:, None]


# ITU-R BT.601 full range, as JPEG and PIL use. Colour preservation takes Y from the stylized picture and Cb, Cr
# from the photo, then goes back to RGB: RGB_out = LUMA_MAP @ stylized + CHROMA_MAP @ content.
_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_LUMA_MAP = np.linalg.inv(_RGB_TO_YCBCR)[:, :1] @ _RGB_TO_YCBCR[:1]
_CHROMA_MAP = np.linalg.inv(_RGB_TO_YCBCR)[:, 1:] @ _RGB_TO_YCBCR[1:]


def keep_content_colors(stylized: np.ndarray | torch.Tensor, content: np.ndarray | torch.Tensor
                        ) -> np.ndarray | torch.Tensor:
    """The stylized luminance with the content's chrominance (YCbCr), for (..., 3, H, W) in [0, 1]; numpy arrays
    or tensors."""
    xp = array_namespace(stylized)
    luma, chroma = (xp.asarray(matrix.astype(np.float32)) for matrix in (_LUMA_MAP, _CHROMA_MAP))
    if xp is not np:
        luma, chroma = luma.to(stylized), chroma.to(stylized)
    return (xp.einsum("ij,...jhw->...ihw", luma, stylized) + xp.einsum("ij,...jhw->...ihw", chroma, content)).clip(0, 1)
