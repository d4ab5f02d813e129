import os

import numpy as np
import pytest
from PIL import Image

from stylebank.errors import StyleBankError
from stylebank.images import load_image, save_image, to_rgb
from stylebank.tensors import resize_to_fit, to_tensor


def test_builtin_images_and_bad_names():
    assert load_image("builtin:astronaut").size == (512, 512)
    assert load_image("builtin:mosaic").mode == "RGB"
    with pytest.raises(StyleBankError, match="no such image; try one of astronaut"):
        load_image("builtin:nope")
    with pytest.raises(StyleBankError, match="no such image"):
        load_image("builtin:../data/astronaut")


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent except one pixel
    rgba[0, 0, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    pixels = np.asarray(load_image(tmp_path / "a.png"))
    assert pixels[0, 0].tolist() == [255, 0, 0] and pixels[1, 1].tolist() == [255, 255, 255]


def test_16_bit_images_are_scaled_to_8_bits_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535], [128, 25700, 40000, 65280]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode in ("I;16", "I")  # 16-bit greyscale, as PIL opens it
    pixels = np.asarray(load_image(tmp_path / "deep.png")).astype(int)
    expected = np.round(values / 65535 * 255)
    assert pixels.shape == (2, 4, 3) and (pixels == pixels[..., :1]).all()  # grey, as RGB
    assert np.abs(pixels[..., 0] - expected).max() <= 1
    assert pixels[0].tolist() == [[0] * 3, [1] * 3, [128] * 3, [255] * 3]
    # 32-bit integers on the same 16-bit scale (TIFF "I"), and floats in [0, 1]
    assert np.array_equal(np.asarray(to_rgb(Image.fromarray(values.astype(np.int32)))), pixels)
    assert np.abs(np.asarray(to_rgb(Image.fromarray((values / 65535).astype(np.float32)))).astype(int)
                  - pixels).max() <= 1


def test_save_is_atomic_and_readable_by_others(tmp_path):
    target = save_image(Image.new("RGB", (8, 8)), tmp_path / "out.png")
    assert os.listdir(tmp_path) == ["out.png"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(StyleBankError, match="unsupported output extension"):
        save_image(Image.new("RGB", (8, 8)), tmp_path / "out.gif")


def test_resize_to_fit_only_shrinks():
    image = to_tensor(np.zeros((30, 60, 3), np.uint8))
    assert resize_to_fit(image, 20).shape == (3, 10, 20)
    assert resize_to_fit(image, 100).shape == (3, 30, 60)
    assert resize_to_fit(image, None).shape == (3, 30, 60)
