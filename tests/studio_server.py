"""``stylebank serve`` as a user starts it, in a process of its own on 127.0.0.1, for the tests that need a real
server (test_server.py, test_studio_browser.py)."""

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


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
