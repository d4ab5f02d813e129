"""Reading, converting and writing images, without PyTorch (its tensors are stylebank.tensors'). Float arrays are
(3, H, W) or (B, 3, H, W) in [0, 1], RGB."""

from __future__ import annotations

import glob
import io
import struct
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from .atomic import atomic_write
from .errors import StyleBankError
from .samples import builtin_image, builtin_training_content

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
# zlib's level for the PNGs stylebank writes, as OpenCV's default: a stylized 1024x1024 picture is written 3.4x
# faster than at PIL's default of 6, in a file 16% larger (benchmarks/end_to_end.py --startup-only)
PNG_COMPRESS_LEVEL = 1
BUILTIN_PREFIX = "builtin:"
LIST_PREFIX = "@"  # --content @list.txt: the images a text file names
STDIO = "-"  # as an input: read the image from standard input; as an output: write PNG to standard output


def is_image_file(path: Path) -> bool:
    """A file with one of the IMAGE_EXTENSIONS (what a folder or a pattern contributes)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def is_found(source: str | None) -> bool:
    """Whether an image source (a file or ``builtin:NAME``) is there to read."""
    return source is not None and (source.startswith(BUILTIN_PREFIX) or Path(source).is_file())


def images_in_folder(folder: Path) -> list[str]:
    """Every image file below ``folder`` (recursively), sorted."""
    return sorted(str(p) for p in folder.rglob("*") if is_image_file(p))


def expand_sources(sources: list[str], missing_ok: bool = False) -> list[str]:
    """The image files that ``sources`` name, in the order given: files, folders (searched recursively, sorted),
    glob patterns ('photos/*.jpg', 'coco/**/*.jpg'; sorted), ``builtin:NAME``, ``builtin`` (the bundled
    training photos, see stylebank.samples) and ``@list.txt`` (a text file naming one image per line, relative to
    its own folder; blank lines and lines starting with # are left out). The files themselves are not opened:
    reading reports a bad one.

    A folder or pattern without images is a StyleBankError, and so is a path that does not exist, unless
    ``missing_ok``: then it is kept, for its reader to report, so that a batch can go on with the other files.
    """
    if not sources:
        raise StyleBankError("no images given")
    return [file for source in sources for file in source_files(source, missing_ok)]


def source_files(source: str, missing_ok: bool) -> list[str]:
    """The image files of one source of ``expand_sources``."""
    path = Path(source)
    if source == "builtin":
        return builtin_training_content()
    if source.startswith(LIST_PREFIX):
        return listed_files(Path(source[len(LIST_PREFIX):]))
    if source.startswith(BUILTIN_PREFIX) or path.is_file():
        return [source]
    if path.is_dir():
        files, where = images_in_folder(path), "in this folder"
    elif glob.has_magic(source):
        files, where = sorted(p for p in glob.glob(source, recursive=True) if is_image_file(Path(p))), "match"
    elif missing_ok:
        return [source]
    else:
        raise StyleBankError(f"{source}: no such file or folder")
    if not files:
        raise StyleBankError(f"{source}: no images {where} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def listed_files(listing: Path) -> list[str]:
    """The images a ``@list.txt`` names. They are not looked for here: a list of 100,000 photos should not wait
    for 100,000 file checks, and one that is missing is skipped when it is read, like a corrupt one."""
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise StyleBankError(f"@{listing}: cannot read the list ({getattr(error, 'strerror', None) or error})") from None
    entries = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not entries:
        raise StyleBankError(f"@{listing}: the list names no images")
    return [entry if entry.startswith(BUILTIN_PREFIX) else str(listing.parent / entry) for entry in entries]


# Refuse images above this many pixels before decoding them (a tiny PNG can decode to gigabytes). 100 MP is a
# 12,000 x 8,000 photo; raise it with --max-pixels (0 = no limit) or the max_pixels argument.
MAX_PIXELS = 100_000_000


class ImageNote(UserWarning):
    """Something the user should know about an image that was read anyway (e.g. only its first frame)."""


def load_image(source: str | Path, max_pixels: int | None = None, data: bytes | None = None) -> Image.Image:
    """An RGB PIL image from a file, ``builtin:NAME`` (see stylebank.samples) or ``-`` (standard input); or from
    ``data``, a file's bytes (an upload), which ``source`` then only names in messages.

    EXIF orientation is applied; transparency is composited on white; 16-bit images are scaled to 8 bits;
    of an animated image the first frame is read (with an ImageNote warning). Anything unreadable, or larger
    than ``max_pixels`` (default: MAX_PIXELS; 0: no limit), raises StyleBankError naming the file and the cause.
    """
    text = str(source)
    if data is None and text.startswith(BUILTIN_PREFIX):
        return builtin_image(text[len(BUILTIN_PREFIX):])
    with opened_image(source, max_pixels, data=data) as image:
        if getattr(image, "n_frames", 1) > 1:
            warnings.warn(f"{source}: animated image; using its first frame", ImageNote, stacklevel=2)
        return to_rgb(ImageOps.exif_transpose(image))


def load_label_image(source: str | Path, max_pixels: int | None = None, data: bytes | None = None) -> Image.Image:
    """A region label image as it is: greyscale and integer modes kept, anything else as RGB colours. ``data``:
    as for load_image."""
    with opened_image(source, max_pixels, data=data) as image:
        return image.copy() if image.mode in ("L", "I", "1") else image.convert("RGB")


# What PIL's format plugins raise on malformed files (found by tests/test_fuzz.py), besides OSError.
DECODER_ERRORS = (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError, IndexError, struct.error,
                  ZeroDivisionError)


def image_size(source: str | Path, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding it; a StyleBankError if it can't be an image."""
    with opened_image(source, max_pixels, decode=False) as image:
        return image.size


def readable_file(source: str | Path, data: bytes | None = None) -> Path | BinaryIO:
    """The file to open for ``source``: ``data`` where given, standard input's bytes for ``-``, else its path; a
    StyleBankError where there is nothing to read."""
    if data is not None:
        if not data:
            raise StyleBankError(f"{source}: empty file")
        return io.BytesIO(data)
    if str(source) == STDIO:
        data = sys.stdin.buffer.read()
        if not data:
            raise StyleBankError("standard input: nothing to read (pipe an image in, e.g. < photo.jpg)")
        return io.BytesIO(data)
    path = Path(source)
    if not path.exists():
        raise StyleBankError(f"{source}: no such file")
    if path.is_dir():
        raise StyleBankError(f"{source}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise StyleBankError(f"{source}: empty file")
    return path


@contextmanager
def opened_image(source: str | Path, max_pixels: int | None, decode: bool = True,
                 data: bytes | None = None) -> Iterator[Image.Image]:
    """A PIL image (decoded unless ``decode`` is False) of ``source`` or of ``data`` (see readable_file); every way
    a file can fail becomes a StyleBankError naming it and the cause."""
    file = readable_file(source, data)
    if str(source) == STDIO and data is None:
        source = "standard input"  # named in the errors below as a user would say it, not as "-"
    pil_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our limit replaces PIL's (a warning at 89 MP, an error at 179 MP)
    try:
        with Image.open(file) as image:
            check_pixel_limit(source, *image.size, max_pixels)
            if decode:
                image.load()
            yield image
    except UnidentifiedImageError:
        raise StyleBankError(f"{source}: not an image (or a format PIL cannot read)") from None
    except DECODER_ERRORS as error:
        raise StyleBankError(f"{source}: truncated or corrupt image ({error or type(error).__name__})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit


def check_pixel_limit(source: str | Path, width: int, height: int, max_pixels: int | None,
                      what: str = "is") -> None:
    """A StyleBankError if width x height is above ``max_pixels`` (None: MAX_PIXELS; 0: no limit), checked from a
    header before anything is decoded. ``what`` follows the size in the message ("frames are" for a video)."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    if limit and width * height > limit:
        raise StyleBankError(f"{source}: {width}x{height} {what} {width * height / 1e6:.3g} megapixels, above the "
                             f"limit of {limit / 1e6:.3g} (raise it with --max-pixels if you trust this file)")


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB from any PIL mode: alpha composited on white (what a viewer shows), 16/32-bit scaled to 8 bits."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # PIL's own conversion clips these to 0..255 (a 16-bit photo would come out white)
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode != "F" or values.max() > 1 else 1.0
        grey = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image.convert("RGB")


def to_float_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """(3, H, W) float32 in [0, 1] from a PIL image or an HxWx3 uint8 array."""
    array = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise StyleBankError(f"expected an HxWx3 uint8 image, got shape {array.shape} and dtype {array.dtype}")
    return array.transpose(2, 0, 1).astype(np.float32) / 255


def to_uint8(array: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 from (3, H, W) floats, clamped to [0, 1] and rounded."""
    return np.round(np.clip(array, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)


def fitted_size(height: int, width: int, max_size: int | None) -> tuple[int, int]:
    """(height, width) shrunk (never enlarged) so that the longer side is at most ``max_size``, keeping the
    aspect ratio."""
    if not max_size or max(height, width) <= max_size:
        return height, width
    scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_array(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., C, H, W) floats resized to ``size`` (height, width) by PIL's antialiased bilinear filter on each
    channel in float (what torch's bilinear interpolation with antialias=True computes), clamped to [0, 1]."""
    height, width = size
    if array.shape[-2:] == (height, width):
        return array
    planes = array.reshape(-1, *array.shape[-2:]).astype(np.float32, copy=False)
    resized = [np.asarray(Image.fromarray(plane, mode="F").resize((width, height), Image.Resampling.BILINEAR))
               for plane in planes]
    return np.clip(np.stack(resized).reshape(*array.shape[:-2], height, width), 0, 1)


def save_image(image: Image.Image, path: str | Path) -> Path:
    """Write by extension (PNG, JPEG, WebP) to a temporary name, then rename: no half-written files.
    ``-`` writes PNG to standard output. (A tensor: tensors.to_pil first.)"""
    if str(path) == STDIO:
        image.save(sys.stdout.buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        sys.stdout.buffer.flush()
        return Path(STDIO)
    path = Path(path)
    image_format = SAVE_FORMATS.get(path.suffix.lower())
    if image_format is None:
        raise StyleBankError(f"{path}: unsupported output extension; use one of {', '.join(SAVE_FORMATS)}")
    options = {"quality": 95} if image_format != "PNG" else {"compress_level": PNG_COMPRESS_LEVEL}
    return atomic_write(path, lambda file: image.save(file, format=image_format, **options))


def png_bytes(image: Image.Image, text: dict[str, str] | None = None,
              compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """``image`` as PNG file bytes, with ``text`` as its text chunks (what was done, for whoever opens it later).
    ``compress_level``: zlib's, 1 (fastest) to 9 (smallest)."""
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=compress_level)
    return buffer.getvalue()
