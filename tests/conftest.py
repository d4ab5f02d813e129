import numpy as np
import pytest
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


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache (converted VGG weights) from a test."""
    monkeypatch.setenv("STYLEBANK_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def tiny_data(tmp_path):
    """A folder of small content photos (one nested, odd sizes) and two style images."""
    content = tmp_path / "content"
    (content / "nested").mkdir(parents=True)
    for i, (h, w) in enumerate([(40, 52), (48, 48), (37, 61)]):
        folder = content / "nested" if i == 2 else content
        smooth_image(i, h, w).save(folder / f"photo{i}.png")
    styles = tmp_path / "styles"
    styles.mkdir()
    stripes(10, 48).save(styles / "zebra.png")
    smooth_image(11, 48, 48).save(styles / "blobs.jpg")
    return {"content": content, "styles": [styles / "zebra.png", styles / "blobs.jpg"], "root": tmp_path}
