"""Does --strength change the picture evenly, and is strength 0 free of a colour cast? (issue 28)

For held-out photos (centre squares at --size) and every style, the perceptual distance from the strength-0
picture (the reconstruction D(E(I))) at strengths 0, 1/4, 1/2, 3/4, 1, as a fraction of the distance at 1: an
even slider gives 0.25, 0.5, 0.75. The distance is LPIPS's recipe without its learned weights: the loss network's
features at the style layers, unit-normalised over channels at each pixel, squared differences summed over
channels, averaged over pixels and layers. Two ways of mixing:
- ``pictures`` (stylebank's): (1 - s) R + s D(K(E(I))), R the reconstruction D(E(I)) with its colours matched to
  the photo's (stylebank.colour);
- ``features`` (stylebank's before 0.1.0): D((1 - s) E(I) + s K(E(I))).
The colour cast is a picture's mean colour minus the photo's, per channel (RGB, of 1): of the network's own
reconstruction D(E(I)) and of what strength 0 gives (R); with each one's PSNR against the photo.

    python benchmarks/strength.py [-m MODEL | -m RUN.checkpoint.safetensors] [--json docs/benchmarks/strength.json]
"""

from __future__ import annotations

import numpy as np
import torch

from helpers import held_out_photos, load_measured_model, measurement_arguments, report
from stylebank.evaluate import evaluation_loss
from stylebank.losses import StylizingLoss
from stylebank.metrics import image_psnr

STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def unit_features(criterion: StylizingLoss, picture: torch.Tensor) -> list[torch.Tensor]:
    features = criterion.loss_network(picture.contiguous(memory_format=torch.channels_last), criterion.style_layers)
    return [f / (f.norm(dim=1, keepdim=True) + 1e-10) for f in features.values()]


def distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return float(np.mean([(x - y).square().sum(1).mean().item() for x, y in zip(a, b)]))


def mixed(net, batch: torch.Tensor, style: int, strength: float, way: str) -> torch.Tensor:
    if way == "pictures":
        return net.fuse(batch, [{style: 1.0}], strength=strength)
    features, encoded = net.encode(batch)
    return net.decode(torch.lerp(features, net.bank[style](features), strength), encoded)


@torch.no_grad()
def measure(model, criterion: StylizingLoss, photos: list[torch.Tensor]) -> dict:
    curves: dict[str, list[list[float]]] = {"pictures": [], "features": []}
    pictures_at_0: dict[str, list[torch.Tensor]] = {"reconstruction": [], "strength_0": []}
    for photo in photos:
        batch = photo.unsqueeze(0)
        pictures_at_0["reconstruction"].append(model.net.reconstruct(batch).clamp(0, 1))
        pictures_at_0["strength_0"].append(mixed(model.net, batch, 0, 0.0, "pictures").clamp(0, 1))
        for style in range(len(model.styles)):
            for way, rows in curves.items():
                start = unit_features(criterion, mixed(model.net, batch, style, 0.0, way).clamp(0, 1))
                end = distance(unit_features(criterion, model.net(batch, style).clamp(0, 1)), start)
                rows.append([distance(unit_features(criterion, mixed(model.net, batch, style, s, way).clamp(0, 1)),
                                      start) / end for s in STRENGTHS])
    result = {way: {"strengths": STRENGTHS, "mean": np.mean(rows, 0).round(3).tolist(),
                    "min": np.min(rows, 0).round(3).tolist(), "max": np.max(rows, 0).round(3).tolist()}
              for way, rows in curves.items()}
    for name, pictures in pictures_at_0.items():
        casts = [(picture - photo).mean((0, 2, 3)).tolist() for picture, photo in zip(pictures, photos)]
        result[f"{name}_colour_cast_rgb"] = {
            "mean": np.mean(casts, 0).round(4).tolist(), "largest": float(np.abs(casts).max().round(4)),
            "psnr": round(float(np.mean([image_psnr(p[0], photo) for p, photo in zip(pictures, photos)])), 2)}
    return result


def main() -> None:
    args = measurement_arguments(__doc__, count=3, size=256)
    model = load_measured_model(args.model)
    criterion = evaluation_loss(model, None)
    photos = held_out_photos(args.photos, args.count, args.size)
    result = {"model": args.model or "bundled", "loss_network": criterion.loss_network.source, "size": args.size,
              "photos": args.count, "distance_from_strength_0_over_distance_at_1": measure(model, criterion, photos)}
    report(result, args.json)


if __name__ == "__main__":
    main()
