import json
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from stylebank.checkpoint import load_checkpoint, load_model
from stylebank.cli import main
import stylebank.model
import stylebank.training.data
from stylebank.training.batches import StepBatches, style_indices
from stylebank.training.data import ContentImages, draw_crops, expand_sources, jittered
from stylebank.config import TrainConfig, resumed_config
from stylebank.errors import StyleBankError, TrainingInterrupted
from stylebank.images import ImageNote
from stylebank.losses import blob_noise
from stylebank.training.loop import Trainer, TrainingDiverged, add_styles, encoder_decoder_grad_norm, train
from stylebank.training.schedule import IDENTITY, STYLE, branch_at, noise_at, shift_at
from stylebank.training.start import TrainingNote
from tiny_training import assert_same_weights, tiny_config


def test_alternation_schedule():
    assert [branch_at(s, 0, 2) for s in range(6)] == [STYLE, STYLE, IDENTITY] * 2
    assert [branch_at(s, 3, 2) for s in range(9)] == [IDENTITY] * 3 + [STYLE, STYLE, IDENTITY] * 2
    assert [branch_at(s, 0, 1) for s in range(4)] == [STYLE, IDENTITY] * 2


def test_each_steps_shift_is_drawn_from_the_seed_and_the_step_alone():
    shifts = [shift_at(3, step) for step in range(400)]
    assert shifts == [shift_at(3, step) for step in range(400)] and shifts != [shift_at(4, s) for s in range(400)]
    assert set(shifts) == {(down, right) for down in range(4) for right in range(4)} - {(0, 0)}


def test_a_shift_weight_adds_the_shift_term_to_stylizing_steps_and_may_be_switched_on_when_resuming(tiny_data):
    records, banks = [], []
    for weight in (0.0, 10.0, 1e4):  # the same start, batch and shift: only the weight differs
        trainer = Trainer(tiny_config(tiny_data, shift_weight=weight))
        records.append(trainer.train_step())
        banks.append(trainer.net.bank[0][1].weight.detach().clone())
    plain, shifted, _ = records
    assert "shift" not in plain and shifted["shift"] > 0 and shifted["branch"] == STYLE
    assert shifted["total"] == pytest.approx(shifted["content"] + 4 * shifted["style"] + shifted["tv"]
                                             + 10 * shifted["shift"], rel=1e-4)
    assert not torch.equal(banks[1], banks[2])  # the term's gradient reaches the network
    first = tiny_config(tiny_data, iterations=2)
    train(first, progress=False)
    assert resumed_config(first.output, shift_weight=5.0).shift_weight == 5.0


def test_shift_noise_is_drawn_from_the_seed_and_the_step_and_lands_on_the_moved_crop_alone(tiny_data, monkeypatch):
    draws = [noise_at(3, step) for step in range(300)]
    assert draws == [noise_at(3, step) for step in range(300)] and draws != [noise_at(4, s) for s in range(300)]
    assert {blob for blob, _ in draws} == {2, 4, 8} and len({seed for _, seed in draws}) == 300
    crops = []
    real_forward = stylebank.model.StyleBankNet.forward
    monkeypatch.setattr(stylebank.model.StyleBankNet, "forward",
                        lambda net, images, styles=None: crops.append(images.detach().clone()) or
                        real_forward(net, images, styles))
    records = [Trainer(tiny_config(tiny_data, shift_weight=10.0, shift_noise=level)).train_step()
               for level in (0.0, 8.0)]
    plain, noisy = (batch.chunk(2) for batch in crops)  # (crops, moved crops) of each run's one step
    assert torch.equal(plain[0], noisy[0])  # what the perceptual losses judge is untouched
    blob, seed = noise_at(tiny_config(tiny_data).seed, 0)
    expected = (plain[1] + blob_noise(plain[1].shape, blob, 8.0 / 255, seed)).clamp(0, 1)
    assert torch.allclose(noisy[1], expected, atol=1e-6) and not torch.equal(noisy[1], plain[1])
    assert records[1]["shift"] > records[0]["shift"]
    with pytest.raises(StyleBankError, match="--shift-noise .* --shift-weight"):
        tiny_config(tiny_data, shift_noise=2.0).validate()
    first = tiny_config(tiny_data, iterations=2, shift_weight=1.0)
    train(first, progress=False)
    assert resumed_config(first.output, shift_noise=2.0).shift_noise == 2.0


def test_styles_are_visited_evenly():
    drawn = torch.cat([style_indices(3, step, 4, 5) for step in range(10)])  # 40 draws = 8 rounds of 5
    assert torch.bincount(drawn, minlength=5).tolist() == [8] * 5
    assert not torch.equal(drawn[:5], drawn[5:10])  # each round shuffled anew


