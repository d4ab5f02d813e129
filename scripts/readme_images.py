"""Make the README's picture: held-out photos in every style of a model, the style images on top.

    python scripts/readme_images.py [MODEL] [-o docs/images/default_model.png]
"""

import argparse

import torch
import torch.nn.functional as F

import stylebank
from stylebank.images import load_image, save_image
from stylebank.tensors import image_grid, resize_to_fit, to_pil, to_tensor
from stylebank.samples import HELD_OUT_PHOTOS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?")
    parser.add_argument("-o", "--output", default="docs/images/default_model.png")
    parser.add_argument("--size", type=int, default=320)
    args = parser.parse_args()
    model = stylebank.load(args.model, "cpu")
    photos = [resize_to_fit(to_tensor(load_image(f"builtin:{name}")), args.size) for name in HELD_OUT_PHOTOS]
    height, width = photos[0].shape[-2:]

    def fit(tile):  # every tile at the first photo's size
        return F.interpolate(tile.unsqueeze(0), size=(height, width), mode="bilinear", antialias=True)[0]

    tiles = [torch.ones(3, height, width)] + [fit(model.style_image(name)) for name in model.styles]
    for photo in photos:
        tiles += [fit(photo)] + [fit(model.stylize(photo, style=name)) for name in model.styles]
    save_image(to_pil(image_grid(tiles, columns=1 + len(model.styles), padding=4)), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
