"""Does each region look like its own style? (issue 28)

For held-out photos (centre squares at --size) split into two regions (left/right and top/bottom halves) and
pairs of styles, the style loss inside each region (Gram matrices of the loss network's features over the region
only, a band at the border left out) of the region-styled picture, divided by the same for that style painted
on the whole photo: 1 means the region is its style as it would be anywhere. Two ways of painting regions:
- ``composited`` (stylebank's): each region's features decoded over the whole photo, the pictures composited;
- ``one_picture`` (the paper's feature fusion, stylebank's before 0.1.0): D(sum_r M_r K_r(F)), where the
  decoder's instance norms mix the regions' statistics.

    python benchmarks/regions.py [-m MODEL | -m RUN.checkpoint.safetensors] [--json docs/benchmarks/regions.json]
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from helpers import held_out_photos, load_measured_model, measurement_arguments, report
from stylebank.evaluate import evaluation_loss
from stylebank.fusion import masks_to_features
from stylebank.losses import StylizingLoss, gram_matrix, relative_squared_error


def halves(size: int, vertical: bool) -> torch.Tensor:
    """(2, size, size) masks: left and right (or top and bottom) halves."""
    masks = torch.zeros(2, size, size)
    if vertical:
        masks[0, :, :size // 2], masks[1, :, size // 2:] = 1, 1
    else:
        masks[0, :size // 2], masks[1, size // 2:] = 1, 1
    return masks


def region_style_loss(criterion: StylizingLoss, picture: torch.Tensor, mask: torch.Tensor, style: int) -> float:
    """The style loss of ``picture`` (1, 3, H, W) over the pixels where ``mask`` is 1 at every layer's resolution
    (a feature pixel that sees the other region is left out)."""
    features = criterion.loss_network(picture.contiguous(memory_format=torch.channels_last), criterion.style_layers)
    total = 0.0
    for layer, feature in features.items():
        inside = (F.interpolate(mask[None, None], size=feature.shape[-2:], mode="area")[0, 0] > 0.999).flatten()
        rows = feature[0].flatten(1)[:, inside]  # (C, N) over the region
        gram = gram_matrix(rows.reshape(1, rows.shape[0], 1, -1))
        total += relative_squared_error(gram, getattr(criterion, f"target_{layer}")[style:style + 1]).item()
    return total


def one_picture(net, photo: torch.Tensor, masks: torch.Tensor, styles: tuple[int, int]) -> torch.Tensor:
    """The paper's fusion: the regions' stylized features masked and summed, decoded once."""
    features, encoded = net.encode(photo)
    feature_masks = masks_to_features(masks, features.shape[-2:])
    fused = sum(m * net.bank[s](features) for m, s in zip(feature_masks, styles))
    return net.decode(fused, encoded)


@torch.no_grad()
def measure(model, criterion: StylizingLoss, photos: list[torch.Tensor], pairs: list[tuple[int, int]]) -> dict:
    ratios: dict[str, list[float]] = {"composited": [], "one_picture": []}
    for photo in photos:
        batch = photo.unsqueeze(0)
        for vertical in (True, False):
            masks = halves(photo.shape[-1], vertical)
            for pair in pairs:
                pictures = {"composited": model.net.fuse(batch, [{pair[0]: 1.0}, {pair[1]: 1.0}], masks),
                            "one_picture": one_picture(model.net, batch, masks, pair)}
                for region, style in enumerate(pair):
                    alone = region_style_loss(criterion, model.net(batch, style).clamp(0, 1), masks[region], style)
                    for way, picture in pictures.items():
                        ratios[way].append(region_style_loss(criterion, picture.clamp(0, 1), masks[region], style)
                                           / alone)
    return {way: {"mean": float(np.mean(r)), "median": float(np.median(r)), "max": float(np.max(r)),
                  "regions": len(r)} for way, r in ratios.items()}


def main() -> None:
    args = measurement_arguments(__doc__, count=4, size=320)
    model = load_measured_model(args.model)
    criterion = evaluation_loss(model, None)
    photos = held_out_photos(args.photos, args.count, args.size)
    count = len(model.styles)
    pairs = [(i, (i + 1) % count) for i in range(count)]  # each style once on each side
    result = {"model": args.model or "bundled", "loss_network": criterion.loss_network.source, "size": args.size,
              "photos": args.count, "pairs": pairs, "ratio_to_the_style_on_the_whole_photo": measure(
                  model, criterion, photos, pairs)}
    report(result, args.json)


if __name__ == "__main__":
    main()
