"""Quick add-style (stylebank.training.quick_style, the default of `stylebank add-style`): one bank learned on kept
features within a budget, everything else bit-identical."""

import json
import time

import pytest
import torch

import stylebank
from helpers import make_tiny_data
from stylebank.checkpoint import ModelFile, load_model
from stylebank.cli import main
from stylebank.config import LossWeights, QuickStyleConfig, TrainConfig
from stylebank.training.data import ContentImages, load_style_images
from stylebank.errors import StyleBankError
from stylebank.losses import StylizingLoss
from stylebank.lossnet import load_loss_network
from stylebank.training.quick_style import keep_crops, learn_bank, moved_difference, quick_add_styles, with_noise
from stylebank.training.loop import train
from stylebank.web.limits import Rejected

SMALL = QuickStyleConfig(steps=3, image_size=32, crops=4, batch_size=2)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A one-style model (random loss network) and the photos and style images it was trained on."""
    data = make_tiny_data(tmp_path_factory.mktemp("quick"))
    config = TrainConfig(content=[str(data["content"])], styles=[str(data["styles"][0])],
                         output=str(data["root"] / "base.safetensors"), image_size=32, style_size=32, batch_size=2,
                         iterations=4, vgg="random", warmup=1, lr_ramp=0, device="cpu", workers=0,
                         preview=str(data["content"] / "photo0.png"))
    return {**data, "model": train(config, progress=False)}


def test_a_quick_style_is_added_with_everything_else_bit_identical(base, tmp_path):
    out = quick_add_styles(base["model"], [str(base["styles"][1])], tmp_path / "plus.safetensors", config=SMALL,
                           progress=False)
    before, after = load_model(base["model"]), load_model(out)
    assert after.info["styles"] == ["zebra", "blobs"]
    new_state = after.net.state_dict()
    for name, value in before.net.state_dict().items():
        assert torch.equal(value, new_state[name]), name
    start = before.net.new_bank().state_dict()  # the identity the bank starts from (plus small noise)
    learned = after.net.bank[1].state_dict()
    assert not torch.allclose(learned["1.weight"], start["1.weight"], atol=1e-3)
    run = after.info["training"]["history"][-1]
    assert run["command"] == "add-style" and run["mode"] == "quick" and run["styles"] == ["blobs"]
    assert run["iterations"] == 3 and run["per_style"][0]["steps"] == 3
    assert after.info["training"]["content"] == before.info["training"]["content"]  # later add-styles read it
    assert after.style_pixels[1] is not None and after.info["style_images"][1] == str(base["styles"][1])
    picture = stylebank.load(out, "cpu").stylize(torch.rand(3, 24, 24), style="blobs")
    assert picture.shape == (3, 24, 24)


def test_the_python_api_adds_quickly_by_default_and_refuses_the_full_trainings_settings(base, tmp_path):
    model = stylebank.load(base["model"], "cpu")
    refused = tmp_path / "refused.safetensors"
    with pytest.raises(StyleBankError, match="iterations: not a setting of quick add-style.*quality=True"):
        model.add_styles([str(base["styles"][1])], refused, iterations=2, progress=False)
    assert not refused.exists() and model.styles == ["zebra"]
    model.add_styles([str(base["styles"][1])], tmp_path / "quick.safetensors", steps=2, image_size=32, crops=4,
                     batch_size=2, progress=False)
    run = model.info["training"]["history"][-1]
    assert model.styles == ["zebra", "blobs"] and run["mode"] == "quick" and run["iterations"] == 2
    assert model.path == tmp_path / "quick.safetensors"


def kept_setting(base):
    model = load_model(base["model"])
    net = model.net.float().train().requires_grad_(False)
    training = TrainConfig.from_dict(model.info["training"])
    criterion = StylizingLoss(load_loss_network("random"), load_style_images([str(base["styles"][1])], 32),
                              LossWeights(training.content_weight, training.style_weight, training.tv_weight))
    crops = ContentImages([str(base["content"])], 32).sample(4, torch.Generator().manual_seed(0))
    return net, criterion, keep_crops(net, criterion, crops), crops


def mean_loss(net, criterion, bank, crops):
    with torch.no_grad():
        features, encoded = net.encode(crops)
        return criterion(net.decode(bank(features), encoded), crops, torch.zeros(len(crops), dtype=torch.long))


def test_the_bank_learns_the_style_on_kept_features_as_on_fresh_ones(base):
    net, criterion, kept, crops = kept_setting(base)
    # kept features and targets are the ones a fresh pass computes
    features, _ = net.encode(crops)
    assert torch.allclose(kept.features, features) and torch.allclose(kept.content_features,
                                                                       criterion.content_targets(crops))
    start = mean_loss(net, criterion, net.new_bank(), crops)["total"]
    bank, record = learn_bank(net, criterion, kept, QuickStyleConfig(steps=40, image_size=32, batch_size=4, lr=0.01),
                              "blobs", progress=False)
    assert record["steps"] == 40
    assert mean_loss(net, criterion, bank, crops)["total"] < 0.7 * start


def test_a_step_budget_gives_the_same_bank_every_time_and_a_seed_another(base):
    net, criterion, kept, _ = kept_setting(base)
    first, second = (learn_bank(net, criterion, kept, SMALL, "blobs", progress=False)[0] for _ in range(2))
    other = learn_bank(net, criterion, kept, QuickStyleConfig(steps=3, image_size=32, crops=4, batch_size=2, seed=1),
                       "blobs", progress=False)[0]
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert not torch.equal(first.state_dict()["1.weight"], other.state_dict()["1.weight"])


def test_with_a_shift_term_each_crop_is_kept_moved_by_its_own_shift(base):
    net, criterion, _, crops = kept_setting(base)
    kept = keep_crops(net, criterion, crops, seed=0, shift=True)
    assert kept.size == (28, 28) and len(kept.shifts) == len(crops) == 4
    assert all(0 <= down <= 3 and 0 <= right <= 3 and (down, right) != (0, 0) for down, right in kept.shifts)
    assert len(set(kept.shifts)) > 1  # drawn per crop
    with torch.no_grad():
        for number, (down, right) in enumerate(kept.shifts):
            crop = crops[number:number + 1]
            here, there = crop[..., :28, :28], crop[..., down:down + 28, right:right + 28]
            assert torch.allclose(kept.features[number], net.encode(here)[0][0], atol=1e-5)
            assert torch.allclose(kept.moved[0][number], net.encode(there)[0][0], atol=1e-5)
            assert torch.allclose(kept.content_features[number], criterion.content_targets(here)[0], atol=1e-5)
    noisy = keep_crops(net, criterion, crops, seed=0, shift=True, noise=0.02)  # the model's shift noise: moved only
    assert torch.equal(noisy.features, kept.features) and not torch.allclose(noisy.moved[0], kept.moved[0])
    there = torch.stack([crop[:, down:down + 28, right:right + 28] for crop, (down, right) in zip(crops, kept.shifts)])
    with torch.no_grad():
        assert torch.allclose(noisy.moved[0], net.encode(with_noise(there, 0.02, 0))[0], atol=1e-5)


def test_the_shift_term_makes_the_new_banks_picture_move_with_the_photo(base):
    net, criterion, _, crops = kept_setting(base)
    kept = keep_crops(net, criterion, crops, seed=0, shift=True)
    config = QuickStyleConfig(steps=30, image_size=32, batch_size=4, lr=0.01)
    plain, plain_record = learn_bank(net, criterion, kept, config, "blobs", progress=False)
    steady, steady_record = learn_bank(net, criterion, kept, config, "blobs", progress=False, shift_weight=1e4)
    assert "last_shift" not in plain_record and steady_record["last_shift"] >= 0
    every = torch.arange(len(crops))
    with torch.no_grad():
        moved = {name: moved_difference(net, bank, kept, every, net.decode(bank(kept.features), kept.batch(every)[1]))
                 for name, bank in (("plain", plain), ("steady", steady))}
    assert moved["steady"] < 0.5 * moved["plain"], moved


def test_quick_add_style_takes_the_models_own_shift_weight_unless_told(base, tmp_path, monkeypatch):
    from stylebank.training import quick_style

    noises = []
    real_keep = quick_style.keep_crops
    monkeypatch.setattr(quick_style, "keep_crops", lambda *args, **kwargs: noises.append(kwargs["noise"]) or
                        real_keep(*args, **kwargs))
    model = load_model(base["model"])
    training = {**model.info["training"], "shift_weight": 50.0, "shift_noise": 2.0}
    shifted = ModelFile(model.net, {**model.info, "training": training}, model.style_pixels)
    for config, weight in ((SMALL, 50.0), (QuickStyleConfig(steps=3, image_size=32, crops=4, batch_size=2,
                                                            shift_weight=0.0), 0.0)):
        out = quick_add_styles(shifted, [str(base["styles"][1])], tmp_path / f"w{weight}.safetensors", config=config,
                               progress=False)
        run = load_model(out).info["training"]["history"][-1]
        assert run["quick"]["shift_weight"] == weight and ("last_shift" in run["per_style"][0]) == (weight > 0)
    assert noises == [2.0 / 255] * 2  # the model's shift noise on the moved crops


def test_a_time_budget_ends_the_training(base):
    net, criterion, kept, _ = kept_setting(base)
    _, record = learn_bank(net, criterion, kept, QuickStyleConfig(seconds=0.5, image_size=32, crops=4, batch_size=2),
                           "blobs", progress=False)
    assert record["steps"] >= 1 and record["seconds"] >= 0.5


def test_a_model_in_memory_is_not_changed(base, tmp_path):
    model = load_model(base["model"])
    quick_add_styles(ModelFile(*model), [str(base["styles"][1])], tmp_path / "plus.safetensors", config=SMALL,
                     progress=False)
    assert model.net.num_styles == 1 and model.info["styles"] == ["zebra"]


@pytest.mark.parametrize("setting, message", [({"seconds": 0}, "--seconds"), ({"seconds": float("nan")}, "--seconds"),
                                              ({"steps": 0}, "--steps"), ({"image_size": 8}, "--image-size"),
                                              ({"lr": -1.0}, "--lr"), ({"batch_size": 0}, "--batch-size"),
                                              ({"shift_weight": -1.0}, "shift weight")])
def test_bad_settings_are_refused_before_anything_is_read(tmp_path, setting, message):
    with pytest.raises(StyleBankError, match=message):
        quick_add_styles(tmp_path / "missing.safetensors", ["nothing.png"], tmp_path / "out.safetensors",
                         config=QuickStyleConfig(**setting), progress=False)
    assert not (tmp_path / "out.safetensors").exists()


def test_a_taken_name_and_missing_photos_are_refused(base, tmp_path):
    with pytest.raises(StyleBankError, match="already has a style named zebra"):
        quick_add_styles(base["model"], [str(base["styles"][0])], tmp_path / "x.safetensors", config=SMALL,
                         progress=False)
    moved = tmp_path / "moved.safetensors"
    info = load_model(base["model"]).info
    model = load_model(base["model"])
    stylebank.checkpoint.save_model(moved, model.net, info["styles"], info["loss_network"],
                                    {**info["training"], "content": ["no-such-folder"]})
    with pytest.raises(StyleBankError, match="--content"):
        quick_add_styles(moved, [str(base["styles"][1])], tmp_path / "x.safetensors", config=SMALL, progress=False)
    assert quick_add_styles(moved, [str(base["styles"][1])], tmp_path / "x.safetensors", config=SMALL,
                            content=[str(base["content"])], progress=False).exists()


def test_the_command_line_is_quick_by_default_and_says_its_budget(base, tmp_path, capsys):
    out = tmp_path / "plus.safetensors"
    arguments = ["add-style", "-m", str(base["model"]), "--style", str(base["styles"][1]), "-o", str(out),
                 "--image-size", "32", "--batch-size", "2", "--quiet"]
    assert main(arguments + ["--steps", "2"]) == 0
    said = capsys.readouterr()
    assert "2 steps each" in said.err and "added blobs" in said.out and "(2 iterations)" in said.out
    assert load_model(out).info["training"]["history"][-1]["mode"] == "quick"
    assert main(arguments[:-1] + ["--seconds", "0.5", "--overwrite", "--quiet"]) == 0
    assert "about 0.5 s each" in capsys.readouterr().err
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["history"][-1]["command"] == "add-style"


@pytest.mark.parametrize("extra, message", [(["--iterations", "3"], "--iterations belong to the full training"),
                                            (["--resume"], "--resume belong"),
                                            (["--quality", "--steps", "2"], "--seconds and --steps are quick")])
def test_options_of_the_other_mode_are_refused_with_nothing_written(base, tmp_path, capsys, extra, message):
    out = tmp_path / "plus.safetensors"
    assert main(["add-style", "-m", str(base["model"]), "--style", str(base["styles"][1]), "-o", str(out),
                 *extra]) == 1
    assert message in capsys.readouterr().err and not out.exists()


def studio(base, config=SMALL):
    from starlette.testclient import TestClient
    from stylebank.web.app import create_app

    return TestClient(create_app(stylebank.load(base["model"], "cpu"), learning=config))


def finished(client, job: str) -> dict:
    """The job's last status, once it is no longer learning."""
    deadline = time.monotonic() + 300  # not a speed check: a hang fails here
    while (status := client.get(f"/api/jobs/{job}").json())["state"] == "learning":
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


