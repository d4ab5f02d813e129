"""``stylebank video``: a stylized video that does not flicker."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ..backends.auto import TORCH_FROM_IMAGES, load_stylizer
from ..errors import StyleBankError
from ..runtime import PRECISIONS
from ..video.settings import COHERENCE_MODES, FRAMES_AT_ONCE, Coherence
from ..video.writer import is_folder_output
from .options import (DEFAULT_MAX_SIZE, add_backend_options, add_max_pixels_option, add_overwrite_option, check_output,
                      input_paths, non_negative_int, stylize_options, unit_float)


def seconds(text: str) -> float:
    """A time: seconds (``12.5``) or [hh:]mm:ss(.f) (``1:02.5``)."""
    if not re.fullmatch(r"(\d+:){0,2}\d+(\.\d*)?", text.strip()):
        raise argparse.ArgumentTypeError(f"expected seconds or [hh:]mm:ss, got {text!r}")
    value = 0.0
    for part in text.strip().split(":"):
        value = value * 60 + float(part)
    return value


def add_video(commands: argparse._SubParsersAction) -> None:
    """``stylebank video``: its options and handler."""
    video = commands.add_parser("video", help="stylize a video without flicker (needs stylebank[video])")
    video.add_argument("input", metavar="INPUT", help="a video file (what FFmpeg reads) or a folder of numbered images")
    video.add_argument("-o", "--output", required=True,
                       help="OUT.mp4 / .mov / .mkv (H.264, the input's audio copied), or a folder for PNG frames")
    video.add_argument("-m", "--model", help="model file (default: the bundled model)")
    video.add_argument("-s", "--style", default="0", help="style index or name, or a blend like 0:0.5,2:0.5")
    regions = video.add_mutually_exclusive_group()
    regions.add_argument("--mask", metavar="LABELS", help="label image: each grey value or colour is a region")
    regions.add_argument("--regions", metavar="kmeans:K", help="K-means regions of the first frame")
    video.add_argument("--region-styles", metavar="SPEC", help="one style per region, as for stylize")
    video.add_argument("--strength", type=unit_float, default=1.0, help="0 = the frames reconstructed, 1 = full style")
    video.add_argument("--preserve-color", action="store_true", help="keep the video's colours")
    video.add_argument("--max-size", type=non_negative_int, default=DEFAULT_MAX_SIZE,
                       help=f"shrink frames so the longer side is at most N pixels (default {DEFAULT_MAX_SIZE}, as "
                            "stylize: a 4K clip at full size takes many seconds a frame on a CPU; 0 keeps the size)")
    video.add_argument("--start", type=seconds, default=0.0, metavar="T", help="start at T (seconds or mm:ss)")
    video.add_argument("--duration", type=seconds, metavar="T", help="stylize T of the video (default: to the end)")
    video.add_argument("--coherence", choices=COHERENCE_MODES, default=Coherence.mode,
                       help="carry the previous stylized frame along the optical flow: output (default), features "
                            "(the paper's way, weaker here; see docs/video.md) or none (frame by frame)")
    video.add_argument("--no-coherence", dest="coherence", action="store_const", const="none",
                       help="frame by frame (the same as --coherence none)")
    video.add_argument("--carry", type=unit_float, default=Coherence.carry,
                       help="how much of the carried frame to keep where the flow is trusted: more is steadier, "
                            f"less keeps more of each frame's texture (default {Coherence.carry})")
    video.add_argument("--steady-input", type=unit_float, default=Coherence.steady_input, metavar="S",
                       help="how much of the previous input frame, carried along the flow, to blend into each frame "
                            "before it is stylized: averages out the sensor noise the network would paint as boiling "
                            f"texture in flat areas (default {Coherence.steady_input}; 0: off; not with none)")
    video.add_argument("--precision", choices=PRECISIONS, default="auto")
    add_backend_options(video)
    video.add_argument("--json", action="store_true", help="print what was done as JSON")
    video.add_argument("--quiet", action="store_true", help="no progress bar")
    add_overwrite_option(video)
    add_max_pixels_option(video)
    video.set_defaults(handler=run_video)


def progress_bar(quiet: bool):
    """The progress of stylize_video: a bar with frames/s and the time left."""
    from tqdm import tqdm

    def start(total: int | None):
        bar = tqdm(total=total, unit="frame", disable=quiet, dynamic_ncols=True)
        return lambda: bar.update()

    return start


def check_video_output(output: str, overwrite: bool, inputs: set[Path]) -> None:
    """As check_output, for a video file or a folder of frames (which --overwrite replaces as a whole: so it may
    neither be an input nor hold one)."""
    target = Path(output)
    if not is_folder_output(target):
        check_output(target, overwrite, inputs)
        return
    folder = target.resolve()
    if any(path == folder or folder in path.parents for path in inputs):
        raise StyleBankError(f"{target}: refusing to write over an input; write to another folder")
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        raise StyleBankError(f"{target} already exists; add --overwrite to replace it")


def scene_cuts(count: int) -> str:
    return f"; {count} scene cut{'s' * (count != 1)} (started afresh)" if count else ""


def stage_times(report: dict) -> str:
    """Where a frame's time went, e.g. "decode 3 ms, flow 14 ms, stylize 420 ms (2 frames at once), …"."""
    at_once = report["frames_at_once"]
    return ", ".join(f"{stage} {milliseconds:.0f} ms" + (f" ({at_once} frames at once)" if stage == "stylize"
                                                         and at_once > 1 else "")
                     for stage, milliseconds in report["milliseconds_per_frame"].items())


def run_video(args: argparse.Namespace) -> int:
    try:
        import av  # noqa: F401
        import cv2  # noqa: F401

        from ..video.pipeline import stylize_video
    except ImportError as error:
        raise StyleBankError(f"stylebank video needs the video extra ({error.name} is missing): "
                             "pip install 'stylebank[video]'") from None
    check_video_output(args.output, args.overwrite, input_paths(args.input, args.model))
    model = load_stylizer(args.model, args.backend, args.device, images=TORCH_FROM_IMAGES,  # frames
                          concurrent_calls=FRAMES_AT_ONCE)
    report = stylize_video(model, args.input, args.output, start=args.start, duration=args.duration,
                           max_pixels=args.max_pixels, progress=progress_bar(args.quiet or args.json),
                           options=stylize_options(args, model.styles), max_size=args.max_size or None,
                           coherence=Coherence(args.coherence, args.carry,
                                               steady_input=args.steady_input))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        width, height = report["size"]
        print(f"wrote {report['output']}: {report['frames']} frames, {width}x{height}, {report['rate']:.4g} fps"
              f"{', audio copied' if report['audio'] else ''}; {report['seconds']:.1f} s "
              f"({report['frames_per_second']:.2f} frames/s)"
              f"{scene_cuts(report['scene_cuts'])}")
        print(f"time per frame: {stage_times(report)}")
        if report["input_size"] and report["input_size"] != report["size"]:
            print(f"stylebank: note: the frames are {'x'.join(map(str, report['input_size']))}; stylized at "
                  f"{width}x{height} (--max-size {args.max_size}; --max-size 0 keeps the size)", file=sys.stderr)
    return 0
