"""Make the README's fusion picture: blends, K-means regions, strength and colour preservation on a held-out photo.

    python scripts/fusion_examples.py [-o docs/images/fusion.png]
"""

import argparse

import stylebank
from stylebank.images import load_image, save_image
from stylebank.tensors import resize_to_fit, to_pil, to_tensor
from stylebank.sheet import labelled_grid

EXAMPLES = [  # (label, stylize options): the same options as the command line's
    ("-s mosaic", dict(style="mosaic")),
    ("-s mosaic:1,waves:1", dict(style="mosaic:1,waves:1")),
    ("-s waves", dict(style="waves")),
    ("--regions kmeans:3 --region-styles 1,0,3", dict(style="1,0,3", mask="kmeans:3")),
    ("-s strokes --strength 0.5", dict(style="strokes", strength=0.5)),
    ("-s strokes --preserve-color", dict(style="strokes", preserve_color=True)),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output", default="docs/images/fusion.png")
    parser.add_argument("--photo", default="builtin:astronaut")
    parser.add_argument("--size", type=int, default=320)
    args = parser.parse_args()
    model = stylebank.load(device="cpu")
    photo = to_pil(resize_to_fit(to_tensor(load_image(args.photo)), args.size))
    tiles = [(label, model.stylize(photo, **options)) for label, options in EXAMPLES]
    print(f"wrote {save_image(labelled_grid(tiles, columns=3), args.output)}")


if __name__ == "__main__":
    main()
