"""Contact sheets: pictures in a grid with a label under each."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont

from .images import resize_to_fit, to_pil, to_tensor

LABEL_HEIGHT = 28
PADDING = 6


def labelled_grid(tiles: list[tuple[str, Image.Image]], columns: int | None = None) -> Image.Image:
    """Same-size pictures in rows (about square by default), each with its label underneath."""
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    width, height = tiles[0][1].size
    sheet = Image.new("RGB", (columns * (width + PADDING) + PADDING, rows * (height + LABEL_HEIGHT + PADDING) + PADDING),
                      "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    for i, (label, tile) in enumerate(tiles):
        left = PADDING + (i % columns) * (width + PADDING)
        top = PADDING + (i // columns) * (height + LABEL_HEIGHT + PADDING)
        sheet.paste(tile, (left, top))
        draw.text((left + width / 2, top + height + LABEL_HEIGHT / 2), label, fill="black", font=font, anchor="mm")
    return sheet


def contact_sheet(model, photo: Image.Image, tile_size: int = 384, columns: int | None = None) -> Image.Image:
    """The photo, then the photo in each of ``model``'s styles."""
    image = to_pil(resize_to_fit(to_tensor(photo), tile_size))
    tiles = [("original", image)] + [(f"{i}: {name}", model.stylize(image, style=i)) for i, name in enumerate(model.styles)]
    return labelled_grid(tiles, columns)
