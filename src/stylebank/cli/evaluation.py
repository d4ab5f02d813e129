"""``stylebank eval``, ``stylebank optimize`` and ``stylebank plot``."""

from __future__ import annotations

import argparse
import json
import time

from ..config import GATYS_STEPS, TrainConfig
from ..images import BUILTIN_PREFIX, load_image, save_image
from ..runtime import DEVICES
from .options import (add_max_pixels_option, add_overwrite_option, check_output, input_paths, non_negative_float,
                      parse_number, positive_int)


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
    from ..backends.pytorch import load
    from ..evaluate import evaluate, markdown_report
    from ..samples import HELD_OUT_PHOTOS

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
    optimize.add_argument("--vgg", default="vgg19", help="loss network weights (default vgg19; see train --help)")
    for name in ("content", "style", "tv"):
        optimize.add_argument(f"--{name}-weight", type=non_negative_float,
                              help=f"default {getattr(TrainConfig(), name + '_weight')}")
    optimize.add_argument("--device", choices=DEVICES, default="auto")
    add_overwrite_option(optimize)
    add_max_pixels_option(optimize)
    optimize.set_defaults(handler=run_optimize)


def run_optimize(args: argparse.Namespace) -> int:
    from ..gatys import stylize_by_optimization
    from ..losses import LossWeights

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


def smoothing_weight(text: str) -> float:
    """--smoothing: an exponential moving average's weight, from 0 (raw values) up to but not including 1."""
    value = parse_number(text, float)
    if not 0 <= value < 1:  # NaN too
        raise argparse.ArgumentTypeError(f"expected a number from 0 up to (not including) 1, got {text}")
    return value


def add_plot(commands: argparse._SubParsersAction) -> None:
    """``stylebank plot``: its options and handler."""
    plot = commands.add_parser("plot", help="training curves as a picture (one run, or several overlaid)")
    plot.add_argument("runs", nargs="*", metavar="MODEL_OR_LOG",
                      help="model files (their MODEL.log.jsonl is read) or training logs; a running job's too "
                           "(default: the bundled model, whose log ships beside it)")
    plot.add_argument("-o", "--output", required=True, help="picture to write (.png, .svg, .pdf)")
    plot.add_argument("--smoothing", type=smoothing_weight, default=0.6,
                      help="exponential moving average weight (of the logarithms on a log axis), 0 = raw values; "
                           "each log line already averages --log-every iterations (default 0.6)")
    add_overwrite_option(plot)
    plot.set_defaults(handler=run_plot)


def run_plot(args: argparse.Namespace) -> int:
    from ..formats import default_model_path
    from ..plot import plot_curves

    runs = args.runs or [str(default_model_path())]
    check_output(args.output, args.overwrite, input_paths(*runs))
    print(f"wrote {plot_curves(runs, args.output, args.smoothing)}")
    return 0
