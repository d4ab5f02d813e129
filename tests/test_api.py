import numpy as np
import pytest
import torch
from PIL import Image

import stylebank
from stylebank.checkpoint import save_model
from stylebank.errors import StyleBankError
from stylebank.model import StyleBankNet


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    net = StyleBankNet(2)
    with torch.no_grad():
        net.bank[1][1].weight.mul_(-1)  # make style 1 clearly differ from style 0
    return save_model(tmp_path / "m.safetensors", net, ["calm", "wild"], "random:0", {})


def test_stylize_returns_the_kind_it_was_given(model_file):
    model = stylebank.load(model_file, "cpu")
    assert model.styles == ["calm", "wild"]
    array = np.random.default_rng(0).integers(0, 256, (21, 34, 3), dtype=np.uint8)
    out = model.stylize(array, style="wild")
    assert out.dtype == np.uint8 and out.shape == array.shape
    pil = model.stylize(Image.fromarray(array), style=1)
    assert isinstance(pil, Image.Image) and pil.size == (34, 21)
    assert np.array_equal(np.asarray(pil), out)
    tensor = torch.from_numpy(array).permute(2, 0, 1).float() / 255
    single = model.stylize(tensor, style=1)
    assert single.shape == tensor.shape and (single - torch.from_numpy(out).permute(2, 0, 1) / 255).abs().max() < 0.01
    assert model.stylize(tensor.unsqueeze(0), style=0).shape == (1, 3, 21, 34)
    assert not np.array_equal(model.stylize(array, style=0), out)


def test_bad_style_and_input_are_clear_errors(model_file):
    model = stylebank.load(model_file, "cpu")
    with pytest.raises(StyleBankError, match="out of range"):
        model.stylize(np.zeros((16, 16, 3), np.uint8), style=2)
    with pytest.raises(StyleBankError, match="HxWx3 uint8"):
        model.stylize(np.zeros((16, 16), np.uint8))
    with pytest.raises(StyleBankError, match="cannot stylize a str"):
        model.stylize("photo.png")


def test_the_bundled_model_loads_and_stylizes():
    model = stylebank.load(device="cpu")
    assert len(model.styles) >= 4 and model.info["loss_network"] in ("hed", "vgg19")  # a trained loss network
    photo = np.asarray(stylebank.samples.builtin_image("astronaut").resize((64, 64)))
    outputs = [model.stylize(photo, style=name) for name in model.styles]
    assert all(o.shape == photo.shape for o in outputs)
    assert len({o.tobytes() for o in outputs}) == len(outputs)  # every style gives its own picture
