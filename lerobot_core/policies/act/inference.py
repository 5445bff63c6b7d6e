"""Inference-only kernels for ACT's fast path: linear layers through oneDNN with weights packed once.

``linear`` is ``F.linear`` (+ ReLU) everywhere autograd could be involved; without autograd on a CPU float32
tensor it runs oneDNN's linear kernel with the weight reordered once into oneDNN's blocked layout (cached per
parameter, rebuilt when the parameter changes) and the ReLU fused into it. Same result up to float32 rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

_AVAILABLE: list[bool] = []
_PACKED = WeakIdKeyDictionary()  # parameter → {rows: ((version, data_ptr), packed weight)}


def _probe() -> bool:
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        w, b, x = torch.randn(5, 4), torch.randn(5), torch.randn(3, 4)
        with torch.no_grad():
            packed = torch.ops.mkldnn._reorder_linear_weight(w, 3)
            y = torch.ops.mkldnn._linear_pointwise(x, packed, b, "relu", [], "")
        return bool(torch.allclose(y, F.linear(x, w, b).relu(), atol=1e-5))
    except Exception:  # private ops missing or with another signature in this torch build
        return False


def onednn_linear_available() -> bool:
    if not _AVAILABLE:
        _AVAILABLE.append(_probe())
    return _AVAILABLE[0]


def _packed(weight: Tensor, rows: slice | None, batch_hint: int) -> Tensor:
    entries = _PACKED.setdefault(weight, {})
    key = (rows.start, rows.stop) if rows is not None else None
    version = (weight._version, weight.data_ptr())
    hit = entries.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    with torch.inference_mode(False), torch.no_grad():
        w = weight.detach() if rows is None else weight.detach()[rows]
        packed = torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), batch_hint)
    entries[key] = (version, packed)
    return packed


def linear(x: Tensor, weight: Tensor, bias: Tensor | None, rows: slice | None = None, relu: bool = False) -> Tensor:
    """``F.linear(x, weight[rows], bias[rows])`` (then ReLU if ``relu``); oneDNN with a packed weight when
    autograd is off and ``x`` is a CPU float32 tensor."""
    if (torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32
            or weight.dtype != torch.float32 or not onednn_linear_available()):
        w = weight if rows is None else weight[rows]
        b = bias if bias is None or rows is None else bias[rows]
        out = F.linear(x, w, b)
        return F.relu(out) if relu else out
    packed = _packed(weight, rows, max(1, x.numel() // x.shape[-1]))
    b = bias if bias is None or rows is None else bias[rows]
    return torch.ops.mkldnn._linear_pointwise(x, packed, b, "relu" if relu else "none", [], "")
