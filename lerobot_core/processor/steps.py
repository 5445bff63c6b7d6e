"""The basic policy processor steps: rename, add batch dimension, device/dtype."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from lerobot_core.constants import OBS_ENV_STATE, OBS_IMAGE, OBS_IMAGES, OBS_STATE
from lerobot_core.processor.core import EnvTransition, TransitionKey
from lerobot_core.processor.pipeline import ProcessorStep, ProcessorStepRegistry


@ProcessorStepRegistry.register("rename_observations_processor")
@dataclass
class RenameObservationsProcessorStep(ProcessorStep):
    """Rename observation keys (``{"observation.images.top": "observation.images.front"}``)."""

    rename_map: dict[str, str] = field(default_factory=dict)

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        obs = transition.get(TransitionKey.OBSERVATION)
        if not obs or not self.rename_map:
            return transition
        out = dict(transition)
        out[TransitionKey.OBSERVATION] = {self.rename_map.get(k, k): v for k, v in obs.items()}
        return out

    def get_config(self) -> dict[str, Any]:
        return {"rename_map": dict(self.rename_map)}

    def transform_features(self, features: dict[str, Any]) -> dict[str, Any]:
        return {self.rename_map.get(k, k): v for k, v in features.items()}


def _unsqueeze_if(value: Any, ndim: int) -> Any:
    if isinstance(value, torch.Tensor) and value.dim() == ndim:
        return value.unsqueeze(0)
    return value


@ProcessorStepRegistry.register("to_batch_processor")
@dataclass
class AddBatchDimensionProcessorStep(ProcessorStep):
    """Add a leading batch dimension to a single unbatched frame; batched inputs pass unchanged.

    State vectors (1-D), images (3-D), the action (1-D), ``task`` (str → [str]) and scalar
    ``index``/``task_index`` get a batch dimension of 1.
    """

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        out = dict(transition)
        obs = transition.get(TransitionKey.OBSERVATION)
        if obs:
            new_obs = dict(obs)
            for key, value in obs.items():
                if key in (OBS_STATE, OBS_ENV_STATE):
                    new_obs[key] = _unsqueeze_if(value, 1)
                elif key == OBS_IMAGE or key.startswith(OBS_IMAGES + "."):
                    new_obs[key] = _unsqueeze_if(value, 3)
            out[TransitionKey.OBSERVATION] = new_obs
        out[TransitionKey.ACTION] = _unsqueeze_if(transition.get(TransitionKey.ACTION), 1)
        comp = transition.get(TransitionKey.COMPLEMENTARY_DATA)
        if comp:
            new_comp = dict(comp)
            if isinstance(comp.get("task"), str):
                new_comp["task"] = [comp["task"]]
            for key in ("index", "task_index"):
                if key in comp:
                    new_comp[key] = _unsqueeze_if(comp[key], 0)
            out[TransitionKey.COMPLEMENTARY_DATA] = new_comp
        return out


_DTYPES = {
    "float16": torch.float16, "half": torch.float16, "bfloat16": torch.bfloat16,
    "float32": torch.float32, "float": torch.float32, "float64": torch.float64, "double": torch.float64,
}


@ProcessorStepRegistry.register("device_processor")
@dataclass
class DeviceProcessorStep(ProcessorStep):
    """Move every tensor to ``device``; with ``float_dtype`` also cast floating-point tensors.

    A tensor already on a CUDA device stays on that GPU when the target is CUDA (multi-GPU training
    places each rank's batch itself).
    """

    device: str = "cpu"
    float_dtype: str | None = None

    def __post_init__(self) -> None:
        self.tensor_device = torch.device(self.device)
        if self.tensor_device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device_processor: device {self.device!r} requested but CUDA is not available")
        if self.float_dtype is not None and self.float_dtype not in _DTYPES:
            raise ValueError(f"device_processor: float_dtype {self.float_dtype!r} is not one of {sorted(_DTYPES)}")
        self._dtype = _DTYPES.get(self.float_dtype) if self.float_dtype else None

    def _move(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            device = self.tensor_device
            if value.is_cuda and device.type == "cuda" and device.index is None:
                device = value.device
            value = value.to(device, non_blocking=device.type == "cuda")
            if self._dtype is not None and value.is_floating_point():
                value = value.to(self._dtype)
            return value
        if isinstance(value, dict):
            return {k: self._move(v) for k, v in value.items()}
        return value

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        return {k: self._move(v) for k, v in transition.items()}

    def get_config(self) -> dict[str, Any]:
        return {"device": self.device, "float_dtype": self.float_dtype}