def test_content_sources_folders_globs_and_builtin(tiny_data):
    found = expand_sources([str(tiny_data["content"])])
    assert len(found) == 3 and any("nested" in f for f in found)
    assert len(expand_sources([str(tiny_data["content"] / "*.png")])) == 2
    assert expand_sources(["builtin"])[0].startswith("builtin:")
    with pytest.raises(StyleBankError, match="no such file"):
        expand_sources([str(tiny_data["root"] / "nowhere")])
    crops = ContentImages([str(tiny_data["content"])], 24).sample(5, torch.Generator().manual_seed(1))
    assert crops.shape == (5, 3, 24, 24) and 0 <= crops.min() and crops.max() <= 1


def test_steps_update_the_right_parameters(tiny_data):
    trainer = Trainer(tiny_config(tiny_data, styles=[str(tiny_data["styles"][0])] * 3, batch_size=1))
    net = trainer.net

    def snapshot():
        return {name: p.detach().clone() for name, p in net.named_parameters()}

    before = snapshot()
    record = trainer.train_step()  # stylizing step with one image: exactly one bank is used
    after = snapshot()
    changed_banks = {name.split(".")[1] for name in before if name.startswith("bank.") and
                     not torch.equal(before[name], after[name])}
    assert record["branch"] == STYLE and len(changed_banks) == 1
    assert not torch.equal(before["encoder.0.1.weight"], after["encoder.0.1.weight"])
    trainer.train_step()
    before = snapshot()
    record = trainer.train_step()  # the auto-encoder step: E and D only
    after = snapshot()
    assert record["branch"] == IDENTITY and record["grad_ratio"] > 0
    assert all(torch.equal(before[n], after[n]) for n in before if n.startswith("bank."))
    assert not torch.equal(before["decoder.2.1.weight"], after["decoder.2.1.weight"])


@pytest.mark.parametrize("balance", [1.0, 0.25])
def test_identity_balance_scales_the_auto_encoder_gradient_to_lambda_times_the_stylizing_one(tiny_data, balance):
    trainer = Trainer(tiny_config(tiny_data, style_steps=1, identity_balance=balance))
    applied = []  # the E/D gradient norm at the moment Adam takes the step
    trainer.optimizer.register_step_pre_hook(lambda *_: applied.append(encoder_decoder_grad_norm(trainer.net)))
    for _ in range(4):  # stylizing, auto-encoder, stylizing, auto-encoder
        trainer.train_step()
    style_norms, identity_norms = applied[0::2], applied[1::2]
    assert all(s > 0 for s in style_norms)
    for style_norm, identity_norm in zip(style_norms, identity_norms):
        assert identity_norm == pytest.approx(balance * style_norm, rel=1e-4)


# (styles, batch size, warm-up, resume at, total). With 3 styles and a batch of 2 the style queue holds part of
# a round at the break. Warm-up 2 and T = 2 make step 4 an auto-encoder step, whose balancing needs the last
# stylizing gradient's norm from the checkpoint; warm-up 0 and a break at 1 resume mid-round on a stylizing step.
RESUME_CASES = [(2, 2, 2, 3, 6), (3, 2, 2, 4, 8), (3, 2, 0, 1, 6)]


@pytest.mark.parametrize("num_styles, batch_size, warmup, stop, total", RESUME_CASES)
def test_resume_gives_exactly_the_uninterrupted_model(tiny_data, num_styles, batch_size, warmup, stop, total):
    styles = [str(tiny_data["styles"][i % 2]) for i in range(num_styles)]
    if num_styles > 2:  # a third style image, so that style names stay unique
        third = tiny_data["root"] / "third.png"
        Image.open(tiny_data["styles"][0]).transpose(Image.Transpose.ROTATE_90).save(third)
        styles[2] = str(third)
    settings = dict(styles=styles, batch_size=batch_size, warmup=warmup)
    straight = train(tiny_config(tiny_data, output=str(tiny_data["root"] / "straight.safetensors"),
                                 iterations=total, **settings), progress=False)
    first = tiny_config(tiny_data, output=str(tiny_data["root"] / "resumed.safetensors"), iterations=stop,
                        **settings)
    train(first, progress=False)
    resumed = train(tiny_config(tiny_data, output=first.output, iterations=total, seed=99), resume=True,
                    progress=False)
    assert_same_weights(straight, resumed)
    # the optimizer state went through the safetensors checkpoint too
    net, optimizer_state, rng, info, _ = load_checkpoint(first.checkpoint_path)
    assert info["step"] == total and info["config"]["seed"] == 0 and set(rng) == {"torch"}
    assert len(optimizer_state["state"]) == len(list(net.parameters()))


