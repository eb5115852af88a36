"""rotate / affine / RandomRotation / RandomAffine: the warp against torchvision's tensor path written
here in torch (grid built after the matrix, grid_sample, fill through a mask channel), and the
geometry against its defining properties (90-degree turns are rot90, integer translations shift,
expand holds the whole image)."""
import math

import numpy as np
import pytest
import torch

import flambeau
import flambeau.transforms as T
import flambeau.transforms.functional as TF
from flambeau.transforms.affine import _get_inverse_affine_matrix


def ref_warp(img, matrix, mode, fill, ow=None, oh=None):
    """torchvision.transforms._functional_tensor: _gen_affine_grid + _apply_grid_transform."""
    x = img.unsqueeze(0)
    h, w = x.shape[-2], x.shape[-1]
    ow, oh = ow or w, oh or h
    theta = torch.tensor(matrix, dtype=x.dtype).reshape(1, 2, 3)
    d = 0.5
    base_grid = torch.empty(1, oh, ow, 3, dtype=theta.dtype)
    base_grid[..., 0].copy_(torch.linspace(-ow * 0.5 + d, ow * 0.5 + d - 1, steps=ow))
    base_grid[..., 1].copy_(torch.linspace(-oh * 0.5 + d, oh * 0.5 + d - 1, steps=oh).unsqueeze_(-1))
    base_grid[..., 2].fill_(1)
    rescaled_theta = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h], dtype=theta.dtype)
    grid = base_grid.view(1, oh * ow, 3).bmm(rescaled_theta).view(1, oh, ow, 2)
    if fill is not None:
        x = torch.cat((x, torch.ones((1, 1, h, w), dtype=x.dtype)), dim=1)
    x = torch.nn.functional.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    if fill is not None:
        mask = x[:, -1:].expand_as(x[:, :-1])
        x = x[:, :-1]
        fill_img = torch.tensor(fill, dtype=x.dtype).view(1, len(fill), 1, 1).expand_as(x)
        if mode == "nearest":
            x = x.clone()
            m = mask < 0.5
            x[m] = fill_img[m]
        else:
            x = x * mask + (1.0 - mask) * fill_img
    return x.squeeze(0)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("fill", [None, [0.5, 0.25, 1.0]])
@pytest.mark.parametrize("params", [(30.0, [1.0, -2.0], 1.2, [10.0, 0.0]), (-75.0, [0.0, 3.0], 0.8, [-5.0, 8.0]),
                                    (12.5, [0.0, 0.0], 1.0, [0.0, 0.0])])
