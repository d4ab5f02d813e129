"""Contact sheets: pictures in a grid with a label under each; a model's styles with their style images."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont, ImageOps

from .errors import StyleBankError
from .tensors import resize_to_fit, to_pil, to_tensor

LABEL_HEIGHT = 28
PADDING = 6
INSET_FRACTION = 0.3  # a style's image in the corner of its tile, as a fraction of the tile's shorter side
INSET_BORDER = 1


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


def with_inset(tile: Image.Image, picture: Image.Image) -> Image.Image:
    """``tile`` with ``picture`` shrunk into its bottom-right corner, on a white border."""
    size = max(4, round(min(tile.size) * INSET_FRACTION))
    inset = picture.copy()
    inset.thumbnail((size, size), Image.Resampling.LANCZOS)
    framed = ImageOps.expand(inset, border=INSET_BORDER, fill="white")
    tile = tile.copy()
    tile.paste(framed, (tile.width - framed.width, tile.height - framed.height))
    return tile


def style_tile(model, image: Image.Image, index: int) -> Image.Image:
    """``image`` in style ``index``, with the style's image in a corner where the model keeps it."""
    stylized = model.stylize(image, style=index)
    try:
        return with_inset(stylized, to_pil(model.style_image(index)))
    except StyleBankError:  # an imported style without its image, an old model's path not found from here
        return stylized


def contact_sheet(model, photo: Image.Image, tile_size: int = 384, columns: int | None = None) -> Image.Image:
    """The photo, then the photo in each of ``model``'s styles (its style image in a corner)."""
    image = to_pil(resize_to_fit(to_tensor(photo), tile_size))
    tiles = [("original", image)] + [(f"{i}: {name}", style_tile(model, image, i)) for i, name in enumerate(model.styles)]
    return labelled_grid(tiles, columns)
