"""Our chicago pictures beside fast-neural-style's published ones (issue 28's visual yardstick).

jcjohnson/fast-neural-style publishes its outputs for ``images/content/chicago.jpg`` in five of our bundled
paintings' styles (``images/outputs/``: its instance-norm models at 1024 px; ``images/outputs/eccv16/``: the
paper's models at 512 px). This stylizes the same photo at --width with our model and, for each style, measures
both pictures under the same loss (the ImageNet VGG-19, Gatys' layers, the painting as our model stores it):
the style loss against the painting and the content loss against the photo, every picture resized to --width
first. It writes a picture: the painting, theirs, ours, one row a style.

    python benchmarks/chicago.py --repo PATH_TO_A_CLONE_OR_BARE_MIRROR [-m MODEL | -m RUN.checkpoint.safetensors]
        [--width 512] [--json docs/benchmarks/chicago_v3.json] [--image docs/images/chicago_comparison.jpg]

Their outputs are "free for personal or research use" (the repository's README), so they are read from the
repository at run time; docs/chicago.md says what the committed comparison holds.
"""

from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from helpers import load_measured_model, report
from stylebank.losses import LossWeights, StylizingLoss
from stylebank.lossnet import load_loss_network
from stylebank.tensors import to_tensor

COMMIT = "813c83441953ead2adb3f65f4cc2d5599d735fa7"
PHOTO = "images/content/chicago.jpg"
# our style name -> their published output of chicago in that painting
THEIRS = {"starry_night": "images/outputs/eccv16/chicago_starry_night.jpg",
          "the_scream": "images/outputs/chicago_scream.jpg",
          "wave": "images/outputs/eccv16/chicago_wave.jpg",
          "composition_vii": "images/outputs/eccv16/chicago_composition_vii.jpg",
          "udnie": "images/outputs/chicago_udnie.jpg"}
ROW_HEIGHT = 240


def read_blob(repo: Path, path: str) -> np.ndarray:
    """An RGB image at ``path`` in commit COMMIT of the git repository ``repo`` (a clone or a bare mirror)."""
    data = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", f"{COMMIT}:{path}"], check=True,
                          capture_output=True).stdout
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def at_width(picture: np.ndarray, width: int) -> np.ndarray:
    height = round(picture.shape[0] * width / picture.shape[1])
    return np.asarray(Image.fromarray(picture).resize((width, height), Image.Resampling.LANCZOS))


@torch.no_grad()
def losses(criterion: StylizingLoss, picture: np.ndarray, photo: np.ndarray, style: int) -> dict[str, float]:
    measured = criterion(to_tensor(picture)[None], to_tensor(photo)[None], torch.tensor([style]))
    return {"style_loss": round(measured["style"].item(), 4), "content_loss": round(measured["content"].item(), 4)}


def labelled(picture: np.ndarray, text: str) -> Image.Image:
    image = Image.fromarray(picture)
    image = image.resize((round(image.width * ROW_HEIGHT / image.height), ROW_HEIGHT), Image.LANCZOS)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 8 + 6 * len(text), 16), fill=(0, 0, 0))
    draw.text((4, 3), text, fill=(255, 255, 255))
    return image


def sheet(rows: list[list[Image.Image]]) -> Image.Image:
    widths = [max(row[column].width for row in rows) for column in range(len(rows[0]))]
    canvas = Image.new("RGB", (sum(widths) + 4 * (len(widths) - 1), len(rows) * (ROW_HEIGHT + 4) - 4), "white")
    for number, row in enumerate(rows):
        left = 0
        for column, picture in enumerate(row):
            canvas.paste(picture, (left, number * (ROW_HEIGHT + 4)))
            left += widths[column] + 4
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="jcjohnson/fast-neural-style: a clone or bare mirror")
    parser.add_argument("-m", "--model", help="a model file or a run's checkpoint; default: the bundled model")
    parser.add_argument("--width", type=int, default=512, help="the photo's width when stylized and measured")
    parser.add_argument("--json", help="write the measurements here")
    parser.add_argument("--image", type=Path, help="write the side-by-side picture here")
    args = parser.parse_args()
    model = load_measured_model(args.model)
    missing = sorted(set(THEIRS) - set(model.styles))
    if missing:
        parser.error(f"the model has no style {', '.join(missing)}")
    photo = at_width(read_blob(args.repo, PHOTO), args.width)
    indices = [model.styles.index(name) for name in THEIRS]
    criterion = StylizingLoss(load_loss_network("vgg19"), [model.style_image(i) for i in indices],
                              LossWeights(1.0, 1.0, 0.0))
    result, rows = {"model": args.model or "bundled", "width": args.width, "commit": COMMIT, "styles": {}}, []
    for number, (name, path) in enumerate(THEIRS.items()):
        ours = np.asarray(model.stylize(photo, style=name, precision="fp32"))
        theirs = at_width(read_blob(args.repo, path), args.width)
        measured = {"theirs": losses(criterion, theirs, photo, number), "ours": losses(criterion, ours, photo, number)}
        measured["ours_over_theirs"] = {k: round(measured["ours"][k] / measured["theirs"][k], 3)
                                        for k in ("style_loss", "content_loss")}
        result["styles"][name] = {"theirs": path, **measured}
        painting = (model.style_image(indices[number]).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        rows.append([labelled(painting, name), labelled(theirs, "fast-neural-style"), labelled(ours, "stylebank")])
    report(result, args.json)
    if args.image:
        sheet(rows).save(args.image, quality=88)


if __name__ == "__main__":
    main()
