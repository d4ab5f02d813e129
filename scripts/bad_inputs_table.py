"""Run every bad input of tests/badfiles.py through the command line and print docs/bad-inputs.md.

    python scripts/bad_inputs_table.py > docs/bad-inputs.md
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

# tests/badfiles.py: the bad files that tests/test_bad_inputs.py checks (a helper module of the tests, never a
# test file), so that the table and the tests cover the same cases
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from badfiles import ARGUMENT_CASES, IMAGE_CASES, MODEL_CASES  # noqa: E402

import stylebank  # noqa: E402
from stylebank.cli import main  # noqa: E402


def run(argv: list[str], folder: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as stopped:  # argparse's usage errors
            code = stopped.code
    return code, err.getvalue().strip().replace(str(folder) + "/", "").replace("\n", "<br>").replace("|", "\\|")


def rows() -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for case in IMAGE_CASES:
            folder = Path(tempfile.mkdtemp(dir=root))
            path = case.make(folder)
            code, said = run(["stylize", str(path), "-o", str(folder / "out"), "--device", "cpu"], folder)
            written = len(list((folder / "out").iterdir())) if (folder / "out").exists() else 0
            lines.append(f"| image | {case.name} | `stylize` | {code} | {written} | {said or '(stylized)'} |")
        good = shutil.copy(stylebank.default_model_path(), root / "good.safetensors")
        for case in MODEL_CASES:
            folder = Path(tempfile.mkdtemp(dir=root))
            path = case.make(folder, good)
            code, said = run(["stylize", "builtin:coffee", "-m", str(path), "-o", str(folder / "out.png")], folder)
            executed = " **(pickle executed!)**" if (folder / "PWNED").exists() else ""
            written = int((folder / "out.png").exists())
            lines.append(f"| model | {case.name} | `stylize -m` | {code} | {written} | {said}{executed} |")
        for arguments, _, _ in ARGUMENT_CASES:
            folder = Path(tempfile.mkdtemp(dir=root))
            code, said = run(["stylize", "builtin:coffee", "-o", str(folder / "out.png"), *arguments], folder)
            written = int((folder / "out.png").exists())
            lines.append(f"| option | `{' '.join(arguments)}` | `stylize` | {code} | {written} | {said} |")
    return lines


if __name__ == "__main__":
    print("# Bad inputs and what stylebank does with them\n")
    print("Made by `python scripts/bad_inputs_table.py > docs/bad-inputs.md`; the same files are checked by "
          "`tests/test_bad_inputs.py` (built by `tests/badfiles.py`). Exit status 1 = refused, 2 = a usage error; "
          "\"written\" counts output files (never a partial one).\n")
    print("| kind | input | command | exit | written | what stylebank says on stderr |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows()))
