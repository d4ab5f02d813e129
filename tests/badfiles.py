"""Bad and unusual input files that users feed to style-transfer tools, built on the fly.

Shared by tests/test_bad_inputs.py and scripts/bad_inputs_table.py (which writes the table in docs/bad-inputs.md).
Each case: a name, a function that writes the file into a folder and returns its path, and what stylebank does:
"ok" (stylized, maybe with a note) or "error" (one line naming the file and the cause, no output).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]
    outcome: str  # "ok" or "error"
    message: str  # a fragment of the note (ok) or the error (error) on stderr


def gradient(width: int = 40, height: int = 30) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], -1).astype(np.uint8)


def saved(name: str, image: Image.Image, **options) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        image.save(path, **options)
        return path
    return make


def raw(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path
    return make


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def exif_rotated() -> Callable[[Path], Path]:
    """A 40x30 JPEG whose EXIF orientation 6 says: show it rotated 90 degrees clockwise (so 30x40)."""
    image = Image.fromarray(gradient())
    exif = Image.Exif()
    exif[0x0112] = 6
    return saved("rotated.jpg", image, exif=exif.tobytes())


def animated(name: str, fmt: str) -> Callable[[Path], Path]:
    frames = [Image.fromarray(np.full((30, 40, 3), value, np.uint8)) for value in (40, 200)]
    return saved(name, frames[0], format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def bomb() -> Callable[[Path], Path]:
    """A valid 20000x20000 (400-megapixel) 1-bit PNG of a few kilobytes: a decompression bomb."""
    return saved("bomb.png", Image.new("1", (20_000, 20_000)), optimize=True)


class MakesAFile:
    """Unpickling this creates the file ``marker``: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def evil_pickle(name: str, marker_name: str = "PWNED") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(pickle.dumps({"state_dict": MakesAFile(folder / marker_name)}, protocol=2))
        return path
    return make


def sixteen_bit() -> Callable[[Path], Path]:
    values = (gradient()[..., 0].astype(np.uint16) * 257)
    return saved("sixteen_bit.png", Image.fromarray(values))  # mode I;16


PNG = png_bytes(Image.fromarray(gradient()))

