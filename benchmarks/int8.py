"""int8: the bundled model's ONNX export quantized by ONNX Runtime's static quantization, against fp32.

    python benchmarks/int8.py                  # ~2 minutes on 2 cores: a markdown report
    python benchmarks/int8.py --json int8.json

Kept only where its output stays at least 35 dB PSNR from fp32 on the held-out photos (the rule bf16 follows,
stylebank.backends.pytorch.AUTO_BF16_MIN_PSNR) and where it is faster. The graph is constant-folded first (ONNX Runtime's
basic optimisations), so that the decoder's convolutions have constant weights; the style bank's convolution,
whose weights are the blend computed from the inputs, stays in float. Activations uint8, weights int8 per
channel, QDQ format, calibrated on the training photos at 256² in every style; MinMax and Percentile calibration.
Latency: 512², fresh sessions taking turns, median of the warm runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)

from stylebank.formats import default_model_path
from stylebank.images import load_image, to_float_array
from stylebank.samples import HELD_OUT_PHOTOS, TRAINING_PHOTOS

MIN_PSNR = 35.0


def session(path: Path, optimized: Path | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if optimized is not None:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def feed(image: np.ndarray, style: int, styles: int) -> dict[str, np.ndarray]:
    height, width = image.shape[-2:]
    return {"image": image[None], "region_weights": np.eye(1, styles, k=style, dtype=np.float32),
            "masks": np.ones((1, height, width), np.float32), "strength": np.array(1, np.float32)}


def photos(names: tuple[str, ...], size: int) -> list[np.ndarray]:
    return [to_float_array(load_image(f"builtin:{name}").convert("RGB").resize((size, size))) for name in names]


class Calibration(CalibrationDataReader):
    def __init__(self, styles: int):
        self.feeds = iter([feed(image, style, styles) for image in photos(TRAINING_PHOTOS, 256)
                           for style in range(styles)])

    def get_next(self):
        return next(self.feeds, None)


def quantized(folded: Path, target: Path, method: CalibrationMethod, styles: int) -> Path:
    graph = onnx.load(str(folded))
    constants = {tensor.name for tensor in graph.graph.initializer}
    blended = [node.name for node in graph.graph.node if node.op_type == "Conv" and node.input[1] not in constants]
    with contextlib.redirect_stdout(sys.stderr):  # the calibrator's progress lines, not the report
        quantize_static(str(folded), str(target), Calibration(styles), quant_format=QuantFormat.QDQ,
                        per_channel=True, op_types_to_quantize=["Conv"], nodes_to_exclude=blended,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=method)
    return target


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2)))


def quality(reference: ort.InferenceSession, candidate: ort.InferenceSession, styles: int) -> dict[str, float]:
    """PSNR of the candidate against fp32 for each held-out photo (512²) and style."""
    return {f"{name}/{style}": psnr(reference.run(None, feed(image, style, styles))[0],
                                    candidate.run(None, feed(image, style, styles))[0])
            for name, image in zip(HELD_OUT_PHOTOS, photos(HELD_OUT_PHOTOS, 512)) for style in range(styles)}


def latencies(paths: dict[str, Path], styles: int, rounds: int) -> dict[str, dict]:
    image = np.random.default_rng(0).random((3, 512, 512), dtype=np.float32)
    warm: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, path in paths.items():
            runner = session(path)
            runner.run(None, feed(image, 0, styles))
            for _ in range(3):
                started = time.perf_counter()
                runner.run(None, feed(image, 0, styles))
                warm[name].append(time.perf_counter() - started)
    return {name: {"median_ms": 1000 * statistics.median(t), "min_ms": 1000 * min(t), "max_ms": 1000 * max(t)}
            for name, t in warm.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    export = default_model_path().with_suffix(".onnx")
    styles = len(json.loads(session(export).get_modelmeta().custom_metadata_map["stylebank"])["styles"])
    result = {"command": "python benchmarks/int8.py" + " ".join(sys.argv[1:]).join([" ", ""]).rstrip(),
              "date": time.strftime("%Y-%m-%d"), "onnxruntime": ort.__version__, "min_psnr": MIN_PSNR}
    with tempfile.TemporaryDirectory() as scratch:
        folded = Path(scratch) / "folded.onnx"
        reference = session(export, optimized=folded)
        paths = {"fp32": export}
        for method in (CalibrationMethod.MinMax, CalibrationMethod.Percentile):
            paths[f"int8 {method.name}"] = quantized(folded, Path(scratch) / f"{method.name}.onnx", method, styles)
        result["psnr"] = {name: quality(reference, session(path), styles) for name, path in paths.items()
                          if name != "fp32"}
        result["latency_512"] = latencies(paths, styles, args.rounds)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    lines = [f"{result['date']}, ONNX Runtime {result['onnxruntime']}. Command: `{result['command']}`.", "",
             "| model | ms at 512² (median, min–max) | PSNR against fp32, held-out photos × styles (min / median) | kept |",
             "|---|---|---|---|"]
    for name, timing in result["latency_512"].items():
        values = list(result["psnr"].get(name, {}).values())
        quality_cell = f"{min(values):.1f} / {statistics.median(values):.1f} dB" if values else "–"
        faster = timing["median_ms"] < result["latency_512"]["fp32"]["median_ms"]
        kept = "–" if name == "fp32" else ("yes" if values and min(values) >= MIN_PSNR and faster else "no")
        lines.append(f"| {name} | {timing['median_ms']:.0f} ({timing['min_ms']:.0f}–{timing['max_ms']:.0f}) | "
                     f"{quality_cell} | {kept} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
