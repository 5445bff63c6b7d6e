"""Winograd F(4x4, 3x3) convolution and the folded ResNet trunk that uses it at inference."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from lerobot_core.policies import native
from lerobot_core.policies.resnet import FoldedTrunk, FrozenBatchNorm2d, ResNetTrunk, build_resnet
from lerobot_core.policies.winograd import WinogradConv3x3, winograd_supported, winograd_weight


def _conv_case(shape: tuple[int, int, int, int], k: int, seed: int, channels_last_residual: bool = True):
    """Seeded channels-last input ``shape``, a ``k``-output 3x3 weight of unit-ish gain, bias and residual."""
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    x = torch.randn(shape, generator=gen).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(k, c, 3, 3, generator=gen) / (3 * c**0.5)
    bias = torch.randn(k, generator=gen)
    residual = torch.randn(n, k, h, w, generator=gen)
    if channels_last_residual:
        residual = residual.contiguous(memory_format=torch.channels_last)
    return x, weight, bias, residual

@pytest.mark.parametrize("shape", [(2, 16, 12, 16), (1, 8, 15, 20), (3, 4, 5, 7), (1, 3, 1, 2)])
def test_matches_direct_convolution(shape: tuple[int, int, int, int]) -> None:
    n, c, h, w = shape
    k = c + 3
    x, weight, bias, residual = _conv_case(shape, k, seed=0, channels_last_residual=False)
    ref = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
    conv = WinogradConv3x3()
    u = winograd_weight(weight)
    assert u.shape == (36, c, k)
    with torch.inference_mode():
        plain = conv(x, u, bias)
        fused = conv(x, u, bias, residual=residual)
        no_bias = conv(x, u, None, relu=True)
    with torch.no_grad():  # the reused work buffers also work outside inference mode
        again = conv(x, u, bias)
    assert plain.shape == (n, k, h, w)
    assert torch.equal(again, plain)
    scale = ref.abs().max().item()
    torch.testing.assert_close(plain.double(), ref, atol=2e-5 * scale, rtol=0)
    torch.testing.assert_close(fused.double(), (ref + residual.double()).relu(), atol=2e-5 * scale, rtol=0)
    torch.testing.assert_close(no_bias.double(), (ref - bias.double().view(1, -1, 1, 1)).relu(),
                               atol=2e-5 * scale, rtol=0)


def test_sizes_sharing_a_tile_grid_do_not_leak_into_each_other() -> None:
    """16×16 and 15×15 inputs both use 4×4 tiles: the 15×15 one must see zero padding, not the other's rows."""
    conv = WinogradConv3x3()
    weight = torch.randn(4, 4, 3, 3)
    u = winograd_weight(weight)
    with torch.inference_mode():
        conv(torch.randn(1, 4, 16, 16) * 100, u)
        x = torch.randn(1, 4, 15, 15)
        out = conv(x, u)
    torch.testing.assert_close(out, F.conv2d(x, weight, padding=1), atol=1e-4, rtol=0)


def test_supported_convolutions() -> None:
    assert winograd_supported(torch.nn.Conv2d(4, 4, 3, padding=1))
    assert not winograd_supported(torch.nn.Conv2d(4, 4, 3, stride=2, padding=1))
    assert not winograd_supported(torch.nn.Conv2d(4, 4, 1))
    assert not winograd_supported(torch.nn.Conv2d(4, 4, 3, padding=2, dilation=2))
    assert not winograd_supported(torch.nn.Conv2d(4, 4, 3, padding=1, groups=2))


