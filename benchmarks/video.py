"""Does coherence steady the video without losing the style, and how fast is it? (issue 16)

For each test clip (a camera panning, zooming and turning over the bundled photos, an object moving over a still
scene; see stylebank.video.clips) or a clip you pass, and each coherence mode (frame by frame, the output carried
along the flow, the paper's features carried), in the same run:
- temporal error (Lai et al. 2018): the mean squared difference between each stylized frame and the previous one
  warped by the input frames' flow, outside occlusions (stylebank.video.temporal), ×10⁴; and the same over the
  flat regions of the input only (flat flicker: where re-rolled texture boils most); both also for the input
  frames themselves (what the footage's own noise and resampling give);
- the style loss of the frames (the model's own objective, measured by its loss network);
- frames per second of `stylebank video` itself on a 640×360 H.264 clip (decoding, flow, stylizing, encoding).

    python benchmarks/video.py [--frames 20] [--size 640x360] [--styles 0 2] [--clip FILE [--clip-start S]]
                               [--kinds pan handheld] [--photo FILE] [--noise 2] [--flow-scale 0.5] [--no-speed]
                               [--json RESULT.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from helpers import load_measured_model
from stylebank.evaluate import evaluation_loss
from stylebank.tensors import to_tensor
from stylebank.video.clips import CLIP_KINDS, make_frames, write_clip
from stylebank.video.coherence import CoherentFrames
from stylebank.video.settings import COHERENCE_MODES, Coherence
from stylebank.video.pipeline import stylize_video
from stylebank.video.reader import Frame, VideoReader
from stylebank.backends.stylizer import StylizeOptions
from stylebank.video.temporal import input_motion, warping_errors


def clip_frames(args: argparse.Namespace) -> dict[str, list[torch.Tensor]]:
    size = tuple(int(side) for side in args.size.split("x"))
    if args.clip:
        with VideoReader(args.clip, start=args.clip_start) as reader:
            pictures = (item.pixels for item in reader if isinstance(item, Frame))
            frames = [to_tensor(pixels) for pixels in itertools.islice(pictures, args.frames)]
        return {f"{Path(args.clip).name} from {args.clip_start:g} s": frames}
    return {f"{kind} over {Path(args.photo).stem}": [to_tensor(frame) for frame in
                                                     make_frames(kind, args.frames, size, args.photo, args.noise)]
            for kind in args.kinds}


def steadiness(frames: list[torch.Tensor], outputs: list[torch.Tensor], motion: list) -> dict:
    """Lai et al.'s warping error, over all trusted pixels and over those in flat regions, ×10⁴ (``motion``: the
    clip's input_motion)."""
    errors = {"temporal_error_e4": warping_errors(frames, outputs, motion=motion),
              "flat_flicker_e4": warping_errors(frames, outputs, flat_only=True, motion=motion)}
    return {name: round(statistics.mean(values) * 1e4, 3) for name, values in errors.items()}


def measure(model, criterion, frames: list[torch.Tensor], motion: list, style: int, mode: str, carry: float,
            steady_input: float = 0.0, flow_scale: float = Coherence.flow_scale) -> dict:
    coherence = Coherence(mode, carry, steady_input=steady_input, flow_scale=flow_scale)
    coherent = CoherentFrames(model, StylizeOptions(style), coherence)
    outputs = [coherent(frame) for frame in frames]
    target = torch.tensor([style])
    with torch.no_grad():
        losses = [criterion(output.unsqueeze(0), frame.unsqueeze(0), target) for output, frame in zip(outputs, frames)]
    return {**steadiness(frames, outputs, motion),
            "style_loss": round(statistics.mean(loss["style"].item() for loss in losses), 4),
            "content_loss": round(statistics.mean(loss["content"].item() for loss in losses), 4),
            "scene_cuts": coherent.scene_cuts}


def speed(model, size: str, frames: int, mode: str, carry: float) -> float:
    """Frames per second of the whole command's work on a clip of ``frames`` frames of ``size``."""
    width, height = (int(side) for side in size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        clip = write_clip(Path(folder) / "clip.mp4", make_frames("pan", frames, (width, height)))
        started = time.perf_counter()
        stylize_video(model, clip, Path(folder) / "out.mp4", coherence=Coherence(mode, carry))
        return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", help="a model file or a run's checkpoint; default: the bundled model")
    parser.add_argument("--modes", nargs="+", choices=COHERENCE_MODES, default=list(COHERENCE_MODES),
                        help="the coherence modes measured (default: all; frame by frame always)")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--styles", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--carry", type=float, default=Coherence.carry)
    parser.add_argument("--clip", help="also (instead of the made clips) a video of your own")
    parser.add_argument("--clip-start", type=float, default=0.0, help="where in --clip to start, in seconds")
    parser.add_argument("--kinds", nargs="+", choices=CLIP_KINDS, default=list(CLIP_KINDS), help="made clips")
    parser.add_argument("--photo", default="astronaut", help="the made clips' photo: a bundled name or a file")
    parser.add_argument("--noise", type=float, default=2.0, help="the made clips' sensor noise (of 255)")
    parser.add_argument("--no-speed", action="store_true", help="skip the frames-per-second runs")
    parser.add_argument("--steady-input", type=float, nargs="*", default=[],
                        help="also measure output coherence with the input steadied by these shares")
    parser.add_argument("--flow-scale", type=float, default=Coherence.flow_scale,
                        help="coherence's flow computed on frames shrunk by this much")
    parser.add_argument("--vgg", default="hed", help="the loss network that measures the style (default hed)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    model = load_measured_model(args.model)
    criterion = evaluation_loss(model, args.vgg)
    result = {"model": args.model or "bundled", "size": args.size, "frames": args.frames, "carry": args.carry, "flow_scale": args.flow_scale,
              "precision": "fp32 (auto on this CPU)", "backend": "torch", "threads": torch.get_num_threads(),
              "clips": {}}
    for name, frames in clip_frames(args).items():
        motion = input_motion(frames)  # the inputs' flows, once per clip
        for style in args.styles:
            key = f"{name}, {model.styles[style]}"
            # how much the footage itself changes, then each mode's outputs, all against the inputs' flows
            result["clips"][key] = {"input": steadiness(frames, frames, motion)}
            result["clips"][key].update({mode: measure(model, criterion, frames, motion, style, mode, args.carry,
                                                         flow_scale=args.flow_scale)
                                         for mode in ("none", *[m for m in args.modes if m != "none"])})
            result["clips"][key].update({f"output, steady input {share}": measure(
                model, criterion, frames, motion, style, "output", args.carry, share, args.flow_scale)
                for share in args.steady_input})
            print(key, json.dumps(result["clips"][key]), flush=True)
    if not args.no_speed:
        result["frames_per_second"] = {mode: round(speed(model, args.size, args.frames, mode, args.carry), 2)
                                       for mode in ("none", "output", "features")}
        print("frames/s", result["frames_per_second"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
