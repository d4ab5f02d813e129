"""The command line, studio, video and bad-input tests once more, as other machines run them: the rest of the
suite stylizes with PyTorch on this CPU (conftest.py), while a user's `stylebank` takes the auto backend, which
on a CPU without AMX paints with ONNX Runtime (PyTorch for what it cannot do) and on one with AMX gives
PyTorch's bf16 network many images. Each machine is a nested pytest run with STYLEBANK_TEST_MACHINE set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = ("test_stylize_cli.py", "test_cli.py", "test_web.py", "test_video.py", "test_bad_inputs.py")


@pytest.mark.slow
@pytest.mark.parametrize("machine", ["auto", "amx"])
def test_the_user_facing_tests_pass_on_the_auto_backend(machine, tmp_path):
    folder = Path(__file__).parent
    environment = {**os.environ, "STYLEBANK_TEST_MACHINE": machine}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-m", "not slow", "-p", "no:cacheprovider",
                          "--basetemp", str(tmp_path / "nested"), *(str(folder / name) for name in TESTS)],
                         env=environment, capture_output=True, text=True, cwd=folder.parent, timeout=900)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-6000:]
    assert " passed" in summary and "failed" not in summary, summary
