"""SIGKILL a real training process at random moments: every kill leaves a complete checkpoint, --resume goes on
from it, and the run ends with a loadable model."""

import os
import random
import signal
import subprocess
import sys
import time

import stylebank
from stylebank.checkpoint import load_checkpoint

ITERATIONS = 60


def train_command(data, output) -> list[str]:
    return [sys.executable, "-m", "stylebank", "train", "--content", str(data["content"]),
            "--style", *map(str, data["styles"]), "-o", str(output), "--image-size", "32", "--style-size", "32",
            "--batch-size", "2", "--iterations", str(ITERATIONS), "--vgg", "random", "--warmup", "0",
            "--checkpoint-every", "1", "--sample-every", "1000", "--device", "cpu", "--quiet",
            "--preview", str(data["content"] / "photo0.png")]


def wait_for_a_new_checkpoint(checkpoint, since: float, process, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not (checkpoint.exists() and checkpoint.stat().st_mtime > since):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.01)


def test_sigkill_at_random_moments_never_costs_the_checkpoint(tiny_data):
    output = tiny_data["root"] / "killed.safetensors"
    checkpoint = output.with_name("killed.checkpoint.safetensors")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(20261129)
    reached = 0
    for _ in range(4):
        resume = ["--resume"] if checkpoint.exists() else []
        started = time.time()
        process = subprocess.Popen(train_command(tiny_data, output) + resume, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for_a_new_checkpoint(checkpoint, started, process)
        time.sleep(rng.uniform(0, 0.3))  # somewhere in the next steps, often in the middle of a checkpoint write
        process.send_signal(signal.SIGKILL)
        process.wait()
        step = load_checkpoint(checkpoint)[3]["step"]  # complete and readable
        assert reached <= step < ITERATIONS
        reached = step
    finished = subprocess.run(train_command(tiny_data, output) + ["--resume"], env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    model = stylebank.load(output, "cpu")
    assert model.info["training"]["steps_done"] == ITERATIONS
