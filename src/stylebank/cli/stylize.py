"""``stylebank stylize`` and ``stylebank sheet``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TextIO

from PIL import Image

from ..backends.auto import load_stylizer, style_names
from ..errors import StyleBankError
from ..overlap import SKIPPED, run_overlapped
from ..images import BUILTIN_PREFIX, SAVE_FORMATS, STDIO, expand_sources, load_image, save_image
from ..runtime import DEVICES, PRECISIONS
from ..backends.stylizer import StylizeOptions, Stylizer
from .options import (DEFAULT_MAX_SIZE, add_backend_options, add_max_pixels_option, add_overwrite_option, check_output,
                      input_paths, non_negative_int, positive_int, stylize_options, unit_float)


def blend_label(mix: dict[int, float], names: list[str]) -> str:
    """A style or blend as part of a file name: ``waves``, ``mosaic0.5+waves0.5``."""
    if len(mix) == 1:
        return names[next(iter(mix))]
    return "+".join(f"{names[index]}{weight:.2g}" for index, weight in mix.items())


def output_label(options: StylizeOptions, names: list[str]) -> str:
    """What a default output name says about the (resolved) settings, so that trying another one writes another
    file: the style or blend (each region's, with a mask), then the strength and colour preservation where not
    default."""
    if options.mask is not None:
        label = "regions-" + "-".join(blend_label(mix, names) for mix in options.mixes)
    else:
        label = blend_label(options.mixes[0], names)
    if options.strength != 1:
        label += f"_strength{options.strength:g}"
    if options.preserve_color:
        label += "_preserve-color"
    return label


def default_name(source: str, label: str) -> str:
    """STEM_LABEL.EXT: EXT the input's format where stylebank writes it (PNG, JPEG, WebP), else .png."""
    if source == STDIO:
        stem, suffix = "stdin", ".png"
    else:
        stem = source[len(BUILTIN_PREFIX):] if source.startswith(BUILTIN_PREFIX) else Path(source).stem
        suffix = Path(source).suffix.lower()
    return f"{stem}_{label}{suffix if suffix in SAVE_FORMATS else '.png'}"


def output_paths(inputs: list[str], output: str | None, label: str) -> tuple[list[Path], bool]:
    """One output per input, and whether the user named the file: -o as the file for a single input (``-``:
    standard output), else as a folder (default: the current folder) of default names."""
    if output == STDIO and len(inputs) != 1:
        raise StyleBankError(f"-o - writes one image to standard output, but there are {len(inputs)} inputs")
    if output and len(inputs) == 1 and (output == STDIO or Path(output).suffix):
        return [Path(output)], True
    folder = Path(output or ".")
    if folder.suffix.lower() in SAVE_FORMATS:
        raise StyleBankError(f"-o {output} is a file name but there are {len(inputs)} inputs; give a folder")
    paths = [folder / default_name(item, label) for item in inputs]
    if len(set(paths)) < len(paths):
        raise StyleBankError("two inputs would write the same output name; stylize them separately")
    return paths, False


def add_stylize(commands: argparse._SubParsersAction) -> None:
    """``stylebank stylize``: its options and handler."""
    stylize = commands.add_parser("stylize", help="stylize images with a trained model")
    stylize.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="images: files, folders (recursive), globs, builtin:NAME, or - (standard input)")
    stylize.add_argument("-m", "--model", help="model file (default: the bundled model)")
    stylize.add_argument("-s", "--style", default="0",
                         help="style index or name, or a blend like 0:0.5,2:0.5 (default 0)")
    stylize.add_argument("-o", "--output", help="output file for one input (- : PNG on standard output), folder "
                                                "for several (default: the current folder). Default names say the "
                                                "settings: STEM_STYLE[_strengthS][_preserve-color].EXT, EXT the "
                                                "input's (.png, .jpg, .webp; else .png); existing ones are skipped")
    stylize.add_argument("--max-size", type=non_negative_int, default=DEFAULT_MAX_SIZE,
                         help=f"shrink so the longer side is at most N pixels; 0 keeps the size (default "
                              f"{DEFAULT_MAX_SIZE})")
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
    add_backend_options(stylize)
    stylize.add_argument("--json", action="store_true", help="print one JSON object for the run (inputs, outputs, "
                                                              "sizes, seconds, skipped, failures)")
    add_overwrite_option(stylize)
    add_max_pixels_option(stylize)
    stylize.set_defaults(handler=run_stylize)


@dataclass
class ImageJob:
    """One input and the file its result goes to; ``named``: the user named that file (-o FILE)."""

    source: str
    target: Path
    named: bool
    started: float = 0.0


def already_done(job: ImageJob, args: argparse.Namespace, protected: set[Path]) -> bool:
    """An output under a default name that exists (from an earlier run, or an earlier input of this one) is
    skipped rather than refused, so that a stopped folder run can be run again."""
    return (not job.named and job.target.exists() and not args.overwrite
            and job.target.resolve() not in protected)