def test_resumed_add_style_gives_exactly_the_uninterrupted_model(tiny_data):
    base = train(tiny_config(tiny_data, styles=[str(tiny_data["styles"][0])], iterations=3,
                             output=str(tiny_data["root"] / "base.safetensors")), progress=False)
    new_style = [str(tiny_data["styles"][1])]
    options = dict(batch_size=3, image_size=32, style_size=32, checkpoint_every=1000, sample_every=1000,
                   preview=str(tiny_data["content"] / "photo0.png"), device="cpu")
    straight = add_styles(base, new_style, tiny_data["root"] / "straight.safetensors", iterations=5,
                          progress=False, **options)
    interrupted = tiny_data["root"] / "resumed.safetensors"
    add_styles(base, new_style, interrupted, iterations=2, progress=False, **options)
    resumed = add_styles(base, new_style, interrupted, iterations=5, resume=True, progress=False, **options)
    assert_same_weights(straight, resumed)


def logged_learning_rates(config: TrainConfig) -> list[float]:
    return [json.loads(line)["lr"] for line in config.log_path.read_text().splitlines()]


def test_the_learning_rate_anneals_to_zero_over_the_last_iterations(tiny_data):
    config = tiny_config(tiny_data, iterations=8, lr_anneal=4, log_every=1)
    train(config, progress=False)
    rates = logged_learning_rates(config)  # the rate for the step after each logged one
    assert rates[:4] == [config.lr] * 4
    assert all(a > b for a, b in zip(rates[3:], rates[4:])) and rates[-1] == pytest.approx(0, abs=1e-12)


def test_adam_steps_with_the_learning_rate_of_each_step(tiny_data):
    """The schedule is what the optimizer really uses: warm-up, then the ramp, the decay and the anneal."""
    config = tiny_config(tiny_data, iterations=9, warmup=2, lr_ramp=3, lr_decay=0.5, lr_decay_every=4, lr_anneal=3)
    trainer = Trainer(config)
    used = []
    step = trainer.optimizer.step
    trainer.optimizer.step = lambda: (used.append(trainer.optimizer.param_groups[0]["lr"]), step())[1]
    for _ in range(config.iterations):
        trainer.train_step()
    # warm-up (2), ramp (3), x0.5 every 4, cosine over the last 3: 1, 0.75, 0.25
    factors = [1.0, 1.0, 1 / 3, 2 / 3, 0.5, 0.5, 0.5 * 1.0, 0.5 * 0.75, 0.25 * 0.25]
    assert used == pytest.approx([config.lr * factor for factor in factors], abs=1e-12)
    assert used == [trainer.learning_rate(step) for step in range(config.iterations)]


def test_a_resumed_run_may_extend_and_anneal(tiny_data):
    first = tiny_config(tiny_data, iterations=4, lr_anneal=0, log_every=1)
    train(first, progress=False)
    train(tiny_config(tiny_data, iterations=8, lr_anneal=4, lr=2e-3, log_every=1), resume=True, progress=False)
    rates = logged_learning_rates(first)
    assert rates[:4] == [first.lr] * 4  # the first run, then the new schedule from step 4 on
    assert rates[4] == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert all(a > b for a, b in zip(rates[4:], rates[5:]))
    with pytest.raises(StyleBankError, match="--style-weight cannot change when resuming"):
        resumed_config(first.output, style_weight=8.0)


def test_a_resumed_run_logs_each_step_once(tiny_data):
    """A run killed after its checkpoint had logged steps past it (and maybe half a line): resumed, the log goes
    on from the checkpoint's step, each step once."""
    config = tiny_config(tiny_data, iterations=4, log_every=1)
    train(config, progress=False)
    with open(config.log_path, "a") as log:  # what the killed run logged after its last checkpoint
        log.write(json.dumps({"step": 5, "lr": 1.0}) + "\n" + json.dumps({"step": 6, "lr": 1.0}) + "\n{\"step\": 7, ")
    train(tiny_config(tiny_data, iterations=6, log_every=1), resume=True, progress=False)
    lines = config.log_path.read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert all(json.loads(line)["lr"] != 1.0 for line in lines)


def test_resume_before_any_checkpoint_starts_from_the_beginning(tiny_data):
    """A job killed during start-up (or requeued) reruns its command with --resume: it starts over, with a note."""
    fresh = train(tiny_config(tiny_data, output=str(tiny_data["root"] / "fresh.safetensors")), progress=False)
    config = tiny_config(tiny_data)
    with pytest.warns(TrainingNote, match="nothing to resume yet.*starting from the beginning"):
        resumed = train(config, resume=True, progress=False)
    assert_same_weights(fresh, resumed)
    with pytest.raises(StyleBankError, match="nothing to resume"):  # asked for directly, it is still an error
        resumed_config(tiny_data["root"] / "none.safetensors")


