"""Reading a request's multipart form: each field as what it must be, or a ``Rejected`` (400) that says in plain
words which field is wrong and why. File names a client sends are never used."""

from __future__ import annotations

import math

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from .limits import Rejected

MAX_FILES = 2  # the image and a mask
MAX_FIELDS = 16


async def read_form(request: Request) -> FormData:
    """The request's multipart form; a 400 for anything else or a malformed one."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Rejected(400, "send a multipart/form-data form (curl -F image=@photo.jpg ...)")
    try:
        return await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    except Rejected:
        raise
    except Exception as error:  # python-multipart's and Starlette's parse errors have no common base
        raise Rejected(400, f"malformed multipart form ({error})") from None


async def file_field(form: FormData, name: str, required: bool = True) -> bytes | None:
    """The bytes of the uploaded file ``name``."""
    value = form.get(name)
    if value is None or value == "":
        if required:
            raise Rejected(400, f"missing the {name!r} file field")
        return None
    if not isinstance(value, UploadFile):
        raise Rejected(400, f"{name!r} must be a file upload (curl -F {name}=@FILE), not text")
    return await value.read()


def text_field(form: FormData, name: str, default: str | None = None) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, UploadFile):
        raise Rejected(400, f"{name!r} must be a text field, not a file")
    return value.strip()


def number_field(form: FormData, name: str, default: float, minimum: float, maximum: float,
                 whole: bool = False) -> float:
    """A number in [minimum, maximum] (a whole one where ``whole``)."""
    text = text_field(form, name)
    if text is None:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise Rejected(400, f"{name} must be a {'whole ' if whole else ''}number, got {text[:40]!r}") from None
    if not (math.isfinite(value) and minimum <= value <= maximum):
        raise Rejected(400, f"{name} must be between {minimum:g} and {maximum:g}, got {text[:40]}")
    return value


def flag_field(form: FormData, name: str) -> bool:
    """true/false, 1/0, on/off, yes/no; absent is false."""
    text = (text_field(form, name) or "false").lower()
    if text not in ("true", "false", "1", "0", "on", "off", "yes", "no"):
        raise Rejected(400, f"{name} must be true or false, got {text[:40]!r}")
    return text in ("true", "1", "on", "yes")
