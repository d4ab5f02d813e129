"""Property-based fuzzing: whatever the input, the image loader and the spec parsers either work or raise
StyleBankError, never anything else."""

import io
import os

import numpy as np
import pytest
from badfiles import PNG
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from stylebank.errors import StyleBankError
from stylebank.fusion import label_masks, parse_region_styles, parse_regions, parse_style
from stylebank.images import load_image, load_label_image

NAMES = ["mosaic", "strokes", "waves", "ihc"]
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SPEC_ALPHABET = st.sampled_from(list("0123456789:,;.-+e ") + ["mosaic", "waves", "inf", "nan", "x"])


def image_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)).save(buffer, format=fmt)
    return buffer.getvalue()


VALID_FILES = [PNG, image_bytes("JPEG"), image_bytes("GIF"), image_bytes("WEBP"), image_bytes("BMP"),
               image_bytes("TIFF")]


@st.composite
def damaged_files(draw) -> bytes:
    """A valid image with bytes flipped, cut off or inserted; or bytes out of nowhere."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=512))
    data = bytearray(draw(st.sampled_from(VALID_FILES)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            data[position] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[position:]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        if not data:
            break
    return bytes(data)


def works_or_refuses(function, *args):
    try:
        return function(*args)
    except StyleBankError:
        return None


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL's notes on the damaged metadata it skips
@FUZZ
@given(data=damaged_files(), suffix=st.sampled_from([".png", ".jpg", ".gif", ".webp", ".tif", ".bmp"]))
def test_image_loader(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    image = works_or_refuses(load_image, path)
    if image is not None:
        assert image.mode == "RGB" and min(image.size) >= 1
    label = works_or_refuses(load_label_image, path)
    if label is not None:
        works_or_refuses(label_masks, label)


@FUZZ
@given(spec=st.one_of(st.text(max_size=30), st.lists(SPEC_ALPHABET, max_size=12).map("".join)))
def test_style_spec_parser(spec):
    weights = works_or_refuses(parse_style, spec, NAMES)
    if weights is not None:
        assert set(weights) <= set(range(len(NAMES))) and sum(weights.values()) == pytest.approx(1)
        assert all(w >= 0 for w in weights.values())


@FUZZ
@given(spec=st.one_of(st.text(max_size=30), st.lists(SPEC_ALPHABET, max_size=16).map("".join)))
@example(spec="0\x1f")  # a control character str.strip removes and int() refuses (found by this test)
def test_region_spec_parsers(spec):
    mixes = works_or_refuses(parse_region_styles, spec, NAMES)
    if mixes is not None:
        assert mixes and all(sum(m.values()) == pytest.approx(1) for m in mixes)
    regions = works_or_refuses(parse_regions, spec)
    assert regions is None or regions >= 1


@FUZZ
@given(labels=st.lists(st.integers(0, 255), min_size=1, max_size=64), width=st.integers(1, 8),
       mode=st.sampled_from(["L", "RGB", "I"]))
def test_mask_parser(labels, width, mode):
    height = max(1, len(labels) // width)
    array = np.resize(np.array(labels, dtype=np.uint8), (height, width))
    image = Image.fromarray(array).convert(mode)
    masks = works_or_refuses(label_masks, image)
    if masks is not None:
        assert masks.shape[-2:] == (height, width) and sums_to_one(masks)


def sums_to_one(masks) -> bool:
    return bool(np.abs(masks.sum(0) - 1).max() < 1e-6)