def test_affine_warp_matches_torchvision_tensor_path(params, fill, mode):
    x = np.random.rand(3, 9, 12).astype(np.float32)
    angle, translate, scale, shear = params
    im = T.InterpolationMode(mode)
    out = TF.affine(flambeau.from_numpy(x), angle, translate, scale, shear, interpolation=im, fill=fill)
    matrix = _get_inverse_affine_matrix([0.0, 0.0], angle, translate, scale, shear)
    ref = ref_warp(torch.from_numpy(x), matrix, mode, fill)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-5)
    rot = TF.rotate(flambeau.from_numpy(x), angle, interpolation=im, fill=fill, center=[3, 4])
    matrix = _get_inverse_affine_matrix([3 - 6.0, 4 - 4.5], -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    np.testing.assert_allclose(rot.numpy(), ref_warp(torch.from_numpy(x), matrix, mode, fill).numpy(), atol=1e-5)


def test_geometry():
    x = flambeau.from_numpy(np.random.rand(2, 6, 6).astype(np.float32))
    t = torch.from_numpy(x.numpy())
    # positive angles turn counter-clockwise in rotate, clockwise in affine (torchvision's conventions)
    np.testing.assert_array_equal(TF.rotate(x, 90).numpy(), torch.rot90(t, 1, (-2, -1)).numpy())
    np.testing.assert_array_equal(TF.rotate(x, -90).numpy(), torch.rot90(t, -1, (-2, -1)).numpy())
    np.testing.assert_array_equal(TF.affine(x, 90, [0, 0], 1.0, 0.0).numpy(), torch.rot90(t, -1, (-2, -1)).numpy())
    np.testing.assert_array_equal(TF.rotate(x, 180).numpy(), t.flip(-1).flip(-2).numpy())
    # integer translation: a shift right by 2 and down by 1, zeros coming in
    shifted = TF.affine(x, 0.0, [2, 1], 1.0, [0.0, 0.0]).numpy()
    expect = np.zeros_like(shifted)
    expect[:, 1:, 2:] = t.numpy()[:, :-1, :-2]
    np.testing.assert_array_equal(shifted, expect)
    # expand: a 45-degree turn of an 8x4 image: corners at +-4.24 about the centre (4, 2), so the
    # canvas runs from floor(-0.24) to ceil(8.24) across and floor(-2.24) to ceil(6.24) down
    out = TF.rotate(flambeau.ones(1, 4, 8), 45, expand=True)
    assert tuple(out.shape) == (1, 10, 10)
    assert float(out.sum()) == pytest.approx(32, abs=4)


def test_uint8_and_arrays():
    arr = np.random.randint(0, 256, (7, 9, 3)).astype(np.uint8)
    out = TF.rotate(arr, 90, expand=True)
    assert out.dtype == np.uint8 and out.shape == (9, 7, 3)
    np.testing.assert_array_equal(out, np.rot90(arr, 1, (0, 1)))
    t = flambeau.from_numpy(arr.transpose(2, 0, 1).copy())
    b = TF.affine(t, 20, [1, 1], 1.1, [3.0, 0.0], interpolation=T.InterpolationMode.BILINEAR, fill=[10, 20, 30])
    assert b.dtype == flambeau.uint8
    matrix = _get_inverse_affine_matrix([0.0, 0.0], 20, [1.0, 1.0], 1.1, [3.0, 0.0])
    ref = torch.round(ref_warp(torch.from_numpy(arr.transpose(2, 0, 1).astype(np.float32)), matrix, "bilinear",
                               [10.0, 20.0, 30.0])).to(torch.uint8)
    np.testing.assert_array_equal(b.numpy(), ref.numpy())


def test_random_rotation_and_affine_draws():
    flambeau.manual_seed(0)
    angles = [T.RandomRotation.get_params([-10.0, 10.0]) for _ in range(300)]
    assert -10 <= min(angles) < -8 and 8 < max(angles) <= 10
    draws = [T.RandomAffine.get_params([-5.0, 5.0], (0.1, 0.2), (0.9, 1.1), [-3.0, 3.0, -2.0, 2.0], [30, 20])
             for _ in range(300)]
    tx = [d[1][0] for d in draws]
    ty = [d[1][1] for d in draws]
    assert set(tx) <= set(range(-3, 4)) and set(ty) <= set(range(-4, 5)) and len(set(tx)) == 7
    assert all(0.9 <= d[2] <= 1.1 and -3 <= d[3][0] <= 3 and -2 <= d[3][1] <= 2 for d in draws)
    assert T.RandomAffine.get_params([0.0, 0.0], None, None, None, [5, 5]) == (0.0, (0, 0), 1.0, (0.0, 0.0))
    x = flambeau.rand(3, 10, 10)
    assert tuple(T.RandomRotation((-30, 30), fill=1.0)(x).shape) == (3, 10, 10)
    assert tuple(T.RandomAffine(15, translate=(0.1, 0.1), scale=(0.8, 1.2), shear=10)(x).shape) == (3, 10, 10)
    assert T.RandomRotation(10)(np.zeros((10, 12), np.uint8)).shape == (10, 12)
    assert T.RandomRotation(10).degrees == [-10.0, 10.0]
    with pytest.raises(ValueError, match="must be positive"):
        T.RandomRotation(-3)
    with pytest.raises(ValueError, match="translation values should be between 0 and 1"):
        T.RandomAffine(0, translate=(0.1, 1.5))
    with pytest.raises(ValueError, match="scale values should be positive"):
        T.RandomAffine(0, scale=(0.0, 1.0))
    assert math.isclose(T.RandomAffine(0, shear=(1, 2, 3, 4)).shear[3], 4.0)
