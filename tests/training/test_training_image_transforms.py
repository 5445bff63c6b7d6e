"""Plain-torch image augmentation: neutral parameters are identities, ranges and shapes hold, seeding works."""

from __future__ import annotations

import pytest
import torch

from lerobot_core.training import image_transforms as T


@pytest.fixture
def img() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 20, 24, generator=g)


def test_neutral_parameters_leave_the_image_unchanged(img):
    assert torch.allclose(T.adjust_brightness(img, 1.0), img)
    assert torch.allclose(T.adjust_contrast(img, 1.0), img)
    assert torch.allclose(T.adjust_saturation(img, 1.0), img)
    assert torch.allclose(T.adjust_hue(img, 0.0), img, atol=1e-5)
    assert torch.allclose(T.adjust_sharpness(img, 1.0), img)
    assert torch.allclose(T.affine(img, 0.0, (0.0, 0.0)), img, atol=1e-5)


def test_each_op_does_what_it_says(img):
    assert torch.allclose(T.adjust_brightness(img, 0.0), torch.zeros_like(img))
    flat = T.adjust_contrast(img, 0.0)
    assert torch.allclose(flat, flat.flatten()[0].expand_as(flat))  # no contrast left: one grey level
    gray = T.adjust_saturation(img, 0.0)
    assert torch.allclose(gray[0], gray[1]) and torch.allclose(gray[1], gray[2])
    red = torch.zeros(3, 4, 4)
    red[0] = 1.0
    shifted = T.adjust_hue(red, 1 / 3)  # red rotated a third of the way round is green
    assert torch.allclose(shifted[1], torch.ones(4, 4), atol=1e-5) and shifted[0].abs().max() < 1e-5
    blurred = T.adjust_sharpness(img, 0.0)
    assert torch.equal(blurred[:, 0], img[:, 0]) and blurred[:, 1:-1, 1:-1].std() < img[:, 1:-1, 1:-1].std()
    moved = T.affine(img, 0.0, (0.25, 0.0))  # a quarter of the width to the right, zeros enter on the left
    assert torch.allclose(moved[:, :, 6:], img[:, :, :-6], atol=1e-5) and moved[:, :, :5].abs().max() == 0


def test_history_frames_get_identical_parameters():
    frames = torch.rand(2, 3, 16, 16)
    frames[1] = frames[0]
    cfg = T.ImageTransformsConfig(enable=True, max_num_transforms=6)
    out = T.ImageTransforms(cfg)(frames, torch.Generator().manual_seed(3))
    assert out.shape == frames.shape and torch.equal(out[0], out[1]) and not torch.equal(out, frames)
    assert out.min() >= 0 and out.max() <= 1


def test_seeded_and_weighted_selection():
    cfg = T.ImageTransformsConfig(enable=True, max_num_transforms=2)
    tf = T.ImageTransforms(cfg)
    x = torch.rand(3, 16, 16)
    a = tf(x, torch.Generator().manual_seed(5))
    b = tf(x, torch.Generator().manual_seed(5))
    c = tf(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    only = T.ImageTransformsConfig(enable=True, max_num_transforms=3, tfs={
        "bright": T.ImageTransformConfig(weight=1.0, type="ColorJitter", kwargs={"brightness": [0.0, 0.0]}),
        "never": T.ImageTransformConfig(weight=0.0, type="RandomAffine", kwargs={"degrees": [-90, 90]}),
    })
    assert torch.equal(T.ImageTransforms(only)(x), torch.zeros_like(x))
    assert T.make_image_transforms(T.ImageTransformsConfig(enable=False)) is None


def test_bad_transform_configs_are_rejected():
    with pytest.raises(ValueError, match="unknown type 'Solarize'"):
        T.ImageTransforms(T.ImageTransformsConfig(enable=True, tfs={"s": T.ImageTransformConfig(type="Solarize")}))
    with pytest.raises(ValueError, match="bad kwargs"):
        T.ImageTransforms(T.ImageTransformsConfig(enable=True, tfs={
            "c": T.ImageTransformConfig(type="ColorJitter", kwargs={"brightnes": [0.9, 1.1]})}))
    with pytest.raises(ValueError, match="hue range"):
        T.ColorJitter(hue=(-0.7, 0.1))
    with pytest.raises(ValueError, match="min <= max"):
        T.ColorJitter(brightness=(1.2, 0.8))