def test_resuming_with_fewer_iterations_than_done_says_so(tiny_data, capsys):
    """--resume --iterations 1 on a run past iteration 1 names the checkpoint's step, not the warm-up (which a
    resumed run cannot change); a fresh run's warm-up is still checked by validate (test_config)."""
    config = tiny_config(tiny_data, iterations=4, warmup=2)
    train(config, progress=False)
    assert main(["train", "-o", config.output, "--resume", "--iterations", "1", "--quiet"]) == 1
    assert ("is at iteration 4; --iterations 1 would end before it: give more than 4 iterations"
            in capsys.readouterr().err)
    trainer = Trainer(tiny_config(tiny_data, iterations=4, warmup=3))  # a checkpoint inside the warm-up
    trainer.train_step()
    trainer.save_checkpoint()
    with pytest.raises(StyleBankError, match=r"warm-up \(3 .*fixed by the checkpoint.*give more than 3"):
        resumed_config(config.output, iterations=2)


@pytest.mark.slow
def test_interrupt_by_sigint_or_sigterm_saves_a_checkpoint_and_resume_goes_on(tiny_data):
    """A real training process gets Ctrl-C, then its resumed run a `kill` (SIGTERM, as cluster schedulers send):
    each saves a checkpoint and exits non-zero saying --resume; each --resume goes on from the saved step."""
    output = tiny_data["root"] / "signalled.safetensors"
    checkpoint, samples = (output.with_name("signalled" + suffix) for suffix in (".checkpoint.safetensors", ".samples"))
    command = [sys.executable, "-m", "stylebank", "train", "--content", str(tiny_data["content"]),
               "--style", *map(str, tiny_data["styles"]), "-o", str(output), "--image-size", "32", "--style-size",
               "32", "--batch-size", "2", "--vgg", "random", "--warmup", "0", "--device", "cpu",
               "--checkpoint-every", "100000", "--sample-every", "1", "--quiet",
               "--preview", str(tiny_data["content"] / "photo0.png")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def sampled_steps() -> list[int]:  # a sample image each step shows which steps a run trained
        return sorted(int(path.stem.removeprefix("step_")) for path in samples.glob("step_*.png"))

    done = 0
    for signum in (signal.SIGINT, signal.SIGTERM):
        process = subprocess.Popen(command + ["--iterations", "100000"] + (["--resume"] if done else []), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 600  # not a speed check: only so that a hang fails instead of blocking
            while len(sampled_steps()) < 2:  # training, so past start-up
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "training never started"
                time.sleep(0.01)
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=600)
        finally:
            process.kill()  # a failed check must not leave a 100,000-iteration run behind; no-op if it ended
        # the shell's convention for "stopped by signal N" (< 0 would mean the signal killed it unhandled)
        assert process.returncode == 128 + signum, (signum.name, process.returncode, stderr)
        step = load_checkpoint(checkpoint)[3]["step"]
        assert str(TrainingInterrupted(step, checkpoint, signum)) in stderr and "--resume" in stderr, stderr
        assert "Traceback" not in stderr
        assert sampled_steps() == list(range(done + 1, step + 1))  # a resumed run went on from the saved step
        for path in samples.iterdir():
            path.unlink()
        done = step
    # the last --resume runs to the end, in this process: an interpreter start-up saved
    assert main(command[3:] + ["--iterations", str(done + 2), "--resume"]) == 0
    assert sampled_steps() == [done + 1, done + 2]
    assert load_model(output)[1]["training"]["steps_done"] == done + 2


def test_logs_every_term_and_writes_samples(tiny_data):
    config = tiny_config(tiny_data, iterations=6, log_every=1, sample_every=3)
    train(config, progress=False)
    records = [json.loads(line) for line in config.log_path.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 7))
    assert {"content", "style", "tv", "total"} <= records[0].keys()
    assert {"identity", "psnr", "grad_ratio"} <= records[2].keys()
    assert sorted(p.name for p in config.samples_dir.iterdir()) == ["step_0000003.png", "step_0000006.png"]


