"""Training in several processes with torchrun (gloo on the CPU): the steps, and so the model, of one process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ddp_probe import record_gradients
from stylebank.checkpoint import load_checkpoint, load_model
from stylebank.cli import main
from stylebank.config import TrainConfig
from stylebank.training.distributed import Processes, check_batch_split
from stylebank.errors import StyleBankError
from stylebank.training.loop import Trainer
from stylebank.training.schedule import lr_factor
from tiny_training import tiny_config

PROBE = Path(__file__).with_name("ddp_probe.py")


def five_styles(tiny_data) -> list[str]:
    """Five distinct style images: with a batch of 2, each step uses two banks and leaves three alone."""
    styles = [str(s) for s in tiny_data["styles"]]
    for turn in range(3):
        path = tiny_data["root"] / f"turned{turn}.png"
        Image.open(tiny_data["styles"][turn % 2]).convert("RGB").rotate(90 * (turn + 1)).save(path)
        styles.append(str(path))
    return styles


def command(tiny_data, output, iterations: int) -> list[str]:
    return ["train", "--content", str(tiny_data["content"]), "--style", *five_styles(tiny_data), "-o", str(output),
            "--image-size", "32", "--style-size", "32", "--batch-size", "2", "--vgg", "random", "--warmup", "0",
            "--device", "cpu", "--iterations", str(iterations), "--checkpoint-every", "1000", "--quiet",
            "--preview", str(tiny_data["content"] / "photo0.png"), "--workers", "0", "--log-every", "1"]


def torchrun(arguments: list[str], processes: int = 2) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             f"--nproc_per_node={processes}", *arguments],
                            capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_two_processes_take_the_steps_that_one_takes(tiny_data):
    """Two gloo processes with a global batch of 4 (2 each) against one process with 4, step by step: stylizing,
    stylizing, auto-encoder (balanced by the synchronised gradients), stylizing. Each stylizing step takes at
    most four of the five banks: a bank that no process used has no gradient (not a zero one, which Adam's
    momentum would move) and keeps its weights bit for bit."""
    config = TrainConfig(content=[str(tiny_data["content"])], styles=five_styles(tiny_data), image_size=32,
                         style_size=32, batch_size=4, iterations=4, vgg="random", warmup=0, device="cpu",
                         precision="fp32", output=str(tiny_data["root"] / "probe.safetensors"), workers=0,
                         preview=str(tiny_data["content"] / "photo0.png"))
    one, two = tiny_data["root"] / "one", tiny_data["root"] / "two"
    one.mkdir(), two.mkdir()
    record_gradients(config, one)
    torchrun([str(PROBE), json.dumps(config.to_dict()), str(two)])
    unused_banks = []
    for step in range(4):
        alone = load_file(one / f"step{step}_rank0.safetensors")
        ranks = [load_file(two / f"step{step}_rank{rank}.safetensors") for rank in (0, 1)]
        assert alone.keys() == ranks[0].keys() == ranks[1].keys()  # the same parameters have gradients
        for name, gradient in alone.items():
            assert torch.equal(ranks[0][name], ranks[1][name])  # synchronised
            # the whole batch's gradient, computed as two halves: equal up to fp32 rounding, which in these
            # small, relative losses reaches 0.5% (a batch of 2 against two of 1, in one process: 0.2% at the
            # first step; in float64, 5e-8). Rounding is all there is to the gradient of a bias before an
            # instance norm (norms up to 1e-5), hence the absolute term. A wrong split or balance is off by tens
            # of percent
            assert (ranks[0][name] - gradient).norm() < 0.02 * gradient.norm() + 1e-4, (step, name)
        unused = {f"bank.{i}." for i in range(5)} - {name[:7] for name in alone}
        unused_banks.append(unused)
        if step:  # an unused bank did not move
            before, after = (load_file(two / f"weights{k}_rank0.safetensors") for k in (step - 1, step))
            for name in before:
                assert torch.equal(before[name], after[name]) == (name[:7] in unused), (step, name)
    assert all(unused_banks[k] for k in (0, 1, 3)) and len(unused_banks[2]) == 5  # the auto-encoder step uses none
    # The weights after the 4 steps: Adam moves each weight by about the learning rate whatever the gradient's
    # size, so a rounding that flips a near-zero gradient's sign moves a weight by up to twice the step's rate:
    # at most 2 x the sum of the 4 rates apart; all but a few weights are within 1e-6
    ends = [load_file(folder / "weights3_rank0.safetensors") for folder in (one, two)]
    bound = 2 * config.lr * sum(lr_factor(config, 0, k) for k in range(4))
    far = sum(int(((ends[0][n] - ends[1][n]).abs() > 1e-6).sum()) for n in ends[0])
    assert all((ends[0][n] - ends[1][n]).abs().max() <= bound for n in ends[0])
    assert far < 0.01 * sum(t.numel() for t in ends[0].values())


@pytest.mark.slow
def test_a_torchrun_job_writes_once_says_how_many_processes_trained_and_resumes_in_one(tiny_data):
    two = tiny_data["root"] / "two.safetensors"
    result = torchrun(["-m", "stylebank", *command(tiny_data, two, 2)])
    assert result.stdout.count("wrote ") == 1  # one process reports, and writes
    assert load_model(two).info["training"]["world_size"] == 2
    assert len(list((tiny_data["root"] / "two.samples").glob("*.png"))) == 1
    assert main(command(tiny_data, two, 4) + ["--resume"]) == 0  # the same run, now in one process
    lines = [json.loads(line) for line in (tiny_data["root"] / "two.log.jsonl").read_text().splitlines()]
    assert [(line["step"], line["world_size"]) for line in lines] == [(1, 2), (2, 2), (3, 1), (4, 1)]
    assert load_model(two).info["training"]["world_size"] == 1
    one = tiny_data["root"] / "one.safetensors"
    assert main(command(tiny_data, one, 4)) == 0
    a, b = load_model(one).net, load_model(two).net
    photo = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    # they stylize alike: within half a grey level. (Four steps move a style by about one grey level, so a bound
    # relative to that move measures rounding noise, which Adam scales up and which differs from CPU to CPU.)
    with torch.no_grad():
        for style in range(a.num_styles):
            assert (a(photo, style) - b(photo, style)).abs().max() < 0.5 / 255


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


def start_torchrun_job(tiny_data, output, checkpoint_every: int) -> subprocess.Popen:
    """A 2-process job of 100,000 iterations, a preview every step; returns once it has trained two steps."""
    arguments = command(tiny_data, output, 100000) + ["--sample-every", "1", "--checkpoint-every",
                                                      str(checkpoint_every)]
    process = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                "--nproc_per_node=2", "-m", "stylebank", *arguments], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    samples = output.with_name(output.stem + ".samples")
    deadline = time.monotonic() + 600  # not a speed check: only so that a hang fails instead of blocking
    while len(list(samples.glob("step_*.png"))) < 2:  # training, so past start-up
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"training never started: {process.stderr.read()[-2000:]}")
        time.sleep(0.05)
    return process


@pytest.mark.slow
def test_ctrl_c_stops_a_torchrun_job_after_a_checkpoint_and_resume_goes_on(tiny_data):
    """A terminal's Ctrl-C reaches torchrun and every process (then torchrun sends them SIGTERM): the processes
    agree to stop after the same step, rank 0 writes its checkpoint, and --resume goes on from it."""
    output = tiny_data["root"] / "stopped.safetensors"
    samples = tiny_data["root"] / "stopped.samples"
    process = start_torchrun_job(tiny_data, output, checkpoint_every=100000)
    try:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        _, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    step = load_checkpoint(output.with_name("stopped.checkpoint.safetensors"))[3]["step"]
    assert "interrupted by SIGINT" in stderr and f"at iteration {step}" in stderr, stderr[-2000:]
    assert max(int(p.stem.removeprefix("step_")) for p in samples.glob("step_*.png")) == step
    assert main(command(tiny_data, output, step + 2) + ["--resume"]) == 0
    assert load_model(output).info["training"]["steps_done"] == step + 2


@pytest.mark.slow
def test_a_killed_process_ends_the_job_with_its_checkpoint_intact_and_resume_finishes(tiny_data):
    output = tiny_data["root"] / "killed.safetensors"
    process = start_torchrun_job(tiny_data, output, checkpoint_every=1)
    try:
        os.kill(children(process.pid)[-1], signal.SIGKILL)  # one training process dies without a word
        process.communicate(timeout=600)  # torchrun stops the other, and ends
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    step = load_checkpoint(output.with_name("killed.checkpoint.safetensors"))[3]["step"]  # it loads
    assert step >= 2
    assert main(command(tiny_data, output, step + 2) + ["--resume"]) == 0
    assert load_model(output).info["training"]["steps_done"] == step + 2


@pytest.mark.slow
@pytest.mark.parametrize("rank", [0, 1])
def test_a_stop_signal_that_reaches_one_process_stops_the_whole_job(tiny_data, rank):
    """A scheduler's SIGTERM to one process only (not the group): the processes agree to stop after the same
    step, rank 0 writes its checkpoint, and the job ends instead of waiting forever on the stopped process."""
    output = tiny_data["root"] / f"one{rank}.safetensors"
    process = start_torchrun_job(tiny_data, output, checkpoint_every=100000)
    try:
        workers = sorted(children(process.pid))  # started in rank order
        os.kill(workers[rank], signal.SIGTERM)
        _, stderr = process.communicate(timeout=180)  # a hang fails here (it ends in seconds)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    step = load_checkpoint(output.with_name(f"one{rank}.checkpoint.safetensors"))[3]["step"]
    assert f"at iteration {step}" in stderr, stderr[-2000:]


def test_a_second_stop_signal_stops_at_once_except_under_torchrun(tiny_data):
    """torchrun passes the terminal's Ctrl-C on to its processes, which have had it already: the second must not
    cut the checkpoint short (torchrun's SIGKILL, 30 s on, is the hard stop). Alone, a second Ctrl-C is."""
    trainer = Trainer(tiny_config(tiny_data))
    trainer.processes = Processes(under_torchrun=True)
    trainer._request_stop(signal.SIGINT, None)
    trainer._request_stop(signal.SIGINT, None)
    assert trainer.stop_requested and trainer.stop_signal == signal.SIGINT
    trainer.processes = Processes()
    with pytest.raises(KeyboardInterrupt):
        trainer._request_stop(signal.SIGTERM, None)


def test_each_process_needs_a_part_of_the_batch():
    check_batch_split(2, Processes(1, 2))
    with pytest.raises(StyleBankError, match="--batch-size 1 is the batch of all 2 processes"):
        check_batch_split(1, Processes(1, 2))


def test_on_a_multi_node_job_only_global_rank_0_writes(monkeypatch):
    """torchrun on two machines: each has a LOCAL_RANK 0, but only the job's RANK 0 writes the files."""
    from stylebank.training.distributed import from_environment

    seen = []
    for rank, local_rank in ((0, 0), (1, 1), (2, 0), (3, 1)):  # 2 machines x 2 processes
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(local_rank))
        monkeypatch.setenv("WORLD_SIZE", "4")
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
        processes = from_environment()
        seen.append((processes.rank, processes.local_rank, processes.is_main, processes.distributed,
                     processes.under_torchrun))
    assert seen == [(0, 0, True, True, True), (1, 1, False, True, True), (2, 0, False, True, True),
                    (3, 1, False, True, True)]
