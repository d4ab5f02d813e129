import torch

from stylebank.losses import (LossWeights, StylizingLoss, gram_matrix, identity_loss, relative_squared_error,
                              blob_noise, shift_loss, total_variation)
from stylebank.lossnet import random_vgg
from stylebank.metrics import psnr


def test_gram_of_a_constant_map():
    c, channels, h, w = 3.0, 4, 5, 6
    gram = gram_matrix(torch.full((1, channels, h, w), c))
    # every entry: sum over H*W of c*c, divided by C*H*W
    assert torch.allclose(gram, torch.full((1, channels, channels), c * c / channels))


def test_gram_is_per_sample_not_across_the_batch():
    a, b = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4) * 5
    batch = gram_matrix(torch.cat([a, b]))
    assert torch.allclose(batch[0], gram_matrix(a)[0]) and torch.allclose(batch[1], gram_matrix(b)[0])


def test_relative_error_and_identity_loss():
    target = torch.rand(2, 3, 4, 4) + 0.1
    assert relative_squared_error(target, target).abs().max() == 0
    assert torch.allclose(relative_squared_error(torch.zeros_like(target), target), torch.ones(2))
    assert torch.isclose(identity_loss(target + 0.1, target), torch.tensor(0.01))
    assert abs(psnr(0.01) - 20.0) < 1e-4 and psnr(0.0) == float("inf")


def test_total_variation_of_a_ramp():
    ramp = torch.linspace(0, 1, 11).repeat(1, 3, 7, 1)  # horizontal steps of 0.1, no vertical change
    assert torch.isclose(total_variation(ramp), torch.tensor(0.1))
    assert total_variation(torch.full((1, 3, 5, 5), 0.3)) == 0


def test_stylizing_loss_is_zero_where_it_should_be():
    torch.manual_seed(0)
    style = torch.rand(3, 32, 32)
    content = torch.rand(2, 3, 32, 32)
    criterion = StylizingLoss(random_vgg(), [style], LossWeights(1, 1, 0))
    same_content = criterion(content, content, torch.tensor([0, 0]))
    assert same_content["content"] < 1e-6 and same_content["style"] > 0.01
    same_style = criterion(style.expand(2, 3, 32, 32), content, torch.tensor([0, 0]))
    assert same_style["style"] < 1e-5 and same_style["content"] > 0.01


def test_the_shift_loss_compares_the_same_scene_in_the_two_pictures_away_from_the_borders():
    photo = torch.rand(1, 3, 40, 44, generator=torch.Generator().manual_seed(0))
    height, width = 32, 36
    for down, right in ((0, 1), (2, 3), (3, 0)):
        # a "network" that moves its picture with the photo: nothing beyond the move
        here, there = photo[..., :height, :width], photo[..., down:down + height, right:right + width]
        assert shift_loss(here, there, down, right, margin=2) == 0
        assert shift_loss(here, there, right, down, margin=2) > 0  # the other way round is not the same scene
    here, there = photo[..., :height, :width], photo[..., 1:1 + height, 2:2 + width].clone()
    there[..., :2, :] = there[..., :, -2:] = 5  # within the margin: left out
    assert shift_loss(here, there, 1, 2, margin=2) == 0
    there[0, 0, 2, 5] += 0.5  # inside: counted, as a mean over the compared values
    compared = 3 * (height - 1 - 4) * (width - 2 - 4)
    assert torch.isclose(shift_loss(here, there, 1, 2, margin=2), torch.tensor(0.25 / compared))


def test_blob_noise_has_its_level_and_blob_size_and_is_the_same_for_the_same_seed():
    def neighbour_correlation(noise: torch.Tensor) -> float:
        return float(torch.corrcoef(torch.stack([noise[..., :, :-1].flatten(), noise[..., :, 1:].flatten()]))[0, 1])

    noises = {blob: blob_noise(torch.Size((2, 3, 64, 72)), blob, 0.01, seed=5) for blob in (2, 4, 8)}
    for noise in noises.values():
        assert noise.shape == (2, 3, 64, 72) and abs(float(noise.std()) - 0.01) < 1e-6
        assert abs(float(noise.mean())) < 0.002
    correlations = [neighbour_correlation(noises[blob]) for blob in (2, 4, 8)]
    assert correlations == sorted(correlations) and correlations[0] > 0.3 and correlations[-1] > 0.9
    assert torch.equal(noises[4], blob_noise(torch.Size((2, 3, 64, 72)), 4, 0.01, seed=5))
    assert not torch.equal(noises[4], blob_noise(torch.Size((2, 3, 64, 72)), 4, 0.01, seed=6))