def test_each_log_line_is_the_mean_of_its_branch_since_the_last(tiny_data):
    # T = 1 alternates style, identity: a sample every 2nd (or 4th...) iteration would only ever show one branch
    every = tiny_config(tiny_data, iterations=8, log_every=1, style_steps=1,
                        output=str(tiny_data["root"] / "every.safetensors"))
    averaged = tiny_config(tiny_data, iterations=8, log_every=4, style_steps=1,
                           output=str(tiny_data["root"] / "averaged.safetensors"))
    single, lines = ([json.loads(line) for line in train(config, progress=False).with_name(
        config.log_path.name).read_text().splitlines()] for config in (every, averaged))
    assert [(r["step"], r["branch"]) for r in lines] == [(s, b) for s in (4, 8) for b in (STYLE, IDENTITY)]
    for line in lines:
        window = [r for r in single if line["step"] - 4 < r["step"] <= line["step"] and r["branch"] == line["branch"]]
        assert len(window) == 2
        terms = ("content", "style", "tv", "total") if line["branch"] == STYLE else ("identity", "psnr")
        for key in terms:
            assert line[key] == pytest.approx(sum(r[key] for r in window) / len(window), rel=1e-5), key
        next_rate = {r["step"]: r["lr"] for r in single}[line["step"]]
        assert line["skipped"] == 0 and line["lr"] == next_rate and line["seconds"] > 0


def test_bad_settings_are_refused(tiny_data):
    with pytest.raises(StyleBankError, match="image-size"):
        Trainer(tiny_config(tiny_data, image_size=0))
    with pytest.raises(StyleBankError, match=".safetensors"):
        Trainer(tiny_config(tiny_data, output=str(tiny_data["root"] / "model.pt")))


@pytest.mark.slow
def test_a_short_real_run_lowers_the_style_loss(tiny_data):
    config = tiny_config(tiny_data, styles=[str(tiny_data["styles"][0])], iterations=45, log_every=1, lr=2e-3)
    train(config, progress=False)
    style = [json.loads(line)["style"] for line in config.log_path.read_text().splitlines() if '"style"' in line]
    first, last = sum(style[:6]) / 6, sum(style[-6:]) / 6
    assert last < 0.5 * first, (first, last)


def poison(trainer: Trainer, bad_calls: set[int]) -> None:
    """Make the stylizing loss NaN on the given calls (counted from 1)."""
    real, calls = trainer.criterion, [0]

    def criterion(output, images, styles):
        calls[0] += 1
        losses = real(output, images, styles)
        if calls[0] in bad_calls:
            losses["total"] = losses["total"] * float("nan")
        return losses
    trainer.criterion = criterion


def test_non_finite_steps_are_skipped_and_repeated_ones_stop_training(tiny_data):
    config = tiny_config(tiny_data, iterations=40, style_steps=100, checkpoint_every=1000)
    trainer = Trainer(config)
    poison(trainer, {1} | set(range(3, 40)))
    before = [p.detach().clone() for p in trainer.net.parameters()]
    record = trainer.train_step()
    assert record["skipped"] == 1 and all(torch.equal(a, b) for a, b in zip(before, trainer.net.parameters()))
    assert "skipped" not in trainer.train_step()  # a good step learns again
    assert not all(torch.equal(a, b) for a, b in zip(before, trainer.net.parameters()))
    trainer.save_checkpoint()
    with pytest.raises(TrainingDiverged, match="10 steps in a row.*is intact.*--lr"):
        trainer.run(progress=False)
    assert trainer.step == 12 and trainer.skipped == 11
    assert load_checkpoint(config.checkpoint_path)[3]["step"] == 2  # not overwritten by the diverged state


def test_a_full_disk_keeps_the_last_checkpoint(tiny_data, monkeypatch):
    import errno

    import stylebank.atomic

    config = tiny_config(tiny_data, iterations=6, checkpoint_every=2)
    trainer = Trainer(config)
    real_fsync, writes = stylebank.atomic.os.fsync, [0]

    def fsync(fd):
        writes[0] += 1
        if writes[0] > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)
    monkeypatch.setattr(stylebank.atomic.os, "fsync", fsync)
    with pytest.raises(StyleBankError, match="No space left on device.*previous checkpoint is intact"):
        trainer.run(progress=False)
    monkeypatch.undo()
    assert load_checkpoint(config.checkpoint_path)[3]["step"] == 2
    assert not list(config.checkpoint_path.parent.glob(".*.tmp"))  # the half-written file was removed


def test_an_unwritable_output_is_found_before_training(tiny_data):
    blocker = tiny_data["root"] / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(StyleBankError, match="cannot write"):
        Trainer(tiny_config(tiny_data, output=str(blocker / "model.safetensors")))


