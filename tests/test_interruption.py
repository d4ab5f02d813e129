"""SIGKILL a real training process during start-up, in the middle of a checkpoint write and at a random moment:
every kill leaves a complete checkpoint (or none, before the first), the next run removes the temporary files that
the killed one left beside its outputs (and no other files), --resume goes on from the checkpoint, and the end
result is exactly the model of an uninterrupted run of the same command."""

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from stylebank.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, load_model, read_info
from stylebank.cli import main

ITERATIONS = 30
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: deterministic, and fair to the other tests' cores
TIMEOUT = 600  # not a speed check: only so that a hang fails instead of blocking


def train_command(data, output: Path) -> list[str]:
    return [sys.executable, "-m", "stylebank", "train", "--content", str(data["content"]),
            "--style", *map(str, data["styles"]), "-o", str(output), "--image-size", "32", "--style-size", "32",
            "--batch-size", "1", "--iterations", str(ITERATIONS), "--vgg", "random", "--warmup", "0",
            "--checkpoint-every", "1", "--sample-every", "1000", "--device", "cpu", "--quiet",
            "--preview", str(data["content"] / "photo0.png")]


def start(data, output: Path, resume: bool) -> subprocess.Popen:
    return subprocess.Popen(train_command(data, output) + (["--resume"] if resume else []), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_until(condition: Callable[[], bool], process: subprocess.Popen, what: str,
               deadline: float | None = None) -> bool:
    """Poll until ``condition``; False if ``deadline`` (monotonic) came first. The process must stay alive."""
    give_up = time.monotonic() + TIMEOUT
    while not condition():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < give_up, what
        time.sleep(0.005)
    return True


def sigkill(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


def temporaries(checkpoint: Path) -> list[Path]:
    return sorted(checkpoint.parent.glob(f".{checkpoint.name}.*.tmp"))


def sigkill_at(process: subprocess.Popen, checkpoint: Path, saved: Callable[[int], bool],
               mid_write: bool = False) -> list[Path]:
    """SIGKILL once the complete checkpoint holds a step for which ``saved`` is true; with ``mid_write`` only while
    the next checkpoint's temporary file exists too (before its rename). Returns the temporary files left.

    The process is stopped and both are looked at again before the kill, so it is for sure where this says."""
    def there() -> bool:
        return (not mid_write or bool(temporaries(checkpoint))) and saved(saved_step(checkpoint))

    while True:
        wait_until(there, process, "training ended before the moment to kill it")
        process.send_signal(signal.SIGSTOP)
        os.waitpid(process.pid, os.WUNTRACED)  # returns once it has stopped
        if there():
            sigkill(process)
            return temporaries(checkpoint)
        process.send_signal(signal.SIGCONT)  # it moved on in between: wait for the next such moment


def saved_step(checkpoint: Path) -> int:
    return read_info(checkpoint, CHECKPOINT_FORMAT)["step"]


def checkpoint_step(checkpoint: Path) -> int:
    return load_checkpoint(checkpoint)[3]["step"]  # loading it proves it complete


@pytest.mark.slow
def test_sigkill_at_start_up_mid_write_and_at_random_never_costs_the_run(tiny_data):
    root = tiny_data["root"]
    output = root / "killed.safetensors"
    checkpoint, log, samples = (root / f"killed{suffix}" for suffix in (".checkpoint.safetensors", ".log.jsonl",
                                                                         ".samples"))
    rng = random.Random(20261129)
    straight_output = root / "straight.safetensors"
    straight = start(tiny_data, straight_output, resume=False)  # the reference, alongside the killed runs
    process = straight
    try:
        # 1. during start-up, well before the first checkpoint: importing torch alone takes longer than this (a
        # kill timed on the log's appearance could come after the first, fast, tiny step and its checkpoint)
        process = start(tiny_data, output, resume=False)
        time.sleep(rng.uniform(0.05, 0.4))
        assert process.poll() is None and not log.exists()
        sigkill(process)
        assert not checkpoint.exists() and not output.exists()

        # temporary files that killed writes of this run's model and samples would leave, and files that are not
        # this run's temporaries (another output's, a user's); every run that gets going removes the first only
        samples.mkdir()
        planted = [root / ".killed.safetensors.a1b2c3d4.tmp", samples / ".step_0000007.png.x_9y8z7w.tmp"]
        others = [root / ".other.safetensors.a1b2c3d4.tmp", root / ".killed.safetensors.bak.a1b2c3d4.tmp",
                  root / ".step_0000007.png.a1b2c3d4.tmp", root / "killed.tmp", samples / ".notes.txt.a1b2c3d4.tmp"]
        for path in planted + others:
            path.write_bytes(path.name.encode())

        # 2. a fresh run again (nothing to resume), killed in the middle of a checkpoint write
        process = start(tiny_data, output, resume=False)
        started = time.monotonic()
        wait_until(log.exists, process, "training never started")
        start_up = time.monotonic() - started
        wait_until(checkpoint.exists, process, "no checkpoint written")
        time.sleep(rng.uniform(0, 0.2))
        # with one photo a step, 2 styles and T = 2 the style queue is mid-round after steps 1, 4, 7...: resuming
        # there needs the saved queue
        [orphan] = sigkill_at(process, checkpoint, saved=lambda step: step % 3 == 1, mid_write=True)  # left behind
        reached = checkpoint_step(checkpoint)  # the previous checkpoint, intact
        assert 1 <= reached < ITERATIONS
        assert not any(path.exists() for path in planted)  # a new run clears them
        assert all(path.read_bytes() == path.name.encode() for path in others)
        for path in planted:
            path.write_bytes(path.name.encode())
        orphans = [orphan, *planted]

        # 3. --resume, killed during its start-up (or at once if it gets to a checkpoint first)
        since = checkpoint.stat().st_mtime_ns
        process = start(tiny_data, output, resume=True)
        wait_until(lambda: checkpoint.stat().st_mtime_ns != since, process, "no checkpoint written",
                   deadline=time.monotonic() + rng.uniform(0, 0.5) * start_up)
        sigkill(process)
        step = checkpoint_step(checkpoint)
        assert reached <= step < ITERATIONS
        reached = step

        # 4. --resume, killed at a random moment after its first checkpoint (it has cleared the orphans by then) but
        # one where the checkpoint holds a step just before an auto-encoder step (2, 5, 8...): resuming there needs
        # the saved norm of the last stylizing gradient
        process = start(tiny_data, output, resume=True)
        wait_until(lambda: saved_step(checkpoint) > reached, process, "no checkpoint written")
        time.sleep(rng.uniform(0, 0.3))
        sigkill_at(process, checkpoint, saved=lambda step: step % 3 == 2)
        assert not any(path.exists() for path in orphans)  # so does a resumed one
        assert all(path.read_bytes() == path.name.encode() for path in others)
        step = checkpoint_step(checkpoint)
        assert reached < step < ITERATIONS

        # 5. --resume to the end: the same command, in this process (an interpreter start-up saved) and on one
        # thread, as the others
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            assert main(train_command(tiny_data, output)[3:] + ["--resume"]) == 0
        finally:
            torch.set_num_threads(threads)
        assert {*root.glob(".killed.*.tmp"), *samples.glob(".*.tmp")} <= set(others)  # none of ours is left
        assert all(path.read_bytes() == path.name.encode() for path in others)

        _, straight_stderr = straight.communicate(timeout=TIMEOUT)
        assert straight.returncode == 0, straight_stderr
    finally:
        for running in (process, straight):
            running.kill()  # no-op for those that ended
    resumed, info, _ = load_model(output)
    uninterrupted = load_model(straight_output).net
    assert info["training"]["steps_done"] == ITERATIONS
    a, b = resumed.state_dict(), uninterrupted.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
