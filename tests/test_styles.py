import json

import numpy as np
import pytest
import torch
from helpers import copy_of, smooth_image, unchanged
from PIL import Image

import stylebank
from stylebank.checkpoint import encoder_decoder_fingerprint, load_model
from stylebank.cli import main
from stylebank.errors import StyleBankError
from stylebank.config import TrainConfig
from stylebank.training.loop import add_styles, train


@pytest.fixture
def tiny_data(shared_tiny_data, tmp_path):
    """The session's photos and style images, which the base model learnt from and names (add-style records the
    style images' paths): read only. The test's own files go in its root, its tmp_path."""
    return {**shared_tiny_data, "root": tmp_path}


@pytest.fixture(scope="session")
def base_model_once(shared_tiny_data, tmp_path_factory):
    """A one-style model trained once per session."""
    data = shared_tiny_data
    config = TrainConfig(content=[str(data["content"])], styles=[str(data["styles"][0])],
                         output=str(tmp_path_factory.mktemp("base") / "base.safetensors"), image_size=32,
                         style_size=32, batch_size=2, iterations=4, vgg="random", warmup=1, lr_ramp=0, device="cpu",
                         preview=str(data["content"] / "photo0.png"))
    model = train(config, progress=False)
    with unchanged(model.parent):
        yield model


@pytest.fixture
def base_model(base_model_once, tmp_path):
    """This test's own copy of the base model (and its files)."""
    return copy_of(base_model_once, tmp_path)


def test_add_style_keeps_everything_else_bit_identical(base_model, tiny_data):
    out = tiny_data["root"] / "plus.safetensors"
    add_styles(base_model, [str(tiny_data["styles"][1])], out, iterations=5, progress=False)
    before = load_model(base_model).net
    after, info, _ = load_model(out)
    assert info["styles"] == ["zebra", "blobs"] and info["training"]["steps_done"] == 5
    old, new = before.state_dict(), after.state_dict()
    assert all(torch.equal(old[name], new[name]) for name in old)  # E, D and bank 0, bit for bit
    assert info["training"]["base_model"] == str(base_model) and info["loss_network"] == "random:0"
    assert info["style_images"] == [str(s) for s in tiny_data["styles"]]  # what eval measures each style against


def test_add_style_learns_the_new_style(base_model, tiny_data):
    from stylebank.training.data import ContentImages, load_style_images
    from stylebank.losses import LossWeights, StylizingLoss
    from stylebank.lossnet import load_loss_network

    out = add_styles(base_model, [str(tiny_data["styles"][1])], tiny_data["root"] / "plus.safetensors",
                     iterations=30, progress=False)
    images = ContentImages([str(tiny_data["content"])], 32).sample(4, torch.Generator().manual_seed(5))
    style_images = load_style_images([str(tiny_data["styles"][1])], 32)
    criterion = StylizingLoss(load_loss_network("random"), style_images, LossWeights(1, 4, 1))
    after = load_model(out).net
    fresh = load_model(out).net
    fresh.bank[1] = fresh.new_bank()  # the new bank as it started: near the identity
    with torch.no_grad():
        reconstruction = after.reconstruct(images)
        outputs = {name: net(images, 1) for name, net in (("fresh", fresh), ("trained", after))}
        losses = {name: criterion(o, images, torch.zeros(4, dtype=torch.long))["style"].item()
                  for name, o in outputs.items()}
        moved = {name: (o - reconstruction).abs().mean().item() for name, o in outputs.items()}
    assert losses["trained"] < 0.5 * losses["fresh"], losses  # its style loss fell
    assert moved["trained"] > 10 * moved["fresh"], moved  # its output left the reconstruction


