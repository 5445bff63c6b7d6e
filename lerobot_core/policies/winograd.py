"""Winograd convolution for inference on CPU (Lavin & Gray, 2016): F(4x4, 3x3) and F(6x6, 3x3).

A 3×3, stride-1, padding-1 convolution computed on 6×6 input tiles producing 4×4 output tiles: 36 batched
GEMMs (one per transform position) replace the 9 multiply-adds per output, a 4× cut in arithmetic (F(6x6):
8×8 tiles, 64 GEMMs, ~5×). The weight transform is done once (``winograd_weight``, in float64 then rounded).
On CPU float32 the native C kernels (``native/winograd.c``) run the convolution, fused per block of tiles; without
them the torch path applies the exact integer F(4x4) matrices below (small GEMMs, or shared-subexpression adds),
on strips of tile rows small enough to stay in the CPU cache (the transforms are memory-bound). In float32 the
result differs from a direct convolution by ~5e-6 (F(4x4)) or ~1e-5 (F(6x6)) of the output's magnitude (a
direct one: ~1e-6), so it is for inference paths that tolerate that.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lerobot_core.policies import native

# F(4, 3) with interpolation points 0, ±1, ±2, ∞.
_BT = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
       [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
_G = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
_AT = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
TILE, ALPHA = 4, 6
# F(6, 3) with interpolation points 0, ±1, ±2, ±1/2, ∞ (its transforms are in native/winograd.c only).
_G6 = [[1, 0, 0], [-2 / 9, -2 / 9, -2 / 9], [-2 / 9, 2 / 9, -2 / 9], [1 / 90, 1 / 45, 2 / 45],
       [1 / 90, -1 / 45, 2 / 45], [32 / 45, 16 / 45, 8 / 45], [32 / 45, -16 / 45, 8 / 45], [0, 0, 1]]
SPLIT_CHANNELS_BLOCK = 60  # tiles per block when output channels are split across threads (weights read once)
FUSED_BLOCK = 18  # tiles per block in the fused native kernel (at most; a multiple of 6, the GEMM's rows)
FUSED_BLOCK_BYTES = 512 << 10  # ... and so that a block's transformed tiles take about this (in the core's L2)


def _f43_weight_bytes(c: int, k: int) -> int:
    """Bytes of a ``c → k`` convolution's F(4x4, 3x3) float32 weights (what the size thresholds compare)."""
    return ALPHA * ALPHA * c * k * 4


