"""Quick add-style against the same style learned jointly (issue 29's measurement).

For each chosen style of the model: remove it, add it back with quick add-style (its stored image, the model's
own photos, the default budget), and measure on held-out photos (centre squares at --size, the model's own loss
network and weights) the style and content losses of the re-added bank, of the jointly learned one and of the
unstylized reconstruction; and how much each bank's picture changes, beyond moving, when the photo moves by 1, 2
or 3 pixels (RMS in 8-bit levels, the mean over the three; benchmarks/shift.py). The wall time is the whole
quick_add_styles call (set-up included). Run it with nothing else on the machine (it is a timing).

    python benchmarks/quick_style.py [-m MODEL] [--styles 2 4] [--photos data/photos/heldout] [--json RESULT.json]
        [--shift-weight W]   # the shift term's weight (default: the model's own)
    python benchmarks/quick_style.py -m docs/default-model/v3/v3.checkpoint.safetensors ...   # a run's checkpoint
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import stylebank
from helpers import model_path
from shift import moved_rms
from stylebank.checkpoint import ModelFile, from_pixels
from stylebank.config import LossWeights, QuickStyleConfig, TrainConfig
from stylebank.evaluate import centre_square
from stylebank.images import expand_sources, load_image, save_image
from stylebank.losses import StylizingLoss
from stylebank.lossnet import LossLayers, load_loss_network
from stylebank.training.quick_style import quick_add_styles
from stylebank.tensors import to_pil, to_tensor


@torch.no_grad()
def losses(net, criterion: StylizingLoss, photos: list[torch.Tensor], bank: int | None) -> dict[str, float]:
    """Mean style and content loss over ``photos`` of ``bank``'s output (None: the reconstruction)."""
    totals = {"style": 0.0, "content": 0.0}
    for photo in photos:
        batch = photo.unsqueeze(0)
        output = net.reconstruct(batch) if bank is None else net(batch, bank)
        measured = criterion(output.clamp(0, 1), batch, torch.zeros(1, dtype=torch.long))
        for key in totals:
            totals[key] += measured[key].item() / len(photos)
    return {k: round(v, 4) for k, v in totals.items()}


def without(model, index: int) -> ModelFile:
    """The model with style ``index`` removed (a copy)."""
    copy = stylebank.load(model.path, "cpu")
    copy.remove_styles(index)
    return ModelFile(copy.net, copy.info, copy.style_pixels)


@torch.no_grad()
def moved(net, bank: int, photos: torch.Tensor) -> float:
    """Mean RMS change, beyond moving, of ``bank``'s picture when ``photos`` (their top-left squares 3 pixels smaller)
    move by 1, 2 and 3 pixels."""
    size = photos.shape[-1] - 3
    return round(sum(moved_rms(lambda p: net(p, bank).clamp(0, 1), photos, size, d) for d in (1, 2, 3)) / 3, 2)


def measure_style(model, index: int, photos: list[torch.Tensor], config: QuickStyleConfig, folder: Path) -> dict:
    name = model.styles[index]
    training = TrainConfig.from_dict(model.info["training"])
    image = from_pixels(model.style_pixels[index])
    style_file = folder / f"{name}.png"
    save_image(to_pil(image), style_file)
    started = time.perf_counter()
    added = quick_add_styles(without(model, index), [str(style_file)], folder / f"re_{name}.safetensors",
                             config=config, progress=False)
    seconds = time.perf_counter() - started
    network = load_loss_network(model.info["loss_network"], "cpu",
                                LossLayers(training.content_layer, training.style_layers))
    criterion = StylizingLoss(network, [image],
                              LossWeights(training.content_weight, training.style_weight, training.tv_weight))
    readded = stylebank.load(added, "cpu")
    result = {"style": name, "wall_seconds": round(seconds, 1),
              "steps": readded.info["training"]["history"][-1]["iterations"],
              "quick": losses(readded.net, criterion, photos, readded.net.num_styles - 1),
              "joint": losses(model.net, criterion, photos, index),
              "reconstruction": losses(model.net, criterion, photos, None)}
    result["moved_1_3px"] = {"quick": moved(readded.net, readded.net.num_styles - 1, torch.stack(photos)),
                             "joint": moved(model.net, index, torch.stack(photos))}
    result["style_vs_joint"] = round(result["quick"]["style"] / result["joint"]["style"], 2)
    result["reconstruction_vs_quick"] = round(result["reconstruction"]["style"] / result["quick"]["style"], 2)
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-m", "--model", help="default: the bundled model")
    parser.add_argument("--styles", nargs="+", type=int, default=[2, 4], help="indices of the styles to re-add")
    parser.add_argument("--photos", default="data/photos/heldout", help="held-out photos (scripts/build_corpus.py)")
    parser.add_argument("--count", type=int, default=6, help="photos measured")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seconds", type=float, nargs="+", default=[QuickStyleConfig.seconds],
                        help="budgets: each style is re-added once per budget (several: the time/loss curve)")
    parser.add_argument("--lr", type=float, default=QuickStyleConfig.lr)
    parser.add_argument("--image-size", type=int, default=QuickStyleConfig.image_size, help="crop size")
    parser.add_argument("--anneal", action=argparse.BooleanOptionalAction, default=QuickStyleConfig.anneal)
    parser.add_argument("--shift-weight", type=float, help="the shift term's weight (default: the model's own)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--plot", help="draw style loss against the budget (several --seconds) into this PNG")
    args = parser.parse_args()
    photos = [centre_square(to_tensor(load_image(f)), args.size) for f in expand_sources([args.photos])[:args.count]]
    configs = [QuickStyleConfig(seconds=seconds, lr=args.lr, image_size=args.image_size, anneal=args.anneal,
                                shift_weight=args.shift_weight) for seconds in args.seconds]
    with tempfile.TemporaryDirectory() as folder:
        model = stylebank.load(model_path(args.model, Path(folder)), "cpu")
        results = [{"budget_seconds": config.seconds, **measure_style(model, index, photos, config, Path(folder))}
                   for index in args.styles for config in configs]
    report = {"model": args.model or "bundled", "loss_network": model.info["loss_network"], "photos": args.count,
              "size": args.size, "quick": vars(configs[0]), "results": results, "threads": torch.get_num_threads()}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.plot:
        plot_curve(results, args.plot)


def plot_curve(results: list[dict], path: str) -> None:
    """Each style's quick style loss against its wall time, with the jointly learned bank's and the
    reconstruction's as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4))
    for style in dict.fromkeys(r["style"] for r in results):
        rows = [r for r in results if r["style"] == style]
        line, = axes.plot([r["wall_seconds"] for r in rows], [r["quick"]["style"] for r in rows], "o-",
                          label=f"{style}: quick add-style")
        axes.axhline(rows[0]["joint"]["style"], color=line.get_color(), linestyle="--",
                     label=f"{style}: learned jointly")
        axes.axhline(rows[0]["reconstruction"]["style"], color=line.get_color(), linestyle=":",
                     label=f"{style}: unstylized")
    axes.set_xlabel("wall time of add-style, set-up included (s)")
    axes.set_ylabel("style loss on held-out photos")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
