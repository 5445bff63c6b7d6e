"""Optimizer and LR-scheduler presets returned by policy configs (upstream ``lerobot.optim`` names).

They are draccus choice types (``"type": "adamw" | "adam"`` and ``"diffuser"``) so a training config can
embed and override them; ``build`` creates the torch object.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from typing import Any

import draccus
import torch


@dataclass
class OptimizerConfig(draccus.ChoiceRegistry, abc.ABC):
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip_norm: float = 10.0

    @property
    def type(self) -> str:
        return self.get_choice_name(self.__class__)

    @abc.abstractmethod
    def build(self, params: Any) -> torch.optim.Optimizer: ...


@OptimizerConfig.register_subclass("adam")
@dataclass
class AdamConfig(OptimizerConfig):
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip_norm: float = 10.0

    def build(self, params: Any) -> torch.optim.Optimizer:
        kwargs = asdict(self)
        kwargs.pop("grad_clip_norm")
        return torch.optim.Adam(params, **kwargs)


@OptimizerConfig.register_subclass("adamw")
@dataclass
class AdamWConfig(OptimizerConfig):
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-2
    grad_clip_norm: float = 10.0

    def build(self, params: Any) -> torch.optim.Optimizer:
        kwargs = asdict(self)
        kwargs.pop("grad_clip_norm")
        return torch.optim.AdamW(params, **kwargs)


@dataclass
class LRSchedulerConfig(draccus.ChoiceRegistry, abc.ABC):
    num_warmup_steps: int | None = None

    @property
    def type(self) -> str:
        return self.get_choice_name(self.__class__)

    @abc.abstractmethod
    def build(self, optimizer: torch.optim.Optimizer, num_training_steps: int): ...


@LRSchedulerConfig.register_subclass("diffuser")
@dataclass
class DiffuserSchedulerConfig(LRSchedulerConfig):
    """A diffusers schedule by name (``cosine``, ``linear``, ``constant_with_warmup``...)."""

    name: str = "cosine"
    num_warmup_steps: int | None = None

    def build(self, optimizer: torch.optim.Optimizer, num_training_steps: int):
        from diffusers.optimization import get_scheduler

        return get_scheduler(
            self.name, optimizer=optimizer, num_warmup_steps=self.num_warmup_steps,
            num_training_steps=num_training_steps,
        )
