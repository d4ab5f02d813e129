"""``stylebank serve`` as a user starts it, in a process of its own on 127.0.0.1, and the requests a page sends it:
for the tests that need a real server (test_server.py, test_studio_browser.py; test_web.py sends the same request
bodies to the app in its own process), and for benchmarks/studio.py and scripts/studio_screenshot.py. A helper
module, not a test file: those import it with tests/ on their path."""

import contextlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from stylebank.images import png_bytes


@dataclass
class Studio:
    url: str
    process: subprocess.Popen
    workdir: Path  # its current folder: nothing may appear there
    tmpdir: Path  # its TMPDIR: where uploads spill; empty again once requests are done


@contextlib.contextmanager
def running_studio(folder: Path, *options: str) -> Iterator[Studio]:
    """Start the server on a free port (``--port 0``) with ``folder`` as its home, current folder and TMPDIR, and
    stop it afterwards."""
    workdir, tmpdir = folder / "workdir", folder / "tmp"
    workdir.mkdir(parents=True), tmpdir.mkdir()
    environment = {**os.environ, "TMPDIR": str(tmpdir), "HOME": str(folder), "STYLEBANK_CACHE": str(folder / "cache"),
                   "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "stylebank", "serve", "--port", "0", *options], cwd=workdir,
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # "StyleBank studio at http://127.0.0.1:PORT/ (Ctrl-C stops it)"
        if "http://" not in line:
            raise RuntimeError(f"the server did not start: {line}{process.stderr.read()}")
        yield Studio(line.split()[3], process, workdir, tmpdir)
    finally:
        process.terminate()
        process.wait(timeout=30)


def png(image: Image.Image | np.ndarray) -> bytes:
    return png_bytes(Image.fromarray(image) if isinstance(image, np.ndarray) else image)


def multipart(fields: dict[str, str], files: dict[str, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type, for any fields and files (even no file at all)."""
    boundary = "stylebank-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\n'
              f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n" for name, data in files.items()]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(url: str, fields: dict, files: dict) -> tuple[int, object, bytes]:
    body, content_type = multipart(fields, files)
    request = urllib.request.Request(url + "api/stylize", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.headers, answer.read()  # headers: case-insensitive
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
