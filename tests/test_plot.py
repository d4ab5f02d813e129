"""`stylebank plot`: a training run's curves (or several runs') as one picture."""

import json
import math
import sys

import pytest
from PIL import Image

import stylebank
from helpers import make_tiny_data
from stylebank.cli import main
from stylebank.errors import StyleBankError
from stylebank.plot import curves_figure, read_curves, smoothed
from stylebank.config import TrainConfig
from stylebank.training.loop import train


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two tiny runs (both branches logged at every iteration) that differ in their learning rate."""
    data = make_tiny_data(tmp_path_factory.mktemp("plot-data"))
    models = []
    for lr in (1e-3, 1e-2):
        config = TrainConfig(content=[str(data["content"])], styles=[str(s) for s in data["styles"]],
                             output=str(data["root"] / f"lr{lr}.safetensors"), image_size=32, style_size=32,
                             batch_size=2, iterations=8, warmup=2, vgg="random", device="cpu", log_every=1, lr=lr,
                             lr_ramp=0, preview=str(data["content"] / "photo0.png"))
        models.append(train(config, progress=False))
    return models


def test_every_logged_term_is_read_against_its_iteration(two_runs):
    curves = read_curves(two_runs[0])  # a model file: its log beside it
    records = [json.loads(line) for line in two_runs[0].with_name("lr0.001.log.jsonl").read_text().splitlines()]
    for key in ("content", "style", "tv", "total", "identity", "psnr", "grad_ratio", "lr"):
        steps, values = curves.series[key]
        assert list(zip(steps, values)) == [(r["step"], r[key]) for r in records if key in r], key
    assert curves.series["identity"][0][:2] == [1, 2] and curves.series["style"][0][0] == 3  # warm-up first
    assert curves.label == "lr0.001"


def test_the_figure_has_a_panel_per_term_with_every_run_overlaid(two_runs):
    figure = curves_figure([read_curves(path) for path in two_runs], smoothing=0.5)
    panels = {axis.get_title(): axis for axis in figure.axes if axis.get_title()}
    assert {"content loss (stylizing)", "style loss (stylizing)", "reconstruction PSNR (dB)", "learning rate",
            "λ gradient ratio ‖∇style‖ / ‖∇identity‖", "reconstruction loss (auto-encoder)"} <= set(panels)
    rates = panels["learning rate"]  # exact values, drawn as they are: one line per run
    assert [list(line.get_ydata()) for line in rates.lines] == [read_curves(path).series["lr"][1] for path in two_runs]
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["lr0.001", "lr0.01"]
    style = panels["style loss (stylizing)"]
    assert style.get_yscale() == "log" and len(style.lines) == 4  # two runs, each raw (faint) and smoothed
    solid = [line for line in style.lines if line.get_alpha() is None][0]
    steps, values = read_curves(two_runs[0]).series["style"]
    assert list(solid.get_xdata()) == steps  # on the log axis the logarithms are smoothed
    assert list(solid.get_ydata()) == pytest.approx([math.exp(v) for v in smoothed([math.log(v) for v in values], 0.5)])


def test_plot_command_writes_a_picture_of_a_run_in_progress(two_runs, tmp_path, capsys):
    log = tmp_path / "running.log.jsonl"
    lines = two_runs[0].with_name("lr0.001.log.jsonl").read_text().splitlines()
    log.write_text("\n".join(lines) + '\n{"step": 9, "branch": "sty')  # the line being written
    output = tmp_path / "curves.png"
    assert main(["plot", str(log), str(two_runs[1]), "-o", str(output)]) == 0
    with Image.open(output) as image:
        assert image.format == "PNG" and image.size == (1500, 1020)  # 3 x 3 panels
        assert len(image.convert("RGB").getcolors(1 << 20)) > 100  # curves drawn, not a blank page
    assert main(["plot", str(log), "-o", str(output)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "none.safetensors"), "-o", str(tmp_path / "x.png")]) == 1
    assert "none.log.jsonl: no such training log" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plot", str(log), "-o", str(tmp_path / "y.png"), "--smoothing", "1"])


def test_smoothing_starts_at_the_first_value_and_follows_a_step():
    assert smoothed([2.0, 2.0, 2.0], 0.9) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards 0 at the start
    assert smoothed([1.0, 5.0], 0) == [1.0, 5.0]
    step = smoothed([0.0] * 5 + [1.0] * 50, 0.8)
    assert step[4] == 0 and 0 < step[5] < step[10] < step[-1] < 1 and step[-1] > 0.99
    with pytest.raises(StyleBankError):
        smoothed([1.0], 1.0)


def test_without_matplotlib_it_says_what_to_install(two_runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    assert main(["plot", str(two_runs[0]), "-o", str(tmp_path / "c.png")]) == 1
    assert "pip install 'stylebank[plot]'" in capsys.readouterr().err


def test_plot_without_a_run_plots_the_bundled_models_log(tmp_path, capsys):
    from stylebank.formats import default_model_path
    from stylebank.plot import read_curves

    output = tmp_path / "bundled.png"
    assert main(["plot", "-o", str(output)]) == 0
    assert str(output) in capsys.readouterr().out
    with Image.open(output) as image:
        assert image.format == "PNG" and len(image.convert("RGB").getcolors(1 << 20)) > 100
    curves = read_curves(default_model_path())  # the log shipped beside the model, of the run that made it
    last_steps = [max(steps) for steps, _ in curves.series.values() if steps]
    assert max(last_steps) + 10 >= stylebank.load(device="cpu").info["training"]["steps_done"]
