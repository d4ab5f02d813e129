"""The command line's shared option types and checks: numbers with their rules, --overwrite, --max-pixels, and
the check that no output is written over an input or an existing file."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from ..config import rule_of
from ..backends.auto import BACKENDS
from ..errors import StyleBankError
from ..fusion import RegionFields, painted_spec, resolve_style
from ..images import BUILTIN_PREFIX, MAX_PIXELS, STDIO, load_label_image
from ..runtime import DEVICES
from ..backends.stylizer import StylizeOptions

REGION_FIELDS = RegionFields(region_styles="--region-styles", masks="--mask or --regions")


def parse_number(text: str, kind: type) -> int | float:
    """``text`` as an int or a float, or the usage error that says which was expected."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {'whole number' if kind is int else 'number'}, "
                                         f"got {text!r}") from None


def whole_number(text: str, minimum: int) -> int:
    value = parse_number(text, int)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    return whole_number(text, 1)


DEFAULT_MAX_SIZE = 1024  # stylize's and video's: a photo or frame's longer side, unless --max-size says otherwise


def non_negative_int(text: str) -> int:
    return whole_number(text, 0)


def non_negative_float(text: str) -> float:
    value = parse_number(text, float)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def unit_float(text: str) -> float:
    value = parse_number(text, float)
    if not 0 <= value <= 1:  # NaN too
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text}")
    return value


def setting_type(name: str) -> Callable[[str], int | float]:
    """The option type of TrainConfig field ``name``: a number, checked against the field's own rule."""
    rule = rule_of(name)

    def parse(text: str) -> int | float:
        value = parse_number(text, rule.kind)
        problem = rule.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def add_overwrite_option(command: argparse.ArgumentParser) -> None:
    """--overwrite, for the commands that write a file."""
    command.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def add_max_pixels_option(command: argparse.ArgumentParser) -> None:
    """--max-pixels, for the commands that read images (passed to stylebank.images.load_image and the like)."""
    command.add_argument("--max-pixels", type=non_negative_int, metavar="N",
                         help=f"refuse images above N pixels before decoding them, a guard against "
                              f"decompression bombs (default {MAX_PIXELS:,}; 0: no limit)")


def add_backend_options(command: argparse.ArgumentParser) -> None:
    """--backend and --device, for the commands that stylize (passed to stylebank.load_stylizer)."""
    command.add_argument("--backend", choices=BACKENDS, default=os.environ.get("STYLEBANK_BACKEND", "auto"),
                         help="auto (default; $STYLEBANK_BACKEND changes it): ONNX Runtime on a CPU without "
                              "importing PyTorch, the model exported once into the cache where it ships without "
                              "an export; PyTorch on GPUs, for 4+ images (a folder, a video, the studio) on CPUs "
                              "with AMX, and for what ONNX Runtime cannot do (tiles, bf16); "
                              "torch; or onnxruntime (implied by -m FILE.onnx)")
    command.add_argument("--device", choices=DEVICES, default="auto")


def input_paths(*inputs: str | None) -> set[Path]:
    """The files a command reads, resolved once, so that no output is ever written over one of them."""
    return {Path(source).resolve() for source in inputs
            if source and str(source) != STDIO and not str(source).startswith(BUILTIN_PREFIX)}


def check_output(output: str | Path, overwrite: bool, inputs: set[Path]) -> Path:
    """Refuse to write over an input (ever) or over an existing file (unless --overwrite)."""
    target = Path(output)
    if str(output) == STDIO:  # standard output: nothing to overwrite
        return target
    if target.resolve() in inputs:
        raise StyleBankError(f"{target}: refusing to overwrite an input; write to another file")
    if target.is_dir():
        raise StyleBankError(f"{target} is a folder; give a file name")
    if target.exists() and not overwrite:
        raise StyleBankError(f"{target} already exists; add --overwrite to replace it")
    return target


def stylize_options(args: argparse.Namespace, names: list[str], tile: int | None = None) -> StylizeOptions:
    """The stylizing settings of ``stylize`` and ``video`` (-s, --mask or --regions, --region-styles,
    --strength, --preserve-color, --precision), resolved against the model's style ``names``; a bad style spec
    is refused before the mask is read."""
    regions = bool(args.mask or args.regions)
    spec = painted_spec(args.style, args.region_styles, regions, REGION_FIELDS)
    mixes = tuple(resolve_style(spec, names, regions))
    mask = args.regions or (load_label_image(args.mask, args.max_pixels) if args.mask else None)
    return StylizeOptions(spec, mask, args.strength, args.preserve_color, args.precision, tile, mixes)