def test_bad_content_images_are_skipped_not_fatal(tiny_data):
    folder = tiny_data["content"]
    (folder / "empty.png").write_bytes(b"")
    Image.new("RGB", (4, 4)).save(folder / "tiny.png")
    good = (folder / "photo1.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])  # its header reads; its pixels don't
    content = ContentImages([str(folder)], 24)  # no file is opened up front but the first usable one's header
    assert len(content) == 6 and not content.unreadable
    generator = torch.Generator().manual_seed(0)
    with pytest.warns(ImageNote) as notes:
        for _ in range(8):  # every file gets drawn; an unusable one is replaced by the next usable one
            assert content.sample(4, generator).shape == (4, 3, 24, 24)
    said = " ".join(str(note.message) for note in notes)
    assert "empty.png: empty file" in said and "tiny.png: smaller than 16x16" in said and "truncated.png" in said
    assert {content.files[i] for i in content.unreadable} == {str(folder / n) for n in
                                                               ("empty.png", "tiny.png", "truncated.png")}
    with pytest.raises(StyleBankError, match="none of the 2 content images can be used: .*empty.png"):
        ContentImages([str(folder / "empty.png"), str(folder / "tiny.png")], 24)


def test_only_the_first_usable_files_header_is_read_up_front(tiny_data, monkeypatch):
    opened = []
    real = stylebank.training.data.image_size
    monkeypatch.setattr(stylebank.training.data, "image_size", lambda file, limit: opened.append(file) or real(file, limit))
    (tiny_data["content"] / "broken.png").write_bytes(b"not a png")  # sorted first: its header is read, then one
    content = ContentImages([str(tiny_data["content"])], 24)
    assert [Path(f).name for f in opened] == ["broken.png", "photo2.png"] and len(content) == 4  # nested/ sorts next


def test_a_steps_batch_depends_on_the_seed_and_the_step_alone(tiny_data):
    content = ContentImages([str(tiny_data["content"])], 24)
    batches, again = (StepBatches(content, 7, 4, 3) for _ in range(2))
    assert torch.equal(batches[5].images, again[5].images) and torch.equal(batches[5].styles, again[5].styles)
    assert not torch.equal(batches[5].images, batches[6].images)
    assert not torch.equal(batches[5].images, StepBatches(content, 8, 4, 3)[5].images)
    copied = pickle.loads(pickle.dumps(batches))  # what a spawned DataLoader worker gets
    assert torch.equal(copied[5].images, batches[5].images)
    halves = [StepBatches(content, 7, 4, 3, rank=rank, world_size=2)[5] for rank in (0, 1)]
    assert torch.equal(torch.cat([h.images for h in halves]), batches[5].images)  # two processes share it
    assert torch.equal(torch.cat([h.styles for h in halves]), batches[5].styles)


def test_workers_decode_the_same_batches_so_the_model_is_the_same(tiny_data):
    models = [train(tiny_config(tiny_data, output=str(tiny_data["root"] / f"w{workers}.safetensors"),
                                workers=workers), progress=False) for workers in (0, 2)]
    assert_same_weights(*models)
    resumed = tiny_config(tiny_data, output=str(tiny_data["root"] / "switched.safetensors"), iterations=3)
    train(resumed, progress=False)
    switched = train(tiny_config(tiny_data, output=resumed.output, iterations=6, workers=2), resume=True,
                     progress=False)  # resumed with another worker count
    assert_same_weights(models[0], switched)


def test_workers_are_not_forked_from_the_training_process(tiny_data):
    """A process with threads (a progress bar's, a writer's, a test runner's) that forks can leave the child
    waiting for ever on a lock some thread held at the fork: a CI run hung so, in a DataLoader worker. Workers
    come from a fork server instead, so nothing forks this process."""
    marker = tiny_data["root"] / "forked"
    watching = threading.Event()
    watching.set()
    os.register_at_fork(after_in_child=lambda: watching.is_set() and marker.touch())  # for good: hence the flag
    try:
        model = train(tiny_config(tiny_data, output=str(tiny_data["root"] / "server.safetensors"), workers=1),
                      progress=False)
    finally:
        watching.clear()
    assert model.exists() and not marker.exists()


WORKER_SCRIPT = """
import os, sys, time
from torch.utils.data import Dataset
from stylebank.training.batches import step_batches

class Slow(Dataset):
    def __getitem__(self, step):
        with open(sys.argv[1], "w") as file:
            file.write(str(os.getpid()))
        time.sleep(0.05)
        return step

    def __len__(self):
        return 10 ** 6

if __name__ == "__main__":
    for _ in step_batches(Slow(), 0, 10 ** 6, 1):
        pass
"""


def test_workers_end_when_the_training_process_is_killed_outright(tmp_path):
    """A SIGKILLed (or OOM-killed) run cannot stop its workers; PyTorch's workers watch their parent, which is the
    fork server, so they used to live on (with the server) for ever. Each now ends when the training process is gone."""
    script, marker = tmp_path / "run.py", tmp_path / "worker.pid"
    script.write_text(WORKER_SCRIPT)
    run = subprocess.Popen([sys.executable, str(script), str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = int(marker.read_text())
        assert worker != run.pid
    finally:
        run.kill()
        run.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the DataLoader worker outlived the killed training process")


def test_content_listed_in_a_text_file(tiny_data):
    listing = tiny_data["content"] / "list.txt"
    listing.write_text("# the photos\nphoto0.png\n\nnested/photo2.png\n" + str(tiny_data["content"] / "photo1.png"))
    found = expand_sources([f"@{listing}"])
    assert found == [str(tiny_data["content"] / n) for n in ("photo0.png", "nested/photo2.png", "photo1.png")]
    assert all(Path(f).is_file() for f in found)
    (tiny_data["root"] / "empty.txt").write_text("# nothing\n")
    with pytest.raises(StyleBankError, match="names no images"):
        expand_sources([f"@{tiny_data['root'] / 'empty.txt'}"])
    with pytest.raises(StyleBankError, match="cannot read the list"):
        expand_sources([f"@{tiny_data['root'] / 'missing.txt'}"])


def test_color_jitter_changes_each_crops_exposure_within_its_bounds_and_keeps_the_picture():
    photo = torch.rand(3, 1, 1) * 0.3 + torch.linspace(0.1, 0.6, 40)[None, None, :] * torch.ones(3, 40, 1)
    assert torch.allclose(jittered(photo, (1.0, 1.0, 1.0)), photo, atol=1e-6)
    draws = draw_crops(40, 1, torch.Generator().manual_seed(0), color_jitter=0.4)
    outputs = [jittered(photo, draw.jitter) for draw in draws]
    means = torch.stack([o.mean() for o in outputs])
    # brightness alone spans 0.6x-1.4x: the crops' means spread, none leaves the factor's reach
    assert means.min() < 0.85 * photo.mean() and means.max() > 1.15 * photo.mean()
    assert means.max() <= 1.4 * photo.mean() + 1e-6  # saturation and contrast keep the mean; clipping lowers it
    for output in outputs:  # the picture stays: the same ramp, another exposure
        assert 0 <= output.min() and output.max() <= 1
        assert torch.corrcoef(torch.stack([output.mean(0).flatten(), photo.mean(0).flatten()]))[0, 1] > 0.95


def test_color_jitter_is_drawn_only_when_asked(tiny_data, monkeypatch):
    shaken = ContentImages([str(tiny_data["content"])], 24, color_jitter=0.5).sample(4, torch.Generator().manual_seed(1))

    def no_draws(*args):
        raise AssertionError("jitter drawn although it is off")

    monkeypatch.setattr("stylebank.training.data.jittered", no_draws)  # off: the seed's crops are those of earlier versions
    plain = ContentImages([str(tiny_data["content"])], 24).sample(4, torch.Generator().manual_seed(1))
    assert not torch.allclose(plain[0], shaken[0], atol=0.02)
    # the first crop is cut from the same place: only its colours differ
    assert torch.corrcoef(torch.stack([plain[0].mean(0).flatten(), shaken[0].mean(0).flatten()]))[0, 1] > 0.9
    with pytest.raises(StyleBankError, match="--color-jitter must be below 1"):
        tiny_config(tiny_data, color_jitter=1.0).validate()


def test_init_from_starts_a_run_from_a_models_weights_and_a_paper_model_may_start_a_carry_run(tiny_data, capsys):
    paper = train(tiny_config(tiny_data, exposure="paper", iterations=2), progress=False)
    config = tiny_config(tiny_data, output=str(tiny_data["root"] / "more.safetensors"), init_from=str(paper))
    trainer = Trainer(config)
    start = load_model(paper).net
    assert trainer.net.config.exposure == "carry" and trainer.base_style_count == 0
    assert torch.count_nonzero(trainer.net.decoder.exposure.weight) == 0
    photo = torch.rand(1, 3, 32, 32)
    with torch.no_grad():  # the carry layout's exposure layer starts at zero: the paper's decoder exactly
        assert torch.allclose(trainer.net.eval()(photo, 1), start(photo, 1), atol=1e-6)
    model = train(config, progress=False)
    assert load_model(model).info["training"]["init_from"] == str(paper)
    assert main(["info", str(model)]) == 0
    shown = capsys.readouterr().out
    assert "exposure layout carry" in shown and f"from {paper.name}" in shown and "trained in 2 runs:" in shown
    with pytest.raises(StyleBankError, match="has the styles"):
        Trainer(tiny_config(tiny_data, styles=[str(tiny_data["styles"][0])], init_from=str(paper)))
    with pytest.raises(StyleBankError, match="only the exposure layout may change"):
        Trainer(tiny_config(tiny_data, channels=(8, 16, 32), init_from=str(paper)))
    with pytest.raises(StyleBankError, match="only the exposure layout may change, from paper to carry"):
        Trainer(tiny_config(tiny_data, exposure="paper", output=str(tiny_data["root"] / "back.safetensors"),
                            init_from=str(model)))


def test_a_run_started_from_a_model_resumes_exactly_and_says_what_is_wrong_with_its_start(tiny_data, capsys):
    start = str(train(tiny_config(tiny_data, iterations=2), progress=False))
    root, styles = tiny_data["root"], [str(s) for s in tiny_data["styles"]]
    command = ["train", "--content", str(tiny_data["content"]), "--style", *styles, "-o", str(root / "cut.safetensors"),
               "--init-from", start, "--vgg", "random", "--image-size", "32", "--style-size", "32", "--batch-size",
               "2", "--warmup", "0", "--device", "cpu", "--preview", str(tiny_data["content"] / "photo0.png"),
               "--quiet"]
    straight = root / "straight.safetensors"
    assert main([*command, "--iterations", "4", "--lr-anneal", "0", "-o", str(straight)]) == 0
    assert main([*command, "--iterations", "2", "--lr-anneal", "0"]) == 0
    assert main([*command, "--iterations", "4", "--lr-anneal", "0", "--resume"]) == 0
    resumed, expected = load_model(root / "cut.safetensors").net, load_model(straight).net
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), expected.state_dict().values()))
    # the starting model is an input: never written over
    assert main([*command, "--iterations", "2", "-o", start, "--overwrite"]) == 1
    assert "input" in capsys.readouterr().err
    with pytest.raises(StyleBankError, match="--init-from .*nowhere.safetensors"):
        Trainer(tiny_config(tiny_data, init_from=str(root / "nowhere.safetensors"), vgg="imagenet"))
    with pytest.raises(StyleBankError, match="--init-from starts a whole run"):
        tiny_config(tiny_data, init_from=start, base_model=start).validate()
    repainted = root / "repainted"  # the same style names, one of them another picture
    repainted.mkdir()
    Image.new("RGB", (48, 48), (200, 30, 30)).save(repainted / "zebra.png")
    (repainted / "blobs.jpg").write_bytes(tiny_data["styles"][1].read_bytes())
    with pytest.warns(TrainingNote, match="style zebra: its image is not the one") as notes:
        Trainer(tiny_config(tiny_data, styles=[str(repainted / "zebra.png"), str(repainted / "blobs.jpg")],
                            output=str(root / "repainted.safetensors"), init_from=start))
    assert not any("blobs" in str(note.message) for note in notes)