def test_add_style_uses_its_own_schedule_not_the_base_runs(tiny_data, tmp_path):
    from stylebank.checkpoint import MODEL_FORMAT, read_info, save_model
    from stylebank.config import ADD_STYLE_LR, add_style_config
    from stylebank.model import StyleBankNet

    # a base model trained with a long anneal, in bf16, compiled, on a GPU, logging to TensorBoard
    base = save_model(tmp_path / "base.safetensors", StyleBankNet(1), ["zebra"], "random:0",
                      {"lr_anneal": 6000, "iterations": 13000, "precision": "bf16", "device": "cuda",
                       "compile": True, "tensorboard": "/old/run/board"})
    info = read_info(base, MODEL_FORMAT)
    config = add_style_config(info, str(base), [str(tiny_data["styles"][1])], tmp_path / "plus.safetensors",
                              iterations=8)
    assert config.lr == ADD_STYLE_LR and config.lr_anneal is None and config.anneal_iterations == 2
    assert config.precision == "auto" and config.device == "auto"  # what this machine does natively
    assert not config.compile and config.tensorboard is None  # the base run's machine and session, not ours
    assert add_style_config(info, str(base), ["x.png"], tmp_path / "y.safetensors", lr_anneal=5).anneal_iterations == 5


def test_add_style_refuses_a_name_the_model_has(base_model, tiny_data):
    with pytest.raises(StyleBankError, match="already has a style named zebra"):
        add_styles(base_model, [str(tiny_data["styles"][0])], tiny_data["root"] / "x.safetensors", iterations=2,
                   progress=False)


