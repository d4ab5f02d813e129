"""``stylebank stylize`` and ``stylebank sheet``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import StyleBankError
from ..images import BUILTIN_PREFIX, SAVE_FORMATS, expand_sources, load_image, load_label_image, save_image
from ..runtime import DEVICES, PRECISIONS
from ..stylizer import Stylizer
from .options import (add_max_pixels_option, add_overwrite_option, check_output, input_paths, non_negative_int,
                      positive_int, unit_float)


def output_paths(inputs: list[str], output: str | None, label: str) -> list[Path]:
    """One output per input: -o as the file for a single input, else as a folder (default: current folder)."""
    def default_name(item: str) -> str:
        stem = item[len(BUILTIN_PREFIX):] if item.startswith(BUILTIN_PREFIX) else Path(item).stem
        suffix = Path(item).suffix.lower()
        return f"{stem}_{label}{suffix if suffix in SAVE_FORMATS else '.png'}"

    if output and len(inputs) == 1 and Path(output).suffix:
        return [Path(output)]
    folder = Path(output or ".")
    if folder.suffix.lower() in SAVE_FORMATS:
        raise StyleBankError(f"-o {output} is a file name but there are {len(inputs)} inputs; give a folder")
    paths = [folder / default_name(item) for item in inputs]
    if len(set(paths)) < len(paths):
        raise StyleBankError("two inputs would write the same output name; stylize them separately")
    return paths


def stylizer_for(args: argparse.Namespace) -> Stylizer:
    """The backend for stylize: PyTorch, or ONNX Runtime (an .onnx file, or the model exported once to the cache)."""
    from ..api import load, load_onnx

    onnx_file = bool(args.model) and Path(args.model).suffix.lower() == ".onnx"
    if args.backend == "torch" and onnx_file:
        raise StyleBankError(f"{args.model} is an ONNX file: use --backend onnxruntime (or a .safetensors model)")
    if onnx_file:
        return load_onnx(args.model)
    if args.backend == "onnxruntime":
        from ..export import cached_onnx

        model = load(args.model, "cpu")
        return load_onnx(cached_onnx(model.net, model.styles, model.path))
    return load(args.model, args.device)


def add_stylize(commands: argparse._SubParsersAction) -> None:
    """``stylebank stylize``: its options and handler."""
    stylize = commands.add_parser("stylize", help="stylize images with a trained model")
    stylize.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="images: files, folders (recursive), globs, or builtin:NAME")
    stylize.add_argument("-m", "--model", help="model file (default: the bundled model)")
    stylize.add_argument("-s", "--style", default="0",
                         help="style index or name, or a blend like 0:0.5,2:0.5 (default 0)")
    stylize.add_argument("-o", "--output", help="output file for one input, folder for several "
                                                "(default: STEM_STYLE.png in the current folder)")
    stylize.add_argument("--max-size", type=non_negative_int, default=1024,
                         help="shrink so the longer side is at most N pixels; 0 keeps the size (default 1024)")
    regions = stylize.add_mutually_exclusive_group()
    regions.add_argument("--mask", metavar="LABELS", help="label image: each distinct grey value or colour "
                                                          "(ascending) is a region")
    regions.add_argument("--regions", metavar="kmeans:K", help="segment by K-means on colour, darkest region first")
    stylize.add_argument("--region-styles", metavar="SPEC",
                         help="one style per region: 3,0,1 (or 0:0.5,2:0.5;1 when a region is a blend)")
    stylize.add_argument("--strength", type=unit_float, default=1.0,
                         help="0 = the photo reconstructed, 1 = full style (default 1)")
    stylize.add_argument("--preserve-color", action="store_true", help="keep the photo's colours")
    stylize.add_argument("--precision", choices=PRECISIONS, default="auto",
                         help="auto: bf16 where this machine runs it natively and it matches fp32 closely "
                              "(default auto)")
    stylize.add_argument("--tile", type=non_negative_int, metavar="N",
                         help="stylize in N-pixel tiles (bounded memory, no seams); default: tiles of 1024 above "
                              "2048x2048 pixels; 0: never")
    stylize.add_argument("--backend", choices=("torch", "onnxruntime"),
                         help="torch (default) or onnxruntime (exports the model once into the cache; "
                              "implied by -m FILE.onnx)")
    stylize.add_argument("--device", choices=DEVICES, default="auto")
    add_overwrite_option(stylize)
    add_max_pixels_option(stylize)
    stylize.set_defaults(handler=run_stylize)


def run_stylize(args: argparse.Namespace) -> int:
    from ..fusion import parse_region_styles, parse_regions, parse_style

    model = stylizer_for(args)
    if args.mask or args.regions:
        if not args.region_styles:
            raise StyleBankError("--mask and --regions need --region-styles (one style per region)")
        parse_region_styles(args.region_styles, model.styles)  # fail early on a bad spec
        if args.regions:
            parse_regions(args.regions)
        style, label = args.region_styles, "regions"
        mask = args.regions or load_label_image(args.mask, args.max_pixels)
    else:
        if args.region_styles:
            raise StyleBankError("--region-styles needs --mask or --regions")
        mix = parse_style(args.style, model.styles)
        style, mask, label = args.style, None, "+".join(model.styles[i] for i in mix)
    inputs = expand_sources(args.inputs, missing_ok=True)  # a missing file fails alone, below
    outputs = output_paths(inputs, args.output, label)
    failures, protected = [], input_paths(*inputs)
    for source, target in zip(inputs, outputs):
        try:
            check_output(target, args.overwrite, protected)
            image = load_image(source, args.max_pixels)
            result = model.stylize(image, style, max_size=args.max_size or None, mask=mask, strength=args.strength,
                                   preserve_color=args.preserve_color, precision=args.precision, tile=args.tile)
            save_image(result, target)
            print(f"{source} -> {target}")
            if result.size != image.size:  # said after the line it belongs to
                print(f"stylebank: note: {source} is {image.width}x{image.height}; stylized at "
                      f"{result.width}x{result.height} (--max-size {args.max_size}; --max-size 0 keeps the size)",
                      file=sys.stderr)
        except StyleBankError as error:
            message = str(error)
            failures.append(source)
            print(f"stylebank: error: {message if message.startswith(source) else f'{source}: {message}'}",
                  file=sys.stderr)
    if failures and len(inputs) > 1:  # each error was shown as it happened; the list is for the record
        print(f"stylebank: {len(failures)} of {len(inputs)} inputs failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


def add_sheet(commands: argparse._SubParsersAction) -> None:
    """``stylebank sheet``: its options and handler."""
    sheet = commands.add_parser("sheet", help="a contact sheet: one photo in every style of a model")
    sheet.add_argument("photo", help="image file or builtin:NAME")
    sheet.add_argument("-m", "--model", help="model file (default: the bundled model)")
    sheet.add_argument("-o", "--output", required=True, help="sheet image to write")
    sheet.add_argument("--max-size", type=positive_int, default=384, help="tile size (default 384)")
    sheet.add_argument("--columns", type=positive_int, help="tiles per row (default: about square)")
    sheet.add_argument("--device", choices=DEVICES, default="auto")
    add_overwrite_option(sheet)
    add_max_pixels_option(sheet)
    sheet.set_defaults(handler=run_sheet)


def run_sheet(args: argparse.Namespace) -> int:
    from ..api import load
    from ..sheet import contact_sheet

    check_output(args.output, args.overwrite, input_paths(args.photo, args.model))
    model = load(args.model, args.device)
    sheet = contact_sheet(model, load_image(args.photo, args.max_pixels), args.max_size, args.columns)
    print(f"wrote {save_image(sheet, args.output)}")
    return 0
