"""The colour map that matches a reconstruction's colours to its photo's (stylebank.colour)."""

import numpy as np
import torch

from stylebank.colour import apply_colour_map, colour_map, match_colours


def photos(count: int = 2, height: int = 30, width: int = 40) -> torch.Tensor:
    return torch.rand(count, 3, height, width, generator=torch.Generator().manual_seed(1))


def test_an_affine_colour_change_is_undone_per_image():
    picture = photos()
    matrices = torch.tensor([[[0.7, 0.2, 0.0], [0.0, 0.8, 0.1], [0.1, 0.0, 0.6]],
                             [[1.1, -0.1, 0.0], [0.0, 0.9, 0.0], [-0.2, 0.1, 1.0]]])
    offsets = torch.tensor([[0.1, -0.05, 0.2], [-0.1, 0.0, 0.05]])
    photo = torch.einsum("bij,bjhw->bihw", matrices, picture) + offsets[..., None, None]
    mapping = colour_map(picture, photo)
    assert mapping.shape == (2, 3, 4)
    # the ridge pulls the matrix a little toward the identity: about RIDGE / (the picture's variance) of the way
    assert (mapping[..., :3] - matrices).abs().max() < 0.03 and (mapping[..., 3] - offsets).abs().max() < 0.03
    assert (match_colours(picture, photo) - photo).abs().max() < 0.02
    assert (match_colours(photo, photo) - photo).abs().max() < 1e-3  # nothing to change


def test_a_flat_picture_takes_the_photos_mean_colour_and_stays_finite():
    photo = photos(1)
    flat = torch.full_like(photo, 0.3)
    matched = match_colours(flat, photo)
    assert torch.isfinite(matched).all()
    assert torch.allclose(matched.mean((2, 3)), photo.mean((2, 3)), atol=1e-3)


def test_numpy_arrays_and_tensors_get_the_same_map_and_keep_their_kind():
    picture, photo = photos(), photos().flip(1)
    from_arrays = colour_map(picture.numpy(), photo.numpy())
    assert isinstance(from_arrays, np.ndarray) and from_arrays.dtype == np.float32
    assert np.allclose(from_arrays, colour_map(picture, photo).numpy(), atol=1e-6)
    mapped = apply_colour_map(picture.numpy(), from_arrays)
    assert isinstance(mapped, np.ndarray) and mapped.dtype == np.float32
    assert np.allclose(mapped, apply_colour_map(picture, torch.from_numpy(from_arrays)).numpy(), atol=1e-5)


def test_a_large_picture_is_fitted_on_a_subsample_with_the_same_result(monkeypatch):
    import stylebank.colour

    picture = photos(1, 64, 64)
    photo = (picture * 0.5 + 0.2).flip(1)
    exact = colour_map(picture, photo)
    monkeypatch.setattr(stylebank.colour, "FIT_PIXELS", 32 * 32)  # every second pixel each way
    assert torch.allclose(colour_map(picture, photo), exact, atol=0.02)
    assert not torch.equal(colour_map(picture, photo), exact)
