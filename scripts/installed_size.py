"""How much disk an installed distribution takes with what it requires (that is installed here), in MB.

    python scripts/installed_size.py starlette uvicorn python-multipart
"""

from __future__ import annotations

import re
import sys
from importlib import metadata


def requirements(name: str, seen: set[str]) -> None:
    """``name`` and, recursively, what it requires without extras or environment markers that exclude it."""
    key = name.lower().replace("_", "-")
    if key in seen:
        return
    try:
        distribution = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return
    seen.add(key)
    for requirement in distribution.requires or []:
        if "extra ==" in requirement:
            continue
        marker = requirement.split(";", 1)[1] if ";" in requirement else ""
        if "python_version <" in marker and "3.1" in marker:  # backports for older Pythons
            continue
        requirements(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0], seen)


def size_mb(name: str) -> float:
    distribution = metadata.distribution(name)
    files = [distribution.locate_file(file) for file in distribution.files or []]
    return sum(path.stat().st_size for path in files if path.is_file()) / 1e6


def main() -> None:
    seen: set[str] = set()
    for name in sys.argv[1:]:
        requirements(name, seen)
    sizes = {name: size_mb(name) for name in sorted(seen)}
    for name, size in sizes.items():
        print(f"{name:24s} {size:6.2f} MB")
    print(f"{'total':24s} {sum(sizes.values()):6.2f} MB")


if __name__ == "__main__":
    main()
