"""Commands on model files: ``info``, ``styles``, ``export``, ``export-style``, ``import-style``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..errors import StyleBankError
from .options import add_overwrite_option, check_output, input_paths


def add_info(commands: argparse._SubParsersAction) -> None:
    """``stylebank info``: its options and handler."""
    info = commands.add_parser("info", help="show a model file's styles, parameters and training")
    info.add_argument("model", nargs="?", help="model file (default: the bundled model)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=run_info)


def model_summary(model: str | None) -> dict:
    """What ``info`` shows of a model file, read and checked as loading it would, with numpy (no PyTorch)."""
    from ..formats import (MODEL_FORMAT, STYLE_IMAGE_PREFIX, check_weights, default_model_path, model_history,
                           read_arrays, read_info)
    from ..network_config import parameter_counts

    path = Path(model) if model else default_model_path()
    info = read_info(path, MODEL_FORMAT)
    shapes = {name: list(array.shape) for name, array in read_arrays(path).items()}
    config = check_weights(info, shapes, path)
    sources = info.get("style_images") or [None] * len(info["styles"])
    stored = [shapes.get(f"{STYLE_IMAGE_PREFIX}{index}") for index in range(len(sources))]
    style_images = [{"source": source, "stored": None if shape is None else shape[1:]}
                    for source, shape in zip(sources, stored)]
    weights = {name: shape for name, shape in shapes.items() if not name.startswith(STYLE_IMAGE_PREFIX)}
    return {"path": str(path), "format_version": info["format_version"], "styles": info["styles"],
            "style_images": style_images, "parameters": parameter_counts(weights, config),
            "network": info["network"], "loss_network": info.get("loss_network"),
            "training": info.get("training", {}), "history": model_history(info)}


def run_info(args: argparse.Namespace) -> int:
    from ..network_config import NetworkConfig

    summary = model_summary(args.model)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    counts, training = summary["parameters"], summary["training"]
    print(f"{summary['path']}  (stylebank model, format {summary['format_version']})")
    print(f"styles ({len(summary['styles'])}):")
    for index, (name, image) in enumerate(zip(summary["styles"], summary["style_images"])):
        print(f"  {index}: {name}  ({style_image_note(image)})")
    print(f"parameters: encoder {counts['encoder']:,}  decoder {counts['decoder']:,}  "
          f"per style {counts['per_style']:,}  total {counts['total']:,}")
    network = NetworkConfig.from_dict(summary["network"])
    print(f"network: widths {'/'.join(map(str, network.channels))}, banks {network.bank_depth} x "
          f"{network.bank_kernel_size}x{network.bank_kernel_size} conv, exposure layout {network.exposure}")
    print(f"loss network: {summary['loss_network']}")
    history = summary["history"]
    if history:
        print("trained:" if len(history) == 1 else f"trained in {len(history)} runs:")
    for number, run in enumerate(history, 1):
        processes = f", {run['world_size']} processes" if (run.get("world_size") or 1) > 1 else ""
        start = f", from {Path(run['started_from']).name}" if run.get("started_from") else ""
        earlier = " (after earlier runs this file does not record)" if run.get("earlier_runs_unrecorded") else ""
        print(f"  {number}. {run['command']} {', '.join(run['styles']) or '(no new styles)'}: {run['iterations']} "
              f"iterations at {run['image_size']}px, batch {run['batch_size']}, lr {run['lr']}, loss network "
              f"{run['loss_network']}{processes}{start}{earlier}")
    if training:
        print(f"last run's weights: content {training.get('content_weight')} style {training.get('style_weight')} "
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
    from ..backends.pytorch import load

    model = load(args.model, "cpu")
    if not args.remove and not args.rename and not args.output:
        for index, name in enumerate(model.styles):
            print(f"{index}: {name}")
        return 0
    if not args.output:
        raise StyleBankError("--remove and --rename write a new model: give -o NEW_MODEL")
    check_output(args.output, args.overwrite, input_paths(args.model))
    for old, new in parse_renames(args.rename).items():  # renames first, so that indices refer to the model as given
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


def parse_renames(pairs: list[str]) -> dict[str, str]:
    """``--rename OLD=NEW ...`` as {OLD: NEW}."""
    renames: dict[str, str] = {}
    for pair in pairs:
        old, equals, new = pair.partition("=")
        if not equals:
            raise StyleBankError(f"bad --rename {pair!r}: use OLD=NEW")
        if old.strip() in renames:
            raise StyleBankError(f"--rename names {old.strip()!r} twice")
        renames[old.strip()] = new
    return renames


def add_export(commands: argparse._SubParsersAction) -> None:
    """``stylebank export``: its options and handler."""
    export = commands.add_parser("export", help="export a model to ONNX (any size; style weights as an input)")
    export.add_argument("-m", "--model", help="model file (default: the bundled model)")
    export.add_argument("-o", "--output", required=True, help="ONNX file to write")
    add_overwrite_option(export)
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from ..backends.pytorch import load

    check_output(args.output, args.overwrite, input_paths(args.model))
    model = load(args.model, "cpu")
    started = time.perf_counter()
    print(f"exporting {model.path.name} to ONNX ({len(model.styles)} styles); this takes a minute or two…",
          file=sys.stderr, flush=True)
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
    from ..backends.pytorch import load

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
    imports.add_argument("--rename", nargs="+", metavar="OLD=NEW", default=[],
                         help="import the style named OLD in its style file as NEW (for a name the model has)")
    add_overwrite_option(imports)
    imports.set_defaults(handler=run_import_style)


def run_import_style(args: argparse.Namespace) -> int:
    from ..backends.pytorch import load

    check_output(args.output, args.overwrite, input_paths(args.model, *args.style_files))
    model = load(args.model, "cpu")
    names = model.import_style(*args.style_files, rename=parse_renames(args.rename))
    print(f"wrote {model.save(args.output)}: added {', '.join(names)}; styles now {', '.join(model.styles)}")
    return 0
