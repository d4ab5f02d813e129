"""Helpers the tests share (plain functions; the fixtures are in conftest.py): small pictures made from a seed,
the tiny training data, copies of a session's model files, and checks of folders and pictures.

numpy, PIL and the standard library only, never stylebank: conftest.py imports this module before any test runs,
and scripts/resume_compat.py makes its training data with it under an older checkout's stylebank."""

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image


def smooth_image(seed: int, height: int, width: int) -> Image.Image:
    """A random but smooth RGB picture (a few blurred blobs): cheap, deterministic content or style."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.zeros((height, width, 3))
    for _ in range(4):
        cx, cy, radius = rng.uniform(0, 1, 3)
        image += rng.uniform(0, 1, 3) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.05 + radius * 0.1))[..., None]
    image += 0.15 * np.sin(xx[..., None] * rng.uniform(10, 40, 3))
    return Image.fromarray((255 * (image - image.min()) / np.ptp(image)).astype(np.uint8))


def stripes(seed: int, size: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    xx = np.arange(size)[None, :, None] + np.arange(size)[:, None, None] * rng.uniform(-1, 1)
    colours = rng.uniform(0, 255, (2, 3))
    mask = (np.sin(xx * rng.uniform(0.3, 0.8)) > 0)
    return Image.fromarray(np.where(mask, colours[0], colours[1]).astype(np.uint8))


def make_tiny_data(root: Path) -> dict:
    """A folder of small content photos (one nested, odd sizes) and two style images, in ``root``."""
    content = root / "content"
    (content / "nested").mkdir(parents=True)
    for i, (h, w) in enumerate([(40, 52), (48, 48), (37, 61)]):
        folder = content / "nested" if i == 2 else content
        smooth_image(i, h, w).save(folder / f"photo{i}.png")
    styles = root / "styles"
    styles.mkdir()
    stripes(10, 48).save(styles / "zebra.png")
    smooth_image(11, 48, 48).save(styles / "blobs.jpg")
    return {"content": content, "styles": [styles / "zebra.png", styles / "blobs.jpg"], "root": root}


def folder_contents(folder: Path) -> dict[str, str | None]:
    """Every file (its SHA-256) and folder in ``folder``."""
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file()
            else None for path in sorted(folder.rglob("*"))}


@contextlib.contextmanager
def unchanged(folder: Path) -> Iterator[Path]:
    """A session's shared folder: an error (at the teardown of the session) if any test wrote to it."""
    before = folder_contents(folder)
    yield folder
    after = folder_contents(folder)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"a test changed the shared {folder} (work on a copy): {changed}"


def copy_of(model: Path, folder: Path) -> Path:
    """``model`` and the files beside it that share its name (checkpoint, log, samples), copied into ``folder``:
    the copy of the model file."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in model.parent.glob(model.name.removesuffix(".safetensors") + ".*"):
        (shutil.copytree if path.is_dir() else shutil.copy2)(path, folder / path.name)
    return folder / model.name


def same_picture(first, second) -> bool:
    """Equal pixels where the command line stylizes with PyTorch (the default); on the auto backend
    (STYLEBANK_TEST_MACHINE), ONNX Runtime's float rounding may differ from PyTorch's by a level or two."""
    first, second = np.asarray(first, np.int16), np.asarray(second, np.int16)
    tolerance = 0 if os.environ.get("STYLEBANK_TEST_MACHINE", "") == "" else 2
    return first.shape == second.shape and int(np.abs(first - second).max(initial=0)) <= tolerance
