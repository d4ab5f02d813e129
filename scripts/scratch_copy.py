"""The scratch copy that the mutation checks break and test (scripts/mutants.py, scripts/rule_mutants.py): a
checkout's src/ and tests/ copied to a folder, and pytest run there on the copy's stylebank, never the checkout's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

NO_TESTS = (4, 5)  # pytest's exit codes for a test file that isn't there and for a selection matching no test


def copy_tree(root: Path, work: Path) -> None:
    """``root``'s src/, tests/ and pyproject.toml as they are now (committed or not)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for folder in ("src", "tests"):
        shutil.copytree(root / folder, work / folder, ignore=ignore)
    shutil.copy(root / "pyproject.toml", work / "pyproject.toml")


def run_tests(work: Path, tests: tuple[str, ...], timeout: float) -> tuple[int | None, str]:
    """pytest in the scratch copy, importing stylebank from it; (exit code or None on time-out, last lines)."""
    env = {**os.environ, "PYTHONPATH": str(work / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    # one process: worker start-ups would cost more than the few tests of a selection
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", "0", *tests]
    try:
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    return done.returncode, "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])


def check_imports_the_copy(work: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(work / "src")}
    found = subprocess.run([sys.executable, "-c", "import stylebank; print(stylebank.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).is_relative_to(work):
        sys.exit(f"the scratch copy is not what Python imports ({found}); is stylebank installed non-editable?")
