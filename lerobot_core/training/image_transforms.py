"""Training-time image augmentation in plain torch (no torchvision): color jitter, sharpness, small affine.

Mirrors upstream LeRobot's ``ImageTransformsConfig``: a dict of named transforms, each with a sampling
``weight``, a ``type`` (``ColorJitter``, ``SharpnessJitter``, ``RandomAffine``) and ``kwargs``; every call
applies ``max_num_transforms`` of them drawn by weight (in config order unless ``random_order``). Images are
float tensors in [0, 1] of shape ``(..., C, H, W)``; one set of random parameters is drawn per call, so the
frames of an observation history are augmented identically. Randomness comes from the torch RNG (or the
``generator`` passed to ``__call__``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class ImageTransformConfig:
    weight: float = 1.0
    type: str = "Identity"
    kwargs: dict[str, Any] = field(default_factory=dict)


def _default_transforms() -> dict[str, ImageTransformConfig]:
    return {
        "brightness": ImageTransformConfig(type="ColorJitter", kwargs={"brightness": (0.8, 1.2)}),
        "contrast": ImageTransformConfig(type="ColorJitter", kwargs={"contrast": (0.8, 1.2)}),
        "saturation": ImageTransformConfig(type="ColorJitter", kwargs={"saturation": (0.5, 1.5)}),
        "hue": ImageTransformConfig(type="ColorJitter", kwargs={"hue": (-0.05, 0.05)}),
        "sharpness": ImageTransformConfig(type="SharpnessJitter", kwargs={"sharpness": (0.5, 1.5)}),
        "affine": ImageTransformConfig(type="RandomAffine", kwargs={"degrees": (-5.0, 5.0), "translate": (0.05, 0.05)}),
    }


@dataclass
class ImageTransformsConfig:
    """``--dataset.image_transforms.enable=true`` turns augmentation on (upstream's defaults otherwise)."""

    enable: bool = False
    max_num_transforms: int = 3
    random_order: bool = False
    tfs: dict[str, ImageTransformConfig] = field(default_factory=_default_transforms)


# ----------------------------------------------------------------------------------- functional ops
def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return float(low + (high - low) * torch.rand((), generator=generator))


def _blend(a: Tensor, b: Tensor, ratio: float) -> Tensor:
    return (ratio * a + (1.0 - ratio) * b).clamp(0.0, 1.0)


def _grayscale(img: Tensor) -> Tensor:
    r, g, b = img.unbind(-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def adjust_brightness(img: Tensor, factor: float) -> Tensor:
    return (img * factor).clamp(0.0, 1.0)


def adjust_contrast(img: Tensor, factor: float) -> Tensor:
    mean = _grayscale(img).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(img, mean, factor)


def adjust_saturation(img: Tensor, factor: float) -> Tensor:
    return _blend(img, _grayscale(img), factor)


def _rgb_to_hsv(img: Tensor) -> Tensor:
    r, g, b = img.unbind(-3)
    maxc, _ = img.max(dim=-3)
    minc, _ = img.min(dim=-3)
    delta = maxc - minc
    safe_max = torch.where(maxc > 0, maxc, torch.ones_like(maxc))
    safe_delta = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = delta / safe_max
    rc, gc, bc = (maxc - r) / safe_delta, (maxc - g) / safe_delta, (maxc - b) / safe_delta
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack([h, s, maxc], dim=-3)


def _hsv_to_rgb(img: Tensor) -> Tensor:
    h, s, v = img.unbind(-3)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = [torch.zeros_like(v) for _ in range(3)]
    for k, triple in enumerate(choices):
        mask = i == k
        for c in range(3):
            out[c] = torch.where(mask, triple[c], out[c])
    return torch.stack(out, dim=-3)


def adjust_hue(img: Tensor, shift: float) -> Tensor:
    """Rotate the hue by ``shift`` turns (``shift`` in [-0.5, 0.5])."""
    hsv = _rgb_to_hsv(img)
    hsv = torch.cat([((hsv[..., :1, :, :] + shift) % 1.0), hsv[..., 1:, :, :]], dim=-3)
    return _hsv_to_rgb(hsv).clamp(0.0, 1.0)


def adjust_sharpness(img: Tensor, factor: float) -> Tensor:
    """Blend with a smoothed copy (3×3 kernel, centre weight 5/13); borders keep their pixels."""
    if img.shape[-1] < 3 or img.shape[-2] < 3:
        return img
    shape = img.shape
    flat = img.reshape(-1, 1, shape[-2], shape[-1])
    kernel = torch.ones(1, 1, 3, 3, dtype=img.dtype, device=img.device)
    kernel[0, 0, 1, 1] = 5.0
    kernel /= kernel.sum()
    smooth = flat.clone()
    smooth[..., 1:-1, 1:-1] = F.conv2d(flat, kernel)
    return _blend(flat, smooth, factor).reshape(shape)


def affine(img: Tensor, angle_deg: float, translate_frac: tuple[float, float]) -> Tensor:
    """Rotate about the centre by ``angle_deg`` and shift by ``translate_frac`` × (W, H); zero fill."""
    shape = img.shape
    flat = img.reshape(-1, shape[-3], shape[-2], shape[-1])
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    # affine_grid maps output to input coordinates in [-1, 1]: inverse rotation, then inverse shift.
    tx, ty = 2.0 * translate_frac[0], 2.0 * translate_frac[1]
    theta = torch.tensor([[cos, sin, -(cos * tx + sin * ty)], [-sin, cos, -(-sin * tx + cos * ty)]],
                         dtype=img.dtype, device=img.device)
    grid = F.affine_grid(theta.expand(flat.shape[0], 2, 3), list(flat.shape), align_corners=False)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(shape)


# ------------------------------------------------------------------------------------- transforms
def _range(name: str, value: Any, centre: float | None = None) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        if centre is None:
            return (-float(value), float(value))
        return (max(0.0, centre - float(value)), centre + float(value))
    low, high = (float(v) for v in value)
    if low > high:
        raise ValueError(f"image transform {name}: range ({low}, {high}) must be (min, max) with min <= max")
    return low, high


class ColorJitter:
    """Brightness, contrast, saturation factors and a hue shift, each drawn uniformly from its range."""

    def __init__(self, brightness: Any = None, contrast: Any = None, saturation: Any = None, hue: Any = None):
        self.brightness = _range("brightness", brightness, 1.0) if brightness is not None else None
        self.contrast = _range("contrast", contrast, 1.0) if contrast is not None else None
        self.saturation = _range("saturation", saturation, 1.0) if saturation is not None else None
        self.hue = _range("hue", hue) if hue is not None else None
        if self.hue is not None and not (-0.5 <= self.hue[0] <= self.hue[1] <= 0.5):
            raise ValueError(f"ColorJitter hue range {self.hue} must lie within [-0.5, 0.5]")

    def __call__(self, img: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.brightness is not None:
            img = adjust_brightness(img, _uniform(*self.brightness, generator))
        if self.contrast is not None:
            img = adjust_contrast(img, _uniform(*self.contrast, generator))
        if self.saturation is not None:
            img = adjust_saturation(img, _uniform(*self.saturation, generator))
        if self.hue is not None:
            img = adjust_hue(img, _uniform(*self.hue, generator))
        return img


class SharpnessJitter:
    """Sharpness factor drawn from ``sharpness`` (1 = unchanged, <1 blurs, >1 sharpens)."""

    def __init__(self, sharpness: Any = (0.5, 1.5)):
        self.sharpness = _range("sharpness", sharpness, 1.0)
        if self.sharpness[0] < 0:
            raise ValueError(f"SharpnessJitter range {self.sharpness} must be non-negative")

    def __call__(self, img: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return adjust_sharpness(img, _uniform(*self.sharpness, generator))


class RandomAffine:
    """A small rotation (``degrees`` range) and shift (up to ``translate`` × width/height)."""

    def __init__(self, degrees: Any = (-5.0, 5.0), translate: Any = (0.05, 0.05)):
        self.degrees = _range("degrees", degrees)
        self.translate = (float(translate[0]), float(translate[1])) if translate is not None else (0.0, 0.0)
        if not all(0.0 <= t <= 1.0 for t in self.translate):
            raise ValueError(f"RandomAffine translate {self.translate} must be fractions in [0, 1]")

    def __call__(self, img: Tensor, generator: torch.Generator | None = None) -> Tensor:
        angle = _uniform(*self.degrees, generator)
        tx = _uniform(-self.translate[0], self.translate[0], generator)
        ty = _uniform(-self.translate[1], self.translate[1], generator)
        return affine(img, angle, (tx, ty))


class Identity:
    def __call__(self, img: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return img


TRANSFORM_TYPES: dict[str, type] = {
    "ColorJitter": ColorJitter,
    "SharpnessJitter": SharpnessJitter,
    "RandomAffine": RandomAffine,
    "Identity": Identity,
}


def make_transform(name: str, cfg: ImageTransformConfig):
    if cfg.type not in TRANSFORM_TYPES:
        raise ValueError(
            f"image transform {name!r}: unknown type {cfg.type!r}; available: {sorted(TRANSFORM_TYPES)}"
        )
    try:
        return TRANSFORM_TYPES[cfg.type](**dict(cfg.kwargs))
    except TypeError as e:
        raise ValueError(f"image transform {name!r} ({cfg.type}): bad kwargs {dict(cfg.kwargs)}: {e}") from e


class ImageTransforms:
    """Callable applied to each camera frame: picks up to ``max_num_transforms`` transforms by weight."""

    def __init__(self, cfg: ImageTransformsConfig):
        self.cfg = cfg
        items = [(name, t) for name, t in cfg.tfs.items() if t.weight > 0]
        if any(t.weight < 0 for t in cfg.tfs.values()):
            raise ValueError("image transform weights must be >= 0")
        self.names = [name for name, _ in items]
        self.transforms = [make_transform(name, t) for name, t in items]
        self.weights = torch.tensor([t.weight for _, t in items], dtype=torch.float64)
        self.n_subset = min(len(items), max(0, int(cfg.max_num_transforms)))

    def __call__(self, img: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.n_subset == 0:
            return img
        chosen = torch.multinomial(self.weights, self.n_subset, replacement=False, generator=generator).tolist()
        if not self.cfg.random_order:
            chosen.sort()
        for i in chosen:
            img = self.transforms[i](img, generator)
        return img


def make_image_transforms(cfg: ImageTransformsConfig | None) -> ImageTransforms | None:
    """``None`` when augmentation is off (the dataset then skips the call entirely)."""
    if cfg is None or not cfg.enable:
        return None
    return ImageTransforms(cfg)
