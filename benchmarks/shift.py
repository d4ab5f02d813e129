"""Does the texture move with the scene? How much a stylized picture changes, beyond moving, when the photo moves
by a few pixels (issue 31: on moving content in video the texture re-rolls each frame).

For held-out photos (squares of --size + 8, so every shift stays inside), each style: the photo's top-left square
and the square moved down and right by d pixels are stylized; the RMS difference, in 8-bit levels, of the two
pictures where they show the same scene (16 pixels from every border left out, where padding differs). The
encoder's stride is 4, so d = 4 and 8 move the feature grid with the scene; d = 1, 2, 3 do not. The photos
themselves differ by 0 there. Also the style loss of the unshifted pictures (the model's own loss network); and
how much the picture changes (RMS, 8-bit levels, same margin) when noise of 2 levels RMS in blobs of 2, 4 or 8
pixels is added to the photo (losses.blob_noise): what a camera's next frame adds in a flat region
(compression, sensor), which a network can turn into re-rolled texture (docs/video.md).

    python benchmarks/shift.py [-m MODEL | -m RUN.checkpoint.safetensors] [--json docs/benchmarks/shift.json]
"""

from __future__ import annotations

import numpy as np
import torch

from helpers import held_out_photos, load_measured_model, measurement_arguments, report
from stylebank.evaluate import evaluation_loss
from stylebank.losses import blob_noise

SHIFTS = (1, 2, 3, 4, 8)
MARGIN = 16
NOISE_LEVEL, NOISE_BLOBS = 2.0, (2, 4, 8)  # 8-bit levels RMS; pixels


def noise_rms(picture: callable, squares: torch.Tensor, blob: int) -> float:
    """RMS difference in 8-bit levels of picture(squares) and picture(squares + blob noise), borders left out."""
    noise = blob_noise(squares.shape, blob, NOISE_LEVEL / 255, seed=blob)
    difference = picture((squares + noise).clamp(0, 1)) - picture(squares)
    return round(difference[..., MARGIN:-MARGIN, MARGIN:-MARGIN].square().mean().sqrt().item() * 255, 2)


def moved_rms(picture: callable, photos: torch.Tensor, size: int, shift: int) -> float:
    """RMS difference in 8-bit levels of picture(square) and picture(square moved by ``shift``) on the same scene."""
    here = picture(photos[..., :size, :size])
    there = picture(photos[..., shift:shift + size, shift:shift + size])
    same_here = here[..., shift + MARGIN:size - MARGIN, shift + MARGIN:size - MARGIN]
    same_there = there[..., MARGIN:size - shift - MARGIN, MARGIN:size - shift - MARGIN]
    return round((same_here - same_there).square().mean().sqrt().item() * 255, 2)


@torch.no_grad()
def measure(model, photos: torch.Tensor, size: int) -> dict:
    criterion = evaluation_loss(model, None)
    squares = photos[..., :size, :size]
    result = {"reconstruction": {f"moved_{d}px": moved_rms(lambda p: model.net.reconstruct(p).clamp(0, 1), photos,
                                                           size, d) for d in SHIFTS}}
    for index, name in enumerate(model.styles):
        def stylized(p, index=index):
            return model.net(p, index).clamp(0, 1)

        style_loss = criterion(stylized(squares), squares, torch.full((len(squares),), index))["style"].item()
        result[name] = {**{f"moved_{d}px": moved_rms(stylized, photos, size, d) for d in SHIFTS},
                        **{f"noise_blob{b}px": noise_rms(stylized, squares, b) for b in NOISE_BLOBS},
                        "style_loss": round(style_loss, 4)}
    styles = [v for k, v in result.items() if k != "reconstruction"]
    result["styles_mean"] = {key: round(float(np.mean([v[key] for v in styles])), 3) for key in styles[0]}
    return result


def main() -> None:
    args = measurement_arguments(__doc__, count=4, size=256)
    model = load_measured_model(args.model)
    photos = torch.stack(held_out_photos(args.photos, args.count, args.size + max(SHIFTS)))
    report({"model": args.model or "bundled", "size": args.size, "photos": args.count,
            **measure(model, photos, args.size)}, args.json)


if __name__ == "__main__":
    main()