IMAGE_CASES = [
    Case("RGB PNG (control)", raw("good.png", PNG), "ok", ""),
    Case("empty file", raw("empty.png", b""), "error", "empty file"),
    Case("truncated PNG", raw("truncated.png", PNG[: len(PNG) // 2]), "error", "truncated or corrupt"),
    Case("corrupt bytes in a JPEG", lambda f: corrupt_jpeg(f), "error", "truncated or corrupt"),
    Case("text file named .jpg", raw("notes.jpg", b"shopping list: eggs, milk\n" * 20), "error", "not an image"),
    Case("1x1 image", saved("pixel.png", Image.new("RGB", (1, 1), "red")), "error", "at least 8x8"),
    Case("4000x4 strip", saved("strip.png", Image.new("RGB", (4000, 4), "red")), "error", "at least 8x8"),
    Case("3000x20 strip (1024x7 after --max-size)", saved("banner.png", Image.new("RGB", (3000, 20), "red")), "error",
         "raise --max-size"),
    Case("12x900 strip", saved("tall.png", Image.fromarray(gradient(12, 900))), "ok", ""),
    Case("greyscale (L)", saved("grey.png", Image.fromarray(gradient()[..., 0])), "ok", ""),
    Case("palette (P)", saved("palette.png", Image.fromarray(gradient()).convert("P")), "ok", ""),
    Case("RGBA", saved("rgba.png", Image.fromarray(gradient()).convert("RGBA")), "ok", ""),
    Case("LA", saved("la.png", Image.fromarray(gradient()[..., 0]).convert("LA")), "ok", ""),
    Case("CMYK JPEG", saved("cmyk.jpg", Image.fromarray(gradient()).convert("CMYK")), "ok", ""),
    Case("16-bit greyscale PNG", sixteen_bit(), "ok", ""),
    Case("EXIF-rotated JPEG", exif_rotated(), "ok", ""),
    Case("animated GIF", animated("animated.gif", "GIF"), "ok", "first frame"),
    Case("animated WebP", animated("animated.webp", "WEBP"), "ok", "first frame"),
    Case("decompression bomb (400 MP PNG)", bomb(), "error", "--max-pixels"),
    Case("pickle named .png", evil_pickle("evil.png"), "error", "not an image"),
    Case("missing file", lambda f: f / "nowhere.png", "error", "no such file"),
    Case("a folder named .png", lambda f: make_folder(f / "folder.png"), "error", "no images in this folder"),
]


def corrupt_jpeg(folder: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    data[200:len(data) - 2] = bytes(len(data) - 202)  # scan data zeroed: the header still parses
    path = folder / "corrupt.jpg"
    path.write_bytes(bytes(data))
    return path


def make_folder(path: Path) -> Path:
    path.mkdir()
    return path


# Model files: each maker gets the folder and a good model file to start from.

def model_bytes(mutate: Callable[[bytes], bytes], name: str = "model.safetensors") -> Callable[[Path, Path], Path]:
    def make(folder: Path, good: Path) -> Path:
        path = folder / name
        path.write_bytes(mutate(good.read_bytes()))
        return path
    return make


def edited_model(edit: Callable[[dict, dict], None], name: str = "edited.safetensors") -> Callable[[Path, Path], Path]:
    """The good model with its tensors and/or metadata changed by ``edit(tensors, metadata)``."""
    def make(folder: Path, good: Path) -> Path:
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(good), "pt") as handle:
            metadata = dict(handle.metadata())
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        edit(tensors, metadata)
        path = folder / name
        save_file(tensors, str(path), metadata=metadata)
        return path
    return make


def edit_info(change: Callable[[dict], None]) -> Callable[[dict, dict], None]:
    import json

    def edit(tensors: dict, metadata: dict) -> None:
        info = json.loads(metadata["stylebank"])
        change(info)
        metadata["stylebank"] = json.dumps(info)
    return edit


def torch_pickle(folder: Path, good: Path) -> Path:
    import torch

    path = folder / "model.pth"
    torch.save({"state_dict": MakesAFile(folder / "PWNED")}, path)
    return path


def header_claims_too_much(data: bytes) -> bytes:
    return (2 ** 40).to_bytes(8, "little") + data[8:]


MODEL_CASES = [
    Case("truncated model", model_bytes(lambda d: d[: len(d) // 2]), "error", "not a valid safetensors file"),
    Case("header length beyond the file", model_bytes(header_claims_too_much), "error", "not a valid safetensors file"),
    Case("random bytes", model_bytes(lambda d: bytes(range(256)) * 8), "error", "not a valid safetensors file"),
    Case("a PNG renamed .safetensors", model_bytes(lambda d: PNG), "error", "not a valid safetensors file"),
    Case("empty file", model_bytes(lambda d: b""), "error", "not a valid safetensors file"),
    Case("safetensors without stylebank metadata", edited_model(lambda t, m: m.clear()), "error",
         "without stylebank metadata"),
    Case("corrupt metadata JSON", edited_model(lambda t, m: m.update(stylebank="{not json")), "error",
         "corrupt stylebank metadata"),
    Case("metadata of another kind", edited_model(edit_info(lambda i: i.update(format="stylebank-style"))),
         "error", "expected a stylebank-model file"),
    Case("a newer format version", edited_model(edit_info(lambda i: i.update(format_version=99))), "error",
         "format version 99"),
    Case("metadata without styles", edited_model(edit_info(lambda i: i.pop("styles"))), "error",
         "bad network description"),
    Case("architecture mismatch (bank depth 2 declared)",
         edited_model(edit_info(lambda i: i["network"].update(bank_depth=2))), "error", "weights don't match"),
    Case("a tensor missing", edited_model(lambda t, m: t.pop("encoder.0.1.weight")), "error", "weights don't match"),
    Case("NaN weights", edited_model(lambda t, m: t["decoder.2.1.weight"].fill_(float("nan"))), "error",
         "non-finite weights"),
    Case("pickle (.pth) that would create a file", torch_pickle, "error", "PyTorch/pickle file"),
    Case("raw pickle renamed .safetensors",
         lambda folder, good: evil_pickle("pickled.safetensors")(folder), "error", "PyTorch/pickle file"),
]


# Malformed command-line values: (arguments after "stylebank stylize builtin:coffee -o OUT", exit status, message).
ARGUMENT_CASES = [
    (["-s", "starry"], 1, "unknown style 'starry'"),
    (["-s", "9"], 1, "out of range"),
    (["-s", "0:-1"], 1, "finite and >= 0"),
    (["-s", "0:nan,1:1"], 1, "finite and >= 0"),
    (["-s", "0:0,1:0"], 1, "sum to 0"),
    (["-s", "0:x"], 1, "bad weight"),
    (["--max-size", "-5"], 2, "expected a number >= 0"),
    (["--max-size", "big"], 2, "expected a whole number"),
    (["--strength", "1.5"], 2, "expected a number between 0 and 1, got 1.5"),
    (["--strength", "-0.5"], 2, "expected a number between 0 and 1, got -0.5"),  # one wording for both ends
    (["--strength", "nan"], 2, "expected a number between 0 and 1, got nan"),
    (["--max-pixels", "-1"], 2, "expected a number >= 0"),
    (["--device", "tpu"], 2, "invalid choice"),
    (["--regions", "kmeans:0", "--region-styles", "0"], 1, "kmeans:K with K >= 1"),
    (["--regions", "slic:3", "--region-styles", "0"], 1, "kmeans:K"),
    (["--regions", "kmeans:3", "--region-styles", "0,1"], 1, "3 regions but 2 region styles"),
    (["--regions", "kmeans:2"], 1, "need --region-styles"),
    (["--region-styles", "0,1"], 1, "needs --mask or --regions"),
    (["--mask", "nowhere.png", "--region-styles", "0,1"], 1, "no such file"),
]
