"""Training curves as pictures: every logged term of a run (or several, overlaid) against iterations.

Reads the JSONL log that training writes beside the model (``MODEL.log.jsonl``), also while the run is still
writing it. Needs matplotlib (``pip install 'stylebank[plot]'``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_write
from .config import with_suffix
from .errors import StyleBankError

# (log key, panel title, logarithmic y axis, smoothed), in the figure's reading order: the stylizing branch's
# terms, the auto-encoder branch's, then the schedule (exact values, drawn as they are).
PANELS = (("content", "content loss (stylizing)", True, True), ("style", "style loss (stylizing)", True, True),
          ("tv", "total variation (stylizing)", True, True), ("total", "total loss (stylizing)", True, True),
          ("identity", "reconstruction loss (auto-encoder)", True, True),
          ("psnr", "reconstruction PSNR (dB)", False, True),
          ("grad_ratio", "λ gradient ratio ‖∇style‖ / ‖∇identity‖", True, True),
          ("lr", "learning rate", False, False), ("skipped", "skipped steps (non-finite), in all", False, False))
COLUMNS = 3
RAW_ALPHA = 0.2  # the raw values, faint behind the smoothed curve


@dataclass
class Curves:
    """One run's log: for each logged term, its (iterations, values)."""

    label: str
    series: dict[str, tuple[list[int], list[float]]]


def log_path(source: str | Path) -> Path:
    """The training log of a model file (MODEL.log.jsonl beside it), or ``source`` itself if it is a log."""
    path = Path(source)
    if path.suffix == ".safetensors":
        path = with_suffix(str(path), ".log.jsonl")
    if not path.is_file():
        raise StyleBankError(f"{path}: no such training log (training writes MODEL.log.jsonl beside the model)")
    return path


def read_curves(source: str | Path) -> Curves:
    """Every numeric term of a training log. A line that does not parse (the one a running job is writing) is
    left out; a skipped-step count that is not logged is 0 until the first skip."""
    path = log_path(source)
    series: dict[str, tuple[list[int], list[float]]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            step = int(record["step"])
        except (ValueError, KeyError, TypeError):
            continue
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                steps, values = series.setdefault(key, ([], []))
                steps.append(step)
                values.append(float(value))
    if not series:
        raise StyleBankError(f"{path}: no logged iterations yet")
    return Curves(path.name.removesuffix(".log.jsonl"), series)


def smoothed(values: list[float], weight: float) -> list[float]:
    """An exponential moving average, corrected for its start (as TensorBoard smooths): 0 = raw values."""
    if not 0 <= weight < 1:
        raise StyleBankError(f"smoothing must be at least 0 and below 1, got {weight}")
    average, result = 0.0, []
    for count, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        result.append(average / (1 - weight ** count))
    return result


def smoothed_on_scale(values: list[float], weight: float, logarithmic: bool) -> list[float]:
    """``smoothed`` on the axis' own scale: on a log axis the logarithms are averaged, so that a loss falling by
    orders of magnitude is not dragged up by its first values."""
    if not logarithmic:
        return smoothed(values, weight)
    return [math.exp(v) for v in smoothed([math.log(v) for v in values], weight)]


def load_pyplot():
    """matplotlib's pyplot, drawing to files only; a StyleBankError that says how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise StyleBankError("stylebank plot needs matplotlib: pip install 'stylebank[plot]'") from None
    matplotlib.use("Agg")  # files only: no display needed
    from matplotlib import pyplot

    return pyplot


def curves_figure(runs: list[Curves], smoothing: float = 0.6):
    """One matplotlib figure: a panel per logged term, each run in its own colour (smoothed, raw values faint
    behind); panels no run logged are left out."""
    pyplot = load_pyplot()
    panels = [panel for panel in PANELS if any(panel[0] in run.series for run in runs)]
    rows = math.ceil(len(panels) / COLUMNS)
    figure, axes = pyplot.subplots(rows, COLUMNS, figsize=(5 * COLUMNS, 3.4 * rows), squeeze=False)
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, (key, title, logarithmic, smooth) in zip(axes.flat, panels):
        logarithmic = logarithmic and all(v > 0 for run in runs for v in run.series.get(key, ([], []))[1])
        for index, run in enumerate(runs):
            if key in run.series:
                steps, values = run.series[key]
                colour = colours[index % len(colours)]
                if smooth:
                    axis.plot(steps, values, color=colour, alpha=RAW_ALPHA, linewidth=0.8)
                    values = smoothed_on_scale(values, smoothing, logarithmic)
                axis.plot(steps, values, color=colour, linewidth=1.6, label=run.label)
        if logarithmic:
            axis.set_yscale("log")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("iteration", fontsize=8)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=8)
    figure.tight_layout()
    return figure


def plot_curves(sources: list[str | Path], output: str | Path, smoothing: float = 0.6) -> Path:
    """Draw the training curves of ``sources`` (model files or their logs), overlaid, into ``output`` (PNG, SVG,
    PDF by extension)."""
    figure = curves_figure([read_curves(source) for source in sources], smoothing)
    image_format = Path(output).suffix.lower().lstrip(".") or "png"
    try:
        return atomic_write(output, lambda file: figure.savefig(file, format=image_format, dpi=100))
    finally:
        load_pyplot().close(figure)
