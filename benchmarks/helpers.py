"""What several benchmarks share: the model measured (a model file or a run's checkpoint), held-out photos, and how
each exposure of a photo comes back. (Timing is in timing.py.)"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

import stylebank
from stylebank.checkpoint import save_checkpoint_model
from stylebank.evaluate import centre_square
from stylebank.images import expand_sources, load_image
from stylebank.metrics import image_psnr
from stylebank.tensors import to_tensor

# The exposures of a photo that the parameter study (study.py) measures: as it is, darker, lower contrast,
# brighter (global affine changes).
EXPOSURES = {"as is": (1.0, 0.0), "darker 0.6x": (0.6, 0.0), "contrast 0.5x+0.25": (0.5, 0.25),
             "brighter 0.7x+0.3": (0.7, 0.3)}


def load_measured_model(path: str | None):
    """The model at ``path`` (None: the bundled one), or, for a run's checkpoint (RUN.checkpoint.safetensors),
    the model of its weights; on the CPU, in eval mode."""
    with tempfile.TemporaryDirectory() as folder:
        model = stylebank.load(model_path(path, Path(folder)), "cpu")
    model.net.eval()
    return model


def model_path(path: str | None, folder: Path) -> str | None:
    """``path``, or where it is a training checkpoint, the model file of its weights (written in ``folder``)."""
    if path is None or not path.endswith(".checkpoint.safetensors"):
        return path
    return str(save_checkpoint_model(path, folder / "from_checkpoint.safetensors")[0])


def held_out_photos(folder: str, count: int, size: int) -> list[torch.Tensor]:
    """The first ``count`` photos of ``folder``, each the centre square at ``size``."""
    return [centre_square(to_tensor(load_image(f)), size) for f in expand_sources([folder])[:count]]


def exposure_psnr(model, photo: torch.Tensor) -> dict[str, float]:
    """For each exposure of ``photo``: the PSNR of its reconstruction D(E(I)) against itself."""
    result = {}
    for name, (gain, offset) in EXPOSURES.items():
        changed = (photo * gain + offset).clamp(0, 1)
        result[name] = round(image_psnr(model.stylize(changed, strength=0, precision="fp32"), changed), 2)
    return result


def measurement_arguments(description: str, count: int, size: int) -> argparse.Namespace:
    """The command line of a measurement on held-out photos: --model, --photos, --count, --size, --json."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-m", "--model", help="a model file or a run's checkpoint; default: the bundled model")
    parser.add_argument("--photos", default="data/photos/heldout", help="held-out photos (scripts/build_corpus.py)")
    parser.add_argument("--count", type=int, default=count, help="photos measured")
    parser.add_argument("--size", type=int, default=size)
    parser.add_argument("--json", help="write the results here")
    return parser.parse_args()


def report(result: dict, path: str | None) -> None:
    """Print ``result`` as JSON, and write it to ``path`` where given."""
    text = json.dumps(result, indent=1)
    print(text)
    if path:
        Path(path).write_text(text + "\n")
