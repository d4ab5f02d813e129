import json
import math

import pytest
import torch
from PIL import Image

from stylebank.checkpoint import load_checkpoint, load_model
from stylebank.data import ContentImages, StyleSampler, expand_sources
from stylebank.errors import StyleBankError
from stylebank.images import ImageNote
from stylebank.train import (IDENTITY, STYLE, TrainConfig, Trainer, TrainingDiverged, TrainingInterrupted, branch_at,
                             resumed_config, train)


def tiny_config(data, **overrides) -> TrainConfig:
    settings = dict(content=[str(data["content"])], styles=[str(s) for s in data["styles"]],
                    output=str(data["root"] / "model.safetensors"), image_size=32, style_size=32, batch_size=2,
                    iterations=6, vgg="random", warmup=0, lr_ramp=0, checkpoint_every=1000, sample_every=1000,
                    device="cpu", preview=str(data["content"] / "photo0.png"))
    settings.update(overrides)
    return TrainConfig(**settings)


def test_alternation_schedule():
    assert [branch_at(s, 0, 2) for s in range(6)] == [STYLE, STYLE, IDENTITY] * 2
    assert [branch_at(s, 3, 2) for s in range(9)] == [IDENTITY] * 3 + [STYLE, STYLE, IDENTITY] * 2
    assert [branch_at(s, 0, 1) for s in range(4)] == [STYLE, IDENTITY] * 2


def test_styles_are_visited_evenly():
    sampler, generator = StyleSampler(5), torch.Generator().manual_seed(0)
    drawn = torch.cat([sampler.next(4, generator) for _ in range(10)])  # 40 draws = 8 rounds of 5
    assert torch.bincount(drawn, minlength=5).tolist() == [8] * 5


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


def test_resume_gives_exactly_the_uninterrupted_model(tiny_data):
    straight = train(tiny_config(tiny_data, output=str(tiny_data["root"] / "straight.safetensors"), warmup=2,
                                 iterations=6), progress=False)
    first = tiny_config(tiny_data, output=str(tiny_data["root"] / "resumed.safetensors"), warmup=2, iterations=3)
    train(first, progress=False)
    resumed = train(tiny_config(tiny_data, output=first.output, iterations=6, seed=99), resume=True, progress=False)
    a, _ = load_model(straight)
    b, _ = load_model(resumed)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    # the optimizer state went through the safetensors checkpoint too
    _, optimizer_state, rng, info = load_checkpoint(first.checkpoint_path)
    assert info["step"] == 6 and info["config"]["seed"] == 0 and set(rng) >= {"torch", "data"}
    assert len(optimizer_state["state"]) == len(list(a.parameters()))


def logged_learning_rates(config: TrainConfig) -> list[float]:
    return [json.loads(line)["lr"] for line in config.log_path.read_text().splitlines()]


def test_the_learning_rate_anneals_to_zero_over_the_last_iterations(tiny_data):
    config = tiny_config(tiny_data, iterations=8, lr_anneal=4, log_every=1)
    train(config, progress=False)
    rates = logged_learning_rates(config)  # the rate for the step after each logged one
    assert rates[:4] == [config.lr] * 4
    assert all(a > b for a, b in zip(rates[3:], rates[4:])) and rates[-1] == pytest.approx(0, abs=1e-12)


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


def test_resume_without_a_checkpoint_is_a_clear_error(tiny_data):
    with pytest.raises(StyleBankError, match="nothing to resume"):
        train(tiny_config(tiny_data), resume=True, progress=False)


def test_interrupt_saves_a_checkpoint(tiny_data):
    config = tiny_config(tiny_data, iterations=50)
    trainer = Trainer(config)
    trainer._request_stop(None, None)  # what Ctrl-C does
    with pytest.raises(TrainingInterrupted, match="--resume"):
        trainer.run(progress=False)
    _, _, _, info = load_checkpoint(config.checkpoint_path)
    assert info["step"] == 1


def test_logs_every_term_and_writes_samples(tiny_data):
    config = tiny_config(tiny_data, iterations=6, log_every=1, sample_every=3)
    train(config, progress=False)
    records = [json.loads(line) for line in config.log_path.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 7))
    assert {"content", "style", "tv", "total"} <= records[0].keys()
    assert {"identity", "psnr", "grad_ratio"} <= records[2].keys()
    assert sorted(p.name for p in config.samples_dir.iterdir()) == ["step_0000003.png", "step_0000006.png"]


def test_bad_settings_are_refused(tiny_data):
    with pytest.raises(StyleBankError, match="image-size"):
        Trainer(tiny_config(tiny_data, image_size=0))
    with pytest.raises(StyleBankError, match=".safetensors"):
        Trainer(tiny_config(tiny_data, output=str(tiny_data["root"] / "model.pt")))


@pytest.mark.slow
def test_a_short_real_run_lowers_the_style_loss(tiny_data):
    config = tiny_config(tiny_data, styles=[str(tiny_data["styles"][0])], iterations=90, log_every=1,
                         lr=2e-3, image_size=48, style_size=48)
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
    with pytest.warns(ImageNote, match="skipping 2 of 6 content images: .*empty.png: empty file.*tiny.png"):
        content = ContentImages([str(folder)], 24)
    assert len(content) == 4
    generator = torch.Generator().manual_seed(0)
    with pytest.warns(ImageNote, match="truncated.png"):
        for _ in range(6):  # every file gets drawn; the truncated one is replaced by the next readable one
            assert content.sample(4, generator).shape == (4, 3, 24, 24)
    with pytest.raises(StyleBankError, match="none of the 2 content images can be used"), pytest.warns(ImageNote):
        ContentImages([str(folder / "empty.png"), str(folder / "tiny.png")], 24)
