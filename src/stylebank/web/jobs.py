"""What a stylize or regions request asks for, checked against the model before any image is decoded, and the
work itself (decode, stylize, encode), which the server runs one at a time."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from starlette.datastructures import FormData

from .. import __version__
from ..fusion import RegionFields, kmeans_labels, painted_spec, parse_regions, resolve_style
from ..images import MAX_PIXELS, load_image, load_label_image, png_bytes, to_float_array
from ..backends.stylizer import StylizeOptions, Stylizer, shrink_to_fit
from .forms import file_field, flag_field, number_field, text_field
from .limits import Rejected

DEFAULT_MAX_SIZE = 1024  # as stylebank stylize's --max-size
MAX_KMEANS_REGIONS = 8
REGION_FIELDS = RegionFields(region_styles="region_styles", masks="a mask (a label image) or regions (kmeans:K)")


@dataclass
class StylizeJob:
    """A /api/stylize request's settings (the CLI's names and specs) and its uploaded files' bytes."""

    style: str = "0"
    strength: float = 1.0
    preserve_color: bool = False
    region_styles: str | None = None
    regions: str | None = None
    max_size: int = DEFAULT_MAX_SIZE
    image: bytes = field(default=b"", repr=False)
    mask: bytes | None = field(default=None, repr=False)
    mixes: tuple[dict[int, float], ...] | None = None  # the style resolved against the model's (stylize_job)

    def settings(self) -> dict:
        """What was asked, as written into the result PNG's text metadata."""
        chosen = asdict(self)
        del chosen["image"], chosen["mask"], chosen["mixes"]
        if self.mask is None and self.regions is None:
            del chosen["region_styles"]
        else:  # the regions' styles were painted; the single style was not used
            del chosen["style"]
        chosen["mask"] = self.mask is not None
        return {key: value for key, value in chosen.items() if value is not None}


async def stylize_job(form: FormData, styles: list[str]) -> StylizeJob:
    """The job a form asks for; its specs are checked against ``styles`` here, before any decoding."""
    job = StylizeJob(style=text_field(form, "style", "0"),
                     strength=number_field(form, "strength", 1.0, 0.0, 1.0),
                     preserve_color=flag_field(form, "preserve_color"),
                     region_styles=text_field(form, "region_styles"), regions=text_field(form, "regions"),
                     max_size=int(number_field(form, "max_size", DEFAULT_MAX_SIZE, 0, 1_000_000, whole=True)),
                     image=await file_field(form, "image"), mask=await file_field(form, "mask", required=False))
    if job.mask is not None and job.regions:
        raise Rejected(400, "give a mask or regions, not both")
    regions = job.mask is not None or bool(job.regions)
    job.mixes = tuple(resolve_style(painted_spec(job.style, job.region_styles, regions, REGION_FIELDS), styles,
                                    regions))
    if job.regions:
        parse_regions(job.regions)
    return job


def model_name(stylizer: Stylizer) -> str:
    """What the server calls its model: the file's name, never the server's paths."""
    return Path(str(stylizer.path or "model")).name


def run_stylize(stylizer: Stylizer, job: StylizeJob, model: str, max_pixels: int = MAX_PIXELS) -> bytes:
    """The job's result as PNG bytes, its settings (and ``model``, the model's name) in the PNG's metadata."""
    image = load_image("the uploaded image", max_pixels, data=job.image)
    mask = load_label_image("the uploaded mask", max_pixels, data=job.mask) if job.mask is not None else job.regions
    style = job.region_styles if mask is not None else job.style
    options = StylizeOptions(style, mask, job.strength, job.preserve_color, mixes=job.mixes)
    result = stylizer.stylize_with(image, options, max_size=job.max_size or None)
    settings = {"software": f"stylebank {__version__}", "model": model, **job.settings()}
    # the fastest compression: 2.5x faster than PNG's default on a 512² photo, for a file 10% larger
    return png_bytes(result, {"stylebank": json.dumps(settings), "Software": settings["software"]})


async def regions_job(form: FormData) -> tuple[bytes, int, int]:
    """(image bytes, K, max_size) of a /api/regions request."""
    count = int(number_field(form, "regions", 4, 1, MAX_KMEANS_REGIONS, whole=True))
    max_size = int(number_field(form, "max_size", 512, 8, 4096, whole=True))
    return await file_field(form, "image"), count, max_size


def run_regions(data: bytes, count: int, max_size: int, max_pixels: int = MAX_PIXELS) -> bytes:
    """K-means regions of the image shrunk to ``max_size``, as a greyscale PNG of labels 0..K-1, darkest first
    (what stylize's ``--regions kmeans:K`` uses)."""
    image = shrink_to_fit(to_float_array(load_image("the uploaded image", max_pixels, data=data))[None], max_size)[0]
    labels = kmeans_labels(image, count).astype(np.uint8)
    return png_bytes(Image.fromarray(labels))
