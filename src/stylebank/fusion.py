"""What to paint where: style specs and blends, region masks (label images or K-means), colour preservation.

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

import numpy as np
import torch
from PIL import Image

from .errors import StyleBankError

StyleLike = int | str | Mapping[int | str, float]


def style_index(style: int | str, names: Sequence[str]) -> int:
    """The bank index of ``style``, given as an index (int or digits) or a name."""
    if isinstance(style, str) and re.fullmatch(r"-?[0-9]+", style.strip()):
        style = int(style)
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


def label_masks(labels: Image.Image | np.ndarray) -> torch.Tensor:
    """A label image -> (R, H, W) one-hot masks, one per distinct grey value or colour, in ascending order."""
    array = np.asarray(labels.convert("RGB") if isinstance(labels, Image.Image) and labels.mode not in ("L", "I", "1")
                       else labels)
    if array.ndim == 2:
        values, inverse = np.unique(array, return_inverse=True)
    elif array.ndim == 3:
        values, inverse = np.unique(array.reshape(-1, array.shape[-1]), axis=0, return_inverse=True)
    else:
        raise StyleBankError(f"a mask must be a 2-D label image, got shape {array.shape}")
    inverse = torch.from_numpy(inverse.reshape(array.shape[:2]).astype(np.int64))
    return torch.nn.functional.one_hot(inverse, len(values)).permute(2, 0, 1).float()


# A region under this share of the pixels is "rare": a mask whose regions are mostly rare has blended edges.
RARE_REGION = 0.01


def check_region_count(masks: torch.Tensor, styles: int) -> None:
    """A StyleBankError unless the (R, H, W) masks have one region per region style. Where most regions are rare,
    the label image has blended edge colours (JPEG and WebP compression blur labels into many near colours, as
    does anti-aliased drawing): say so, since a count like "the mask has 931 regions" alone does not explain it."""
    regions = masks.shape[0]
    if regions == styles:
        return
    message = f"the mask has {regions} regions but {styles} region styles were given"
    rare = int((masks.mean(dim=(1, 2)) < RARE_REGION).sum())
    if regions > styles and rare > regions / 2:
        raise StyleBankError(f"{message}: {rare} of its {regions} colours are rare (under {RARE_REGION:.0%} of the "
                             "pixels each), the blurred edges of a lossy JPEG or WebP file (compression blurs labels) "
                             "or of an anti-aliased drawing; save the mask as PNG, one exact colour per region")
    raise StyleBankError(f"{message}; give one style per region")


def kmeans_masks(image: torch.Tensor, regions: int, seed: int = 0) -> torch.Tensor:
    """Segment (3, H, W) by K-means on colour (the paper's Fig. 10): (K, H, W) masks, darkest region first."""
    return torch.nn.functional.one_hot(kmeans_labels(image, regions, seed), regions).permute(2, 0, 1).float()


def kmeans_labels(image: torch.Tensor, regions: int, seed: int = 0) -> torch.Tensor:
    """kmeans_masks as one (H, W) label per pixel, 0 (darkest) to K - 1."""
    from scipy.cluster.vq import kmeans2

    if regions < 1:
        raise StyleBankError(f"kmeans needs at least 1 region, got {regions}")
    small = torch.nn.functional.interpolate(image.unsqueeze(0), scale_factor=min(1.0, 128 / max(image.shape[-2:])),
                                            mode="area")[0] if max(image.shape[-2:]) > 128 else image
    pixels = small.reshape(3, -1).T.double().numpy()
    centres, _ = kmeans2(pixels, regions, seed=seed, minit="++")
    order = np.argsort(centres @ np.array([0.299, 0.587, 0.114]))  # regions by luminance, dark to bright
    centres = torch.from_numpy(centres[order]).float()
    distances = torch.cdist(image.reshape(3, -1).T, centres)  # every pixel to its nearest centre
    return distances.argmin(1).reshape(image.shape[-2:])


def parse_regions(spec: str) -> int:
    """``kmeans:K`` -> K."""
    kind, _, count = spec.partition(":")
    if kind != "kmeans" or not count.isdigit() or int(count) < 1:
        raise StyleBankError(f"bad --regions {spec!r}: use kmeans:K with K >= 1")
    return int(count)


# ITU-R BT.601 full range, as JPEG and PIL use.
_RGB_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def keep_content_colors(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylized luminance with the content's chrominance (YCbCr), for (..., 3, H, W) in [0, 1]."""
    to_ycbcr = _RGB_TO_YCBCR.to(stylized)
    luma = torch.einsum("ij,...jhw->...ihw", to_ycbcr[:1], stylized)
    chroma = torch.einsum("ij,...jhw->...ihw", to_ycbcr[1:], content)
    return torch.einsum("ij,...jhw->...ihw", torch.linalg.inv(to_ycbcr), torch.cat([luma, chroma], -3)).clamp(0, 1)
