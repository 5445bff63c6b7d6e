"""``PreTrainedConfig``: the base of every policy config, a draccus choice type selected by ``type``.

``config.json`` is written exactly as upstream LeRobot writes it: ``{"type": ..., <dataclass fields in
declaration order>}`` with features as ``{"type": "STATE", "shape": [6]}``, 4-space indented.
"""

from __future__ import annotations

import abc
import json
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import draccus
import torch

from lerobot_core.constants import ACTION, CONFIG_NAME, OBS_ENV_STATE, OBS_STATE
from lerobot_core.processor.features import FeatureType, PolicyFeature, feature_from_json
from lerobot_core.utils.io import atomic_write_text

logger = logging.getLogger(__name__)
T = TypeVar("T", bound="PreTrainedConfig")


def auto_select_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def device_available(device: str) -> bool:
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return kind == "cpu"


@dataclass
class PreTrainedConfig(draccus.ChoiceRegistry, abc.ABC):
    """Fields shared by all policies (same names, order and defaults as upstream 0.4)."""

    n_obs_steps: int = 1
    input_features: dict[str, PolicyFeature] = field(default_factory=dict)
    output_features: dict[str, PolicyFeature] = field(default_factory=dict)
    device: str | None = None
    use_amp: bool = False
    use_peft: bool = False
    push_to_hub: bool = True
    repo_id: str | None = None
    private: bool | None = None
    tags: list[str] | None = None
    license: str | None = None
    pretrained_path: str | None = None

    def __post_init__(self) -> None:
        self.input_features = {k: feature_from_json(v) for k, v in (self.input_features or {}).items()}
        self.output_features = {k: feature_from_json(v) for k, v in (self.output_features or {}).items()}
        if not self.device or not device_available(self.device):
            chosen = auto_select_device()
            if self.device:
                logger.warning("device %r is not available; using %r", self.device, chosen)
            self.device = chosen
        if self.use_amp and torch.device(self.device).type not in ("cuda", "cpu"):
            logger.warning("use_amp is not supported on %s; disabling it", self.device)
            self.use_amp = False

    @property
    def type(self) -> str:
        return self.get_choice_name(self.__class__)

    # --------------------------------------------------------------- features
    def _features_of(self, ftype: FeatureType) -> dict[str, PolicyFeature]:
        return {k: ft for k, ft in self.input_features.items() if ft.type == ftype}

    @property
    def robot_state_feature(self) -> PolicyFeature | None:
        for key, ft in self.input_features.items():
            if ft.type == FeatureType.STATE and key == OBS_STATE:
                return ft
        return None

    @property
    def env_state_feature(self) -> PolicyFeature | None:
        for key, ft in self.input_features.items():
            if ft.type == FeatureType.ENV and key == OBS_ENV_STATE:
                return ft
        return None

    @property
    def image_features(self) -> dict[str, PolicyFeature]:
        return self._features_of(FeatureType.VISUAL)

    @property
    def action_feature(self) -> PolicyFeature | None:
        for key, ft in self.output_features.items():
            if ft.type == FeatureType.ACTION and key == ACTION:
                return ft
        return None

    # -------------------------------------------------- hooks for subclasses
    @property
    def observation_delta_indices(self) -> list[int] | None:
        return None

    @property
    def action_delta_indices(self) -> list[int] | None:
        return None

    @property
    def reward_delta_indices(self) -> list[int] | None:
        return None

    def get_optimizer_preset(self):
        raise NotImplementedError

    def get_scheduler_preset(self):
        return None

    def validate_features(self) -> None:
        """Raise a clear error when the input/output features cannot drive this policy."""

    def require_features(self) -> None:
        if self.action_feature is None:
            raise ValueError(
                f"{self.type} policy: output_features must contain 'action' (type ACTION); got "
                f"{sorted(self.output_features)}. Build the config from a dataset with an 'action' feature."
            )

    # ---------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        encoded = draccus.encode(self)
        return json.loads(json.dumps({"type": self.type, **encoded}))

    def save_pretrained(self, save_directory: str | Path) -> None:
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(save_directory / CONFIG_NAME, json.dumps(self.to_dict(), indent=4))

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        data = dict(data)
        type_name = data.pop("type", None)
        if type_name is not None:
            config_cls = get_config_class(type_name)
            if not issubclass(config_cls, cls):
                raise ValueError(f"config type {type_name!r} is not a {cls.__name__}")
        elif cls is not PreTrainedConfig:
            config_cls, type_name = cls, cls.get_choice_name(cls)
        else:
            raise ValueError("policy config has no 'type' field; expected e.g. \"type\": \"act\"")
        known = {f.name for f in fields(config_cls) if f.init}
        unknown = sorted(set(data) - known)
        if unknown:
            logger.warning("ignoring unknown %s config keys: %s", type_name, unknown)
            data = {k: v for k, v in data.items() if k in known}
        try:
            return draccus.decode(config_cls, data)
        except draccus.utils.ParsingError as e:
            raise ValueError(f"invalid {type_name} policy config: {e}") from e

    @classmethod
    def from_pretrained(
        cls: type[T],
        pretrained_name_or_path: str | Path,
        *,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        token: str | bool | None = None,
    ) -> T:
        """Read ``config.json`` from a local directory (or file) or a hub model repo id."""
        source = Path(pretrained_name_or_path)
        if source.is_dir():
            path = source / CONFIG_NAME
        elif source.is_file():
            path = source
        elif source.exists() or str(pretrained_name_or_path).startswith((".", "/")):
            raise FileNotFoundError(f"{pretrained_name_or_path}: no {CONFIG_NAME} there")
        else:
            path = hub_file(str(pretrained_name_or_path), CONFIG_NAME, revision=revision, cache_dir=cache_dir,
                            token=token)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {pretrained_name_or_path!r} a saved policy directory?")
        return cls.from_dict(json.loads(path.read_text()))


def hub_file(repo_id: str, filename: str, **kwargs: Any) -> Path:
    """Download ``filename`` of a hub model repo, with an error that says what was tried."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, **kwargs))
    except Exception as e:
        raise FileNotFoundError(
            f"{repo_id!r} is not a local directory and {filename} could not be fetched from the hub "
            f"({type(e).__name__}: {e})"
        ) from e


def get_config_class(name: str) -> type[PreTrainedConfig]:
    _import_builtin_policies()
    try:
        return PreTrainedConfig.get_choice_class(name)
    except KeyError:
        known = sorted(PreTrainedConfig.get_known_choices())
        raise ValueError(f"unknown policy type {name!r}; known types: {known}") from None


def _import_builtin_policies() -> None:
    import lerobot_core.policies.act.configuration_act
    import lerobot_core.policies.diffusion.configuration_diffusion  # noqa: F401
