"""The stylizing side (the Python API, the stylize command) never imports the training side: a user who only
stylizes does not pay for, or depend on, the loss network, the data pipeline or the trainer."""

import subprocess
import sys

import numpy as np
from PIL import Image

from bundled import FIRST, THIRD

# the package stylebank.training and its modules, and what only training and measuring use
TRAINING_SIDE = ("stylebank.training", "stylebank.config", "stylebank.losses", "stylebank.lossnet", "stylebank.gatys",
                 "stylebank.evaluate")

CHECK = """
import sys
{run}
loaded = sorted(name for name in sys.modules if name.startswith({training}))
assert not loaded, f"stylizing imported {{loaded}}"
"""


def run_checked(run: str, allowed: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    code = CHECK.format(run=run, training=tuple(name for name in TRAINING_SIDE if name not in allowed))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_the_python_api_stylizes_without_the_training_side():
    result = run_checked("import stylebank, torch\nmodel = stylebank.load(device='cpu')\n"
                         "model.stylize(torch.rand(3, 40, 48), style=0, strength=0.5)\n"
                         "model.style_image(0); model.compute_dtype('auto')")
    assert result.returncode == 0, result.stderr


def test_the_stylize_command_runs_without_the_training_side(tmp_path):
    photo, out = tmp_path / "photo.png", tmp_path / "out.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), np.uint8)).save(photo)
    result = run_checked(f"from stylebank.cli import main\nassert main(['stylize', {str(photo)!r}, '-o', {str(out)!r}, "
                         f"'--backend', 'torch', '-s', '{THIRD}:0.5,{FIRST}:0.5']) == 0",
                         allowed=("stylebank.config",))  # the parser shows the train command's defaults
    assert result.returncode == 0, result.stderr
    assert out.exists()
