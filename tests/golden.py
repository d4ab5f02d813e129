"""Golden pictures of the bundled model: what it paints must not change unless the model is retrained on purpose.

Each case stylizes the held-out `coffee` photo (shrunk to 128 pixels) in fp32, untiled. The references are PNGs
in tests/golden/. After retraining the bundled model on purpose, look at the new pictures and refresh them:

    python tests/golden.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent / "golden"
PHOTO, SIZE = "builtin:coffee", 128
# name -> stylize() options: a single style, a blend at part strength, two regions, and the reconstruction (styles
# by index, so that the cases stay when the bundled model is retrained with other paintings)
CASES = {
    "coffee_style0": dict(style=0),
    "coffee_styles1_2_0.7": dict(style="1:1,2:1", strength=0.7),
    "coffee_regions_styles0_2": dict(style="0,2", mask="kmeans:2"),
    "coffee_reconstruction": dict(style=0, strength=0.0),
}
# Up to rounding to 8 bits and float differences between machines and BLAS libraries.
MAX_DIFFERENCE = 3  # of 255, any pixel
MIN_PSNR = 45.0  # dB, whole picture


def render(name: str) -> np.ndarray:
    """The bundled model's picture for case ``name``, as an HxWx3 uint8 array."""
    import stylebank
    from stylebank.images import load_image

    model = stylebank.load(device="cpu")
    photo = np.asarray(load_image(PHOTO))
    return model.stylize(photo, max_size=SIZE, precision="fp32", tile=0, **CASES[name])


def reference_path(name: str) -> Path:
    return FOLDER / f"{name}.png"


if __name__ == "__main__":
    from PIL import Image

    FOLDER.mkdir(exist_ok=True)
    for case in CASES:
        Image.fromarray(render(case)).save(reference_path(case))
        print("wrote", reference_path(case))
