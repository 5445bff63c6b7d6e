"""``PreTrainedPolicy``: save/load (``config.json`` + ``model.safetensors``) and the inference API."""

from __future__ import annotations

import abc
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from lerobot_core.constants import SAFETENSORS_SINGLE_FILE
from lerobot_core.policies.config import PreTrainedConfig, hub_file
from lerobot_core.utils.io import atomic_path

logger = logging.getLogger(__name__)
T = TypeVar("T", bound="PreTrainedPolicy")

_LOAD_BACKBONE_WEIGHTS = [True]


@contextlib.contextmanager
def skip_pretrained_backbone() -> Iterator[None]:
    """Inside this block policies do not fetch ImageNet backbone weights (a checkpoint will overwrite them)."""
    _LOAD_BACKBONE_WEIGHTS.append(False)
    try:
        yield
    finally:
        _LOAD_BACKBONE_WEIGHTS.pop()


def should_load_backbone_weights() -> bool:
    return _LOAD_BACKBONE_WEIGHTS[-1]


def _resolve_model_file(source: str | Path, revision: str | None, cache_dir, token) -> Path:
    path = Path(source)
    if path.is_dir():
        model_file = path / SAFETENSORS_SINGLE_FILE
        if not model_file.is_file():
            raise FileNotFoundError(f"{model_file} not found: is {source!r} a saved policy directory?")
        return model_file
    return hub_file(str(source), SAFETENSORS_SINGLE_FILE, revision=revision, cache_dir=cache_dir, token=token)


class PreTrainedPolicy(nn.Module, abc.ABC):
    """Base of every policy. Subclasses set ``config_class`` and ``name`` and implement ``forward``
    (training: returns ``(loss, loss_dict)``), ``predict_action_chunk``, ``select_action`` and ``reset``."""

    config_class: ClassVar[type[PreTrainedConfig]]
    name: ClassVar[str]

    def __init__(self, config: PreTrainedConfig, **kwargs: Any):
        super().__init__()
        if not isinstance(config, PreTrainedConfig):
            raise TypeError(f"{type(self).__name__} needs a PreTrainedConfig, got {type(config).__name__}")
        self.config = config

    # ------------------------------------------------------------ the policy API
    @abc.abstractmethod
    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Any] | None]: ...

    @abc.abstractmethod
    def predict_action_chunk(self, batch: dict[str, Tensor]) -> Tensor: ...

    @abc.abstractmethod
    def select_action(self, batch: dict[str, Tensor]) -> Tensor: ...

    @abc.abstractmethod
    def reset(self) -> None: ...

    def get_optim_params(self) -> Any:
        return self.parameters()

    # ---------------------------------------------------------- save / load
    def save_pretrained(self, save_directory: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` (upstream's file names and keys)."""
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(save_directory)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(save_directory / SAFETENSORS_SINGLE_FILE) as tmp:
            save_file(state, str(tmp))

    @classmethod
    def from_pretrained(
        cls: type[T],
        pretrained_name_or_path: str | Path,
        *,
        config: PreTrainedConfig | None = None,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        token: str | bool | None = None,
        strict: bool = True,
        **kwargs: Any,
    ) -> T:
        """Load a policy saved by ``save_pretrained`` (ours or upstream LeRobot's), local or on the hub.

        The result is on ``config.device`` in eval mode. With ``strict`` a tensor missing from the file is an
        error; extra tensors in the file are always reported.
        """
        if config is None:
            config = cls.config_class.from_pretrained(pretrained_name_or_path, revision=revision,
                                                      cache_dir=cache_dir, token=token)
        if not isinstance(config, cls.config_class):
            raise ValueError(
                f"{pretrained_name_or_path}: config type {config.type!r} cannot be loaded by {cls.__name__} "
                f"(expects {cls.config_class.__name__}); use make_policy / get_policy_class({config.type!r})"
            )
        with skip_pretrained_backbone():
            policy = cls(config, **kwargs)
        model_file = _resolve_model_file(pretrained_name_or_path, revision, cache_dir, token)
        policy.load_weights(load_file(str(model_file)), strict=strict, source=str(model_file))
        policy.to(config.device)
        policy.eval()
        return policy

    def load_weights(self, state: dict[str, Tensor], strict: bool = True, source: str = "state dict") -> None:
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if mismatched:
            k = mismatched[0]
            raise ValueError(
                f"{source}: {len(mismatched)} tensors have the wrong shape for this config, e.g. {k!r}: "
                f"file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
            )
        if missing and strict:
            raise ValueError(f"{source}: {len(missing)} tensors missing for this config, e.g. {missing[:5]}")
        if unexpected:
            logger.warning("%s: ignoring %d unexpected tensors, e.g. %s", source, len(unexpected), unexpected[:5])
        self.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
