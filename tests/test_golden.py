"""The bundled model against its golden pictures (tests/golden.py says how to refresh them)."""

import numpy as np
import pytest
from golden import CASES, MAX_DIFFERENCE, MIN_PSNR, reference_path, render
from PIL import Image


@pytest.mark.parametrize("name", CASES)
def test_the_bundled_model_paints_what_it_painted(name):
    expected = np.asarray(Image.open(reference_path(name)).convert("RGB"), np.float64)
    actual = render(name).astype(np.float64)
    assert actual.shape == expected.shape
    mse = np.mean(((actual - expected) / 255) ** 2)
    psnr = np.inf if mse == 0 else 10 * np.log10(1 / mse)
    assert np.abs(actual - expected).max() <= MAX_DIFFERENCE and psnr >= MIN_PSNR, (
        f"{name}: max difference {np.abs(actual - expected).max():.0f}/255, {psnr:.1f} dB; if the model was "
        "retrained on purpose, refresh with `python tests/golden.py`")
