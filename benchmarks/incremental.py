"""How fast does a new style learn? add-style (E, D frozen) against training a model from scratch.

The target is the style loss that the model's jointly trained styles reach, measured on a fixed batch of
crops of the held-out photos with the model's own loss network and weights. Then:
- add-style: a new bank for --style on top of the model; iterations and seconds until its style loss on the
  same batch is at or below the target;
- from scratch: a fresh network (warm-up, then both branches) trained on --style alone, the same way.

Both runs anneal the learning rate over the last quarter of their own iteration limit (the default schedule).

    python benchmarks/incremental.py [-m MODEL] [--style builtin:hubble_deep_field] [--json RESULT.json]
    python benchmarks/incremental.py --report RESULT.json     # the markdown summary of a saved --json run
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

import stylebank
from stylebank.training.data import ContentImages, load_style_images
from stylebank.losses import LossWeights, StylizingLoss
from stylebank.samples import HELD_OUT_PHOTOS
from stylebank.config import ADD_STYLE_LR, TrainConfig, add_style_config
from stylebank.training.loop import Trainer


@torch.no_grad()
def style_loss(net, criterion: StylizingLoss, images: torch.Tensor, bank: int | None, target: int) -> float:
    """The style loss against style ``target`` of the output of ``bank`` (None: the unstylized reconstruction)."""
    net.eval()
    styles = torch.full((images.shape[0],), target, dtype=torch.long)
    output = net.reconstruct(images) if bank is None else net(images, bank)
    loss = criterion(output.clamp(0, 1), images, styles)["style"].item()
    net.train()
    return loss


def race(trainer: Trainer, measure, goal: float, limit: int, every: int) -> dict:
    """Train until the measured loss reaches ``goal`` or ``limit`` iterations; the time excludes measuring."""
    history, seconds = [], 0.0
    while trainer.step < limit:
        started = time.perf_counter()
        for _ in range(every):
            trainer.train_step()
        seconds += time.perf_counter() - started
        loss = measure()
        history.append({"iteration": trainer.step, "seconds": round(seconds, 1), "style_loss": round(loss, 4)})
        print(f"  {trainer.step:5d} it  {seconds:7.1f} s  style loss {loss:.4f}", flush=True)
        if loss <= goal:
            return {"reached": True, "iterations": trainer.step, "seconds": round(seconds, 1), "history": history}
    return {"reached": False, "iterations": trainer.step, "seconds": round(seconds, 1), "history": history}


def first_reaching(history: list[dict], loss: float) -> dict | None:
    """The first measurement at or below ``loss``."""
    return next((h for h in history if h["style_loss"] <= loss), None)


def summary(result: dict) -> str:
    """Markdown: both runs, and how soon add-style matched where training from scratch ended."""
    added, fresh = result["add_style"], result["from_scratch"]
    lines = [f"New style `{result['style']}` at {result['image_size']}², target {result['target']:.4f} (the mean style "
             "loss of the model's jointly trained styles)" + (f"; the unstylized reconstruction's style loss "
             f"{result['unstylized_style_loss']:.2f}" if "unstylized_style_loss" in result else ""), "",
             "| method | reached target | iterations | seconds | last style loss |", "|---|---|---|---|---|"]
    for name, run in (("add-style", added), ("from scratch", fresh)):
        lines.append(f"| {name} | {'yes' if run['reached'] else 'no'} | {run['iterations']} | {run['seconds']} "
                     f"| {run['history'][-1]['style_loss']} |")
    end = fresh["history"][-1]
    match = first_reaching(added["history"], end["style_loss"])
    if match:
        lines += ["", f"add-style reached the from-scratch run's final style loss ({end['style_loss']}, after "
                      f"{end['iteration']} iterations and {end['seconds']} s) after {match['iteration']} iterations "
                      f"and {match['seconds']} s."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--model", help="base model (default: the bundled one)")
    parser.add_argument("--style", default="builtin:hubble_deep_field", help="the new style image")
    parser.add_argument("--add-limit", type=int, default=2000, help="most add-style iterations")
    parser.add_argument("--scratch-limit", type=int, default=2000, help="most from-scratch iterations")
    parser.add_argument("--every", type=int, default=100, help="measure every N iterations")
    parser.add_argument("--image-size", type=int,
                        help="crop size of both runs and of the measuring crops (default: the model's own)")
    parser.add_argument("--add-lr", type=float, default=ADD_STYLE_LR, help=f"add-style lr (default {ADD_STYLE_LR})")
    parser.add_argument("--json", metavar="RESULT.json", help="also write the result, with every measurement, here")
    parser.add_argument("--report", metavar="RESULT.json", help="summarise a saved --json result and exit")
    args = parser.parse_args()
    if args.report:
        print(summary(json.loads(Path(args.report).read_text())))
        return

    model = stylebank.load(args.model, "cpu")
    base = TrainConfig.from_dict(model.info["training"])
    if args.image_size:  # a smaller size for both runs: like for like, at a fraction of the time
        base = replace(base, image_size=args.image_size)
    vgg = model.info["loss_network"]
    workdir = Path(tempfile.mkdtemp(prefix="stylebank-incremental-"))
    common = dict(device="cpu", checkpoint_every=10**9, sample_every=10**9, image_size=base.image_size)
    adder = Trainer(add_style_config(model.info, str(model.path), [args.style], workdir / "added.safetensors",
                                     lr=args.add_lr, iterations=args.add_limit, **common))
    images = ContentImages([f"builtin:{n}" for n in HELD_OUT_PHOTOS], base.image_size).sample(
        8, torch.Generator().manual_seed(0))
    weights = LossWeights(base.content_weight, base.style_weight, base.tv_weight)
    base_criterion = StylizingLoss(adder.loss_network, load_style_images(model.style_images, base.style_size), weights)
    joint = [style_loss(model.net, base_criterion, images, i, i) for i in range(len(model.styles))]
    goal = sum(joint) / len(joint)
    unstylized = style_loss(adder.net, adder.criterion, images, None, 0)
    print(f"jointly trained styles ({', '.join(model.styles)}): style loss {', '.join(f'{x:.4f}' for x in joint)}"
          f"; target = their mean {goal:.4f}; the unstylized reconstruction against the new style: {unstylized:.4f}")
    new_index = len(model.styles)
    print(f"add-style {args.style} (E, D and {len(model.styles)} banks frozen):")
    added = race(adder, lambda: style_loss(adder.net, adder.criterion, images, new_index, 0), goal,
                 args.add_limit, args.every)
    print(f"from scratch on {args.style} (warm-up {TrainConfig.warmup}, then both branches):")
    # like for like: the add-style run's precision (the base run's bf16 is ~60x slower on CPUs without native bf16);
    # a fresh network's schedule is the default one (a model trained on with --init-from had a fine-tuning one)
    fresh_schedule = {name: getattr(TrainConfig, name) for name in ("warmup", "lr", "lr_ramp", "lr_anneal")}
    scratch = Trainer(replace(base, **common, **fresh_schedule, styles=[args.style], vgg=vgg,
                              iterations=args.scratch_limit, precision=adder.config.precision, init_from=None,
                              output=str(workdir / "scratch.safetensors")))
    fresh = race(scratch, lambda: style_loss(scratch.net, scratch.criterion, images, 0, 0), goal,
                 args.scratch_limit, args.every)
    result = {"model": str(model.path), "style": args.style, "image_size": base.image_size, "loss_network": vgg,
              "joint_style_losses": dict(zip(model.styles, joint)), "target": goal, "unstylized_style_loss": unstylized,
              "schedules": {"add_style": adder.config.to_dict(), "from_scratch": scratch.config.to_dict()},
              "add_style": added, "from_scratch": fresh}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print("\n" + summary(result))


if __name__ == "__main__":
    main()
