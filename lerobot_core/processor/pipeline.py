"""Processor steps, their registry, and pipelines with upstream LeRobot's on-disk format.

On disk a pipeline is ``<name>.json`` (``{"name", "steps": [{"registry_name", "config", "state_file"?}]}``)
plus one ``<name>_step_<i>_<registry_name>.safetensors`` per step that has tensor state. In memory the same
data is ``get_config()`` (JSON-able) and ``state_dict()`` (tensors keyed by the file stem), and
``from_config(config, state_dict=...)`` rebuilds a pipeline without touching the disk. Loading only
instantiates *registered* step classes from JSON and reads tensors from safetensors: nothing is unpickled
or imported by name from the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file, save_file

from lerobot_core.processor.core import (
    EnvTransition,
    batch_to_transition,
    policy_action_to_transition,
    transition_to_batch,
    transition_to_policy_action,
)
from lerobot_core.utils.io import atomic_path, atomic_write_text


class ProcessorStep:
    """One transformation of a transition. Subclasses override ``__call__`` and, when they have
    configuration or tensor state, ``get_config`` / ``state_dict`` / ``load_state_dict``."""

    _registry_name: ClassVar[str | None] = None

    def __call__(self, transition: EnvTransition) -> EnvTransition:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no tensor state but got keys {sorted(state)}")

    def reset(self) -> None:
        """Clear per-episode state (none by default)."""

    def transform_features(self, features: dict[str, Any]) -> dict[str, Any]:
        return features


class ProcessorStepRegistry:
    """Step classes by ``registry_name`` (the name written to ``*.json`` and state file names)."""

    _registry: ClassVar[dict[str, type[ProcessorStep]]] = {}

    @classmethod
    def register(cls, name: str) -> Callable[[type[ProcessorStep]], type[ProcessorStep]]:
        def decorator(step_cls: type[ProcessorStep]) -> type[ProcessorStep]:
            if name in cls._registry and cls._registry[name] is not step_cls:
                raise ValueError(f"processor step name {name!r} is already registered to {cls._registry[name]}")
            cls._registry[name] = step_cls
            step_cls._registry_name = name
            return step_cls

        return decorator

    @classmethod
    def get(cls, name: str) -> type[ProcessorStep]:
        if name not in cls._registry:
            raise KeyError(
                f"unknown processor step {name!r}; registered steps: {sorted(cls._registry)}. "
                "Import the module that defines it before loading the pipeline."
            )
        return cls._registry[name]

    @classmethod
    def list(cls) -> list[str]:
        return sorted(cls._registry)


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name.lower())


def _state_key(step_index: int, registry_name: str | None, sanitized_name: str) -> str:
    if registry_name:
        return f"{sanitized_name}_step_{step_index}_{registry_name}"
    return f"{sanitized_name}_step_{step_index}"


def _is_local(path: str | Path) -> bool:
    return Path(path).exists()


@dataclass
class DataProcessorPipeline:
    """An ordered list of steps applied to ``to_transition(data)``, returning ``to_output(transition)``."""

    steps: list[ProcessorStep] = field(default_factory=list)
    name: str = "DataProcessorPipeline"
    to_transition: Callable[[Any], EnvTransition] = batch_to_transition
    to_output: Callable[[EnvTransition], Any] = transition_to_batch

    def __post_init__(self) -> None:
        self.steps = list(self.steps)
        for i, step in enumerate(self.steps):
            if not isinstance(step, ProcessorStep):
                raise TypeError(f"step {i} of {self.name!r} is a {type(step).__name__}, not a ProcessorStep")

    # ----------------------------------------------------------------- running
    def __call__(self, data: Any) -> Any:
        return self.to_output(self.process_transition(self.to_transition(data)))

    def process_transition(self, transition: EnvTransition) -> EnvTransition:
        for step in self.steps:
            transition = step(transition)
        return transition

    def reset(self) -> None:
        for step in self.steps:
            step.reset()

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index: int) -> ProcessorStep:
        return self.steps[index]

    def transform_features(self, features: dict[str, Any]) -> dict[str, Any]:
        for step in self.steps:
            features = step.transform_features(features)
        return features

    # ----------------------------------------------------------- serialization
    def _state_keys(self) -> list[str | None]:
        sanitized = _sanitize(self.name)
        keys: list[str | None] = []
        for i, step in enumerate(self.steps):
            keys.append(_state_key(i, step._registry_name, sanitized) if step.state_dict() else None)
        return keys

    def get_config(self) -> dict[str, Any]:
        """The JSON-able pipeline description (what ``<name>.json`` holds); writes nothing."""
        entries = []
        for step, key in zip(self.steps, self._state_keys()):
            entry: dict[str, Any] = {}
            if step._registry_name is not None:
                entry["registry_name"] = step._registry_name
            else:
                entry["class"] = f"{type(step).__module__}.{type(step).__name__}"
            entry["config"] = step.get_config()
            if key is not None:
                entry["state_file"] = f"{key}.safetensors"
            entries.append(entry)
        return {"name": self.name, "steps": entries}

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """Tensor state of every stateful step, keyed by its state-file stem."""
        out: dict[str, dict[str, torch.Tensor]] = {}
        for step, key in zip(self.steps, self._state_keys()):
            if key is not None:
                out[key] = {k: v.detach().cpu().clone() for k, v in step.state_dict().items()}
        return out

    def load_state_dict(self, state_dict: dict[str, dict[str, torch.Tensor]]) -> None:
        expected = self._expected_state_keys()
        remaining = dict(state_dict)
        for i, (step, key) in enumerate(zip(self.steps, expected, strict=True)):
            if key is None:
                continue
            if key not in remaining:
                raise KeyError(
                    f"Missing state key {key!r} for processor step {i}. Available state keys: {sorted(state_dict)}"
                )
            step.load_state_dict(remaining.pop(key))
        if remaining:
            raise KeyError(
                f"Unexpected processor state keys: {sorted(remaining)}. "
                f"Expected state keys: {[k for k in expected if k is not None]}"
            )

    def _expected_state_keys(self) -> list[str | None]:
        serialized = getattr(self, "_serialized_state_keys", None)
        if serialized is not None and len(serialized) == len(self.steps):
            return list(serialized)
        return self._state_keys()

    def save_pretrained(self, save_directory: str | Path, config_filename: str | None = None) -> None:
        """Write ``<name>.json`` and the step state files into ``save_directory`` (atomically)."""
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        for key, tensors in self.state_dict().items():
            with atomic_path(save_directory / f"{key}.safetensors") as tmp:
                save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
        filename = config_filename or f"{_sanitize(self.name)}.json"
        atomic_write_text(save_directory / filename, json.dumps(self.get_config(), indent=2))

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        *,
        state_dict: dict[str, dict[str, torch.Tensor]] | None = None,
        overrides: dict[str, dict[str, Any]] | None = None,
        to_transition: Callable[[Any], EnvTransition] | None = None,
        to_output: Callable[[EnvTransition], Any] | None = None,
    ) -> DataProcessorPipeline:
        """Rebuild a pipeline from ``get_config()`` output (and optionally ``state_dict()``)."""
        _validate_config(config, "<in-memory config>")
        steps, unused = _build_steps(config, overrides or {})
        if unused:
            raise KeyError(f"overrides for unknown steps: {sorted(unused)}; steps: {_step_names(config)}")
        kwargs: dict[str, Any] = {"steps": steps, "name": config["name"]}
        if to_transition is not None:
            kwargs["to_transition"] = to_transition
        if to_output is not None:
            kwargs["to_output"] = to_output
        pipeline = cls(**kwargs)
        pipeline._serialized_state_keys = [
            (e["state_file"][: -len(".safetensors")] if e.get("state_file") else None) for e in config["steps"]
        ]
        if state_dict is not None:
            pipeline.load_state_dict(state_dict)
        return pipeline

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        config_filename: str,
        *,
        overrides: dict[str, dict[str, Any]] | None = None,
        to_transition: Callable[[Any], EnvTransition] | None = None,
        to_output: Callable[[EnvTransition], Any] | None = None,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        token: str | bool | None = None,
    ) -> DataProcessorPipeline:
        """Load ``config_filename`` and its state files from a local directory or a hub model repo.

        ``overrides`` maps a step's registry name (or class name) to constructor arguments that replace
        the saved ones, e.g. ``{"device_processor": {"device": "cuda"}}``.
        """
        source = str(pretrained_model_name_or_path)

        def fetch(filename: str) -> Path:
            if _is_local(source):
                path = Path(source) / filename
                if not path.is_file():
                    raise FileNotFoundError(f"{path} not found: is {source!r} a saved processor directory?")
                return path
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(source, filename, revision=revision, cache_dir=cache_dir, token=token))

        config_path = fetch(config_filename)
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{config_path}: not valid JSON ({e})") from e
        _validate_config(config, str(config_path))
        state = {
            e["state_file"][: -len(".safetensors")]: load_file(str(fetch(e["state_file"])))
            for e in config["steps"]
            if e.get("state_file")
        }
        if to_transition is None and to_output is None and config_filename.startswith("policy_postprocessor"):
            to_transition, to_output = policy_action_to_transition, transition_to_policy_action
        return cls.from_config(
            config, state_dict=state, overrides=overrides, to_transition=to_transition, to_output=to_output
        )


def _validate_config(config: Any, where: str) -> None:
    if not isinstance(config, dict) or not isinstance(config.get("steps"), list) or "name" not in config:
        raise ValueError(
            f"{where}: not a processor config; expected a dict with 'name' and a 'steps' list, "
            f"got {type(config).__name__}"
        )


def _step_names(config: dict[str, Any]) -> list[str]:
    return [e.get("registry_name") or e.get("class", "?") for e in config["steps"]]


def _build_steps(
    config: dict[str, Any], overrides: dict[str, dict[str, Any]]
) -> tuple[list[ProcessorStep], set[str]]:
    unused = set(overrides)
    steps: list[ProcessorStep] = []
    for i, entry in enumerate(config["steps"]):
        if "registry_name" in entry:
            step_cls = ProcessorStepRegistry.get(entry["registry_name"])
            names: Iterable[str] = (entry["registry_name"], step_cls.__name__)
        else:
            class_name = str(entry.get("class", "")).rsplit(".", 1)[-1]
            matches = [c for c in ProcessorStepRegistry._registry.values() if c.__name__ == class_name]
            if not matches:
                raise KeyError(f"processor step {i}: class {entry.get('class')!r} is not a registered step")
            step_cls, names = matches[0], (class_name,)
        kwargs = dict(entry.get("config") or {})
        for name in names:
            if name in overrides:
                kwargs.update(overrides[name])
                unused.discard(name)
        try:
            steps.append(step_cls(**kwargs))
        except TypeError as e:
            raise ValueError(f"processor step {i} ({step_cls.__name__}): bad config {kwargs}: {e}") from e
    return steps, unused


class PolicyProcessorPipeline(DataProcessorPipeline):
    """A pipeline between a policy and its data: flat batch in/out (pre), action tensor in/out (post)."""
