import os

import numpy as np
import pytest
import torch
from PIL import Image

from stylebank.errors import StyleBankError
from stylebank.images import load_image, resize_to_fit, save_image, to_tensor


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


def test_save_is_atomic_and_readable_by_others(tmp_path):
    target = save_image(torch.rand(3, 8, 8), tmp_path / "out.png")
    assert os.listdir(tmp_path) == ["out.png"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(StyleBankError, match="unsupported output extension"):
        save_image(torch.rand(3, 8, 8), tmp_path / "out.gif")


def test_resize_to_fit_only_shrinks():
    image = to_tensor(np.zeros((30, 60, 3), np.uint8))
    assert resize_to_fit(image, 20).shape == (3, 10, 20)
    assert resize_to_fit(image, 100).shape == (3, 30, 60)
    assert resize_to_fit(image, None).shape == (3, 30, 60)
