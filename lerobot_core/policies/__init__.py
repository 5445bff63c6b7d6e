"""Policies (ACT, Diffusion) compatible with upstream LeRobot checkpoints, and their factory."""

from lerobot_core.policies.act import ACTConfig, ACTPolicy
from lerobot_core.policies.config import PreTrainedConfig, get_config_class
from lerobot_core.policies.diffusion import DiffusionConfig, DiffusionPolicy
from lerobot_core.policies.factory import (
    check_features_match,
    get_policy_class,
    make_policy,
    make_policy_config,
    make_pre_post_processors,
)
from lerobot_core.policies.optim import AdamConfig, AdamWConfig, DiffuserSchedulerConfig
from lerobot_core.policies.pretrained import PreTrainedPolicy

__all__ = [
    "ACTConfig",
    "ACTPolicy",
    "AdamConfig",
    "AdamWConfig",
    "DiffuserSchedulerConfig",
    "DiffusionConfig",
    "DiffusionPolicy",
    "PreTrainedConfig",
    "PreTrainedPolicy",
    "check_features_match",
    "get_config_class",
    "get_policy_class",
    "make_policy",
    "make_policy_config",
    "make_pre_post_processors",
]
