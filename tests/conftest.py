"""Shared fixtures (fixtures only: the plain functions that tests share are in helpers.py). Whatever is costly (a
trained model, an ONNX export) is made once per session in a folder of its own and never written to again: a test
that changes a model or its files works on a copy (see helpers.copy_of), and each test still gets its own empty
cache folder (isolated_cache)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import make_tiny_data, unchanged


def pytest_configure(config):
    """Under pytest-xdist (-n N), each worker gets its share of the cores: torch's default of one thread per core
    in every worker oversubscribes them, and that is many times slower."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(workers)))


# "": PyTorch on this CPU, the default; "auto": the auto backend (ONNX Runtime, PyTorch where it cannot) on a CPU
# without bf16; "amx": the auto backend on a CPU with AMX, where PyTorch takes many images and runs them in bf16
MACHINES = ("", "auto", "amx")


@pytest.fixture(autouse=True, scope="session")
def session_cache(tmp_path_factory) -> Iterator[Path]:
    """The cache of the session-scoped fixtures (which run before any test's own isolated_cache is set): never
    the user's either."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("session-cache")
        patch.setenv("STYLEBANK_CACHE", str(folder))
        # the command line's tests stylize with PyTorch, as their models ship without an ONNX export (one export
        # costs ~15 s); the auto backend has tests of its own (test_auto_backend.py), which pass --backend auto.
        # test_other_machines.py reruns the command line, studio and video tests as other machines run them.
        machine = os.environ.get("STYLEBANK_TEST_MACHINE", "")
        if machine not in MACHINES:
            raise pytest.UsageError(f"STYLEBANK_TEST_MACHINE={machine!r}: use one of {', '.join(MACHINES)}")
        patch.setenv("STYLEBANK_BACKEND", "torch" if machine == "" else "auto")
        if machine == "amx":
            import stylebank.backends.auto
            import torch

            patch.setattr(stylebank.backends.auto, "cpu_has_amx", lambda: True)
            patch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
        yield folder


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache (converted VGG weights, ONNX exports) from a test, nor another test's: each
    test starts with an empty one."""
    monkeypatch.setenv("STYLEBANK_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def tiny_data(tmp_path):
    """The small photos and style images in this test's own folder (its root): a test may add files to them."""
    return make_tiny_data(tmp_path)


@pytest.fixture(scope="session")
def shared_tiny_data(tmp_path_factory) -> Iterator[dict]:
    """tiny_data made once per session, for models trained once per session (whose files name these images):
    read only. A test's own files go in its tmp_path."""
    data = make_tiny_data(tmp_path_factory.mktemp("shared-data"))
    with unchanged(data["root"]):
        yield data