def run_stylize(args: argparse.Namespace) -> int:
    if args.json and args.output == STDIO:
        raise StyleBankError("--json and -o - both write to standard output; choose one")
    started = time.perf_counter()
    inputs = expand_sources(args.inputs, missing_ok=True)  # a missing file fails alone, below
    names = style_names(args.model)
    # a bad style or mask is refused before the auto backend exports the model (seconds); an ONNX file's after
    options = stylize_options(args, names, args.tile) if names is not None else None
    model = load_stylizer(args.model, args.backend, args.device, images=len(inputs))
    options = options or stylize_options(args, model.styles, args.tile)
    outputs, named = output_paths(inputs, args.output, output_label(options, model.styles))
    log = sys.stderr if args.json or args.output == STDIO else sys.stdout  # stdout carries the data then
    report = {"model": str(model.path), "style": options.style, "strength": args.strength,
              "preserve_color": args.preserve_color, "precision": args.precision,
              "images": [], "skipped": [], "failures": []}
    protected = input_paths(*inputs)
    jobs = []
    for source, target in zip(inputs, outputs):
        job = ImageJob(source, target, named)
        if already_done(job, args, protected):  # decided before reading ahead, so that it reads nothing
            report["skipped"].append({"input": source, "output": str(target)})
        else:
            jobs.append(job)
    run_overlapped(jobs, read=partial(read_job, args), work=partial(stylize_job, model, options, args, protected),
                   write=write_job, done=partial(report_job, report, log, args), target=lambda job: job.target)
    report["seconds"] = round(time.perf_counter() - started, 3)
    print_summary(report, len(inputs))
    if args.json:
        print(json.dumps(report, indent=2))
    return 1 if report["failures"] else 0


def read_job(args: argparse.Namespace, job: ImageJob) -> Image.Image:
    job.started = time.perf_counter()
    return load_image(job.source, args.max_pixels)


def write_job(job: ImageJob, images: tuple[Image.Image, Image.Image]) -> tuple[Image.Image, Image.Image]:
    save_image(images[1], job.target)
    return images


def stylize_job(model: Stylizer, options: StylizeOptions, args: argparse.Namespace, protected: set[Path],
                job: ImageJob, image: Image.Image) -> tuple[Image.Image, Image.Image] | object:
    """The network's part of a job (in order, so that an earlier input's output is seen): (input, result)."""
    if already_done(job, args, protected):
        return SKIPPED
    check_output(job.target, args.overwrite, protected)
    return image, model.stylize_with(image, options, max_size=args.max_size or None)


def report_job(report: dict, log: TextIO, args: argparse.Namespace, job: ImageJob, outcome: Future) -> None:
    """What became of a job, said in input order: its line (and a note if it was shrunk), or its error."""
    source_name = "standard input" if job.source == STDIO else job.source
    if outcome.exception() is not None:
        message = str(outcome.exception())
        report["failures"].append({"input": job.source, "error": message})
        print(f"stylebank: error: {message if message.startswith(source_name) else f'{source_name}: {message}'}",
              file=sys.stderr)
        return
    if outcome.result() is SKIPPED:
        report["skipped"].append({"input": job.source, "output": str(job.target)})
        return
    print(f"{source_name} -> {'standard output' if str(job.target) == STDIO else job.target}", file=log)
    image, result = outcome.result()
    if result.size != image.size and not any(map(was_shrunk, report["images"])):  # said after its line, once
        print(f"stylebank: note: {source_name} is {image.width}x{image.height}; stylized at {result.width}x"
              f"{result.height} (--max-size {args.max_size}; --max-size 0 keeps the size)", file=sys.stderr)
    report["images"].append({"input": job.source, "output": str(job.target), "input_size": list(image.size),
                             "output_size": list(result.size),
                             "seconds": round(time.perf_counter() - job.started, 3)})


def was_shrunk(entry: dict) -> bool:
    """Whether an image of the report was stylized smaller than it was read (--max-size)."""
    return entry["input_size"] != entry["output_size"]


def print_summary(report: dict, count: int) -> None:
    """The skipped outputs, and the failed inputs of a batch (each error was shown as it happened)."""
    skipped = report["skipped"]
    if len(skipped) == 1:
        print(f"stylebank: skipped {skipped[0]['output']}, which exists (--overwrite replaces it)", file=sys.stderr)
    elif skipped:
        print(f"stylebank: skipped {len(skipped)} outputs that exist (--overwrite replaces them)", file=sys.stderr)
    shrunk = sum(map(was_shrunk, report["images"]))
    if shrunk > 1:
        print(f"stylebank: note: {shrunk} of {count} images were shrunk to fit --max-size", file=sys.stderr)
    failures = [failure["input"] for failure in report["failures"]]
    if failures and count > 1:
        print(f"stylebank: {len(failures)} of {count} inputs failed: {', '.join(failures)}", file=sys.stderr)


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
    from ..backends.pytorch import load
    from ..sheet import contact_sheet

    check_output(args.output, args.overwrite, input_paths(args.photo, args.model))
    model = load(args.model, args.device)
    sheet = contact_sheet(model, load_image(args.photo, args.max_pixels), args.max_size, args.columns)
    print(f"wrote {save_image(sheet, args.output)}")
    return 0
