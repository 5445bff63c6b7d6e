"""The one compute path of a chunk request, shared by local inference and the policy server.

``observation`` is a flat dict of numpy arrays keyed by the policy's feature names
(``observation.state`` float vector in the checkpoint's joint order and units,
``observation.images.<cam>`` uint8 ``(H, W, 3)`` RGB at any resolution). Images are resized to the
training shape here, so local and remote inference see the same tensors.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lerobot_core.processor import FeatureType


@dataclass
class ChunkRequest:
    """What the engine sends to a backend for one chunk."""

    observation: dict[str, np.ndarray]
    task: str = ""
    stamp: float = 0.0  # monotonic time of the observation (client-local; never crosses machines)
    episode_id: int = 0
    episode_start: bool = False
    delay_steps: int = 0  # expected inference delay in control steps (RTC hint)
    prefix_model: np.ndarray | None = None  # what remains of the previous chunk (model space)
    prefix_robot: np.ndarray | None = None  # the same, post-processed (robot space)


@dataclass
class ChunkReply:
    chunk_model: np.ndarray  # (H, A) float32 before the post-processor
    chunk_robot: np.ndarray  # (H, A) float32 post-processed
    inference_ms: float = 0.0
    queue_wait_ms: float = 0.0
    superseded: int = 0
    server_load: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _image_tensor(key: str, value: Any, shape: tuple[int, ...]) -> torch.Tensor:
    arr = np.asarray(value)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"observation {key!r}: expected an (H, W, 3) RGB image, got shape {arr.shape}; "
                         "convert camera frames to RGB HWC before feeding them")
    if arr.dtype != np.uint8:
        raise ValueError(f"observation {key!r}: expected uint8 pixels, got {arr.dtype}")
    img = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float().div_(255.0)
    h, w = int(shape[-2]), int(shape[-1])
    if img.shape[1:] != (h, w):
        img = F.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
        img = img.clamp_(0.0, 1.0)
    return img


def prepare_observation(observation: Mapping[str, Any], policy_cfg: Any) -> dict[str, torch.Tensor]:
    """Policy inputs (unbatched, CPU) from a numpy observation; raises naming any missing/misshaped key."""
    out: dict[str, torch.Tensor] = {}
    for key, ft in policy_cfg.input_features.items():
        if key not in observation:
            raise ValueError(f"observation is missing {key!r} (the policy needs "
                             f"{sorted(policy_cfg.input_features)}); map a source to it")
        if FeatureType(ft.type) is FeatureType.VISUAL:
            out[key] = _image_tensor(key, observation[key], tuple(ft.shape))
        else:
            vec = np.asarray(observation[key], np.float32).reshape(-1)
            if vec.shape != tuple(ft.shape):
                raise ValueError(f"observation {key!r}: expected shape {tuple(ft.shape)}, got {vec.shape}")
            out[key] = torch.from_numpy(vec.copy())
    return out


def supports_rtc(policy: Any) -> bool:
    """Whether ``policy.predict_action_chunk`` takes the RTC arguments ``inference_delay`` and
    ``prev_chunk_left_over``."""
    params = inspect.signature(policy.predict_action_chunk).parameters
    return "prev_chunk_left_over" in params and "inference_delay" in params


def fit_prefix(prefix: np.ndarray | None, steps: int, action_dim: int) -> np.ndarray:
    """Pad with zeros or truncate an ``(T, A)`` prefix to ``steps`` rows."""
    out = np.zeros((steps, action_dim), np.float32)
    if prefix is not None and len(prefix):
        prefix = np.asarray(prefix, np.float32).reshape(-1, action_dim)[:steps]
        out[: len(prefix)] = prefix
    return out


def compute_chunk(policy: Any, preprocessor: Any, postprocessor: Any, request: ChunkRequest, *,
                  rtc_horizon: int = 0) -> ChunkReply:
    """preprocess → ``predict_action_chunk`` (with the RTC prefix when ``rtc_horizon`` > 0) → postprocess."""
    t0 = time.perf_counter()
    batch: dict[str, Any] = prepare_observation(request.observation, policy.config)
    batch["task"] = request.task
    processed = preprocessor(batch)
    if rtc_horizon > 0:
        action_dim = int(policy.config.action_feature.shape[0])
        prefix = torch.from_numpy(fit_prefix(request.prefix_model, rtc_horizon, action_dim))
        device = next(iter(p.device for p in policy.parameters()), torch.device("cpu"))
        actions = policy.predict_action_chunk(processed, inference_delay=max(0, int(request.delay_steps)),
                                              prev_chunk_left_over=prefix.to(device))
    else:
        actions = policy.predict_action_chunk(processed)
    model = actions[0].detach().float().cpu().numpy().astype(np.float32, copy=True)
    robot = postprocessor(actions)[0].detach().float().cpu().numpy().astype(np.float32, copy=True)
    return ChunkReply(chunk_model=model, chunk_robot=robot, inference_ms=(time.perf_counter() - t0) * 1e3)


def feature_names(features: Mapping[str, Any], key: str) -> list[str]:
    """The element names of a vector feature in a dataset's ``info.json`` features (``names`` is a list, or
    upstream's ``{"motors": [...]}`` form); e.g. the checkpoint's state or action joint order."""
    if key not in features:
        raise ValueError(f"feature {key!r} not in the dataset features ({sorted(features)})")
    names = features[key].get("names") if isinstance(features[key], Mapping) else None
    if isinstance(names, Mapping):
        names = next(iter(names.values()), None)
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"feature {key!r} has no list of names ({names!r})")
    return list(names)


def ordered_vector(values: Mapping[str, float], names: list[str], what: str = "observation.state") -> np.ndarray:
    """``values`` (name → value, any order, extra names ignored) as a float32 vector in ``names`` order."""
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"{what}: no value for {missing} (have {sorted(values)}); map every joint the "
                         f"checkpoint expects, in its units")
    return np.asarray([values[n] for n in names], np.float32)
