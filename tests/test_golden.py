"""The bundled model against its golden pictures (tests/golden.py says how to refresh them)."""

import numpy as np
import pytest
from golden import CASES, MAX_DIFFERENCE, MIN_PSNR, reference_path, render
from PIL import Image

from stylebank.tensors import to_tensor
from stylebank.metrics import image_psnr


@pytest.mark.parametrize("name", CASES)
def test_the_bundled_model_paints_what_it_painted(name):
    with Image.open(reference_path(name)) as reference:
        expected = np.asarray(reference.convert("RGB"))
    actual = render(name)
    assert actual.shape == expected.shape
    difference = np.abs(actual.astype(int) - expected.astype(int)).max()
    psnr = image_psnr(to_tensor(actual), to_tensor(expected))
    assert difference <= MAX_DIFFERENCE and psnr >= MIN_PSNR, (
        f"{name}: max difference {difference}/255, {psnr:.1f} dB; if the model was retrained on purpose, look at "
        "the new pictures and refresh them with `python tests/golden.py`")
