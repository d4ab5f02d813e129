"""What training at scale adds: precisions and the fp16 gradient scaler, TensorBoard logging."""

import functools
import os

import pytest
import torch

import stylebank.runtime
from stylebank.training.batches import default_workers
from stylebank.checkpoint import load_checkpoint
from stylebank.config import resumed_config
from stylebank.errors import StyleBankError
from stylebank.runtime import training_dtype
from stylebank.training.loop import MAX_SKIPPED_IN_A_ROW, Trainer, train
from tiny_training import assert_same_weights, tiny_config


def test_auto_precision_is_what_the_device_does_natively(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(stylebank.runtime, "has_fast_bf16", lambda device: False)
    assert training_dtype("auto", cpu) == torch.float32 and training_dtype("auto", gpu) == torch.float16
    monkeypatch.setattr(stylebank.runtime, "has_fast_bf16", lambda device: True)
    assert training_dtype("auto", cpu) == training_dtype("auto", gpu) == torch.bfloat16
    assert training_dtype("fp32", gpu) == torch.float32 and training_dtype("fp16", cpu) == torch.float16


def test_compile_is_refused_on_the_cpu(tiny_data):
    with pytest.raises(StyleBankError, match="--compile is for training on a GPU"):
        Trainer(tiny_config(tiny_data, compile=True))


def test_default_workers_share_the_cores_among_the_processes(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_workers() == 4  # half of 16, at most 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # torchrun's 8 processes on this machine: 2 cores each
    assert default_workers() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert default_workers() == 1


def test_fp16_trains_with_a_gradient_scaler_and_resumes_exactly(tiny_data, monkeypatch):
    # the scale doubles after every step without an overflow, so the checkpoint's is not the starting one
    monkeypatch.setattr(torch.amp, "GradScaler", functools.partial(torch.amp.GradScaler, growth_interval=1))
    settings = dict(precision="fp16", iterations=4)
    straight = train(tiny_config(tiny_data, output=str(tiny_data["root"] / "straight.safetensors"), **settings),
                     progress=False)
    first = tiny_config(tiny_data, output=str(tiny_data["root"] / "resumed.safetensors"), **{**settings,
                                                                                             "iterations": 2})
    train(first, progress=False)
    saved = load_checkpoint(first.checkpoint_path)[3]["grad_scaler"]
    assert saved["scale"] != 2.0 ** 16  # it moved from the start: halved at an overflow, doubled after a good step
    assert Trainer(resumed_config(first.output), resume=True).scaler.get_scale() == saved["scale"]
    resumed = train(tiny_config(tiny_data, output=first.output, **settings), resume=True, progress=False)
    assert_same_weights(straight, resumed)


def test_fp16_overflows_lower_the_scale_and_are_not_divergence(tiny_data):
    # stylizing steps only: the auto-encoder's small loss would not overflow and so would break the row
    trainer = Trainer(tiny_config(tiny_data, precision="fp16", iterations=20, image_size=16, batch_size=1,
                                  style_steps=100))
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 27)  # every step overflows until it is lower
    before = [p.detach().clone() for p in trainer.net.parameters()]
    trainer.run(progress=False)  # no TrainingDiverged, though more than MAX_SKIPPED_IN_A_ROW in a row overflow
    assert trainer.skipped > MAX_SKIPPED_IN_A_ROW and trainer.scaler.get_scale() < 2.0 ** 20
    assert trainer.skipped < 20 and not all(torch.equal(a, b) for a, b in zip(before, trainer.net.parameters()))


def test_tensorboard_gets_every_term_the_learning_rate_and_the_previews(tiny_data):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    board = tiny_data["root"] / "board"
    train(tiny_config(tiny_data, tensorboard=str(board), log_every=1, sample_every=3, iterations=6), progress=False)
    events = event_accumulator.EventAccumulator(str(board), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"style/content", "style/style", "style/tv", "identity/psnr", "identity/grad_ratio", "lr",
            "skipped"} <= set(tags["scalars"])
    assert [event.step for event in events.Scalars("lr")] == list(range(1, 7))
    assert [event.step for event in events.Images("preview")] == [3, 6, 6]  # every 3 steps, and at the end