def test_the_studio_learns_a_dropped_style_and_offers_it_as_a_style_file(base, tmp_path):
    on_disk = base["model"].read_bytes()
    with studio(base) as client:
        added = client.post("/api/styles", files={"image": base["styles"][1].read_bytes()},
                            data={"name": "my blobs"})
        assert added.status_code == 202, added.text
        status = finished(client, added.json()["job"])
        assert status["state"] == "done" and status["index"] == 1 and status["progress"] == 1.0
        listed = client.get("/api/styles").json()["styles"]
        assert [(s["name"], s["added"]) for s in listed] == [("zebra", False), ("my blobs", True)]
        assert client.get("/api/styles/1/image").headers["content-type"] == "image/png"
        photo = base["content"] / "photo1.png"
        painted = client.post("/api/stylize", files={"image": photo.read_bytes()}, data={"style": "1"})
        assert painted.status_code == 200, painted.text
        missing = client.get("/api/styles/2/file")
        assert missing.status_code == 404 and missing.json()["error"] == "no style 2"
        style_file = client.get("/api/styles/1/file")
        assert style_file.status_code == 200 and 'filename="my blobs.safetensors"' in \
            style_file.headers["content-disposition"]
    assert base["model"].read_bytes() == on_disk  # the model file never changes
    (tmp_path / "mine.safetensors").write_bytes(style_file.content)
    model = stylebank.load(base["model"], "cpu")
    assert model.import_style(tmp_path / "mine.safetensors") == ["my blobs"]
    from stylebank.web.jobs import StylizeJob, run_stylize

    expected = run_stylize(model, StylizeJob(style="1", image=photo.read_bytes()), "base.safetensors")
    assert pixels_of(painted.content) == pixels_of(expected)