def test_resume_of_a_finished_run_changes_nothing_and_trains_no_step(tiny_data, monkeypatch):
    """Resuming at exactly the last step (a rerun of a finished script) writes the same model and logs nothing."""
    config = tiny_config(tiny_data, iterations=4, log_every=1)
    model = train(config, progress=False)
    before = {name: tensor.clone() for name, tensor in stylebank.load(model, "cpu").net.state_dict().items()}
    log_lines = config.log_path.read_text().count("\n")
    steps = []
    real_step = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step", lambda self, *a, **k: steps.append(self.step) or real_step(self, *a, **k))
    again = train(tiny_config(tiny_data, iterations=4, log_every=1), resume=True, progress=False)
    assert steps == [] and again == model
    after = stylebank.load(again, "cpu").net.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert config.log_path.read_text().count("\n") == log_lines


@pytest.mark.parametrize("batch_size, world_size", [(5, 2), (5, 3), (7, 4), (4, 4)])
def test_uneven_batches_split_into_parts_that_make_the_whole_batch(tiny_data, batch_size, world_size):
    """Each process takes a consecutive part of the step's batch, sizes differing by at most one; together they
    are the one-process batch, crop for crop and style for style."""
    from stylebank.training.batches import StepBatches

    content = ContentImages([str(tiny_data["content"])], 16)
    whole = StepBatches(content, seed=3, batch_size=batch_size, num_styles=3)[5]
    parts = [StepBatches(content, seed=3, batch_size=batch_size, num_styles=3, rank=rank, world_size=world_size)[5]
             for rank in range(world_size)]
    sizes = [len(part.styles) for part in parts]
    assert sum(sizes) == batch_size and max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert torch.equal(torch.cat([part.styles for part in parts]), whole.styles)
    assert torch.equal(torch.cat([part.images for part in parts]), whole.images)