def winograd_supported(conv: torch.nn.Conv2d) -> bool:
    """Whether ``conv`` is a convolution this module computes (3×3, stride 1, padding 1, no dilation/groups)."""
    return (tuple(conv.kernel_size) == (3, 3) and tuple(conv.stride) == (1, 1) and tuple(conv.padding) == (1, 1)
            and tuple(conv.dilation) == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros")


def winograd_weight(weight: Tensor, tile: int = TILE) -> Tensor:
    """``(K, C, 3, 3)`` weights → ``((tile + 2)², C, K)`` transformed weights ``G w Gᵀ`` (computed in float64)
    for F(4x4, 3x3) (``tile=4``) or F(6x6, 3x3) (``tile=6``: native fused kernel only)."""
    if tile not in (4, 6):
        raise ValueError(f"tile={tile}: Winograd tiles of 4 (F(4x4, 3x3)) or 6 (F(6x6, 3x3)) are supported")
    g = torch.tensor(_G if tile == 4 else _G6, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ik,ockl,jl->ijco", g, weight.detach().to(torch.float64), g)
    return u.reshape((tile + 2) ** 2, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


class WinogradConv3x3:
    """Runs Winograd convolutions, reusing its work buffers between calls (one instance per model; not for
    concurrent use from several threads)."""

    def __init__(self, strip_bytes: int = 4 << 20, fused_max_weight_bytes: int = 16 << 20,
                 large_tiles_max_weight_bytes: int = 4 << 20) -> None:
        self._buffers: dict[str, Tensor] = {}
        #: Inputs whose transformed tiles take more than this many bytes are done in strips of tile rows.
        self.strip_bytes = strip_bytes
        self._mats: dict[tuple, tuple[Tensor, Tensor]] = {}
        #: Native kernels: transformed weights up to this size are convolved by the fused C kernel (re-read per
        #: block of tiles); larger ones (resnet18's layer4: 38 MB) per strip around torch's batched GEMM.
        self.fused_max_weight_bytes = fused_max_weight_bytes
        #: Weights over ``fused_max_weight_bytes`` in the fused kernel too, output channels split across threads.
        self.split_large_weights = True
        #: ``tile_for`` picks F(6x6, 3x3) where the fused native kernel runs and the F(4x4) weights take at most
        #: this many bytes (resnet18's layer1-2; larger F(6x6) weights cost more to re-read than they save). 0: off.
        self.large_tiles_max_weight_bytes = large_tiles_max_weight_bytes

    def _fused(self, lib, c: int, k: int) -> bool:
        """Whether a ``c → k`` convolution runs in the fused native kernel (k a multiple of 16, the library built
        with OpenMP; F(4x4) weights over ``fused_max_weight_bytes`` only with ``split_large_weights``)."""
        return (lib is not None and k % 16 == 0 and native.openmp(lib)
                and (self.split_large_weights or _f43_weight_bytes(c, k) <= self.fused_max_weight_bytes))

    def tile_for(self, x: Tensor, weight: Tensor) -> int:
        """The output tile (4 or 6) to transform ``weight`` (``(K, C, 3, 3)``) for, given input ``x`` now:
        F(6x6, 3x3) (~20% fewer multiplies, float32 error ~1.5-2× F(4x4)'s) where the fused native kernel runs
        and the weights are small (``large_tiles_max_weight_bytes``), else F(4x4, 3x3)."""
        k, c = weight.shape[:2]
        if (x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32
                or _f43_weight_bytes(c, k) > self.large_tiles_max_weight_bytes):
            return 4
        return 6 if self._fused(native.winograd_lib(), c, k) else 4

    def _buffer(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A work buffer of ``shape``: a view of a flat tensor kept (and grown) across calls."""
        numel = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < numel or buf.dtype != like.dtype or buf.device != like.device:
            with torch.inference_mode(False):  # usable both inside and outside inference mode
                buf = torch.empty(numel, dtype=like.dtype, device=like.device)
            self._buffers[name] = buf
        return buf[:numel].view(shape)

    def _padded(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A zero-bordered NHWC buffer per input shape ``(N, C, H, W)``: only the ``H×W`` interior is ever
        written, so the border stays zero."""
        n, c, h, w = shape
        key = f"padded{shape}"
        buf = self._buffers.get(key)
        if buf is None or buf.dtype != like.dtype or buf.device != like.device:
            th, tw = -(-h // TILE), -(-w // TILE)
            with torch.inference_mode(False):
                buf = torch.zeros((n, th * TILE + 2, tw * TILE + 2, c), dtype=like.dtype, device=like.device)
            self._buffers[key] = buf
        return buf

    def _matrices(self, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (like.dtype, like.device)
        if key not in self._mats:
            self._mats[key] = (torch.tensor(_BT, dtype=like.dtype, device=like.device),
                               torch.tensor(_AT, dtype=like.dtype, device=like.device))
        return self._mats[key]

    def __call__(self, x: Tensor, u: Tensor, bias: Tensor | None = None, residual: Tensor | None = None,
                 relu: bool = False) -> Tensor:
        """``conv2d(x, w, bias, padding=1)`` (+ ``residual``, then ReLU if ``relu`` or a residual is given)
        for ``u = winograd_weight(w, tile)`` (``tile_for(x, w)``: F(6x6) only where the fused native kernel runs).
        ``x``: ``(N, C, H, W)``, best in channels-last memory; the result is ``(N, K, H, W)`` in channels-last
        memory (on the torch path a cropped view when H or W is not a multiple of 4).

        Without the fused kernel, large inputs are done in strips of tile rows (one image at a time) whose
        transforms fit the CPU cache: the transforms are memory-bound, so the three passes over a whole
        activation map cost more than the per-strip operator overhead."""
        n, c, h, w = x.shape
        k = u.shape[-1]
        th, tw = -(-h // TILE), -(-w // TILE)
        relu = relu or residual is not None
        lib = native.winograd_lib() if x.device.type == "cpu" and x.dtype == u.dtype == torch.float32 else None
        fused = self._fused(lib, c, k)
        if u.shape[0] != ALPHA * ALPHA:
            if u.shape[0] != 64 or not fused:
                raise ValueError(f"transformed weights {tuple(u.shape)}: F(6x6, 3x3) weights (64, C, K) need the "
                                 "fused native kernel here; use winograd_weight(w, tile_for(x, w))")
            return self._native(lib, x, u, bias, residual, relu, None, tile=6)
        if lib is not None:
            strips = None if fused else self._strips(n, th, tw, max(c, k) * x.element_size())
            return self._native(lib, x, u, bias, residual, relu, strips)
        strips = self._strips(n, th, tw, max(c, k) * x.element_size())
        # Zero-padded NHWC input; only the interior is ever written, so the border stays zero.
        xp = self._padded((n, c, h, w), x)
        xp[:, 1 : h + 1, 1 : w + 1].copy_(x.permute(0, 2, 3, 1))
        out = torch.empty((n, th * TILE, tw * TILE, k), dtype=x.dtype, device=x.device)
        res = None if residual is None else residual.permute(0, 2, 3, 1)
        for n0, count, r0, r1 in strips:
            images = slice(n0, n0 + count)
            self._strip(xp[images, r0 * TILE : r1 * TILE + 2], u, bias, out[images, r0 * TILE : r1 * TILE],
                        None if res is None else res[images, r0 * TILE : r1 * TILE], relu, h - r0 * TILE, w)
        return out[:, :h, :w].permute(0, 3, 1, 2)

    def _strips(self, n: int, th: int, tw: int, channel_bytes: int) -> list[tuple[int, int, int, int]]:
        """``(first image, images, first tile row, end tile row)`` per strip: the whole batch when its
        transformed tiles fit ``strip_bytes``, else strips of tile rows of one image each."""
        row_bytes = ALPHA * ALPHA * tw * channel_bytes
        if n * th * row_bytes <= self.strip_bytes:
            return [(0, n, 0, th)]
        count = -(-th // max(1, self.strip_bytes // row_bytes))
        rows = -(-th // count)
        return [(i, 1, r, min(th, r + rows)) for i in range(n) for r in range(0, th, rows)]

    def _native(self, lib, x: Tensor, u: Tensor, bias: Tensor | None, residual: Tensor | None, relu: bool,
                strips: list[tuple[int, int, int, int]] | None, tile: int = TILE) -> Tensor:
        """The convolution with the C kernels (``native/winograd.c``): the input transform reads the NHWC map in
        place (implicit zero padding), the output transform writes the valid pixels with bias, residual and ReLU
        fused. ``strips`` None: fused, blocks of tiles go through transform, GEMMs and output transform in C on
        ``torch.get_num_threads()`` OpenMP threads (each a range of the tiles, or of the output channels for
        weights over ``fused_max_weight_bytes``); else per strip the C transforms around torch's batched GEMM."""
        n, c, h, w = x.shape
        k = u.shape[-1]
        tw = -(-w // TILE)
        xh = x.permute(0, 2, 3, 1)
        if xh.stride(-1) != 1:
            xh = x.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
        out = torch.empty((n, h, w, k), dtype=x.dtype, device=x.device)
        res = None
        if residual is not None:
            res = residual.permute(0, 2, 3, 1)
            if res.stride(-1) != 1:
                res = residual.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
        b = None if bias is None else bias.contiguous()
        u = u.contiguous()
        xs, os_ = xh.stride()[:3], out.stride()[:3]
        rs = (0, 0, 0) if res is None else res.stride()[:3]
        x_ptr, out_ptr = xh.data_ptr(), out.data_ptr()
        res_ptr, b_ptr = (None if res is None else res.data_ptr()), (None if b is None else b.data_ptr())
        if strips is None:
            threads = torch.get_num_threads()
            tiles = n * -(-h // tile) * -(-w // tile)
            split_channels = _f43_weight_bytes(c, k) > self.fused_max_weight_bytes
            per_tile = (tile + 2) ** 2 * (c + k) * x.element_size()  # transformed input + output of one tile
            block = (min(tiles, SPLIT_CHANNELS_BLOCK) if split_channels
                     else max(6, min(FUSED_BLOCK, FUSED_BLOCK_BYTES // per_tile // 6 * 6)))
            stride = (tile + 2) ** 2 * (-(-block // 6) * 6) * (c + k)
            scratch = self._buffer("fused", (threads * stride,), x)
            lib.winograd_conv_parallel(tile, x_ptr, *xs, h, w, c, k, n, -(-h // tile), -(-w // tile), block,
                                       int(split_channels), u.data_ptr(), b_ptr, res_ptr, *rs, int(relu), out_ptr,
                                       *os_, scratch.data_ptr(), stride, threads)
            return out.permute(0, 3, 1, 2)
        for n0, count, r0, r1 in strips:
            p = count * (r1 - r0) * tw
            v = self._buffer("a", (ALPHA * ALPHA, p, c), x)
            lib.winograd_f43_input(x_ptr, *xs, h, w, c, n0, r0, r1, tw, p, 0, p, v.data_ptr())
            m = self._buffer("b", (ALPHA * ALPHA, p, k), x)
            torch.bmm(v, u, out=m)
            lib.winograd_f43_output(m.data_ptr(), k, n0, r0, r1, tw, p, 0, p, b_ptr, res_ptr, *rs, int(relu),
                                    out_ptr, *os_, h, w)
        return out.permute(0, 3, 1, 2)

    def _strip(self, xs: Tensor, u: Tensor, bias: Tensor | None, out: Tensor, res: Tensor | None, relu: bool,
               rows_left: int, w: int) -> None:
        """Convolve the padded NHWC rows ``xs`` (a view into the padded buffer) into the NHWC rows ``out``,
        adding ``res`` (NHWC, cropped to the image) and applying ReLU on the way."""
        n, _, _, c = xs.shape
        k = u.shape[-1]
        th, tw = out.shape[1] // TILE, out.shape[2] // TILE
        p = n * th * tw
        bt, at = self._matrices(xs)
        s_n, s_h, s_w, _ = xs.stride()
        tiles = self._buffer("a", (ALPHA, ALPHA, p * c), xs)  # two buffers in turn: a smaller working set
        tiles.view(ALPHA, ALPHA, n, th, tw, c).copy_(
            xs.as_strided((ALPHA, ALPHA, n, th, tw, c), (s_h, s_w, s_n, TILE * s_h, TILE * s_w, 1)))
        # Input transform Bᵀ d B: along the tile's columns, then its rows.
        half = self._buffer("b", (ALPHA, ALPHA, p * c), xs)
        torch.matmul(bt, tiles, out=half)
        v = self._buffer("a", (ALPHA, ALPHA * p * c), xs)
        _bt_rows(list(v), list(half.view(ALPHA, ALPHA * p * c)))
        m = self._buffer("b", (ALPHA * ALPHA, p, k), xs)
        torch.bmm(v.view(ALPHA * ALPHA, p, c), u, out=m)
        if bias is not None:  # column 1 of Aᵀ is all ones: a constant at position (1, 1) reaches every output
            m[ALPHA + 1].add_(bias)
        # Output transform Aᵀ m A: along the tile's columns, then its rows; scatter the 4×4 tiles into NHWC.
        half_out = self._buffer("a", (ALPHA, TILE, p * k), xs)
        torch.matmul(at, m.view(ALPHA, ALPHA, p * k), out=half_out)
        y = self._buffer("b", (TILE, TILE * p * k), xs)
        torch.mm(at, half_out.view(ALPHA, TILE * p * k), out=y)
        tiles_out = y.view(TILE, TILE, n, th, tw, k).permute(2, 3, 0, 4, 1, 5)
        if res is not None and rows_left >= th * TILE and w == tw * TILE:  # scatter and residual add in one pass
            torch.add(tiles_out, res.view(n, th, TILE, tw, TILE, k), out=out.view(n, th, TILE, tw, TILE, k))
        else:
            out.view(n, th, TILE, tw, TILE, k).copy_(tiles_out)
            if res is not None:
                out[:, : res.shape[1], :w].add_(res)
        if relu:
            out.relu_()


def _bt_rows(out: list[Tensor], d: list[Tensor]) -> None:
    """``out[i] = Σ_j Bᵀ[i, j] d[j]`` with shared sub-expressions (12 elementwise kernels)."""
    torch.add(d[4], d[0], alpha=4, out=out[0]).add_(d[2], alpha=-5)
    torch.add(d[4], d[2], alpha=-4, out=out[1])
    torch.add(d[3], d[1], alpha=-4, out=out[2])
    out[1].add_(out[2])  # (d4 - 4 d2) + (d3 - 4 d1)
    torch.add(out[1], out[2], alpha=-2, out=out[2])  # (d4 - 4 d2) - (d3 - 4 d1)
    torch.sub(d[4], d[2], out=out[3])
    torch.sub(d[3], d[1], out=out[4])
    out[3].add_(out[4], alpha=2)  # (d4 - d2) + 2 (d3 - d1)
    torch.add(out[3], out[4], alpha=-4, out=out[4])  # (d4 - d2) - 2 (d3 - d1)
    torch.add(d[5], d[1], alpha=4, out=out[5]).add_(d[3], alpha=-5)