def pixels_of(png: bytes) -> bytes:
    from PIL import Image
    import io

    return Image.open(io.BytesIO(png)).tobytes()


@pytest.mark.parametrize("name, image, message", [("zebra", None, "already has a style named 'zebra'"),
                                                  ("../evil", None, "a style's name is"),
                                                  ("ok", b"not a picture", "uploaded style image")])
def test_the_studio_refuses_a_bad_style_before_learning(base, name, image, message):
    with studio(base) as client:
        answer = client.post("/api/styles", files={"image": image or base["styles"][1].read_bytes()},
                             data={"name": name})
        assert answer.status_code == 400 and message in answer.json()["error"], answer.text
        assert len(client.get("/api/styles").json()["styles"]) == 1
        assert client.get("/api/jobs/nothing").status_code == 404


def test_the_studio_learns_one_style_at_a_time(base):
    with studio(base, QuickStyleConfig(seconds=3, image_size=32, crops=4, batch_size=2)) as client:
        first = client.post("/api/styles", files={"image": base["styles"][1].read_bytes()}, data={"name": "a"})
        second = client.post("/api/styles", files={"image": base["styles"][1].read_bytes()}, data={"name": "b"})
        assert first.status_code == 202 and second.status_code == 409, second.text
        assert finished(client, first.json()["job"])["state"] == "done"
        third = client.post("/api/styles", files={"image": base["styles"][1].read_bytes()}, data={"name": "b"})
        assert third.status_code == 202 and finished(client, third.json()["job"])["index"] == 2


