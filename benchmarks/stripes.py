"""Fine stripes at 100% zoom: periodic patterns the network adds to flat regions (issue 28).

Two flat pictures (a sky-like vertical gradient and mid grey, each with a little noise, --size square) are
reconstructed and stylized in every style. For each output's luminance (Hann-windowed), the spectrum's power on the
line of one frequency (vertical stripes: a column frequency; horizontal: a row frequency) at periods of 2, 4 and 8
pixels, over the mean power of the neighbouring lines (2 and 3 lines away): about 1 where there is no stripe (the
inputs), well above 1 where the output repeats every 2 or 4 pixels. The spectrum says a stripe is there, not
whether it can be seen: the 2-pixel pattern's amplitude in 8-bit levels, per 8x8 square, says that (one or two
levels are hard to see on a flat area; ten are plain at 100% zoom).

    python benchmarks/stripes.py [-m MODEL | -m RUN.checkpoint.safetensors] [--json docs/benchmarks/stripes.json]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from helpers import load_measured_model, report

PERIODS = (2, 4, 8)


def flat_pictures(size: int) -> torch.Tensor:
    """(2, 3, size, size): a sky-like gradient and mid grey, with noise of 1% (seeded)."""
    rows = torch.linspace(0, 1, size)[:, None].expand(size, size)
    sky = torch.stack([0.45 + 0.2 * rows, 0.6 + 0.15 * rows, 0.85 + 0.1 * rows])
    pictures = torch.stack([sky, torch.full((3, size, size), 0.5)])
    noise = torch.randn(pictures.shape, generator=torch.Generator().manual_seed(0))
    return (pictures + 0.01 * noise).clamp(0, 1)


def stripe_peaks(picture: torch.Tensor) -> dict[str, float]:
    """{"vertical2": …, "horizontal2": …, …}: each period's line power over its neighbours' (see the module)."""
    luma = (torch.tensor([0.299, 0.587, 0.114])[:, None, None] * picture).sum(0).numpy()
    size = luma.shape[0]
    window = np.outer(np.hanning(size), np.hanning(size))
    power = np.abs(np.fft.fft2((luma - luma.mean()) * window)) ** 2
    columns, rows = power.sum(0), power.sum(1)  # per column frequency (vertical stripes), per row frequency
    peaks = {}
    for period in PERIODS:
        k = size // period
        for name, line in (("vertical", columns), ("horizontal", rows)):
            peaks[f"{name}{period}"] = float(line[k] / np.mean([line[k + d] for d in (-3, -2, 2, 3)]))
    return peaks


def period2_levels(picture: torch.Tensor, block: int = 8) -> dict[str, float]:
    """How strong a 2-pixel stripe or checkerboard is where it is, in 8-bit levels: the luminance demodulated by
    (-1)^column (vertical stripes) or (-1)^row (horizontal), averaged over ``block``-pixel squares (its amplitude
    there, whatever its phase); the median and the largest over the squares."""
    luma = (torch.tensor([0.299, 0.587, 0.114])[:, None, None] * picture).sum(0)
    sign = (-1.0) ** torch.arange(luma.shape[-1])
    levels = {}
    for name, signed in (("vertical", luma * sign), ("horizontal", luma * sign[:luma.shape[0], None])):
        amplitude = torch.nn.functional.avg_pool2d(signed[None, None], block)[0, 0].abs() * 255
        levels[f"{name}_median"], levels[f"{name}_max"] = float(amplitude.median()), float(amplitude.max())
    return levels


@torch.no_grad()
def measure(model, size: int) -> dict:
    pictures = flat_pictures(size)
    outputs = {"input": pictures, "reconstruction": model.net.reconstruct(pictures).clamp(0, 1)}
    outputs.update({name: model.net(pictures, index).clamp(0, 1) for index, name in enumerate(model.styles)})
    return {"peak_over_neighbours_mean_of_the_two_flat_pictures": summary(outputs, stripe_peaks),
            "period2_amplitude_in_8bit_levels_mean_of_the_two": summary(outputs, period2_levels)}


def summary(outputs: dict[str, torch.Tensor], measured) -> dict:
    """``measured`` of each output batch, each number averaged over the batch's pictures."""
    return {name: {key: round(float(np.mean([measured(p)[key] for p in batch])), 2) for key in measured(batch[0])}
            for name, batch in outputs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-m", "--model", help="a model file or a run's checkpoint; default: the bundled model")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    model = load_measured_model(args.model)
    report({"model": args.model or "bundled", "size": args.size, **measure(model, args.size)}, args.json)


if __name__ == "__main__":
    main()
