"""How fast is `stylebank video` end to end, and where does a frame's time go? (issue 31)

A handheld clip over a photo (sensor noise 2 of 255; H.264, --frames frames of --size) is stylized by
stylize_video, as the command does it (decode, flow, steadied input, stylize, blend, encode), with each backend,
each number of frames stylized at once (ONNX Runtime gives each its share of the cores) and each coherence mode, in
the same run, in turns, --repeats times: the median frames per second, and that run's milliseconds per frame in
each stage (the stylize stage is each frame's own time, so with 2 frames at once it overlaps itself). The code
before it (frames one at a time, the flow at full size) runs it too (`git worktree add /tmp/before 7e0c8ef`, then
`PYTHONPATH=/tmp/before/src python benchmarks/video_speed.py --at-once 1 --flow-scale 1`), but a comparison across
two runs takes the machine's drift with it: docs/video.md times the two `stylebank video` commands in turns.

    python benchmarks/video_speed.py [--size 640x360] [--frames 24] [--photo FILE] [--backends onnxruntime torch]
                                     [--at-once 1 2] [--modes none output] [--flow-scale 0.5] [--repeats 3]
                                     [--json RESULT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

from stylebank.backends.auto import load_stylizer
from stylebank.video.clips import make_frames, write_clip
from stylebank.video.pipeline import stylize_video
from stylebank.video.settings import Coherence


def summary(reports: list[dict]) -> dict:
    """The median run's frames per second and stage times, and every run's frames per second."""
    median = statistics.median_low(report["frames_per_second"] for report in reports)
    report = next(report for report in reports if report["frames_per_second"] == median)
    return {"frames_per_second": median, "all_frames_per_second": [r["frames_per_second"] for r in reports],
            "milliseconds_per_frame": report.get("milliseconds_per_frame")}


def coherence(mode: str, flow_scale: float) -> Coherence:
    """The settings (a checkout from before flow_scale ran the flow at full size, as flow_scale 1 does)."""
    if "flow_scale" not in Coherence.__dataclass_fields__:
        return Coherence(mode)
    return Coherence(mode, flow_scale=flow_scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--photo", default="astronaut", help="the clip's photo: a bundled name or a file")
    parser.add_argument("--backends", nargs="+", default=["onnxruntime", "torch"])
    parser.add_argument("--at-once", type=int, nargs="+", default=[1, 2], help="frames stylized at once")
    parser.add_argument("--modes", nargs="+", default=["none", "output"])
    parser.add_argument("--flow-scale", type=float, default=getattr(Coherence, "flow_scale", 1.0))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    result = {"size": args.size, "frames": args.frames, "flow_scale": args.flow_scale, "photo": Path(args.photo).name,
              "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(), "runs": {}}
    with tempfile.TemporaryDirectory() as folder:
        clip = write_clip(Path(folder) / "clip.mp4", make_frames("handheld", args.frames, (width, height),
                                                                   photo=args.photo))
        runs = {}  # key -> (stylizer, coherence settings)
        for backend in args.backends:
            for at_once in args.at_once if backend == "onnxruntime" else [1]:
                # the setting only where it is not the old default, so that an earlier checkout runs this too
                model = load_stylizer(None, backend, "cpu", images=4,
                                      **({"concurrent_calls": at_once} if at_once > 1 else {}))
                for mode in args.modes:
                    runs[f"{backend}, {at_once} at once, coherence {mode}"] = (model, coherence(mode, args.flow_scale))
        reports = {key: [] for key in runs}
        # in turns, each setting once a round (a warm-up round first), so that the machine's drift is shared
        for round_ in range(args.repeats + 1):
            for key, (model, settings) in runs.items():
                report = stylize_video(model, clip, Path(folder) / "out.mp4", coherence=settings, style=2)
                if round_:
                    reports[key].append(report)
        for key in runs:
            result["runs"][key] = summary(reports[key])
            print(key, json.dumps(result["runs"][key]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
