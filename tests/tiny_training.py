"""A tiny training run on the tiny data (conftest.py's tiny_data) and the check that two runs made the same
weights: shared by test_train.py, test_scale.py and test_distributed.py. Apart from helpers.py because it imports
stylebank's training side (torch), which helpers.py must not."""

import torch

from stylebank.checkpoint import load_model
from stylebank.config import TrainConfig


def tiny_config(data, **overrides) -> TrainConfig:
    settings = dict(content=[str(data["content"])], styles=[str(s) for s in data["styles"]],
                    output=str(data["root"] / "model.safetensors"), image_size=32, style_size=32, batch_size=2,
                    iterations=6, vgg="random", warmup=0, lr_ramp=0, checkpoint_every=1000, sample_every=1000,
                    device="cpu", preview=str(data["content"] / "photo0.png"), workers=0)
    settings.update(overrides)
    return TrainConfig(**settings)


def assert_same_weights(path_a, path_b) -> None:
    a = load_model(path_a).net
    b = load_model(path_b).net
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
