"""Normalizer / unnormalizer steps with upstream LeRobot's formulas, stats layout and state files.

Modes (per feature type, from ``norm_map``):
  MEAN_STD   (x - mean) / (std + eps)                  inverse  x * std + mean
  MIN_MAX    2 (x - min) / d - 1,  d = max - min        inverse  (x + 1) / 2 * d + min
  QUANTILES  2 (x - q01) / d - 1,  d = q99 - q01        inverse  (x + 1) * d / 2 + q01
  QUANTILE10 2 (x - q10) / d - 1,  d = q90 - q10        inverse  (x + 1) * d / 2 + q10
  IDENTITY   x
where a zero ``d`` is replaced by ``eps``. Stats are saved flat as ``"<feature>.<stat>"`` tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lerobot_core.constants import ACTION
from lerobot_core.processor.core import EnvTransition, TransitionKey
from lerobot_core.processor.features import (
    FeatureType,
    NormalizationMode,
    PolicyFeature,
    feature_from_json,
    feature_to_json,
)
from lerobot_core.processor.pipeline import ProcessorStep, ProcessorStepRegistry

_REQUIRED = {
    NormalizationMode.MEAN_STD: ("mean", "std"),
    NormalizationMode.MIN_MAX: ("min", "max"),
    NormalizationMode.QUANTILES: ("q01", "q99"),
    NormalizationMode.QUANTILE10: ("q10", "q90"),
}


def _to_tensor(value: Any, device: torch.device | str | None, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(value), dtype=dtype, device=device)


def stats_to_tensors(
    stats: dict[str, dict[str, Any]] | None, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> dict[str, dict[str, torch.Tensor]]:
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, sub in (stats or {}).items():
        out[key] = {}
        for name, value in sub.items():
            if isinstance(value, str):
                continue
            out[key][name] = _to_tensor(value, device, dtype)
    return out


@dataclass
class _NormalizationBase(ProcessorStep):
    features: dict[str, PolicyFeature] = field(default_factory=dict)
    norm_map: dict[FeatureType, NormalizationMode] = field(default_factory=dict)
    stats: dict[str, dict[str, Any]] | None = None
    device: torch.device | str | None = None
    dtype: torch.dtype | None = None
    eps: float = 1e-8
    normalize_observation_keys: set[str] | None = None

    _inverse = False

    def __post_init__(self) -> None:
        self._stats_explicitly_provided = bool(self.stats)
        self.features = {k: feature_from_json(v) for k, v in (self.features or {}).items()}
        self.norm_map = {FeatureType(k): NormalizationMode(v) for k, v in (self.norm_map or {}).items()}
        if self.normalize_observation_keys is not None:
            self.normalize_observation_keys = set(self.normalize_observation_keys)
        self.dtype = self.dtype or torch.float32
        self._tensor_stats = stats_to_tensors(self.stats, self.device, self.dtype)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Move the stats to ``device`` / ``dtype``; returns self."""
        if device is not None:
            self.device = device
        if dtype is not None:
            self.dtype = dtype
        self._tensor_stats = {
            k: {n: t.to(device=self.device, dtype=self.dtype) for n, t in sub.items()}
            for k, sub in self._tensor_stats.items()
        }
        return self

    # ------------------------------------------------------------ serialization
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "eps": self.eps,
            "features": {k: feature_to_json(ft) for k, ft in self.features.items()},
            "norm_map": {FeatureType(t).value: NormalizationMode(m).value for t, m in self.norm_map.items()},
        }
        if self.normalize_observation_keys is not None:
            config["normalize_observation_keys"] = sorted(self.normalize_observation_keys)
        return config

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"{k}.{n}": t.cpu() for k, sub in self._tensor_stats.items() for n, t in sub.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if self._stats_explicitly_provided:
            return  # stats passed explicitly (e.g. as overrides) win over the saved ones, as upstream
        self._tensor_stats = {}
        for flat_key, tensor in state.items():
            key, name = flat_key.rsplit(".", 1)
            self._tensor_stats.setdefault(key, {})[name] = tensor.to(device=self.device, dtype=self.dtype)
        self.stats = {k: {n: t.cpu().numpy() for n, t in sub.items()} for k, sub in self._tensor_stats.items()}

    # ------------------------------------------------------------------- math
    def apply(self, tensor: torch.Tensor, key: str, feature_type: FeatureType, inverse: bool) -> torch.Tensor:
        mode = self.norm_map.get(FeatureType(feature_type), NormalizationMode.IDENTITY)
        if mode == NormalizationMode.IDENTITY or key not in self._tensor_stats:
            return tensor
        if not tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        stats = self._tensor_stats[key]
        first = next(iter(stats.values()))
        if first.device != tensor.device or first.dtype != tensor.dtype:
            self.to(device=tensor.device, dtype=tensor.dtype)
            stats = self._tensor_stats[key]
        lo_name, hi_name = _REQUIRED[mode]
        if lo_name not in stats or hi_name not in stats:
            raise ValueError(
                f"{mode.value} normalization of {key!r} needs the {lo_name!r} and {hi_name!r} stats, which are "
                f"missing (have {sorted(stats)}); recompute the dataset stats or pick another "
                "normalization_mapping mode"
            )
        lo, hi = stats[lo_name], stats[hi_name]
        if feature_type == FeatureType.VISUAL and lo.ndim == 1 and tensor.ndim >= 3:
            # per-channel stats given flat (C,): broadcast over (..., C, H, W)
            lo, hi = lo.reshape(-1, 1, 1), hi.reshape(-1, 1, 1)
        if mode == NormalizationMode.MEAN_STD:
            if inverse:
                return tensor * hi + lo
            return (tensor - lo) / (hi + self.eps)
        denom = hi - lo
        denom = torch.where(denom == 0, torch.tensor(self.eps, device=tensor.device, dtype=tensor.dtype), denom)
        if mode == NormalizationMode.MIN_MAX:
            if inverse:
                return (tensor + 1) / 2 * denom + lo
            return 2 * (tensor - lo) / denom - 1
        if inverse:
            return (tensor + 1.0) * denom / 2.0 + lo
        return 2.0 * (tensor - lo) / denom - 1.0

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        out = dict(transition)
        obs = transition.get(TransitionKey.OBSERVATION)
        if obs:
            new_obs = dict(obs)
            for key, ft in self.features.items():
                if ft.type == FeatureType.ACTION or key not in new_obs:
                    continue
                if self.normalize_observation_keys is not None and key not in self.normalize_observation_keys:
                    continue
                new_obs[key] = self.apply(torch.as_tensor(new_obs[key]), key, ft.type, self._inverse)
            out[TransitionKey.OBSERVATION] = new_obs
        action = transition.get(TransitionKey.ACTION)
        if action is not None:
            if not isinstance(action, torch.Tensor):
                raise TypeError(f"the action must be a tensor to be (un)normalized, got {type(action).__name__}")
            out[TransitionKey.ACTION] = self.apply(action, ACTION, FeatureType.ACTION, self._inverse)
        return out


@ProcessorStepRegistry.register("normalizer_processor")
@dataclass
class NormalizerProcessorStep(_NormalizationBase):
    """Normalize observations and the action (pre-processing)."""


@ProcessorStepRegistry.register("unnormalizer_processor")
@dataclass
class UnnormalizerProcessorStep(_NormalizationBase):
    """Map normalized values (the policy's action) back to dataset units (post-processing)."""

    _inverse = True