def _trunk() -> ResNetTrunk:
    torch.manual_seed(0)
    trunk = ResNetTrunk(build_resnet("resnet18", norm_layer=FrozenBatchNorm2d)).eval()
    for m in trunk.modules():  # non-trivial frozen statistics
        if isinstance(m, FrozenBatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
    return trunk


def test_folded_trunk_with_winograd_matches_plain_trunk_and_follows_weight_updates() -> None:
    trunk = _trunk()
    folded = FoldedTrunk(trunk, winograd_min_channels=64)
    x = torch.randn(2, 3, 64, 96).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ref = trunk(x)
        out = folded(x)
    torch.testing.assert_close(out, ref, atol=1e-4 * ref.abs().max().item(), rtol=0)
    assert len(folded._winograd_weights) == 13  # every 3x3 stride-1 conv: 4 in layer1, 3 in each later layer
    with torch.no_grad():
        trunk.layer3[1].conv2.weight.mul_(-1)
    with torch.inference_mode():
        ref2 = trunk(x)
        out2 = folded(x)
    assert not torch.allclose(ref2, ref)
    torch.testing.assert_close(out2, ref2, atol=1e-4 * ref2.abs().max().item(), rtol=0)


def test_folded_trunk_training_path_does_not_use_winograd() -> None:
    trunk = _trunk()
    folded = FoldedTrunk(trunk, winograd_min_channels=64)
    x = torch.randn(1, 3, 32, 32)
    out = folded(x)  # autograd on: exact folded convolutions
    assert out.requires_grad and not folded._winograd_weights


@pytest.mark.parametrize("shape", [(2, 8, 13, 16), (2, 8, 16, 15), (1, 4, 20, 8)])
def test_strips_match_direct_convolution(shape: tuple[int, int, int, int]) -> None:
    """A small strip budget splits each image into strips of tile rows (the last one cropped); the result,
    with the residual add and ReLU done per strip, is the same convolution."""
    c = shape[1]
    x, weight, bias, residual = _conv_case(shape, c, seed=1, channels_last_residual=True)
    u = winograd_weight(weight)
    whole, strips = WinogradConv3x3(strip_bytes=1 << 30), WinogradConv3x3(strip_bytes=36 * 4 * c * 4 * 2)
    with torch.inference_mode():
        ref = whole(x, u, bias, residual=residual)
        out = strips(x, u, bias, residual=residual)
        plain = strips(x, u, bias)
    direct = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.double(), (direct + residual.double()).relu(), atol=1e-4, rtol=0)
    torch.testing.assert_close(plain.double(), direct, atol=1e-4, rtol=0)


def test_native_kernels_build_and_load() -> None:
    """CI has a C compiler (scripts/setup installs gcc): the native transforms must build, never silently
    fall back here."""
    lib = native.winograd_lib(strict=True)
    assert lib is not None and hasattr(lib, "winograd_f43_input") and hasattr(lib, "winograd_f43_output")