def test_add_style_from_the_command_line_reports_time(base_model, tiny_data, capsys):
    out = tiny_data["root"] / "cli-plus.safetensors"
    assert main(["add-style", "--quality", "-m", str(base_model), "--style", str(tiny_data["styles"][1]), "-o", str(out),
                 "--iterations", "3", "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "added blobs" in said and "3 iterations" in said and "2 styles" in said
    assert out.exists() and not out.with_name("cli-plus.checkpoint.safetensors").exists()  # done: not left behind
    assert main(["add-style", "-m", str(out), "--style", str(tiny_data["styles"][1]), "-o", str(out)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err


def test_export_import_reproduces_the_style_exactly(base_model, tiny_data, tmp_path):
    plus = tmp_path / "plus.safetensors"
    add_styles(base_model, [str(tiny_data["styles"][1])], plus, iterations=3, progress=False)
    model = stylebank.load(plus, "cpu")
    photo = np.asarray(Image.open(tiny_data["content"] / "photo1.png"))
    expected = model.stylize(photo, style="blobs")
    style_file = model.export_style("blobs", tmp_path / "blobs.safetensors")
    assert style_file.stat().st_size < 1_000_000
    base = stylebank.load(base_model, "cpu")
    assert base.import_style(style_file) == ["blobs"] and base.styles == ["zebra", "blobs"]
    assert np.array_equal(base.stylize(photo, style="blobs"), expected)
    reloaded = stylebank.load(base.save(tmp_path / "imported.safetensors"), "cpu")
    assert np.array_equal(reloaded.stylize(photo, style=1), expected)
    assert reloaded.style_sources == [str(s) for s in tiny_data["styles"]]
    assert main(["eval", "-m", str(tmp_path / "imported.safetensors"), "--content", str(photo_path(tiny_data)),
                 "--image-size", "32", "--json"]) == 0
    with pytest.raises(StyleBankError, match="already in the model"):
        reloaded.import_style(style_file)


def photo_path(tiny_data):
    return tiny_data["content"] / "photo1.png"


def test_import_refuses_another_encoder_decoder(base_model, tiny_data, tmp_path):
    model = stylebank.load(base_model, "cpu")
    style_file = model.export_style(0, tmp_path / "zebra.safetensors")
    other = stylebank.load(base_model, "cpu")
    with torch.no_grad():
        other.net.decoder[2][1].bias.add_(1e-3)  # any change to E or D changes the fingerprint
    assert encoder_decoder_fingerprint(other.net) != encoder_decoder_fingerprint(model.net)
    with pytest.raises(StyleBankError, match="another encoder/decoder"):
        other.import_style(style_file)
    with pytest.raises(StyleBankError, match="expected a stylebank-style file"):
        other.import_style(base_model)


def test_import_can_rename_a_style_whose_name_the_model_has(base_model, tmp_path, capsys):
    """A style file holding "zebra" goes into a model that has a zebra under another name (--rename, as for
    `stylebank styles`); the refusal without it names the option."""
    style_file = stylebank.load(base_model, "cpu").export_style("zebra", tmp_path / "zebra.safetensors")
    out = tmp_path / "two.safetensors"
    command = ["import-style", "-m", str(base_model), str(style_file), "-o", str(out)]
    assert main(command) == 1
    assert "already in the model; import it under another name: --rename zebra=NEW" in capsys.readouterr().err
    assert main(command + ["--rename", "zebra=stripes"]) == 0
    assert "added stripes; styles now zebra, stripes" in capsys.readouterr().out
    model = stylebank.load(out, "cpu")
    assert model.styles == ["zebra", "stripes"] and model.style_sources[0] == model.style_sources[1]
    assert torch.equal(model.net.bank[0][1].weight, model.net.bank[1][1].weight)
    for rename, problem in [({"zebra": "2"}, "bad style name '2'"), ({"zebra": "stripes"}, "stripes is already"),
                            ({"blobs": "b"}, "cannot rename blobs: the style files hold zebra")]:
        with pytest.raises(StyleBankError, match=problem):
            model.import_style(style_file, rename=rename)
    assert model.import_style(style_file, rename={"zebra": " plain "}) == ["plain"]  # as rename_style: stripped


def test_remove_and_rename(base_model, tiny_data, tmp_path, capsys):
    plus = tmp_path / "plus.safetensors"
    add_styles(base_model, [str(tiny_data["styles"][1])], plus, iterations=2, progress=False)
    before = plus.read_bytes()
    out = tmp_path / "renamed.safetensors"
    assert main(["styles", str(plus), "--rename", "blobs=bubbles", "--remove", "zebra", "-o", str(out)]) == 0
    model = stylebank.load(out, "cpu")
    assert model.styles == ["bubbles"] and model.net.num_styles == 1
    original = stylebank.load(plus, "cpu")
    assert torch.equal(model.net.bank[0][1].weight, original.net.bank[1][1].weight)
    # E and D untouched, the style image follows its style, and the renamed style paints what "blobs" painted
    kept, old = model.net.state_dict(), original.net.state_dict()
    assert all(torch.equal(kept[name], old[name]) for name in kept if not name.startswith("bank."))
    assert model.style_sources == [str(tiny_data["styles"][1])]
    photo = np.asarray(Image.open(tiny_data["content"] / "photo1.png"))
    assert np.array_equal(model.stylize(photo, style="bubbles"), original.stylize(photo, style="blobs"))
    with pytest.raises(StyleBankError, match="every style"):
        model.remove_styles("bubbles")
    with pytest.raises(StyleBankError, match="bad style name"):
        model.rename_style(0, "a,b")
    capsys.readouterr()
    assert main(["styles", str(out)]) == 0
    listing = capsys.readouterr().out
    assert "0: bubbles" in listing and "zebra" not in listing and "blobs" not in listing
    assert main(["styles", str(plus)]) == 0 and "1: blobs" in capsys.readouterr().out
    assert main(["styles", str(plus), "--remove", "zebra"]) == 1 and "-o" in capsys.readouterr().err
    assert plus.read_bytes() == before  # the source model is never edited in place


def test_stylize_cli_blends_regions_strength_and_colour(base_model, tiny_data, tmp_path, capsys):
    from stylebank.images import load_image

    plus = tmp_path / "plus.safetensors"
    add_styles(base_model, [str(tiny_data["styles"][1])], plus, iterations=2, progress=False)
    model = stylebank.load(plus, "cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        for bank in model.net.bank:  # banks far from the identity, so that the two styles differ clearly
            bank[1].weight.normal_(0, 0.05)
    model.save(plus)
    photo = tiny_data["content"] / "photo0.png"
    picture = load_image(photo)

    def written(path) -> np.ndarray:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), np.int16)

    def api(style, **options) -> np.ndarray:
        return np.asarray(model.stylize(picture, style, precision="fp32", **options), np.int16)

    cpu = ["--device", "cpu", "--precision", "fp32"]
    out = tmp_path / "out"
    assert main(["stylize", str(photo), "-m", str(plus), "-s", "zebra:1,blobs:1", "-o", str(out), *cpu]) == 0
    blend = written(out / "photo0_zebra0.5+blobs0.5.png")
    assert np.array_equal(blend, api({"zebra": 0.5, "blobs": 0.5}))  # the API's 50/50 blend
    assert not np.array_equal(blend, api("zebra")) and not np.array_equal(blend, api("blobs"))
    mask = tmp_path / "mask.png"
    labels = np.zeros((40, 52), np.uint8)
    labels[20:] = 255
    Image.fromarray(labels).save(mask)
    assert main(["stylize", str(photo), "-m", str(plus), "--mask", str(mask), "--region-styles", "1,0",
                 "--strength", "0.7", "--preserve-color", "-o", str(out), *cpu]) == 0
    regions = written(out / "photo0_regions-blobs-zebra_strength0.7_preserve-color.png")
    options = dict(strength=0.7, preserve_color=True)
    assert regions.shape == (40, 52, 3) and np.array_equal(regions, api("1,0", mask=labels, **options))
    # the top region (label 0) in style 1, the bottom one in style 0 (away from the seam, where they mix a little)
    singles = [api(style, **options) for style in (0, 1)]
    top, bottom = regions[:12], regions[-12:]
    assert np.abs(top - singles[1][:12]).mean() < 0.75 * np.abs(top - singles[0][:12]).mean()
    assert np.abs(bottom - singles[0][-12:]).mean() < 0.75 * np.abs(bottom - singles[1][-12:]).mean()

    # with the photo's colours (BT.601 chroma, as far as 8 bits and unclipped pixels allow)
    def chroma(rgb):
        r, g, b = np.moveaxis(rgb / 255.0, -1, 0)
        return np.stack([-0.168736 * r - 0.331264 * g + 0.5 * b, 0.5 * r - 0.418688 * g - 0.081312 * b])

    inside = ((regions > 2) & (regions < 253)).all(-1)
    assert inside.mean() > 0.5
    colours = np.abs(chroma(regions) - chroma(np.asarray(picture, np.int16)))[:, inside]
    recoloured = np.abs(chroma(api("1,0", mask=labels, strength=0.7)) - chroma(regions))[:, inside]
    assert colours.max() < 0.01 and recoloured.mean() > 0.02  # (which the styles alone would change)
    assert main(["stylize", str(photo), "-m", str(plus), "--regions", "kmeans:2", "--region-styles", "0,1",
                 "-o", str(tmp_path / "k.png"), *cpu]) == 0
    assert np.array_equal(written(tmp_path / "k.png"), api("0,1", mask="kmeans:2"))
    capsys.readouterr()
    assert main(["stylize", str(photo), "-m", str(plus), "--mask", str(mask), "--region-styles", "1,0,1"]) == 1
    assert "2 regions but 3 region styles" in capsys.readouterr().err
    assert main(["stylize", str(photo), "-m", str(plus), "--mask", str(mask)]) == 1
    assert "--region-styles" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["stylize", str(photo), "--strength", "2"])


def test_contact_sheet(base_model, tiny_data, tmp_path):
    from stylebank.images import load_image
    from stylebank.tensors import resize_to_fit, to_pil, to_tensor
    from stylebank.sheet import INSET_BORDER, INSET_FRACTION, LABEL_HEIGHT, PADDING

    photo = tiny_data["content"] / "photo0.png"
    sheet = tmp_path / "sheet.png"
    assert main(["sheet", str(photo), "-m", str(base_model), "-o", str(sheet), "--max-size", "40",
                 "--device", "cpu"]) == 0
    with Image.open(sheet) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB"))
    assert width > 2 * 40 and height > 40  # two tiles (original, zebra) with labels
    # side by side: the photo shrunk to fit 40x40, then the model's zebra stylization of it, each labelled
    original = to_pil(resize_to_fit(to_tensor(load_image(photo)), 40))
    model = stylebank.load(base_model, "cpu")
    stylized = np.asarray(model.stylize(original, style="zebra"))
    assert not np.array_equal(np.asarray(original), stylized)
    tile_width, tile_height = original.size
    # the zebra tile shows its style image, from the model file, in the bottom-right corner
    inset = to_pil(model.style_image("zebra"))
    side = round(min(original.size) * INSET_FRACTION)
    inset.thumbnail((side, side), Image.Resampling.LANCZOS)
    inset_top, inset_left = tile_height - inset.height - INSET_BORDER, tile_width - inset.width - INSET_BORDER
    outside_inset = np.ones(stylized.shape[:2], bool)
    outside_inset[inset_top - INSET_BORDER:, inset_left - INSET_BORDER:] = False
    for column, tile in enumerate((np.asarray(original), stylized)):
        left = PADDING + column * (tile_width + PADDING)
        shown = pixels[PADDING:PADDING + tile_height, left:left + tile_width]
        if column == 0:
            assert np.array_equal(shown, tile)
        else:
            assert np.array_equal(shown[outside_inset], tile[outside_inset])
            assert np.array_equal(shown[inset_top:inset_top + inset.height, inset_left:inset_left + inset.width],
                                  np.asarray(inset))
        label = pixels[PADDING + tile_height:PADDING + tile_height + LABEL_HEIGHT, left:left + tile_width]
        assert (label < 128).any()  # dark text on the white background


def test_python_add_styles_keeps_edits_made_in_memory(base_model, tiny_data, tmp_path):
    model = stylebank.load(base_model, "cpu")
    model.rename_style("zebra", "stripes")
    model.add_styles([str(tiny_data["styles"][1])], output=tmp_path / "plus.safetensors", quality=True, iterations=2,
                     progress=False)
    assert model.styles == ["stripes", "blobs"] and stylebank.load(model.path, "cpu").styles == ["stripes", "blobs"]
    run = model.info["training"]["history"][-1]
    assert run["iterations"] == 2 and "mode" not in run  # the full trainer's run


def test_info_shows_the_whole_history_of_a_model(base_model, tiny_data, tmp_path, capsys):
    plus = tmp_path / "plus.safetensors"
    add_styles(base_model, [str(tiny_data["styles"][1])], plus, iterations=3, progress=False)
    again = tmp_path / "again.safetensors"
    smooth_image(21, 40, 40).save(tmp_path / "dots.png")
    add_styles(plus, [str(tmp_path / "dots.png")], again, iterations=2, progress=False)
    assert main(["info", str(again), "--json"]) == 0
    history = json.loads(capsys.readouterr().out)["history"]
    base = stylebank.load(base_model, "cpu").info["training"]
    assert [run["command"] for run in history] == ["train", "add-style", "add-style"]
    assert history[0]["styles"] == stylebank.load(base_model, "cpu").styles
    assert history[0]["iterations"] == base["steps_done"]
    assert [run["styles"] for run in history[1:]] == [["blobs"], ["dots"]]
    assert [run["iterations"] for run in history[1:]] == [3, 2]
    assert main(["info", str(again)]) == 0
    said = capsys.readouterr().out
    assert "trained in 3 runs:" in said and "  3. add-style dots: 2 iterations" in said


def test_a_models_style_images_are_its_own_when_the_files_are_gone(tiny_data, tmp_path):
    style = tmp_path / "painting.png"
    smooth_image(33, 40, 40).save(style)
    config = TrainConfig(content=[str(tiny_data["content"])], styles=[str(style)], output=str(tmp_path / "m.safetensors"),
                         image_size=32, style_size=32, batch_size=2, iterations=1, vgg="random", warmup=0, lr_ramp=0,
                         device="cpu", preview=str(tiny_data["content"] / "photo0.png"))
    model_path = train(config, progress=False)
    expected = stylebank.load(model_path, "cpu").style_image(0)
    style.unlink()  # the painting moved away: the model file still shows and evaluates against it
    shown = stylebank.load(model_path, "cpu").style_image(0)
    assert shown.shape == (3, 32, 32) and torch.equal(shown, expected) and shown.std() > 0.05