def test_a_stopping_studio_stops_the_style_being_learned_and_waits_for_it(base, caplog):
    with studio(base, QuickStyleConfig(seconds=600, image_size=32, crops=4, batch_size=2)) as client:
        job = client.post("/api/styles", files={"image": base["styles"][1].read_bytes()}, data={"name": "a"})
        job = job.json()["job"]
        deadline = time.monotonic() + 300  # not a speed check: a hang fails here
        while client.get(f"/api/jobs/{job}").json()["progress"] == 0:  # learning steps, not still setting up
            assert time.monotonic() < deadline
            time.sleep(0.05)
        learner = client.app.state.learner
    assert not learner.thread.is_alive()  # the server's exit waited for it
    status = learner.status(job)
    assert status["state"] == "failed" and "stopped" in status["error"], status
    said = [r for r in caplog.records if r.name == "stylebank.web"]
    assert [r.exc_info for r in said] == [None] and "stopped" in said[0].getMessage()  # one line, no traceback
    with pytest.raises(Rejected) as refused:
        learner.start(base["styles"][1].read_bytes(), "b", ["zebra"], 10**6)
    assert refused.value.status == 503 and list(learner.jobs) == [job]  # refused before any job was made


def test_a_bug_while_learning_fails_the_job_and_logs_its_traceback(base, monkeypatch, caplog):
    import stylebank.training.quick_style

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(stylebank.training.quick_style, "learn_new_styles", broken)
    with studio(base) as client:
        job = client.post("/api/styles", files={"image": base["styles"][1].read_bytes()}, data={"name": "a"})
        status = finished(client, job.json()["job"])
    assert status["state"] == "failed" and status["error"] == "internal error (RuntimeError); see the server's log"
    assert any(r.exc_info for r in caplog.records if r.name == "stylebank.web")  # the traceback, for the operator


def test_the_progress_bar_counts_steps_or_seconds_with_the_time_left(base, tmp_path, capsys):
    arguments = ["add-style", "-m", str(base["model"]), "--style", str(base["styles"][1]), "--image-size", "32",
                 "--batch-size", "2"]
    assert main(arguments + ["-o", str(tmp_path / "steps.safetensors"), "--steps", "2"]) == 0
    bar = capsys.readouterr().err.split("\r")[-1]
    assert "2/2" in bar and "step" in bar, bar
    assert main(arguments + ["-o", str(tmp_path / "time.safetensors"), "--seconds", "1"]) == 0
    bar = capsys.readouterr().err.split("\r")[-1]
    assert "1/1 s [" in bar and "<00:00" in bar, bar  # seconds spent of the budget, then the time left