@pytest.mark.parametrize(("shape", "k", "strip_rows"), [
    ((2, 64, 13, 18), 64, None), ((1, 3, 5, 7), 5, None), ((2, 130, 9, 11), 67, 1), ((2, 16, 17, 22), 16, 2),
    ((1, 65, 6, 5), 129, 1), ((3, 7, 1, 2), 3, None), ((2, 33, 23, 9), 40, 3),
])
def test_native_transforms_match_torch_path(shape, k, strip_rows, monkeypatch: pytest.MonkeyPatch) -> None:
    """Odd sizes (H, W not multiples of 4, channel counts across the 64-channel blocks), with and without
    bias, residual and ReLU, whole maps and strips: the C transforms give the torch path's convolution."""
    n, c, h, w = shape
    x, weight, bias, residual = _conv_case(shape, k, seed=2, channels_last_residual=True)
    u = winograd_weight(weight)
    tw = -(-w // 4)
    strip_bytes = (1 << 30) if strip_rows is None else strip_rows * 36 * tw * max(c, k) * 4
    conv = WinogradConv3x3(strip_bytes=strip_bytes)
    cases = [dict(bias=bias), dict(bias=None, relu=True), dict(bias=bias, residual=residual),
             dict(bias=None, residual=residual.contiguous())]  # an NCHW residual too
    results = {}
    for mode in ("1", "0"):
        monkeypatch.setenv("LEROBOT_CORE_NATIVE", mode)
        with torch.inference_mode():
            results[mode] = [conv(x, u, **case) for case in cases]
            results[mode].append(conv(x.contiguous(), u, bias))  # NCHW input
    direct = F.conv2d(x.double(), weight.double(), bias.double(), padding=1)
    scale = direct.abs().max().item()
    for ours, theirs in zip(results["1"], results["0"]):
        assert ours.shape == theirs.shape == (n, k, h, w)
        torch.testing.assert_close(ours, theirs, atol=5e-6 * scale, rtol=0)
    torch.testing.assert_close(results["1"][0].double(), direct, atol=2e-5 * scale, rtol=0)
    torch.testing.assert_close(results["1"][2].double(), (direct + residual.double()).relu(), atol=2e-5 * scale,
                               rtol=0)


def test_torch_fallback_when_disabled_or_unbuildable(monkeypatch: pytest.MonkeyPatch, tmp_path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """``LEROBOT_CORE_NATIVE=0`` and a failing compiler both leave the (correct) torch path; a failed build
    logs one warning and ``strict`` raises."""
    x = torch.randn(1, 8, 10, 9).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(8, 8, 3, 3) / 9
    ref = F.conv2d(x, weight, padding=1)
    monkeypatch.setenv("LEROBOT_CORE_NATIVE", "0")
    assert native.winograd_lib() is None
    with torch.inference_mode():
        torch.testing.assert_close(WinogradConv3x3()(x, winograd_weight(weight)), ref, atol=1e-4, rtol=0)
    monkeypatch.setenv("LEROBOT_CORE_NATIVE", "1")
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached
    monkeypatch.setattr(native, "_loaded", {})
    with caplog.at_level(logging.WARNING, logger=native.__name__):
        assert native.winograd_lib() is None
        assert native.winograd_lib() is None
    assert len([r for r in caplog.records if "torch path" in r.getMessage()]) == 1
    with pytest.raises(native.NativeBuildError, match="failed"):
        native.winograd_lib(strict=True)
    with torch.inference_mode():
        torch.testing.assert_close(WinogradConv3x3()(x, winograd_weight(weight)), ref, atol=1e-4, rtol=0)
    assert not list(tmp_path.rglob("*.so"))  # no partial file left behind


@pytest.mark.parametrize(("shape", "k"), [((2, 64, 20, 26), 64), ((1, 16, 7, 13), 32), ((2, 48, 5, 3), 16),
                                          ((1, 3, 1, 2), 16), ((1, 130, 13, 11), 48)])
def test_large_tiles_f6_native(shape, k, monkeypatch: pytest.MonkeyPatch) -> None:
    """F(6x6, 3x3) in the fused native kernel: the same convolution (float32 error ~1.5-2× F(4x4)'s) on odd
    sizes; ``tile_for`` picks it for small weights only where the fused kernel runs."""
    c = shape[1]
    x, weight, bias, residual = _conv_case(shape, k, seed=3, channels_last_residual=True)
    conv = WinogradConv3x3()
    assert conv.tile_for(x, weight) == 6
    assert conv.tile_for(x, torch.randn(512, 512, 3, 3)) == 4  # 38 MB of F(4x4) weights: strips around bmm
    u = winograd_weight(weight, 6)
    assert u.shape == (64, c, k)
    with torch.inference_mode():
        plain = conv(x, u, bias)
        fused = conv(x, u, None, residual=residual)
    direct = F.conv2d(x.double(), weight.double(), padding=1)
    scale = direct.abs().max().item()
    torch.testing.assert_close(plain.double(), direct + bias.double().view(1, -1, 1, 1), atol=3e-5 * scale, rtol=0)
    torch.testing.assert_close(fused.double(), (direct + residual.double()).relu(), atol=3e-5 * scale, rtol=0)
    monkeypatch.setenv("LEROBOT_CORE_NATIVE", "0")
    assert conv.tile_for(x, weight) == 4
    with torch.inference_mode(), pytest.raises(ValueError, match="F\\(6x6, 3x3\\)"):
        conv(x, u, bias)


@pytest.mark.parametrize("shape", [(2, 32, 9, 14), (1, 48, 5, 7), (2, 16, 4, 4)])
def test_fused_kernel_with_output_channels_split_across_threads(shape) -> None:
    """Weights over ``fused_max_weight_bytes`` (resnet18 layer4) are convolved with the output channels split
    across the threads: the same convolution as the tile split and the strips."""
    k = 48
    x, weight, bias, residual = _conv_case(shape, k, seed=4, channels_last_residual=True)
    u = winograd_weight(weight)
    split, tiles, strips = WinogradConv3x3(fused_max_weight_bytes=0), WinogradConv3x3(), WinogradConv3x3()
    strips.split_large_weights = False
    strips.fused_max_weight_bytes = 0
    with torch.inference_mode():
        out = {name: conv(x, u, bias, residual=residual) for name, conv in
               (("split", split), ("tiles", tiles), ("strips", strips))}
    direct = (F.conv2d(x.double(), weight.double(), bias.double(), padding=1) + residual.double()).relu()
    scale = direct.abs().max().item()
    torch.testing.assert_close(out["split"], out["tiles"], atol=1e-6 * scale, rtol=0)
    torch.testing.assert_close(out["split"], out["strips"], atol=5e-6 * scale, rtol=0)
    torch.testing.assert_close(out["split"].double(), direct, atol=2e-5 * scale, rtol=0)


def test_build_without_openmp_uses_the_strips_kernels(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A compiler without OpenMP (the last flag fallback): the library still builds and loads, the fused kernel
    is not used and the strips kernels give the convolution."""
    monkeypatch.setattr(native, "FLAGS", [f for f in native.FLAGS if f != "-fopenmp"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(native, "_loaded", {})
    lib = native.winograd_lib(strict=True)
    assert not native.openmp(lib)
    assert [p.name for p in tmp_path.rglob("*.so")] == [native.build().name]
    x = torch.randn(2, 32, 11, 13).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(32, 32, 3, 3) / 17
    conv = WinogradConv3x3()
    assert conv.tile_for(x, weight) == 4
    with torch.inference_mode():
        out = conv(x, winograd_weight(weight), None, relu=True)
    direct = F.conv2d(x.double(), weight.double(), padding=1).relu()
    torch.testing.assert_close(out.double(), direct, atol=2e-5 * direct.abs().max().item(), rtol=0)
